//! Helper calls (`check_helper_call`): the prototype the program type gets from the
//! catalogue (`invalid func`, `program of this type cannot use helper`, GPL-only and
//! sleepable helpers), each argument against it ([`super::args`]), map and helper
//! compatibility ([`super::mapfunc`]), references acquired and released, then r1-r5
//! clobbered and r0 typed from the return kind; a helper that calls a BPF function schedules
//! its callback ([`super::callback`]). Kfuncs and the helpers part 2 adds (locks, timers,
//! dynptrs, BTF-typed objects) are rejected as not supported yet.

use std::sync::OnceLock;

use bpfbox_vm::helper_names::helper_name;
use bpfbox_vm::helpers::catalogue::{flag, for_prog, Caller, FuncProto, RetBase};
use bpfbox_vm::isa::CallTarget;
use bpfbox_vm::maps::spec::MapType;
use bpfbox_vm::ProgType;

use super::args::{self, Meta};
use super::mapfunc;
use crate::domain::{Bounds, Scalar, ScalarDomain};
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{refs, Reg, RegType, State};

/// `BPF_F_SLEEPABLE`.
const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `MAX_ERRNO`.
const MAX_ERRNO: i64 = 4095;

/// `license_is_gpl_compatible`.
pub fn gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual BSD/GPL"
            | "Dual MIT/GPL"
            | "Dual MPL/GPL"
    )
}

/// `bpf_helper_changes_pkt_data`: after these, every packet pointer is invalid.
fn changes_pkt_data(name: &str) -> bool {
    matches!(
        name,
        "bpf_clone_redirect"
            | "bpf_l3_csum_replace"
            | "bpf_l4_csum_replace"
            | "bpf_lwt_push_encap"
            | "bpf_lwt_seg6_action"
            | "bpf_lwt_seg6_adjust_srh"
            | "bpf_lwt_seg6_store_bytes"
            | "bpf_msg_pop_data"
            | "bpf_msg_pull_data"
            | "bpf_msg_push_data"
            | "bpf_skb_adjust_room"
            | "bpf_skb_change_head"
            | "bpf_skb_change_proto"
            | "bpf_skb_change_tail"
            | "bpf_skb_pull_data"
            | "bpf_skb_store_bytes"
            | "bpf_skb_vlan_pop"
            | "bpf_skb_vlan_push"
            | "bpf_store_hdr_opt"
            | "bpf_xdp_adjust_head"
            | "bpf_xdp_adjust_meta"
            | "bpf_xdp_adjust_tail"
            | "bpf_tail_call"
    )
}

/// `is_ptr_cast_function`: r0 carries the argument's reference.
fn is_ptr_cast(name: &str) -> bool {
    matches!(
        name,
        "bpf_tcp_sock"
            | "bpf_sk_fullsock"
            | "bpf_skc_to_tcp_sock"
            | "bpf_skc_to_tcp6_sock"
            | "bpf_skc_to_udp6_sock"
            | "bpf_skc_to_mptcp_sock"
            | "bpf_skc_to_tcp_timewait_sock"
            | "bpf_skc_to_tcp_request_sock"
    )
}

/// `is_acquire_function`: socket lookups, ring-buffer reservations, and lookups in
/// socket maps.
fn is_acquire(name: &str, map: Option<MapType>) -> bool {
    matches!(
        name,
        "bpf_sk_lookup_tcp" | "bpf_sk_lookup_udp" | "bpf_skc_lookup_tcp" | "bpf_ringbuf_reserve"
    ) || (name == "bpf_map_lookup_elem"
        && matches!(map, Some(MapType::Sockmap | MapType::Sockhash)))
}

/// `nr_cpu_ids` of the running kernel: the possible CPUs.
fn nr_cpu_ids() -> u64 {
    static N: OnceLock<u64> = OnceLock::new();
    *N.get_or_init(|| {
        std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|s| {
                s.trim()
                    .split(',')
                    .filter_map(|r| r.rsplit('-').next()?.parse::<u64>().ok())
                    .max()
            })
            .map(|m| m + 1)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
    })
}

