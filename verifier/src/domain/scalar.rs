//! The kernel's scalar domain: a tnum plus signed and unsigned bounds in both widths, with
//! the kernel's transfer functions ([`super::alu`]), branch logic ([`super::branch`]) and
//! reduction ([`super::sync`]).

use std::fmt;

use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Width};

use super::alu::{self, UNKNOWN};
use super::sync::{self, known, reg_bounds_sync};
use super::{branch, print, Bounds, Infeasible, ScalarDomain, Tnum};

/// A scalar as the kernel tracks it in `struct bpf_reg_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    b: Bounds,
}

impl Scalar {
    /// A scalar with exactly these numbers, not reduced (as the kernel holds a register
    /// between a transfer function and `reg_bounds_sync`, or as a log printed it).
    pub const fn from_bounds(b: Bounds) -> Scalar {
        Scalar { b }
    }

    /// The values of a tnum, reduced.
    pub fn from_tnum(t: Tnum) -> Scalar {
        let mut b = UNKNOWN;
        b.var_off = t;
        reg_bounds_sync(&mut b);
        Scalar { b }
    }

    /// `reg_bounds_sync`: every view tightened from the others.
    pub fn sync(&mut self) {
        reg_bounds_sync(&mut self.b);
    }

    /// Truncation to `size` bytes (1, 2 or 4), as a zero-extending narrow load does.
    pub fn coerce_to_size(&mut self, size: u32) {
        sync::coerce_to_size(&mut self.b, size);
    }

    /// Sign extension of the low `size` bytes (1, 2 or 4), as a sign-extending load does.
    pub fn coerce_to_size_sx(&mut self, size: u32) {
        sync::coerce_to_size_sx(&mut self.b, size);
    }

    /// Whether the kernel verifies `self op src` twice, once with `self` 0 and once -1
    /// (`maybe_fork_scalars`: `and`/`or` with a constant on a 0-or-minus-one value); the
    /// width at which the value is 0 or -1.
    pub fn sign_mask_fork(&self, op: AluOp, src: &Scalar) -> Option<Width> {
        alu::sign_mask_fork(&self.b, op, &src.b)
    }

    /// A linked register's value from the one a branch refined (`sync_linked_regs`):
    /// `known + delta`, where `delta` is the difference of the constants each was linked
    /// with (`r1 = r0 + 5` links r1 to r0 with 5), zero-extended when either constant was
    /// added in 32 bits, then reduced.
    pub fn plus_delta(known: &Scalar, delta: i64, zext: bool) -> Scalar {
        let mut b = known.b;
        let d = sync::known(delta as u64);
        alu::add32(&mut b, &d);
        alu::add64(&mut b, &d);
        b.var_off = b.var_off.add(d.var_off);
        if zext {
            sync::zext_32_to_64(&mut b);
        }
        sync::reg_bounds_sync(&mut b);
        Scalar { b }
    }

    /// Whether the kernel's invariants hold (ordered ranges, constant tnums matching).
    pub fn is_consistent(&self) -> bool {
        branch::is_consistent(&self.b)
    }

    /// Whether the concrete value `v` is described by every view.
    pub fn contains(&self, v: u64) -> bool {
        let b = &self.b;
        b.var_off.contains(v)
            && (b.umin..=b.umax).contains(&v)
            && (b.smin..=b.smax).contains(&(v as i64))
            && (b.u32_min..=b.u32_max).contains(&(v as u32))
            && (b.s32_min..=b.s32_max).contains(&(v as i32))
    }
}

impl fmt::Display for Scalar {
    /// The kernel's text for the register (not precise, no id).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print::fmt_scalar(&self.b, false, 0, None))
    }
}

impl ScalarDomain for Scalar {
    fn unknown() -> Self {
        Scalar { b: UNKNOWN }
    }

    fn constant(v: u64) -> Self {
        Scalar { b: known(v) }
    }

    fn as_const(&self) -> Option<u64> {
        self.b.var_off.is_const().then_some(self.b.var_off.value)
    }

    fn bounds(&self) -> Bounds {
        self.b
    }

    fn from_urange(umin: u64, umax: u64) -> Self {
        let mut b = UNKNOWN;
        b.umin = umin;
        b.umax = umax;
        reg_bounds_sync(&mut b);
        Scalar { b }
    }

    fn alu(&mut self, op: AluOp, width: Width, src: &Self) {
        alu::alu(&mut self.b, op, width, &src.b);
    }

    fn neg(&mut self, width: Width) {
        alu::neg(&mut self.b, width);
    }

    fn end(&mut self, kind: EndKind, bits: u8) {
        alu::end(&mut self.b, kind, bits);
    }

    fn zext32(&mut self) {
        sync::zext_32_to_64(&mut self.b);
        reg_bounds_sync(&mut self.b);
    }

    fn branch_taken(&self, other: &Self, cond: JmpCond, width: Width) -> Option<bool> {
        branch::is_branch_taken(&self.b, &other.b, cond, width)
    }

    fn refine(
        &mut self,
        other: &mut Self,
        cond: JmpCond,
        width: Width,
        taken: bool,
    ) -> Result<(), Infeasible> {
        branch::refine(&mut self.b, &mut other.b, cond, width, taken)
    }

    fn within(&self, old: &Self) -> bool {
        let (o, c) = (&old.b, &self.b);
        o.umin <= c.umin
            && o.umax >= c.umax
            && o.smin <= c.smin
            && o.smax >= c.smax
            && o.u32_min <= c.u32_min
            && o.u32_max >= c.u32_max
            && o.s32_min <= c.s32_min
            && o.s32_max >= c.s32_max
            && o.var_off.includes(c.var_off)
    }
}
