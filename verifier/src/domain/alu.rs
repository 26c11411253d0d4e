//! Transfer functions of the ALU operations (`adjust_scalar_min_max_vals` and the
//! `scalar(32)_min_max_*` family): each computes the tnum and both widths' bounds
//! independently, then the result is reduced once.

use bpfbox_vm::isa::{AluOp, EndKind, Width};

use super::sync::{
    coerce_subreg_to_size_sx, coerce_to_size, coerce_to_size_sx, known, mark32_known,
    mark32_unbounded, mark64_unbounded, mark_unbounded, reg_bounds_sync, update_bounds,
    update_bounds32, zext_32_to_64,
};
use super::{Bounds, Tnum};

/// Any value.
pub(crate) const UNKNOWN: Bounds = Bounds {
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

/// Whether the kernel computes bounds for `op` with this source at all
/// (`is_safe_to_compute_dst_reg_range`); otherwise the result is unknown.
fn safe_to_compute(op: AluOp, width: Width, src: &Bounds) -> bool {
    let bits: u64 = match width {
        Width::W64 => 64,
        Width::W32 => 32,
    };
    let src_const = match width {
        Width::W32 => {
            src.var_off.subreg_is_const()
                && src.s32_min == src.s32_max
                && src.u32_min == src.u32_max
        }
        Width::W64 => src.var_off.is_const() && src.smin == src.smax && src.umin == src.umax,
    };
    match op {
        AluOp::Add | AluOp::Sub | AluOp::And | AluOp::Xor | AluOp::Or | AluOp::Mul => true,
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => src_const && src.umax < bits,
        _ => false,
    }
}

/// `dst = dst op src` at `width` for the binary operations, `Mov` and `MovSx` included.
pub fn alu(dst: &mut Bounds, op: AluOp, width: Width, src: &Bounds) {
    let alu32 = width == Width::W32;
    match op {
        AluOp::Mov => {
            *dst = *src;
            if alu32 {
                zext_32_to_64(dst);
                reg_bounds_sync(dst);
            }
            return;
        }
        AluOp::MovSx(bits) => {
            *dst = *src;
            if alu32 {
                coerce_subreg_to_size_sx(dst, bits as u32 / 8);
                zext_32_to_64(dst);
                reg_bounds_sync(dst);
            } else {
                coerce_to_size_sx(dst, bits as u32 / 8);
            }
            return;
        }
        _ => {}
    }
    if !safe_to_compute(op, width, src) {
        *dst = UNKNOWN;
        return;
    }
    match op {
        AluOp::Add => {
            add32(dst, src);
            add64(dst, src);
            dst.var_off = dst.var_off.add(src.var_off);
        }
        AluOp::Sub => {
            sub32(dst, src);
            sub64(dst, src);
            dst.var_off = dst.var_off.sub(src.var_off);
        }
        AluOp::Mul => {
            dst.var_off = dst.var_off.mul(src.var_off);
            mul32(dst, src);
            mul64(dst, src);
        }
        AluOp::And => {
            dst.var_off = dst.var_off.and(src.var_off);
            and32(dst, src);
            and64(dst, src);
        }
        AluOp::Or => {
            dst.var_off = dst.var_off.or(src.var_off);
            or32(dst, src);
            or64(dst, src);
        }
        AluOp::Xor => {
            dst.var_off = dst.var_off.xor(src.var_off);
            xor32(dst, src);
            xor64(dst, src);
        }
        AluOp::Lsh if alu32 => lsh32(dst, src),
        AluOp::Lsh => lsh64(dst, src),
        AluOp::Rsh if alu32 => rsh32(dst, src),
        AluOp::Rsh => rsh64(dst, src),
        AluOp::Arsh if alu32 => arsh32(dst, src),
        AluOp::Arsh => arsh64(dst, src),
        _ => {}
    }
    if alu32 {
        zext_32_to_64(dst);
    }
    reg_bounds_sync(dst);
}

/// `dst = -dst` at `width`: zero minus the old value.
pub fn neg(dst: &mut Bounds, width: Width) {
    let old = *dst;
    *dst = known(0);
    sub32(dst, &old);
    sub64(dst, &old);
    dst.var_off = Tnum::constant(0).sub(old.var_off);
    if width == Width::W32 {
        zext_32_to_64(dst);
    }
    reg_bounds_sync(dst);
}

/// Byte swap or conversion of the low `bits` bits on a little-endian machine: the swapped
/// tnum with the bounds rederived from it, narrowed to `bits`.
pub fn end(dst: &mut Bounds, kind: EndKind, bits: u8) {
    if kind != EndKind::ToLe {
        dst.var_off = match bits {
            16 => dst.var_off.bswap16(),
            32 => dst.var_off.bswap32(),
            _ => dst.var_off.bswap64(),
        };
        mark_unbounded(dst);
    }
    if bits == 16 || bits == 32 {
        coerce_to_size(dst, bits as u32 / 8);
    }
    reg_bounds_sync(dst);
}

/// Whether the kernel splits the state before `dst op src` (`maybe_fork_scalars`): an
/// `and`/`or` with a constant on a value known to be 0 or -1 (at 64 bits, else at 32 bits)
/// is verified once for 0 and once for -1. Returns the width at which the value is 0 or -1.
pub fn sign_mask_fork(dst: &Bounds, op: AluOp, src: &Bounds) -> Option<Width> {
    if !matches!(op, AluOp::And | AluOp::Or) || !src.var_off.is_const() {
        return None;
    }
    if dst.smin == -1 && dst.smax == 0 {
        Some(Width::W64)
    } else if dst.s32_min == -1 && dst.s32_max == 0 {
        Some(Width::W32)
    } else {
        None
    }
}

pub(crate) fn add32(dst: &mut Bounds, src: &Bounds) {
    match (
        dst.s32_min.checked_add(src.s32_min),
        dst.s32_max.checked_add(src.s32_max),
    ) {
        (Some(lo), Some(hi)) => (dst.s32_min, dst.s32_max) = (lo, hi),
        _ => (dst.s32_min, dst.s32_max) = (i32::MIN, i32::MAX),
    }
    // All sums wrapping, or none, keeps the range; only some wrapping loses it.
    let (lo, lo_over) = dst.u32_min.overflowing_add(src.u32_min);
    let (hi, hi_over) = dst.u32_max.overflowing_add(src.u32_max);
    if !lo_over && hi_over {
        (dst.u32_min, dst.u32_max) = (0, u32::MAX);
    } else {
        (dst.u32_min, dst.u32_max) = (lo, hi);
    }
}

pub(crate) fn add64(dst: &mut Bounds, src: &Bounds) {
    match (
        dst.smin.checked_add(src.smin),
        dst.smax.checked_add(src.smax),
    ) {
        (Some(lo), Some(hi)) => (dst.smin, dst.smax) = (lo, hi),
        _ => (dst.smin, dst.smax) = (i64::MIN, i64::MAX),
    }
    let (lo, lo_over) = dst.umin.overflowing_add(src.umin);
    let (hi, hi_over) = dst.umax.overflowing_add(src.umax);
    if !lo_over && hi_over {
        (dst.umin, dst.umax) = (0, u64::MAX);
    } else {
        (dst.umin, dst.umax) = (lo, hi);
    }
}

fn sub32(dst: &mut Bounds, src: &Bounds) {
    match (
        dst.s32_min.checked_sub(src.s32_max),
        dst.s32_max.checked_sub(src.s32_min),
    ) {
        (Some(lo), Some(hi)) => (dst.s32_min, dst.s32_max) = (lo, hi),
        _ => (dst.s32_min, dst.s32_max) = (i32::MIN, i32::MAX),
    }
    let (lo, lo_under) = dst.u32_min.overflowing_sub(src.u32_max);
    let (hi, hi_under) = dst.u32_max.overflowing_sub(src.u32_min);
    if lo_under && !hi_under {
        (dst.u32_min, dst.u32_max) = (0, u32::MAX);
    } else {
        (dst.u32_min, dst.u32_max) = (lo, hi);
    }
}

fn sub64(dst: &mut Bounds, src: &Bounds) {
    match (
        dst.smin.checked_sub(src.smax),
        dst.smax.checked_sub(src.smin),
    ) {
        (Some(lo), Some(hi)) => (dst.smin, dst.smax) = (lo, hi),
        _ => (dst.smin, dst.smax) = (i64::MIN, i64::MAX),
    }
    let (lo, lo_under) = dst.umin.overflowing_sub(src.umax);
    let (hi, hi_under) = dst.umax.overflowing_sub(src.umin);
    if lo_under && !hi_under {
        (dst.umin, dst.umax) = (0, u64::MAX);
    } else {
        (dst.umin, dst.umax) = (lo, hi);
    }
}

fn mul32(dst: &mut Bounds, src: &Bounds) {
    match (
        dst.u32_max.checked_mul(src.u32_max),
        dst.u32_min.checked_mul(src.u32_min),
    ) {
        (Some(hi), Some(lo)) => (dst.u32_min, dst.u32_max) = (lo, hi),
        _ => (dst.u32_min, dst.u32_max) = (0, u32::MAX),
    }
    let prods = [
        dst.s32_min.checked_mul(src.s32_min),
        dst.s32_min.checked_mul(src.s32_max),
        dst.s32_max.checked_mul(src.s32_min),
        dst.s32_max.checked_mul(src.s32_max),
    ];
    if prods.iter().all(Option::is_some) {
        let p = prods.map(Option::unwrap_or_default);
        dst.s32_min = *p.iter().min().unwrap_or(&i32::MIN);
        dst.s32_max = *p.iter().max().unwrap_or(&i32::MAX);
    } else {
        (dst.s32_min, dst.s32_max) = (i32::MIN, i32::MAX);
    }
}

fn mul64(dst: &mut Bounds, src: &Bounds) {
    match (
        dst.umax.checked_mul(src.umax),
        dst.umin.checked_mul(src.umin),
    ) {
        (Some(hi), Some(lo)) => (dst.umin, dst.umax) = (lo, hi),
        _ => (dst.umin, dst.umax) = (0, u64::MAX),
    }
    let prods = [
        dst.smin.checked_mul(src.smin),
        dst.smin.checked_mul(src.smax),
        dst.smax.checked_mul(src.smin),
        dst.smax.checked_mul(src.smax),
    ];
    if prods.iter().all(Option::is_some) {
        let p = prods.map(Option::unwrap_or_default);
        dst.smin = *p.iter().min().unwrap_or(&i64::MIN);
        dst.smax = *p.iter().max().unwrap_or(&i64::MAX);
    } else {
        (dst.smin, dst.smax) = (i64::MIN, i64::MAX);
    }
}

/// Signed bounds equal to the unsigned ones when those do not cross the sign boundary.
fn signed_from_unsigned32(dst: &mut Bounds) {
    if (dst.u32_min as i32) <= (dst.u32_max as i32) {
        dst.s32_min = dst.u32_min as i32;
        dst.s32_max = dst.u32_max as i32;
    } else {
        (dst.s32_min, dst.s32_max) = (i32::MIN, i32::MAX);
    }
}

fn signed_from_unsigned64(dst: &mut Bounds) {
    if (dst.umin as i64) <= (dst.umax as i64) {
        dst.smin = dst.umin as i64;
        dst.smax = dst.umax as i64;
    } else {
        (dst.smin, dst.smax) = (i64::MIN, i64::MAX);
    }
}

fn and32(dst: &mut Bounds, src: &Bounds) {
    let t = dst.var_off.subreg();
    if src.var_off.subreg_is_const() && dst.var_off.subreg_is_const() {
        mark32_known(dst, t.value);
        return;
    }
    dst.u32_min = t.value as u32;
    dst.u32_max = dst.u32_max.min(src.u32_max);
    signed_from_unsigned32(dst);
}

fn and64(dst: &mut Bounds, src: &Bounds) {
    if src.var_off.is_const() && dst.var_off.is_const() {
        *dst = known(dst.var_off.value);
        return;
    }
    dst.umin = dst.var_off.value;
    dst.umax = dst.umax.min(src.umax);
    signed_from_unsigned64(dst);
    update_bounds(dst);
}

fn or32(dst: &mut Bounds, src: &Bounds) {
    let t = dst.var_off.subreg();
    if src.var_off.subreg_is_const() && dst.var_off.subreg_is_const() {
        mark32_known(dst, t.value);
        return;
    }
    dst.u32_min = dst.u32_min.max(src.u32_min);
    dst.u32_max = (t.value | t.mask) as u32;
    signed_from_unsigned32(dst);
}

fn or64(dst: &mut Bounds, src: &Bounds) {
    if src.var_off.is_const() && dst.var_off.is_const() {
        *dst = known(dst.var_off.value);
        return;
    }
    dst.umin = dst.umin.max(src.umin);
    dst.umax = dst.var_off.value | dst.var_off.mask;
    signed_from_unsigned64(dst);
    update_bounds(dst);
}

fn xor32(dst: &mut Bounds, src: &Bounds) {
    let t = dst.var_off.subreg();
    if src.var_off.subreg_is_const() && dst.var_off.subreg_is_const() {
        mark32_known(dst, t.value);
        return;
    }
    dst.u32_min = t.value as u32;
    dst.u32_max = (t.value | t.mask) as u32;
    signed_from_unsigned32(dst);
}

fn xor64(dst: &mut Bounds, src: &Bounds) {
    if src.var_off.is_const() && dst.var_off.is_const() {
        *dst = known(dst.var_off.value);
        return;
    }
    dst.umin = dst.var_off.value;
    dst.umax = dst.var_off.value | dst.var_off.mask;
    signed_from_unsigned64(dst);
    update_bounds(dst);
}

/// The 32-bit bounds of a left shift by `[lo, hi]`.
fn lsh32_bounds(dst: &mut Bounds, lo: u64, hi: u64) {
    (dst.s32_min, dst.s32_max) = (i32::MIN, i32::MAX);
    if hi > 31 || dst.u32_max as u64 > 1u64 << (31 - hi) {
        (dst.u32_min, dst.u32_max) = (0, u32::MAX);
    } else {
        dst.u32_min <<= lo;
        dst.u32_max <<= hi;
    }
}

fn lsh32(dst: &mut Bounds, src: &Bounds) {
    let (lo, hi) = (src.u32_min, src.u32_max);
    let sub = dst.var_off.subreg();
    lsh32_bounds(dst, lo as u64, hi as u64);
    dst.var_off = sub.lshift(lo).subreg();
    mark64_unbounded(dst);
    update_bounds32(dst);
}

fn lsh64(dst: &mut Bounds, src: &Bounds) {
    let (lo, hi) = (src.umin, src.umax);
    if lo == 32 && hi == 32 {
        dst.smax = (dst.s32_max as i64) << 32;
        dst.smin = (dst.s32_min as i64) << 32;
    } else {
        (dst.smin, dst.smax) = (i64::MIN, i64::MAX);
    }
    if dst.umax > 1u64 << (63 - hi) {
        (dst.umin, dst.umax) = (0, u64::MAX);
    } else {
        dst.umin <<= lo;
        dst.umax <<= hi;
    }
    lsh32_bounds(dst, lo, hi);
    dst.var_off = dst.var_off.lshift(lo as u32);
    update_bounds(dst);
}

fn rsh32(dst: &mut Bounds, src: &Bounds) {
    let sub = dst.var_off.subreg();
    let (lo, hi) = (src.u32_min, src.u32_max);
    (dst.s32_min, dst.s32_max) = (i32::MIN, i32::MAX);
    dst.var_off = sub.rshift(lo);
    dst.u32_min >>= hi;
    dst.u32_max >>= lo;
    mark64_unbounded(dst);
    update_bounds32(dst);
}

fn rsh64(dst: &mut Bounds, src: &Bounds) {
    let (lo, hi) = (src.umin, src.umax);
    (dst.smin, dst.smax) = (i64::MIN, i64::MAX);
    dst.var_off = dst.var_off.rshift(lo as u32);
    dst.umin >>= hi;
    dst.umax >>= lo;
    mark32_unbounded(dst);
    update_bounds(dst);
}

fn arsh32(dst: &mut Bounds, src: &Bounds) {
    let lo = src.u32_min;
    dst.s32_min >>= lo;
    dst.s32_max >>= lo;
    dst.var_off = dst.var_off.subreg().arshift(lo, 32);
    (dst.u32_min, dst.u32_max) = (0, u32::MAX);
    mark64_unbounded(dst);
    update_bounds32(dst);
}

fn arsh64(dst: &mut Bounds, src: &Bounds) {
    let lo = src.umin;
    dst.smin >>= lo;
    dst.smax >>= lo;
    dst.var_off = dst.var_off.arshift(lo as u32, 64);
    (dst.umin, dst.umax) = (0, u64::MAX);
    mark32_unbounded(dst);
    update_bounds(dst);
}
