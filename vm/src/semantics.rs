//! The meaning of every operation, once, as pure functions.
//!
//! The interpreter executes these; the verifier's constant folding and the JITs are tested
//! against them. The rules follow the kernel (and RFC 9669): division by zero gives 0, modulo
//! by zero leaves the dividend, `INT_MIN / -1 = INT_MIN`, `INT_MIN % -1 = 0`, shift counts are
//! masked to the operand width, and every 32-bit result is zero-extended to 64 bits.

use crate::isa::{AluOp, AtomicOp, EndKind, JmpCond, Size, Src, Width};

/// Sign-extends the low `bits` of `v` to 64 bits.
#[inline(always)]
pub fn sign_extend(v: u64, bits: u32) -> u64 {
    debug_assert!((1..=64).contains(&bits));
    let sh = 64 - bits;
    (((v << sh) as i64) >> sh) as u64
}

/// The value of an immediate operand as a 64-bit operation sees it (sign-extended).
#[inline(always)]
pub fn imm64(imm: i32) -> u64 {
    imm as i64 as u64
}

/// The value of an operand for an operation of `width` (an immediate is sign-extended to 64
/// bits and, for 32-bit operations, then truncated).
#[inline(always)]
pub fn operand(src: Src, regs: &[u64; 11], width: Width) -> u64 {
    let v = match src {
        Src::Reg(r) => regs[r as usize],
        Src::Imm(i) => imm64(i),
    };
    match width {
        Width::W64 => v,
        Width::W32 => v as u32 as u64,
    }
}

/// 64-bit ALU operation.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::SDiv => sdiv64(dst, src),
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        AluOp::Lsh => dst << (src & 63),
        AluOp::Rsh => dst >> (src & 63),
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::SMod => smod64(dst, src),
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        AluOp::MovSx(bits) => sign_extend(src, bits as u32),
        AluOp::Arsh => ((dst as i64) >> (src & 63)) as u64,
    }
}

/// 32-bit ALU operation on the low halves; the result is zero-extended.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u64, src: u64) -> u64 {
    let d = dst as u32;
    let s = src as u32;
    let r: u32 = match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::SDiv => sdiv32(d, s),
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Lsh => d << (s & 31),
        AluOp::Rsh => d >> (s & 31),
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::SMod => smod32(d, s),
        AluOp::Xor => d ^ s,
        AluOp::Mov => s,
        AluOp::MovSx(bits) => sign_extend(s as u64, bits as u32) as u32,
        AluOp::Arsh => ((d as i32) >> (s & 31)) as u32,
    };
    r as u64
}

/// ALU operation of either width.
#[inline(always)]
pub fn alu(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => alu32(op, dst, src),
    }
}

/// Signed 64-bit division: x / 0 = 0, INT_MIN / -1 = INT_MIN.
#[inline(always)]
pub fn sdiv64(dst: u64, src: u64) -> u64 {
    if src == 0 {
        0
    } else {
        (dst as i64).wrapping_div(src as i64) as u64
    }
}

/// Signed 64-bit modulo: x % 0 = x, INT_MIN % -1 = 0.
#[inline(always)]
pub fn smod64(dst: u64, src: u64) -> u64 {
    if src == 0 {
        dst
    } else {
        (dst as i64).wrapping_rem(src as i64) as u64
    }
}

/// Signed 32-bit division.
#[inline(always)]
pub fn sdiv32(dst: u32, src: u32) -> u32 {
    if src == 0 {
        0
    } else {
        (dst as i32).wrapping_div(src as i32) as u32
    }
}

/// Signed 32-bit modulo.
#[inline(always)]
pub fn smod32(dst: u32, src: u32) -> u32 {
    if src == 0 {
        dst
    } else {
        (dst as i32).wrapping_rem(src as i32) as u32
    }
}

/// `neg` of either width.
#[inline(always)]
pub fn neg(width: Width, v: u64) -> u64 {
    match width {
        Width::W64 => v.wrapping_neg(),
        Width::W32 => (v as u32).wrapping_neg() as u64,
    }
}

/// Byte-order conversion of the low `bits` of `v` on a little-endian machine.
#[inline(always)]
pub fn end(kind: EndKind, bits: u8, v: u64) -> u64 {
    match (kind, bits) {
        (EndKind::ToLe, 16) => v as u16 as u64,
        (EndKind::ToLe, 32) => v as u32 as u64,
        (EndKind::ToLe, _) => v,
        (EndKind::ToBe | EndKind::Swap, 16) => (v as u16).swap_bytes() as u64,
        (EndKind::ToBe | EndKind::Swap, 32) => (v as u32).swap_bytes() as u64,
        (EndKind::ToBe | EndKind::Swap, _) => v.swap_bytes(),
    }
}

/// Whether a conditional jump is taken.
#[inline(always)]
pub fn jmp_taken(cond: JmpCond, width: Width, a: u64, b: u64) -> bool {
    match width {
        Width::W64 => cond64(cond, a, b),
        Width::W32 => cond32(cond, a as u32, b as u32),
    }
}

/// 64-bit jump predicate.
#[inline(always)]
pub fn cond64(cond: JmpCond, a: u64, b: u64) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Set => a & b != 0,
        JmpCond::Ne => a != b,
        JmpCond::Sgt => (a as i64) > (b as i64),
        JmpCond::Sge => (a as i64) >= (b as i64),
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Slt => (a as i64) < (b as i64),
        JmpCond::Sle => (a as i64) <= (b as i64),
    }
}

