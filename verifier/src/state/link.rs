//! Linked scalars: copies of a scalar share an id, so a bound a branch learns on one holds
//! for the others (`sync_linked_regs`). A copy that then had a constant added in one
//! instruction (`r1 = r0; r1 += 4`, or `-=`, in 64 or 32 bits) stays linked with that
//! difference (`BPF_ADD_CONST`, printed `id=1+4`); a second addition, any other operation,
//! or a copy of it breaks the link.

use bpfbox_vm::isa::{AluOp, Width};

use super::{Reg, RegType, State};
use crate::domain::{Scalar, ScalarDomain};
use crate::prune::precision::Linked;

/// Most registers and spilled slots one branch collects (`LINKED_REGS_MAX`).
pub const LINKED_MAX: usize = 6;
/// The id bit of a link made by a 64-bit addition (`BPF_ADD_CONST64`).
const ADD_CONST64: u32 = 1 << 31;
/// The id bit of a link made by a 32-bit addition (`BPF_ADD_CONST32`).
const ADD_CONST32: u32 = 1 << 30;
/// Both bits (`BPF_ADD_CONST`).
pub const ADD_CONST: u32 = ADD_CONST64 | ADD_CONST32;

/// How a linked scalar relates to the value its id names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Delta {
    /// The same value.
    #[default]
    None,
    /// The value plus a constant added in 64 bits.
    Add64(i32),
    /// The value plus a constant added in 32 bits, zero-extended.
    Add32(i32),
}

impl Delta {
    /// The constant added (`reg->off`), 0 without one.
    pub fn off(self) -> i32 {
        match self {
            Delta::None => 0,
            Delta::Add64(d) | Delta::Add32(d) => d,
        }
    }

    /// The constant as the log prints it after the id (`id=1+4`), when there is one.
    pub fn add_const(self) -> Option<i32> {
        (self != Delta::None).then(|| self.off())
    }

    fn bits(self) -> u32 {
        match self {
            Delta::None => 0,
            Delta::Add64(_) => ADD_CONST64,
            Delta::Add32(_) => ADD_CONST32,
        }
    }
}

impl Reg {
    /// The id with the kernel's `BPF_ADD_CONST` bits, as state comparisons pair them.
    pub fn full_id(&self) -> u32 {
        if self.id == 0 {
            0
        } else {
            self.id | self.delta.bits()
        }
    }

    /// `assign_scalar_id_before_mov`: a scalar about to be copied (moved or spilled) gets an
    /// id its copy will share; one linked by an added constant starts a new link instead.
    pub fn link_for_copy(&mut self, new_id: impl FnOnce() -> u32) {
        if self.ty != RegType::Scalar {
            return;
        }
        if self.delta != Delta::None {
            self.id = 0;
            self.delta = Delta::None;
        }
        if self.id == 0 && self.val.as_const().is_none() {
            self.id = new_id();
        }
    }
}

/// The id and link the scalar result of `dst op= src` keeps (privileged loads): an
/// addition or subtraction of a constant (not `dst` itself: `same`) to a linked scalar not
/// yet offset keeps its id with the constant; anything else unlinks it.
pub fn after_alu(dst: &Reg, src: &Reg, same: bool, op: AluOp, width: Width) -> (u32, Delta) {
    const NONE: (u32, Delta) = (0, Delta::None);
    if dst.id == 0 || same || !matches!(op, AluOp::Add | AluOp::Sub) || !src.is_scalar() {
        return NONE;
    }
    if dst.delta != Delta::None {
        // A second constant cannot be accumulated.
        return NONE;
    }
    let b = src.val.bounds();
    let off = match width {
        Width::W64 => {
            let Some(v) = src.val.as_const() else {
                return NONE;
            };
            match i32::try_from(v as i64) {
                Ok(v) => v,
                Err(_) => return NONE,
            }
        }
        Width::W32 => {
            // The 32-bit result is the link only when the value fits in 32 bits.
            let dst_fits = dst.val.bounds().umax <= u32::MAX as u64;
            if b.var_off.mask as u32 != 0 || !dst_fits {
                return NONE;
            }
            b.var_off.value as u32 as i32
        }
    };
    let off = match op {
        AluOp::Sub => match off.checked_neg() {
            Some(n) => n,
            None => return NONE,
        },
        _ => off,
    };
    let delta = match width {
        Width::W64 => Delta::Add64(off),
        Width::W32 => Delta::Add32(off),
    };
    (dst.id, delta)
}