/// A call instruction; for a helper that calls a BPF function, the state entering the
/// callback and its first instruction, to be explored later.
pub fn call(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    t: CallTarget,
) -> Result<Option<(Box<State>, usize)>> {
    let id = match t {
        CallTarget::Helper(id) => id,
        CallTarget::Local(_) => return Err(Reject::unsupported(pc, "BPF-to-BPF calls")),
        CallTarget::Kfunc { .. } => {
            return Err(Reject::unsupported(pc, "calling kernel functions (kfuncs)"))
        }
    };
    let Some(name) = helper_name(id) else {
        return Err(Reject::at(pc, format!("invalid func unknown#{id}")));
    };
    let fp = proto(env, pc, id, name)?;
    let mut meta = Meta {
        func_id: id,
        pkt_access: fp.pkt_access,
        ..Meta::default()
    };
    for i in 0..5 {
        args::check_arg(env, st, pc, fp, i, &mut meta)?;
    }
    record_func_map(env, pc, name, &meta)?;
    if name == "bpf_snprintf" {
        super::const_str::snprintf(env, st, pc)?;
    }
    if let Some((regno, size)) = meta.access {
        super::helper_mem::mark_written(st, pc, regno, size, env.privileged())?;
    }
    if meta.release_regno != 0 {
        let released = meta.ref_obj_id != 0 && refs::release(st, meta.ref_obj_id, env.privileged());
        let null = st.reg(meta.release_regno).const_value() == Some(0);
        if !released && !null {
            return Err(Reject::at(
                pc,
                format!("func {name}#{id} reference has not been acquired before"),
            ));
        }
    }
    special(env, st, pc, name)?;
    let callback = super::callback::at_call(env, st, pc, id, &meta)?;
    if let Some(m) = meta.map {
        let spec = &env.opts.maps[m];
        let attach = env.prog.expected_attach_type.unwrap_or(0);
        mapfunc::check(spec.map_type, id, name, env.prog.prog_type, attach)
            .map_err(|m| Reject::at(pc, m))?;
    }
    // A lookup at a constant index of an array cannot fail.
    let in_bounds = name == "bpf_map_lookup_elem"
        && env.bpf_capable()
        && meta.map.is_some_and(|m| {
            super::map_key::of_array(&env.opts.maps, m, st, st.reg(2))
                .is_some_and(|(k, _)| k < env.opts.maps[m].max_entries as u64)
        });
    for r in 1..=5 {
        *st.reg_mut(r) = Reg::not_init();
    }
    let mut r0 = ret(env, pc, fp, name, &meta)?;
    if in_bounds && r0.ty == RegType::MapValue {
        r0.maybe_null = false;
    }
    if r0.maybe_null {
        r0.id = env.new_id();
    }
    if is_ptr_cast(name) {
        r0.ref_obj_id = meta.ref_obj_id;
    } else if is_acquire(name, meta.map.map(|m| env.opts.maps[m].map_type)) {
        let rid = env.new_id();
        st.refs.acquire(rid, pc);
        r0.id = rid;
        r0.ref_obj_id = rid;
    }
    st.cur_mut().regs[0] = r0;
    if name == "bpf_get_func_ip" {
        get_func_ip(env, pc, id)?;
    }
    if changes_pkt_data(name) {
        clear_packet_pointers(st, env.privileged());
    }
    Ok(callback)
}