/// 32-bit jump predicate.
#[inline(always)]
pub fn cond32(cond: JmpCond, a: u32, b: u32) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Set => a & b != 0,
        JmpCond::Ne => a != b,
        JmpCond::Sgt => (a as i32) > (b as i32),
        JmpCond::Sge => (a as i32) >= (b as i32),
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Slt => (a as i32) < (b as i32),
        JmpCond::Sle => (a as i32) <= (b as i32),
    }
}

/// Zero-extends a loaded value of `size` (the `ldx` rule).
#[inline(always)]
pub fn load_zext(size: Size, raw: u64) -> u64 {
    match size {
        Size::B => raw as u8 as u64,
        Size::H => raw as u16 as u64,
        Size::W => raw as u32 as u64,
        Size::DW => raw,
    }
}

/// Sign-extends a loaded value of `size` (the `ldxs*` rule).
#[inline(always)]
pub fn load_sext(size: Size, raw: u64) -> u64 {
    sign_extend(raw, size.bytes() * 8)
}

/// The value a `st` of `size` writes: the immediate sign-extended, then truncated to the size.
#[inline(always)]
pub fn store_imm(imm: i32) -> u64 {
    imm64(imm)
}

/// Outcome of an atomic operation on one memory word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicResult {
    /// Value to store back, if any.
    pub store: Option<u64>,
    /// Register to write (`src`, `r0` or `dst`) and its value, if any.
    pub load: Option<(AtomicLoadReg, u64)>,
}

/// Which register an atomic operation writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicLoadReg {
    /// The `src` register (fetch forms, xchg).
    Src,
    /// r0 (cmpxchg).
    R0,
    /// The `dst` register (load-acquire).
    Dst,
}

/// The meaning of an atomic operation of `size` on memory holding `old`, with operand `src`
/// and (for cmpxchg) `r0`. Values are truncated to the size; a 32-bit fetch zero-extends.
#[inline]
pub fn atomic(op: AtomicOp, size: Size, old: u64, src: u64, r0: u64) -> AtomicResult {
    let trunc = |v: u64| load_zext(size, v);
    let old = trunc(old);
    let rmw = |new: u64, fetch: bool| AtomicResult {
        store: Some(trunc(new)),
        load: fetch.then_some((AtomicLoadReg::Src, old)),
    };
    match op {
        AtomicOp::Add { fetch } => rmw(old.wrapping_add(src), fetch),
        AtomicOp::Or { fetch } => rmw(old | src, fetch),
        AtomicOp::And { fetch } => rmw(old & src, fetch),
        AtomicOp::Xor { fetch } => rmw(old ^ src, fetch),
        AtomicOp::Xchg => rmw(src, true),
        AtomicOp::Cmpxchg => AtomicResult {
            store: (old == trunc(r0)).then_some(trunc(src)),
            load: Some((AtomicLoadReg::R0, old)),
        },
        AtomicOp::LoadAcquire => AtomicResult {
            store: None,
            load: Some((AtomicLoadReg::Dst, old)),
        },
        AtomicOp::StoreRelease => AtomicResult {
            store: Some(trunc(src)),
            load: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_edge_cases_follow_the_kernel() {
        assert_eq!(alu64(AluOp::Div, 7, 0), 0);
        assert_eq!(alu64(AluOp::Mod, 7, 0), 7);
        assert_eq!(alu32(AluOp::Mod, 0xffff_ffff_0000_0007, 0), 7);
        assert_eq!(
            alu64(AluOp::SDiv, i64::MIN as u64, u64::MAX),
            i64::MIN as u64
        );
        assert_eq!(alu64(AluOp::SMod, i64::MIN as u64, u64::MAX), 0);
        assert_eq!(alu32(AluOp::SDiv, 0x8000_0000, 0xffff_ffff), 0x8000_0000);
        assert_eq!(alu32(AluOp::SMod, 0x8000_0000, 0xffff_ffff), 0);
        assert_eq!(alu32(AluOp::SMod, 0xffff_fff9, 0), 0xffff_fff9);
    }

    #[test]
    fn shifts_are_masked_and_alu32_zero_extends() {
        assert_eq!(alu32(AluOp::Lsh, 1, 60), 1 << 28);
        assert_eq!(alu64(AluOp::Lsh, 1, 65), 2);
        assert_eq!(alu32(AluOp::Add, u64::MAX, 1), 0);
        assert_eq!(alu32(AluOp::Arsh, 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(alu32(AluOp::MovSx(8), 0, 0x80), 0xffff_ff80);
        assert_eq!(
            alu64(AluOp::MovSx(32), 0, 0x8000_0000),
            0xffff_ffff_8000_0000
        );
    }

    #[test]
    fn byte_order() {
        assert_eq!(end(EndKind::ToBe, 16, 0x1122_3344), 0x4433);
        assert_eq!(end(EndKind::ToLe, 32, 0x1_2233_4455), 0x2233_4455);
        assert_eq!(
            end(EndKind::Swap, 64, 0x0102_0304_0506_0708),
            0x0807_0605_0403_0201
        );
    }

    #[test]
    fn cmpxchg_only_stores_on_match() {
        let r = atomic(AtomicOp::Cmpxchg, Size::W, 5, 9, 5);
        assert_eq!(r.store, Some(9));
        assert_eq!(r.load, Some((AtomicLoadReg::R0, 5)));
        let r = atomic(AtomicOp::Cmpxchg, Size::W, 5, 9, 6);
        assert_eq!(r.store, None);
    }
}
