//! `may_goto`: a loop exit the runtime takes once a budget of iterations is spent. The path
//! goes on at the jump target; the fall-through (the loop body) is explored later with the
//! state's `may_goto` depth one higher and, when the loop was entered before on this path,
//! with its imprecise scalars widened against that earlier entry
//! (`widen_imprecise_scalars`), so that the loop converges.

use bpfbox_vm::isa::{op, pseudo, RawInsn};

use super::Flow;
use crate::state::{Reg, RegType, State};

/// Whether `i` is a `may_goto`.
pub fn is_may_goto(i: &RawInsn) -> bool {
    i.code == op::JMP | op::JCOND && i.src == pseudo::MAY_GOTO
}

/// A `may_goto` at `pc` jumping `off` slots: the current state goes to the target, the
/// fall-through is pushed. `prev` is the state of the same loop's earlier entry on this
/// path, if any.
pub fn branch(st: &State, pc: usize, off: i16, prev: Option<&State>) -> Flow {
    let mut queued = st.clone();
    queued.may_goto_depth += 1;
    if let Some(old) = prev {
        widen(old, &mut queued);
    }
    Flow::Branch {
        taken: Box::new(queued),
        target: pc + 1,
        fall: (pc as i64 + 1 + off as i64) as usize,
    }
}

/// Whether the scalar `r` must keep its value: a check relied on it (see
/// [`crate::prune::precision`]).
fn precise(r: &Reg) -> bool {
    r.precise
}

/// `maybe_widen_reg`: a scalar that differs from the loop entry's becomes unknown.
fn widen_reg(old: &Reg, cur: &mut Reg) {
    if old.ty != RegType::Scalar || cur.ty != RegType::Scalar {
        return;
    }
    if precise(old) || precise(cur) || old.val == cur.val {
        return;
    }
    *cur = Reg::unknown();
}

/// Widens `cur`'s imprecise scalars, registers and spilled slots, against `old`.
pub fn widen(old: &State, cur: &mut State) {
    for (fo, fc) in old.frames.iter().zip(cur.frames.iter_mut()) {
        for (ro, rc) in fo.regs.iter().zip(fc.regs.iter_mut()) {
            widen_reg(ro, rc);
        }
        for (so, sc) in fo.stack.slots.iter().zip(fc.stack.slots.iter_mut()) {
            if so.is_spill() && sc.is_spill() {
                widen_reg(&so.spilled, &mut sc.spilled);
            }
        }
    }
}