/// A register or spilled slot of `st`.
fn at(st: &mut State, l: Linked) -> Option<&mut Reg> {
    match l {
        Linked::Reg { frame, reg } => st.frames.get_mut(frame)?.regs.get_mut(reg as usize),
        Linked::Slot { frame, spi } => st
            .frames
            .get_mut(frame)?
            .stack
            .slots
            .get_mut(spi)
            .map(|s| &mut s.spilled),
    }
}

/// Every live register and spilled scalar of `st` linked to `id` (whatever its constant),
/// in the kernel's order: the innermost frame first, registers before slots. A register is
/// live when [`crate::prune::liveness::live_regs_before`] (`live`) says a later instruction
/// reads it: before `pc` for the innermost frame, before the call a caller waits at for the
/// others.
pub fn each_linked(st: &State, id: u32, live: &[u16], pc: usize, mut f: impl FnMut(Linked)) {
    if id == 0 {
        return;
    }
    for (fi, fr) in st.frames.iter().enumerate().rev() {
        let ip = st.frames.get(fi + 1).map_or(pc, |callee| callee.callsite);
        let mask = live.get(ip).copied().unwrap_or(u16::MAX);
        for (r, reg) in fr.regs.iter().enumerate().take(10) {
            if mask & (1 << r) != 0 && reg.is_scalar() && reg.id == id {
                f(Linked::Reg {
                    frame: fi,
                    reg: r as u8,
                });
            }
        }
        for (spi, s) in fr.stack.slots.iter().enumerate() {
            if s.is_spill() && s.spilled.is_scalar() && s.spilled.id == id {
                f(Linked::Slot { frame: fi, spi });
            }
        }
    }
}

/// `collect_linked_regs` without the side effect: appends to `out` while it has room
/// (duplicates kept, as the kernel keeps them when both operands share an id).
pub fn collect(st: &State, id: u32, live: &[u16], pc: usize, out: &mut Vec<Linked>) {
    each_linked(st, id, live, pc, |l| {
        if out.len() < LINKED_MAX {
            out.push(l);
        }
    });
}

/// `collect_linked_regs`: appends to `out` while it has room; the scalars past the room
/// lose their id.
pub fn collect_mut(st: &mut State, id: u32, live: &[u16], pc: usize, out: &mut Vec<Linked>) {
    let mut extra = Vec::new();
    each_linked(st, id, live, pc, |l| {
        if out.len() < LINKED_MAX {
            out.push(l);
        } else {
            extra.push(l);
        }
    });
    for l in extra {
        if let Some(r) = at(st, l) {
            r.id = 0;
            r.delta = Delta::None;
        }
    }
}

/// `sync_linked_regs`: every collected scalar of `set` linked to `known` (found at `from`)
/// takes its value, offset by the difference of their constants. Links made in different
/// widths say nothing of each other.
pub fn sync(st: &mut State, known: &Reg, from: Linked, set: &[Linked]) {
    if known.id == 0 || !known.is_scalar() {
        return;
    }
    for &l in set {
        if l == from {
            continue;
        }
        let Some(r) = at(st, l) else { continue };
        if !r.is_scalar() || r.id != known.id {
            continue;
        }
        let mixed = matches!(
            (r.delta, known.delta),
            (Delta::Add64(_), Delta::Add32(_)) | (Delta::Add32(_), Delta::Add64(_))
        );
        if mixed {
            continue;
        }
        if r.delta.off() == known.delta.off() {
            r.val = known.val;
        } else {
            let zext = matches!(r.delta, Delta::Add32(_)) || matches!(known.delta, Delta::Add32(_));
            let d = r.delta.off() as i64 - known.delta.off() as i64;
            r.val = Scalar::plus_delta(&known.val, d, zext);
        }
    }
}
