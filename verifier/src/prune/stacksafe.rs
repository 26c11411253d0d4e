//! `stacksafe`: the stack half of state equivalence, slot by slot and byte by byte over the
//! old frame's allocated stack (slots the current stack has beyond it were never used by the
//! explored paths).

use super::idmap::IdMap;
use super::regsafe::regsafe;
use super::Exact;
use crate::state::stack::Slot;
use crate::state::{Byte, Reg, Stack};

/// The stack comparison of one frame.
pub struct StackCmp {
    /// Uninitialised stack may be read (privileged loads): old `misc` bytes then say nothing.
    pub allow_uninit: bool,
    /// Whether scalar precision marks are tracked (see [`regsafe`]).
    pub precision: bool,
    /// Scalars must be equal (`explore_alu_limits`, see [`regsafe`]).
    pub exact_scalars: bool,
}

/// A spill of a whole 64-bit scalar (`is_spilled_scalar_reg64`).
fn spilled_scalar64(s: &Slot) -> bool {
    s.bytes[0] == Byte::Spill && s.spilled.is_scalar()
}

/// Every byte `misc` (or never written, where that reads as misc).
fn all_misc(s: &Slot, allow_uninit: bool) -> bool {
    s.bytes
        .iter()
        .all(|&b| b == Byte::Misc || (b == Byte::Invalid && allow_uninit))
}

/// The scalar a full-slot load would produce (`scalar_reg_for_stack`): the spilled scalar,
/// or an unknown scalar for an all-misc slot.
fn scalar_for_slot(s: &Slot, allow_uninit: bool) -> Option<Reg> {
    if spilled_scalar64(s) {
        Some(s.spilled.clone())
    } else if all_misc(s, allow_uninit) {
        Some(Reg::unknown())
    } else {
        None
    }
}

impl StackCmp {
    /// `stacksafe`.
    pub fn safe(&self, old: &Stack, cur: &Stack, ids: &mut IdMap, exact: Exact) -> bool {
        let cur_alloc = cur.allocated() as usize;
        let mut i = 0usize;
        while i < old.allocated() as usize {
            let spi = i / 8;
            let b = i % 8;
            let os = &old.slots[spi];
            let ob = os.bytes[b];
            if exact != Exact::Not && (i >= cur_alloc || ob != cur.slots[spi].bytes[b]) {
                return false;
            }
            if ob == Byte::Invalid || (self.allow_uninit && ob == Byte::Misc) {
                i += 1;
                continue;
            }
            if i >= cur_alloc {
                // Old paths used a slot the current stack does not have.
                return false;
            }
            let cs = &cur.slots[spi];
            if let (Some(o), Some(c)) = (
                scalar_for_slot(os, self.allow_uninit),
                scalar_for_slot(cs, self.allow_uninit),
            ) {
                if !regsafe(&o, &c, ids, exact, self.precision, self.exact_scalars) {
                    return false;
                }
                i = spi * 8 + 8;
                continue;
            }
            let cb = cs.bytes[b];
            // Misc data was safe, so zeros are too (not the other way round).
            if ob == Byte::Misc && cb == Byte::Zero {
                i += 1;
                continue;
            }
            if ob != cb {
                return false;
            }
            if b == 7
                && ob == Byte::Spill
                && !regsafe(
                    &os.spilled,
                    &cs.spilled,
                    ids,
                    exact,
                    self.precision,
                    self.exact_scalars,
                )
            {
                return false;
            }
            i += 1;
        }
        true
    }
}
