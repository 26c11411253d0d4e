//! Callbacks: helpers that call a BPF function of the program (`bpf_loop`,
//! `bpf_for_each_map_elem`, `bpf_find_vma`, `bpf_user_ringbuf_drain`,
//! `bpf_timer_set_callback`).
//!
//! The function is named by an `ld_imm64` of a function (`PTR_TO_FUNC`). At the helper call
//! the walk pushes a state that enters the callback in a new frame, its arguments set as the
//! helper will pass them, and goes on after the call in the current frame. The callback's
//! `exit` checks R0 against the callback's return range and goes back to the helper call,
//! which runs again and schedules the next iteration: the iterations stop when the state at
//! the call repeats within the ranges of an earlier iteration (the walk's pruning at
//! [`calls_callback`] sites), helped by widening the scalars that changed and that nothing
//! needed exact. `bpf_loop` iterates at most as often as its count says.

use bpfbox_vm::isa::{op, RawInsn};
use bpfbox_vm::maps::spec::MapType;

use super::args::Meta;
use super::Flow;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::prune::idmap::IdMap;
use crate::prune::regsafe::regs_exact;
use crate::state::{Frame, Reg, RegType, State};

/// `BPF_FUNC_for_each_map_elem`.
pub const FOR_EACH_MAP_ELEM: i32 = 164;
/// `BPF_FUNC_timer_set_callback`.
pub const TIMER_SET_CALLBACK: i32 = 170;
/// `BPF_FUNC_find_vma`.
pub const FIND_VMA: i32 = 180;
/// `BPF_FUNC_loop`.
pub const LOOP: i32 = 181;
/// `BPF_FUNC_user_ringbuf_drain`.
pub const USER_RINGBUF_DRAIN: i32 = 209;

/// Whether helper `id` calls a BPF function (`is_callback_calling_function`).
pub fn is_callback_helper(id: i32) -> bool {
    matches!(
        id,
        FOR_EACH_MAP_ELEM | TIMER_SET_CALLBACK | FIND_VMA | LOOP | USER_RINGBUF_DRAIN
    )
}

/// Whether `i` is a call of a helper that calls a BPF function (`calls_callback`): the walk
/// comes back to it after each iteration of the callback.
pub fn calls_callback(i: &RawInsn) -> bool {
    i.code == op::JMP | op::CALL && i.src == 0 && is_callback_helper(i.imm)
}

/// `ld_imm64` of the function starting `imm` slots after the next one (`check_ld_imm` for
/// `BPF_PSEUDO_FUNC`): a `func` pointer to a static subprogram.
pub fn ld_func(env: &Env<'_>, pc: usize, imm: u64) -> Result<Reg> {
    let start = (pc as i64 + 1 + imm as u32 as i32 as i64) as usize;
    let subprog = super::subprog::subprog_at(env, pc, start)?;
    if env.prog.func_info.is_empty() {
        return Err(Reject::at(pc, "missing btf func_info"));
    }
    if env.opts.btf.is_none() {
        // Without the BTF the records point into, a global callee cannot be told apart.
        return Err(Reject::unsupported(
            pc,
            "callbacks with func_info but without the program's BTF",
        ));
    }
    if crate::global::is_global(env, subprog) {
        return Err(Reject::at(pc, "callback function not static"));
    }
    let mut r = Reg::pointer(RegType::Func);
    r.subprog = subprog;
    Ok(r)
}

/// Map types whose values a callback may walk (those with `map_for_each_callback`).
fn walkable(t: MapType) -> bool {
    matches!(
        t,
        MapType::Hash
            | MapType::LruHash
            | MapType::PercpuHash
            | MapType::LruPercpuHash
            | MapType::Array
            | MapType::PercpuArray
    )
}

