//! Calls. Part 1 handles the helpers every program type gets from the kernel's base set
//! (map lookup, update and delete on plain maps, time, random, cpu id), with their argument
//! checks; every other helper, BPF-to-BPF calls and kfuncs are rejected as not supported yet.

use bpfbox_vm::helper_names::helper_name;
use bpfbox_vm::helpers::{ArgKind, HelperRegistry, RetKind};
use bpfbox_vm::isa::CallTarget;
use bpfbox_vm::maps::spec::MapType;
use bpfbox_vm::ProgType;

use super::mem::stack_bounds;
use super::read;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Byte, Reg, RegType, State};

/// Helpers handled so far: `map_lookup_elem`, `map_update_elem`, `map_delete_elem`,
/// `ktime_get_ns`, `get_prandom_u32`, `get_smp_processor_id`.
const HANDLED: [i32; 6] = [1, 2, 3, 5, 7, 8];

/// Program types whose helper set includes the base set.
fn has_base_helpers(t: ProgType) -> bool {
    use ProgType::*;
    matches!(
        t,
        SocketFilter
            | SchedCls
            | SchedAct
            | Xdp
            | Kprobe
            | Tracepoint
            | PerfEvent
            | RawTracepoint
            | CgroupSkb
            | LwtIn
            | LwtOut
            | LwtXmit
            | SkSkb
            | SkMsg
    )
}

/// Map types whose lookup, update and delete the handled helpers accept.
fn plain_map(t: MapType) -> bool {
    use MapType::*;
    matches!(
        t,
        Hash | Array | PercpuHash | PercpuArray | LruHash | LruPercpuHash
    )
}

/// A call instruction.
pub fn call(env: &mut Env<'_>, st: &mut State, pc: usize, t: CallTarget) -> Result<()> {
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
    if !HANDLED.contains(&id) || !has_base_helpers(env.prog.prog_type) {
        return Err(Reject::unsupported(
            pc,
            format!(
                "helper {name}#{id} in {} programs",
                env.prog.prog_type.name()
            ),
        ));
    }
    let registry = HelperRegistry::kernel();
    let Some(h) = registry.get(id as u64) else {
        return Err(Reject::unsupported(pc, format!("helper {name}#{id}")));
    };
    let proto = h.proto.clone();
    let mut map: Option<usize> = None;
    for (i, kind) in proto.args.iter().enumerate() {
        let regno = i as u8 + 1;
        let r = read(st, pc, regno)?.clone();
        match kind {
            ArgKind::Anything => {
                if r.is_pointer() && !env.privileged() {
                    return Err(Reject::at(
                        pc,
                        format!("R{regno} leaks addr into helper function"),
                    ));
                }
            }
            ArgKind::ConstMapPtr => {
                if r.ty != RegType::MapPtr {
                    return Err(Reject::at(
                        pc,
                        format!("R{regno} type={} expected=map_ptr", r.type_name()),
                    ));
                }
                let spec = &env.opts.maps[r.map];
                if !plain_map(spec.map_type) {
                    return Err(Reject::unsupported(
                        pc,
                        format!("{name} on {} maps", spec.map_type.name()),
                    ));
                }
                map = Some(r.map);
            }
            ArgKind::PtrToMapKey | ArgKind::PtrToMapValue => {
                let Some(m) = map else {
                    return Err(Reject::at(pc, "invalid map_ptr to access map->key"));
                };
                let spec = &env.opts.maps[m];
                let size = if *kind == ArgKind::PtrToMapKey {
                    spec.key_size
                } else {
                    spec.value_size
                };
                helper_mem(env, st, pc, regno, &r, size)?;
            }
            _ => return Err(Reject::unsupported(pc, format!("helper {name}#{id}"))),
        }
    }
    for r in 1..=5 {
        *st.reg_mut(r) = Reg::not_init();
    }
    st.cur_mut().regs[0] = match proto.ret {
        RetKind::Integer => Reg::unknown(),
        RetKind::Void => Reg::not_init(),
        RetKind::PtrToMapValueOrNull => {
            let mut r = Reg::pointer(RegType::MapValue);
            r.maybe_null = true;
            r.map = map.unwrap_or(0);
            r.id = env.new_id();
            r
        }
        _ => return Err(Reject::unsupported(pc, format!("helper {name}#{id}"))),
    };
    Ok(())
}

/// A memory argument of `size` bytes the helper reads (`check_helper_mem_access`).
fn helper_mem(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    r: &Reg,
    size: u32,
) -> Result<()> {
    match r.ty {
        RegType::Stack if !r.maybe_null => {}
        RegType::Scalar | RegType::MapPtr | RegType::Ctx | RegType::PacketEnd => {
            return Err(Reject::at(
                pc,
                format!(
                    "R{regno} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_",
                    r.type_name()
                ),
            ))
        }
        _ => return Err(Reject::unsupported(pc, format!("helper memory arguments in {}", r.type_name()))),
    }
    if r.val.as_const() != Some(0) {
        return Err(Reject::unsupported(pc, "variable-offset stack arguments"));
    }
    if r.frameno as usize + 1 != st.frames.len() {
        return Err(Reject::unsupported(
            pc,
            "helper arguments in a caller's stack",
        ));
    }
    let off = r.off;
    stack_bounds(env, st, pc, regno, off, size as i32, false)?;
    let subprog = st.cur().subprog;
    let depth = ((-off + 7) / 8 * 8) as u32;
    if env.stack_depth[subprog] < depth {
        env.stack_depth[subprog] = depth;
    }
    let privileged = env.privileged();
    let stack = &st.cur().stack;
    for i in 0..size as i32 {
        let b = stack.byte(off + i);
        let ok = match b {
            Byte::Misc | Byte::Zero => true,
            Byte::Invalid => privileged,
            Byte::Spill => {
                let (s, _) = crate::state::Stack::locate(off + i);
                stack.slots[s].spilled.is_scalar() || privileged
            }
        };
        if !ok {
            return Err(Reject::at(
                pc,
                format!("invalid indirect read from stack R{regno} off {off}+{i} size {size}"),
            ));
        }
    }
    Ok(())
}
