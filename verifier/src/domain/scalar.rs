//! The kernel's scalar domain: a tnum plus signed and unsigned bounds in both widths.
//!
//! PLACEHOLDER: sound but imprecise (constants are folded exactly, everything else becomes
//! unknown). It is replaced by the kernel's transfer functions and reduction.

use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Width};
use bpfbox_vm::semantics;

use super::{Bounds, Infeasible, ScalarDomain, Tnum};

/// A scalar as the kernel tracks it in `struct bpf_reg_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    b: Bounds,
}

const UNKNOWN: Bounds = Bounds {
    var_off: Tnum::UNKNOWN,
    smin: i64::MIN,
    smax: i64::MAX,
    umin: 0,
    umax: u64::MAX,
    s32_min: i32::MIN,
    s32_max: i32::MAX,
    u32_min: 0,
    u32_max: u32::MAX,
};

impl ScalarDomain for Scalar {
    fn unknown() -> Self {
        Scalar { b: UNKNOWN }
    }

    fn constant(v: u64) -> Self {
        Scalar {
            b: Bounds {
                var_off: Tnum::constant(v),
                smin: v as i64,
                smax: v as i64,
                umin: v,
                umax: v,
                s32_min: v as u32 as i32,
                s32_max: v as u32 as i32,
                u32_min: v as u32,
                u32_max: v as u32,
            },
        }
    }

    fn as_const(&self) -> Option<u64> {
        self.b.var_off.is_const().then_some(self.b.var_off.value)
    }

    fn bounds(&self) -> Bounds {
        self.b
    }

    fn from_urange(umin: u64, umax: u64) -> Self {
        if umin == umax {
            Self::constant(umin)
        } else {
            Self::unknown()
        }
    }

    fn alu(&mut self, op: AluOp, width: Width, src: &Self) {
        *self = match (self.as_const(), src.as_const()) {
            (Some(a), Some(b)) => Self::constant(semantics::alu(width, op, a, b)),
            (_, Some(b)) if matches!(op, AluOp::Mov) => {
                Self::constant(semantics::alu(width, op, 0, b))
            }
            _ => Self::unknown(),
        };
    }

    fn neg(&mut self, width: Width) {
        *self = match self.as_const() {
            Some(v) => Self::constant(semantics::neg(width, v)),
            None => Self::unknown(),
        };
    }

    fn end(&mut self, kind: EndKind, bits: u8) {
        *self = match self.as_const() {
            Some(v) => Self::constant(semantics::end(kind, bits, v)),
            None => Self::unknown(),
        };
    }

    fn zext32(&mut self) {
        *self = match self.as_const() {
            Some(v) => Self::constant(v as u32 as u64),
            None => Self::unknown(),
        };
    }

    fn branch_taken(&self, other: &Self, cond: JmpCond, width: Width) -> Option<bool> {
        match (self.as_const(), other.as_const()) {
            (Some(a), Some(b)) => Some(semantics::jmp_taken(cond, width, a, b)),
            _ => None,
        }
    }

    fn refine(
        &mut self,
        other: &mut Self,
        cond: JmpCond,
        width: Width,
        taken: bool,
    ) -> Result<(), Infeasible> {
        match self.branch_taken(other, cond, width) {
            Some(t) if t != taken => Err(Infeasible),
            _ => Ok(()),
        }
    }

    fn within(&self, old: &Self) -> bool {
        *old == Self::unknown() || self == old
    }
}