/// The callback part of helper `id`'s call at `pc` (the `push_callback_call`s of
/// `check_helper_call`), after its arguments were checked: the state entering the callback
/// and the callback's first instruction, if an iteration is due. `st` goes on after the call.
pub fn at_call(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    id: i32,
    meta: &Meta,
) -> Result<Option<(Box<State>, usize)>> {
    if !is_callback_helper(id) {
        return Ok(None);
    }
    let Some(subprog) = meta.callback else {
        return Err(Reject::at(pc, "verifier bug: callback without a function"));
    };
    if id == TIMER_SET_CALLBACK || id == FIND_VMA {
        // Refused earlier by their arguments (timers, BTF-typed tasks); never accepted here.
        return Err(Reject::unsupported(pc, "this callback helper"));
    }
    if !st.refs.list.is_empty() {
        return Err(Reject::unsupported(
            pc,
            "callbacks while references are held",
        ));
    }
    if id == LOOP {
        let umax = st.reg(1).val.bounds().umax;
        if st.cur().callback_depth as u64 >= umax {
            st.cur_mut().callback_depth = 0;
            if env.log.verbose() {
                let f = st.frames.len() - 1;
                env.log
                    .line(&format!("frame{f} bpf_loop iteration limit reached"));
            }
            return Ok(None);
        }
    }
    if id == FOR_EACH_MAP_ELEM {
        let map = meta.map.map(|m| env.opts.maps[m].map_type);
        if !map.is_some_and(walkable) {
            return Err(Reject::at(pc, "callback function not allowed for map"));
        }
    }
    let depth = st.frames.len();
    if depth >= super::subprog::MAX_CALL_FRAMES {
        return Err(Reject::at(
            pc,
            format!("the call stack of {} frames is too deep", depth + 1),
        ));
    }
    let mut cb = Box::new(st.clone());
    let caller = st.cur();
    let mut callee = Frame::new(pc, depth as u32, subprog);
    let regs = &mut callee.regs;
    match id {
        LOOP => {
            // callback(u32 index, void *ctx)
            regs[1] = Reg::unknown();
            regs[2] = caller.regs[3].clone();
        }
        FOR_EACH_MAP_ELEM => {
            // callback(map, key, value, ctx)
            let m = caller.regs[1].map;
            regs[1] = caller.regs[1].clone();
            regs[2] = Reg::pointer(RegType::MapKey);
            regs[2].map = m;
            regs[3] = Reg::pointer(RegType::MapValue);
            regs[3].map = m;
            // Each iteration's value is another element.
            regs[3].id = env.new_id();
            regs[4] = caller.regs[3].clone();
        }
        _ => {
            // USER_RINGBUF_DRAIN: callback(const struct bpf_dynptr *, ctx)
            regs[1] = Reg::pointer(RegType::ConstDynptr);
            regs[2] = caller.regs[3].clone();
        }
    }
    callee.in_callback = true;
    callee.callback_ret = (0, 1);
    cb.callback_unroll_depth += 1;
    cb.cur_mut().callback_depth += 1;
    cb.frames.push(callee);
    st.cur_mut().callback_depth = 0;
    let start = env.cfg.subprogs[subprog];
    Ok(Some((cb, start)))
}

/// The `exit` of a callback (`prepare_func_exit` for `in_callback_fn`): R0 a scalar in the
/// callback's return range; the walk goes back to the helper call.
pub fn exit(env: &mut Env<'_>, st: &mut State, pc: usize) -> Result<Flow> {
    let r0 = st.reg(0);
    if r0.ty == RegType::Stack {
        return Err(Reject::at(pc, "cannot return stack pointer to the caller"));
    }
    if r0.ty != RegType::Scalar {
        return Err(Reject::at(pc, "R0 not a scalar value"));
    }
    let (lo, hi) = st.cur().callback_ret;
    let b = r0.val.bounds();
    if !(lo as i64 <= b.smin && b.smax <= hi as i64) {
        return Err(Reject::at(
            pc,
            super::exit::invalid_scalar("At callback return", "R0", &b, lo, hi),
        ));
    }
    if !st.refs.list.is_empty() {
        return Err(Reject::unsupported(pc, "references acquired in callbacks"));
    }
    let callee = st.frames.pop().expect("a callback frame");
    let back = callee.callsite;
    env.log
        .returned(&callee, st.cur(), &st.refs, pc, back, &env.opts.maps);
    Ok(Flow::CallbackReturn(back))
}

/// `widen_imprecise_scalars`: after a callback returned to its helper call, a scalar that
/// differs from the earlier iteration's `old` and that nothing needed exact becomes unknown,
/// so that the iterations converge.
pub fn widen(id_gen: u32, old: &State, cur: &mut State) {
    let mut ids = IdMap::new(id_gen);
    let mut one = |o: &Reg, c: &mut Reg| {
        if o.ty != RegType::Scalar || c.ty != RegType::Scalar {
            return;
        }
        if o.precise || c.precise || regs_exact(o, c, &mut ids) {
            return;
        }
        *c = Reg::unknown();
    };
    for (fo, fc) in old.frames.iter().zip(cur.frames.iter_mut()).rev() {
        for (ro, rc) in fo.regs.iter().zip(fc.regs.iter_mut()) {
            one(ro, rc);
        }
        for (so, sc) in fo.stack.slots.iter().zip(fc.stack.slots.iter_mut()) {
            if so.is_spill() && sc.is_spill() {
                one(&so.spilled, &mut sc.spilled);
            }
        }
    }
}
