//! `may_goto`: a loop exit the runtime takes once a budget of iterations is spent. The path
//! goes on at the jump target; the fall-through (the loop body) is explored later with the
//! state's `may_goto` depth one higher and, when the loop was entered before on this path,
//! with its imprecise scalars widened against that earlier entry
//! (`widen_imprecise_scalars`), so that the loop converges.

use bpfbox_vm::isa::{op, pseudo, RawInsn};

use super::Flow;
use crate::domain::ScalarDomain;
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

/// Whether the scalar `r` must keep its value. No precision is tracked yet: the walk widens
/// every scalar, and when that loses a needed bound it walks again widening none (see
/// `explore::run`). Either walk is sound on its own.
fn precise(_r: &Reg) -> bool {
    false
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

/// Old ids paired with current ids (`struct bpf_idmap`): an id of one state must always
/// meet the same id of the other.
#[derive(Default)]
struct IdMap {
    pairs: Vec<(u32, u32)>,
    fresh: u32,
}

impl IdMap {
    /// `check_ids`.
    fn check(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 && cur == 0 {
            return true;
        }
        if old == 0 || cur == 0 {
            return false;
        }
        for &(o, c) in &self.pairs {
            if o == old {
                return c == cur;
            }
            if c == cur {
                return false;
            }
        }
        self.pairs.push((old, cur));
        true
    }

    /// `check_scalar_ids`: an unlinked scalar counts as linked to nothing else.
    fn check_scalar(&mut self, old: u32, cur: u32) -> bool {
        let mut unique = || {
            self.fresh += 1;
            u32::MAX - self.fresh
        };
        let old = if old == 0 { unique() } else { old };
        let cur = if cur == 0 { unique() } else { cur };
        self.check(old, cur)
    }
}

/// Whether every value of `cur` is a value of `old` (`regsafe` with ranges allowed to
/// nest): scalars within the old ranges, everything else equal, ids consistently paired.
fn reg_within(old: &Reg, cur: &Reg, ids: &mut IdMap) -> bool {
    if old.ty == RegType::Scalar && cur.ty == RegType::Scalar {
        return cur.val.within(&old.val) && ids.check_scalar(old.id, cur.id);
    }
    let (mut o, mut c) = (old.clone(), cur.clone());
    o.id = 0;
    c.id = 0;
    o == c && ids.check(old.id, cur.id)
}

/// `states_equal(.., RANGE_WITHIN)` as the `may_goto` loop check needs it: the same call
/// chain, each register and spilled scalar of `cur` within `old`'s, the same stack bytes
/// wherever `old` has a slot.
pub fn within(old: &State, cur: &State) -> bool {
    if old.frames.len() != cur.frames.len() {
        return false;
    }
    let mut ids = IdMap::default();
    old.frames.iter().zip(&cur.frames).all(|(fo, fc)| {
        fo.callsite == fc.callsite
            && fo.subprog == fc.subprog
            && fo
                .regs
                .iter()
                .zip(&fc.regs)
                .all(|(a, b)| reg_within(a, b, &mut ids))
            && fc.stack.slots.len() >= fo.stack.slots.len()
            && fo.stack.slots.iter().zip(&fc.stack.slots).all(|(so, sc)| {
                so.bytes == sc.bytes
                    && (!so.is_spill() || reg_within(&so.spilled, &sc.spilled, &mut ids))
            })
    })
}
