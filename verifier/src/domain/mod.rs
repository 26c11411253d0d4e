//! The scalar abstract domain.
//!
//! The verifier reasons about scalars only through [`ScalarDomain`], so another domain (the
//! circular numbers of later kernels) can replace the kernel's tnum-plus-bounds domain
//! ([`Scalar`]) without touching the checks. Every operation must be sound: the concrete
//! result of an operation on values inside the inputs lies inside the output. Beyond
//! soundness, [`Scalar`] must compute exactly what the kernel computes, imprecision included,
//! because verdicts, logs and processed-instruction counts depend on it.

use std::fmt;

use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Width};

pub mod alu;
pub mod branch;
pub mod parse;
pub mod print;
pub mod scalar;
pub mod sync;
pub mod tnum;

pub use parse::{parse_scalar, ParseError, ParsedScalar};
pub use print::fmt_scalar;
pub use scalar::Scalar;
pub use tnum::Tnum;

/// The numbers every domain can be projected to: what the log prints and what memory checks
/// read (`umax` of a variable offset, `smin` of a size, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// Known bits.
    pub var_off: Tnum,
    /// Signed 64-bit minimum.
    pub smin: i64,
    /// Signed 64-bit maximum.
    pub smax: i64,
    /// Unsigned 64-bit minimum.
    pub umin: u64,
    /// Unsigned 64-bit maximum.
    pub umax: u64,
    /// Signed minimum of the low 32 bits.
    pub s32_min: i32,
    /// Signed maximum of the low 32 bits.
    pub s32_max: i32,
    /// Unsigned minimum of the low 32 bits.
    pub u32_min: u32,
    /// Unsigned maximum of the low 32 bits.
    pub u32_max: u32,
}

/// A branch condition has no concrete pair of values that takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Infeasible;

/// An abstract scalar value.
pub trait ScalarDomain: Clone + PartialEq + fmt::Debug {
    /// Any 64-bit value.
    fn unknown() -> Self;
    /// Exactly `v`.
    fn constant(v: u64) -> Self;
    /// The single value, when there is only one.
    fn as_const(&self) -> Option<u64>;
    /// The projection to the kernel's numbers.
    fn bounds(&self) -> Bounds;
    /// A value known to lie in `[umin, umax]` unsigned (a zero-extended load of a narrow
    /// field, a helper's return range, ...), reduced as the kernel reduces it.
    fn from_urange(umin: u64, umax: u64) -> Self;
    /// `self = self op src` at `width`, as `adjust_scalar_min_max_vals` computes it (32-bit
    /// operations zero-extend the result). `Mov` and `MovSx` ignore `self`.
    fn alu(&mut self, op: AluOp, width: Width, src: &Self);
    /// `self = -self` at `width`.
    fn neg(&mut self, width: Width);
    /// Byte swap or conversion of the low `bits` bits.
    fn end(&mut self, kind: EndKind, bits: u8);
    /// Keep the low 32 bits (a 32-bit write), as `zext_32_to_64` does.
    fn zext32(&mut self);
    /// Whether `self cond other` is always true (`Some(true)`), always false (`Some(false)`)
    /// or either (`None`), as `is_branch_taken` decides.
    fn branch_taken(&self, other: &Self, cond: JmpCond, width: Width) -> Option<bool>;
    /// Narrow both operands to the values that take (`taken`) or fall through the branch, as
    /// `reg_set_min_max` does; `Err(Infeasible)` when no pair remains.
    fn refine(
        &mut self,
        other: &mut Self,
        cond: JmpCond,
        width: Width,
        taken: bool,
    ) -> Result<(), Infeasible>;
    /// Every value of `self` is a value of `old` (pruning's `range_within` and `tnum_in`).
    fn within(&self, old: &Self) -> bool;

    /// The register's text in the verifier log (`P` when `precise`, `id=` when `id` is not
    /// 0, `+off` when linked by an added constant).
    fn log_text(&self, precise: bool, id: u32, add_const: Option<i32>) -> String {
        print::fmt_scalar(&self.bounds(), precise, id, add_const)
    }
}
