//! `bpf_tail_call`: its arguments (the context, a program array, an index), its effect on the
//! state (r1-r5 clobbered, r0 unset as for a void helper, packet pointers dropped since the
//! target may move packet data), and the rules on tail calls in subprograms.

use bpfbox_btf::Kind;
use bpfbox_vm::isa::{op, RawInsn};
use bpfbox_vm::maps::spec::MapType;
use bpfbox_vm::ProgType;

use super::jmp::for_each_reg;
use super::{read, Flow};
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType, State};

/// `BPF_FUNC_tail_call`.
pub const TAIL_CALL: i32 = 12;

/// Whether `i` calls `bpf_tail_call`.
pub fn is_tail_call(i: &RawInsn) -> bool {
    i.code == op::JMP | op::CALL && i.src == 0 && i.imm == TAIL_CALL
}

fn is_ld_abs(i: &RawInsn) -> bool {
    let mode = i.code & 0xe0;
    op::class(i.code) == op::LD && (mode == op::ABS || mode == op::IND)
}

/// Program types whose helper set includes `bpf_tail_call` and that this verifier handles.
fn allowed(t: ProgType) -> bool {
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

/// Before the walk: a subprogram may tail call only with BTF (`check_abnormal_return`) and
/// only when it returns an integer (`check_btf_func`).
pub fn check_subprogs(env: &Env<'_>) -> Result<()> {
    let insns = &env.prog.insns;
    let no_btf = env.prog.func_info.is_empty() && env.prog.line_info.is_empty();
    for k in 1..env.cfg.subprogs.len() {
        let body = &insns[env.cfg.subprogs[k]..env.cfg.subprog_end(k, insns.len())];
        let (ld_abs, tail) = (body.iter().any(is_ld_abs), body.iter().any(is_tail_call));
        if no_btf && ld_abs {
            return Err(Reject::program(
                "LD_ABS is not allowed in subprogs without BTF",
            ));
        }
        if no_btf && tail {
            return Err(Reject::program(
                "tail_call is not allowed in subprogs without BTF",
            ));
        }
        if ld_abs && !no_btf && !returns_scalar(env, k) {
            return Err(Reject::program(
                "LD_ABS is only allowed in functions that return 'int'.",
            ));
        }
        if tail && !no_btf && !returns_scalar(env, k) {
            return Err(Reject::program(
                "tail_call is only allowed in functions that return 'int'.",
            ));
        }
    }
    Ok(())
}

/// Whether subprogram `k`'s prototype returns an integer or an enum; `true` when that
/// cannot be read (the program-level checks refuse such BTF).
fn returns_scalar(env: &Env<'_>, k: usize) -> bool {
    let (Some(btf), Some(fi)) = (env.opts.btf.as_deref(), env.prog.func_info.get(k)) else {
        return true;
    };
    let Some(proto) = btf.type_by_id(fi.type_id).map(|f| f.size_or_type) else {
        return true;
    };
    let Some(ret) = btf.type_by_id(proto).map(|p| p.size_or_type) else {
        return true;
    };
    let id = btf.skip_mods_and_typedefs(ret).unwrap_or(0);
    btf.type_by_id(id).is_some_and(|t| match t.kind() {
        Kind::Int => t.size_or_type <= 8,
        Kind::Enum | Kind::Enum64 => true,
        _ => false,
    })
}

/// `call bpf_tail_call` at `pc`.
pub fn call(env: &mut Env<'_>, st: &mut State, pc: usize) -> Result<()> {
    let t = env.prog.prog_type;
    if !allowed(t) {
        return Err(Reject::unsupported(
            pc,
            format!("helper bpf_tail_call#12 in {} programs", t.name()),
        ));
    }
    let ctx = read(st, pc, 1)?.clone();
    if ctx.ty != RegType::Ctx || ctx.maybe_null {
        return Err(Reject::at(
            pc,
            format!("R1 type={} expected=ctx", ctx.type_name()),
        ));
    }
    if ctx.off != 0 {
        return Err(Reject::at(
            pc,
            format!(
                "dereference of modified ctx ptr R1 off={} disallowed",
                ctx.off
            ),
        ));
    }
    if ctx.val.as_const() != Some(0) {
        return Err(Reject::unsupported(
            pc,
            "a variable-offset context argument",
        ));
    }
    let map = read(st, pc, 2)?.clone();
    if map.ty != RegType::MapPtr {
        return Err(Reject::at(
            pc,
            format!("R2 type={} expected=map_ptr", map.type_name()),
        ));
    }
    if read(st, pc, 3)?.is_pointer() && !env.privileged() {
        return Err(Reject::at(pc, "R3 leaks addr into helper function"));
    }
    env.spec.tail_call_map(pc, map.map);
    let Some(spec) = env.opts.maps.get(map.map) else {
        return Err(Reject::at(pc, "invalid map index"));
    };
    if spec.map_type != MapType::ProgArray {
        // 6.18's words (its log has no newline after them).
        return Err(Reject::at(pc, "expected prog array map for tail call"));
    }
    // A tail call does not come back: a held reference would leak.
    crate::state::refs::check_leak(st, "tail_call").map_err(|m| Reject::at(pc, m))?;
    for r in 1..=5 {
        *st.reg_mut(r) = Reg::not_init();
    }
    *st.reg_mut(0) = Reg::not_init();
    // The target may have moved or resized the packet.
    for_each_reg(st, |r| {
        if matches!(
            r.ty,
            RegType::Packet | RegType::PacketMeta | RegType::PacketEnd
        ) {
            *r = Reg::unknown();
        }
    });
    Ok(())
}

/// Where the walk goes after a tail call at `pc`. In a subprogram, a tail call that
/// succeeds ends the whole call chain: the path returns from the subprogram with an unknown
/// R0 (the target's return value), and the failed tail call's fall-through is explored
/// later, R0 not set (a tail call returns nothing).
pub fn after(env: &mut Env<'_>, st: &mut State, pc: usize) -> Result<Flow> {
    if st.frames.len() == 1 {
        return Ok(Flow::Next(pc + 1));
    }
    let failed = Box::new(st.clone());
    *st.reg_mut(0) = Reg::unknown();
    Ok(match super::subprog::exit(env, st, pc)? {
        Flow::Next(back) => Flow::Branch {
            taken: failed,
            target: pc + 1,
            fall: back,
        },
        other => other,
    })
}
