//! Helper arguments against their prototype (`check_func_arg`): register types per argument
//! kind with the kernel's `R%d type=%s expected=%s` lists, pointer offsets, references passed
//! to release functions; memory arguments and their sizes are checked in
//! [`super::helper_mem`].

use bpfbox_vm::helpers::catalogue::{flag, Arg, ArgBase, FuncProto};
use bpfbox_vm::maps::spec::MapType;
use bpfbox_vm::ProgType;

use super::helper_mem::{aligned, helper_mem, is_null, size_reg, tnum_text, Access};
use super::read;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType, State};

/// What the argument checks learn for the rest of the call (`struct bpf_call_arg_meta`).
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// The helper id.
    pub func_id: i32,
    /// The helper may be given packet pointers.
    pub pkt_access: bool,
    /// The map argument's index in the object's maps.
    pub map: Option<usize>,
    /// The current memory argument is written without being read (`MEM_UNINIT`).
    pub raw_mode: bool,
    /// Stack bytes the helper writes: the stack pointer's register and the size.
    pub access: Option<(u8, u32)>,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`'s value.
    pub mem_size: u32,
    /// The largest value of the last size argument (`msize_max_value`).
    pub msize_max: u64,
    /// The reference a pointer argument carries.
    pub ref_obj_id: u32,
    /// The register a release function releases.
    pub release_regno: u8,
}

/// Register types an argument kind accepts (`compatible_reg_types`), as the log names them.
fn compatible(base: ArgBase) -> &'static [&'static str] {
    use ArgBase::*;
    const MEM: &[&str] = &[
        "fp",
        "pkt",
        "pkt_meta",
        "map_key",
        "map_value",
        "mem",
        "ringbuf_mem",
        "buf",
        "trusted_ptr_",
    ];
    match base {
        PtrToMapKey | PtrToMapValue | PtrToMem => MEM,
        ConstSize | ConstSizeOrZero | ConstAllocSizeOrZero | Scalar => &["scalar"],
        ConstMapPtr => &["map_ptr"],
        PtrToCtx => &["ctx"],
        PtrToSockCommon => &["sock_common", "sock", "tcp_sock", "xdp_sock"],
        PtrToBtfIdSockCommon => &[
            "sock_common",
            "sock",
            "tcp_sock",
            "xdp_sock",
            "ptr_",
            "trusted_ptr_",
        ],
        PtrToSocket => &["sock"],
        PtrToRingbufMem => &["ringbuf_mem"],
        PtrToStack => &["fp"],
        PtrToFunc => &["func"],
        PtrToConstStr | PtrToTimer => &["map_value"],
        _ => &[],
    }
}

/// The name of `r`'s type as `check_reg_type` compares it, with the flags the argument
/// kind folds away removed.
fn folded_name(r: &Reg, arg: &Arg) -> String {
    let mut r = r.clone();
    if arg.maybe_null() {
        r.maybe_null = false;
    }
    if arg.has(flag::RDONLY) && r.ty == RegType::RdonlyMem {
        r.ty = RegType::Mem;
    }
    r.type_name()
}

/// `check_reg_type`.
fn check_reg_type(pc: usize, regno: u8, r: &Reg, arg: &Arg) -> Result<()> {
    let types = compatible(arg.base);
    let name = folded_name(r, arg);
    if types.contains(&name.as_str()) {
        return Ok(());
    }
    Err(Reject::at(
        pc,
        format!(
            "R{regno} type={} expected={}",
            r.type_name(),
            types.join(", ")
        ),
    ))
}

/// `__check_ptr_off_reg`.
fn check_ptr_off(pc: usize, regno: u8, r: &Reg, fixed_off_ok: bool) -> Result<()> {
    let name = r.type_name();
    if r.off < 0 {
        return Err(Reject::at(
            pc,
            format!(
                "negative offset {name} ptr R{regno} off={} disallowed",
                r.off
            ),
        ));
    }
    if !fixed_off_ok && r.off != 0 {
        return Err(Reject::at(
            pc,
            format!(
                "dereference of modified {name} ptr R{regno} off={} disallowed",
                r.off
            ),
        ));
    }
    if r.val.as_const() != Some(0) {
        return Err(Reject::at(
            pc,
            format!(
                "variable {name} access var_off={} disallowed",
                tnum_text(&r.val)
            ),
        ));
    }
    Ok(())
}

/// `check_func_arg_reg_off`.
fn check_arg_reg_off(pc: usize, regno: u8, r: &Reg, arg: &Arg) -> Result<()> {
    if arg.is_release() {
        if r.off != 0 {
            return Err(Reject::at(
                pc,
                format!("R{regno} must have zero offset when passed to release func or trusted arg to kfunc"),
            ));
        }
        return check_ptr_off(pc, regno, r, false);
    }
    match r.ty {
        RegType::Stack
        | RegType::Packet
        | RegType::PacketMeta
        | RegType::MapKey
        | RegType::MapValue
        | RegType::Mem
        | RegType::RdonlyMem
        | RegType::Scalar => Ok(()),
        _ => check_ptr_off(pc, regno, r, false),
    }
}

/// `may_access_direct_pkt_data` for a helper's read.
fn helper_may_read_packet(prog: ProgType, meta: &Meta) -> bool {
    use ProgType::*;
    match prog {
        LwtIn | LwtOut | LwtSeg6local | SkReuseport | FlowDissector | CgroupSkb | SchedCls
        | SchedAct | Xdp | LwtXmit | SkSkb | SkMsg => meta.pkt_access,
        CgroupSockopt => true,
        _ => false,
    }
}

/// Argument kinds the walk does not model yet: callbacks, locks, timers, dynptrs, kptrs,
/// BTF-typed kernel objects, constant strings, arenas.
pub fn unsupported_arg(a: &Arg) -> Option<&'static str> {
    use ArgBase::*;
    Some(match a.base {
        PtrToFunc => "callback helpers",
        PtrToSpinLock => "bpf_spin_lock",
        PtrToTimer => "bpf_timer",
        PtrToDynptr => "dynptrs",
        KptrXchgDest => "kptrs",
        PtrToBtfId | PtrToPercpuBtfId => "helper arguments typed by BTF",
        PtrToConstStr => "constant string arguments",
        PtrToArena => "arenas",
        PtrToStack => "stack pointer arguments of callback helpers",
        _ => return None,
    })
}

/// `check_func_arg` for argument `i` of `fp`.
pub fn check_arg(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    fp: &FuncProto,
    i: usize,
    meta: &mut Meta,
) -> Result<()> {
    let regno = i as u8 + 1;
    let mut arg = fp.args[i];
    if arg.base == ArgBase::DontCare {
        return Ok(());
    }
    let r = read(st, pc, regno)?.clone();
    if arg.base == ArgBase::Anything {
        if r.is_pointer() && !env.privileged() {
            return Err(Reject::at(
                pc,
                format!("R{regno} leaks addr into helper function"),
            ));
        }
        return Ok(());
    }
    if r.ty.is_packet() && !helper_may_read_packet(env.prog.prog_type, meta) {
        return Err(Reject::at(pc, "helper access to the packet is not allowed"));
    }
    if arg.base == ArgBase::PtrToMapValue {
        let Some(m) = meta.map else {
            return Err(Reject::at(pc, "invalid map_ptr to access map->type"));
        };
        match env.opts.maps[m].map_type {
            MapType::Sockmap | MapType::Sockhash => {
                // A socket map's value is a socket.
                if arg.flags != 0 {
                    return Err(Reject::at(pc, "invalid arg_type for sockmap/sockhash"));
                }
                arg = Arg::new(ArgBase::PtrToBtfIdSockCommon, 0);
            }
            MapType::BloomFilter if fp.name == "bpf_map_peek_elem_proto" => {
                // `bpf_map_peek_elem` reads a bloom filter's value.
                arg = Arg::new(ArgBase::PtrToMapValue, 0);
            }
            _ => {}
        }
    }
    if !(is_null(&r) && arg.maybe_null()) {
        check_reg_type(pc, regno, &r, &arg)?;
        check_arg_reg_off(pc, regno, &r, &arg)?;
    }
    if arg.is_release() {
        if r.ref_obj_id == 0 && !is_null(&r) {
            return Err(Reject::at(
                pc,
                format!("R{regno} must be referenced when passed to release function"),
            ));
        }
        meta.release_regno = regno;
    }
    if r.ref_obj_id != 0 {
        if meta.ref_obj_id != 0 {
            return Err(Reject::at(
                pc,
                format!(
                    "verifier internal error: more than one arg with ref_obj_id R{regno} {} {}",
                    r.ref_obj_id, meta.ref_obj_id
                ),
            ));
        }
        meta.ref_obj_id = r.ref_obj_id;
    }
    let access = if arg.has(flag::WRITE) {
        Access::Write
    } else {
        Access::Read
    };
    match arg.base {
        ArgBase::ConstMapPtr => meta.map = Some(r.map),
        ArgBase::PtrToMapKey => {
            let Some(m) = meta.map else {
                return Err(Reject::at(pc, "invalid map_ptr to access map->key"));
            };
            let size = env.opts.maps[m].key_size;
            helper_mem(env, st, pc, regno, size as u64, Access::Read, false, None)?;
        }
        ArgBase::PtrToMapValue => {
            if arg.maybe_null() && is_null(&r) {
                return Ok(());
            }
            let Some(m) = meta.map else {
                return Err(Reject::at(pc, "invalid map_ptr to access map->value"));
            };
            meta.raw_mode = arg.has(flag::UNINIT);
            let size = env.opts.maps[m].value_size;
            helper_mem(env, st, pc, regno, size as u64, access, false, Some(meta))?;
        }
        ArgBase::PtrToMem => {
            meta.raw_mode = arg.has(flag::UNINIT);
            if arg.has(flag::FIXED_SIZE) {
                helper_mem(
                    env,
                    st,
                    pc,
                    regno,
                    arg.size as u64,
                    access,
                    false,
                    Some(meta),
                )?;
                if arg.has(flag::ALIGNED) {
                    aligned(pc, &r, arg.size)?;
                }
            }
        }
        ArgBase::ConstSize | ArgBase::ConstSizeOrZero => {
            // A size always follows its memory argument (`check_func_proto`).
            let prev = fp.args[i.saturating_sub(1)];
            let access = if prev.has(flag::WRITE) {
                Access::Write
            } else {
                Access::Read
            };
            let zero_ok = arg.base == ArgBase::ConstSizeOrZero;
            size_reg(env, st, pc, regno, &r, access, zero_ok, meta)?;
        }
        ArgBase::ConstAllocSizeOrZero => {
            let Some(v) = r.const_value() else {
                return Err(Reject::at(pc, format!("R{regno} is not a known constant'")));
            };
            meta.mem_size = v as u32;
        }
        _ => {}
    }
    Ok(())
}