/// The prototype this program gets for helper `id`, after the checks made before the
/// arguments.
fn proto(env: &Env<'_>, pc: usize, id: i32, name: &str) -> Result<&'static FuncProto> {
    let prog = env.prog;
    if matches!(
        prog.prog_type,
        ProgType::StructOps | ProgType::Ext | ProgType::LircMode2 | ProgType::Unspec
    ) {
        return Err(Reject::unsupported(
            pc,
            format!("helpers in {} programs", prog.prog_type.name()),
        ));
    }
    let caller = Caller {
        prog_type: prog.prog_type,
        attach: prog.expected_attach_type.unwrap_or(0),
        privileged: env.privileged(),
        bpf_capable: env.bpf_capable(),
        sleepable: (prog.prog_flags | env.opts.flags) & BPF_F_SLEEPABLE != 0,
    };
    let Some(fp) = for_prog(id as u32, &caller) else {
        return Err(Reject::at(
            pc,
            format!("program of this type cannot use helper {name}#{id}"),
        ));
    };
    if fp.gpl_only && !gpl_compatible(&prog.license) {
        return Err(Reject::at(
            pc,
            "cannot call GPL-restricted function from non-GPL compatible program",
        ));
    }
    if fp.restricted {
        return Err(Reject::unsupported(
            pc,
            format!("helper {name}#{id}, whose callers the kernel restricts further,"),
        ));
    }
    if fp.might_sleep && !caller.sleepable {
        return Err(Reject::at(
            pc,
            "helper call might sleep in a non-sleepable prog",
        ));
    }
    if let Some(what) = fp.args.iter().find_map(args::unsupported_arg) {
        return Err(Reject::unsupported(pc, format!("{what} ({name}#{id})")));
    }
    if matches!(fp.ret.base, RetBase::PtrToBtfId | RetBase::PtrToMemOrBtfId)
        || (fp.ret.base == RetBase::PtrToMem && fp.ret.flags & flag::RINGBUF == 0)
    {
        return Err(Reject::unsupported(
            pc,
            format!("BTF-typed results ({name}#{id})"),
        ));
    }
    Ok(fp)
}

/// `record_func_map` and `record_func_key`: read-only maps refuse the helpers that change
/// them, and a tail call needs a program array.
fn record_func_map(env: &Env<'_>, pc: usize, name: &str, meta: &Meta) -> Result<()> {
    let Some(m) = meta.map else {
        return Ok(());
    };
    let spec = &env.opts.maps[m];
    if spec.map_flags & bpfbox_vm::maps::spec::BPF_F_RDONLY_PROG != 0
        && matches!(
            name,
            "bpf_map_delete_elem"
                | "bpf_map_update_elem"
                | "bpf_map_push_elem"
                | "bpf_map_pop_elem"
        )
    {
        return Err(Reject::at(pc, "write into map forbidden"));
    }
    if name == "bpf_tail_call" && spec.map_type != MapType::ProgArray {
        return Err(Reject::at(pc, "expected prog array map for tail call"));
    }
    Ok(())
}

/// Checks particular helpers make after their arguments.
fn special(env: &mut Env<'_>, st: &mut State, pc: usize, name: &str) -> Result<()> {
    match name {
        "bpf_tail_call" => {
            if st.frames.len() > 1 {
                return Err(Reject::unsupported(pc, "tail calls from BPF-to-BPF calls"));
            }
            refs::check_leak(st, "tail_call").map_err(|m| Reject::at(pc, m))
        }
        "bpf_get_local_storage" => {
            if st.reg(2).const_value() != Some(0) {
                return Err(Reject::at(
                    pc,
                    "get_local_storage() doesn't support non-zero flags",
                ));
            }
            Ok(())
        }
        _ => {
            let _ = env;
            Ok(())
        }
    }
}

/// `check_get_func_ip`.
fn get_func_ip(env: &Env<'_>, pc: usize, id: i32) -> Result<()> {
    match env.prog.prog_type {
        ProgType::Kprobe => Ok(()),
        ProgType::Tracing => Err(Reject::unsupported(
            pc,
            "bpf_get_func_ip in tracing programs",
        )),
        t => Err(Reject::at(
            pc,
            format!(
                "func bpf_get_func_ip#{id} not supported for program type {}",
                t as u32
            ),
        )),
    }
}

/// r0 after the call, from the return kind.
fn ret(env: &Env<'_>, pc: usize, fp: &FuncProto, name: &str, meta: &Meta) -> Result<Reg> {
    let null = fp.ret.maybe_null();
    let ptr = |ty: RegType| {
        let mut r = Reg::pointer(ty);
        r.maybe_null = null;
        r
    };
    Ok(match fp.ret.base {
        RetBase::Integer => Reg::scalar(ret_range(name, meta)),
        RetBase::Void => Reg::not_init(),
        RetBase::PtrToMapValue => {
            let Some(m) = meta.map else {
                return Err(Reject::at(pc, "kernel subsystem misconfigured verifier"));
            };
            // A map-in-map's element is a pointer to the inner map's template.
            if let Some(inner) = super::map_in_map::inner_template(&env.opts.maps, m) {
                let mut r = ptr(RegType::MapPtr);
                r.map = inner;
                return Ok(r);
            }
            let mut r = ptr(RegType::MapValue);
            r.map = m;
            r
        }
        RetBase::PtrToSocket => ptr(RegType::Socket),
        RetBase::PtrToSockCommon => ptr(RegType::SockCommon),
        RetBase::PtrToTcpSock => ptr(RegType::TcpSock),
        RetBase::PtrToMem => {
            let mut r = ptr(RegType::Mem);
            r.ringbuf = fp.ret.flags & flag::RINGBUF != 0;
            r.mem_size = meta.mem_size;
            r
        }
        RetBase::PtrToMemOrBtfId | RetBase::PtrToBtfId => {
            return Err(Reject::unsupported(
                pc,
                format!("BTF-typed results ({name})"),
            ))
        }
    })
}

/// `do_refine_retval_range`: helpers whose integer result the kernel bounds.
fn ret_range(name: &str, meta: &Meta) -> Scalar {
    match name {
        "bpf_get_stack"
        | "bpf_get_task_stack"
        | "bpf_probe_read_str"
        | "bpf_probe_read_kernel_str"
        | "bpf_probe_read_user_str" => {
            let mut b: Bounds = Scalar::unknown().bounds();
            b.smax = meta.msize_max as i64;
            b.s32_max = meta.msize_max as i32;
            b.smin = -MAX_ERRNO;
            b.s32_min = -MAX_ERRNO as i32;
            let mut s = Scalar::from_bounds(b);
            s.sync();
            s
        }
        "bpf_get_smp_processor_id" => Scalar::from_urange(0, nr_cpu_ids() - 1),
        _ => Scalar::unknown(),
    }
}

/// `clear_all_pkt_pointers`: after a helper that may move packet data.
fn clear_packet_pointers(st: &mut State, privileged: bool) {
    for fr in &mut st.frames {
        let regs = fr.regs.iter_mut();
        let spills = fr
            .stack
            .slots
            .iter_mut()
            .filter(|s| s.is_spill())
            .map(|s| &mut s.spilled);
        for r in regs.chain(spills) {
            if matches!(
                r.ty,
                RegType::Packet | RegType::PacketMeta | RegType::PacketEnd
            ) {
                *r = if privileged {
                    Reg::unknown()
                } else {
                    Reg::not_init()
                };
            }
        }
    }
}
