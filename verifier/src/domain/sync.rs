//! The reduction: each of the five views (tnum, u64, s64, u32, s32) tightened from the
//! others, in the kernel's order (`reg_bounds_sync`), and the width changes built on it.

use super::{Bounds, Tnum};

/// Bounds that say nothing (the tnum is left as it is).
pub(crate) fn mark_unbounded(b: &mut Bounds) {
    mark64_unbounded(b);
    mark32_unbounded(b);
}

/// 64-bit bounds that say nothing.
pub(crate) fn mark64_unbounded(b: &mut Bounds) {
    b.smin = i64::MIN;
    b.smax = i64::MAX;
    b.umin = 0;
    b.umax = u64::MAX;
}

/// 32-bit bounds that say nothing.
pub(crate) fn mark32_unbounded(b: &mut Bounds) {
    b.s32_min = i32::MIN;
    b.s32_max = i32::MAX;
    b.u32_min = 0;
    b.u32_max = u32::MAX;
}

/// Exactly `v` in every view.
pub(crate) fn known(v: u64) -> Bounds {
    Bounds {
        var_off: Tnum::constant(v),
        smin: v as i64,
        smax: v as i64,
        umin: v,
        umax: v,
        s32_min: v as u32 as i32,
        s32_max: v as u32 as i32,
        u32_min: v as u32,
        u32_max: v as u32,
    }
}

/// The low 32 bits exactly `v`, the 64-bit bounds untouched.
pub(crate) fn mark32_known(b: &mut Bounds, v: u64) {
    b.var_off = b.var_off.const_subreg(v as u32);
    b.s32_min = v as u32 as i32;
    b.s32_max = v as u32 as i32;
    b.u32_min = v as u32;
    b.u32_max = v as u32;
}

/// Bounds from the tnum, 32-bit half.
pub(crate) fn update_bounds32(b: &mut Bounds) {
    let t = b.var_off.subreg();
    let (v, m) = (t.value as u32, t.mask as u32);
    b.s32_min = b.s32_min.max((v | (m & i32::MIN as u32)) as i32);
    b.s32_max = b.s32_max.min((v | (m & i32::MAX as u32)) as i32);
    b.u32_min = b.u32_min.max(v);
    b.u32_max = b.u32_max.min(v | m);
}

/// Bounds from the tnum, 64-bit half.
pub(crate) fn update_bounds64(b: &mut Bounds) {
    let (v, m) = (b.var_off.value, b.var_off.mask);
    b.smin = b.smin.max((v | (m & i64::MIN as u64)) as i64);
    b.smax = b.smax.min((v | (m & i64::MAX as u64)) as i64);
    b.umin = b.umin.max(v);
    b.umax = b.umax.min(v | m);
    single_value(b);
}

/// The unsigned range and the tnum sharing a single value make the register that constant.
fn single_value(b: &mut Bounds) {
    let t = b.var_off;
    let tmax = t.value | t.mask;
    let umin_in = t.contains(b.umin);
    // The next value of the tnum above `z`, or its largest value when there is none.
    let step = |z: u64| t.next_above(z).unwrap_or(tmax);
    let next = step(b.umin);
    let v = if umin_in && next > b.umax {
        // The range meets the tnum only at umin.
        b.umin
    } else if !umin_in && next == tmax {
        // ... only at the tnum's largest value.
        tmax
    } else if !umin_in && next <= b.umax && step(next) > b.umax {
        // ... only at one value inside the range.
        next
    } else {
        return;
    };
    *b = known(v);
}

/// Bounds from the tnum, both halves (`__update_reg_bounds`).
pub(crate) fn update_bounds(b: &mut Bounds) {
    update_bounds32(b);
    update_bounds64(b);
}

/// 32-bit bounds from the 64-bit ones and from each other.
fn deduce32(b: &mut Bounds) {
    // The low halves of a 64-bit range are a range when the high halves agree.
    if b.umin >> 32 == b.umax >> 32 {
        b.u32_min = b.u32_min.max(b.umin as u32);
        b.u32_max = b.u32_max.min(b.umax as u32);
        if (b.umin as i32) <= (b.umax as i32) {
            b.s32_min = b.s32_min.max(b.umin as i32);
            b.s32_max = b.s32_max.min(b.umax as i32);
        }
    }
    if b.smin >> 32 == b.smax >> 32 {
        if (b.smin as u32) <= (b.smax as u32) {
            b.u32_min = b.u32_min.max(b.smin as u32);
            b.u32_max = b.u32_max.min(b.smax as u32);
        }
        if (b.smin as i32) <= (b.smax as i32) {
            b.s32_min = b.s32_min.max(b.smin as i32);
            b.s32_max = b.s32_max.min(b.smax as i32);
        }
    }
    // High halves that are two consecutive numbers, low halves going from negative to
    // non-negative: the low halves are still a signed range.
    if ((b.umin >> 32) as u32).wrapping_add(1) == (b.umax >> 32) as u32
        && (b.umin as i32) < 0
        && (b.umax as i32) >= 0
    {
        b.s32_min = b.s32_min.max(b.umin as i32);
        b.s32_max = b.s32_max.min(b.umax as i32);
    }
    if ((b.smin >> 32) as u32).wrapping_add(1) == (b.smax >> 32) as u32
        && (b.smin as i32) < 0
        && (b.smax as i32) >= 0
    {
        b.s32_min = b.s32_min.max(b.smin as i32);
        b.s32_max = b.s32_max.min(b.smax as i32);
    }
    if (b.u32_min as i32) <= (b.u32_max as i32) {
        b.s32_min = b.s32_min.max(b.u32_min as i32);
        b.s32_max = b.s32_max.min(b.u32_max as i32);
    }
    if (b.s32_min as u32) <= (b.s32_max as u32) {
        b.u32_min = b.u32_min.max(b.s32_min as u32);
        b.u32_max = b.u32_max.min(b.s32_max as u32);
    } else if b.u32_max < b.s32_min as u32 {
        // The unsigned range meets only the non-negative part of the signed one.
        b.s32_min = b.u32_min as i32;
        b.u32_max = b.u32_max.min(b.s32_max as u32);
    } else if (b.s32_max as u32) < b.u32_min {
        // ... only the negative part.
        b.s32_max = b.u32_max as i32;
        b.u32_min = b.u32_min.max(b.s32_min as u32);
    }
}

/// Signed 64-bit bounds from unsigned ones and back.
fn deduce64(b: &mut Bounds) {
    if (b.umin as i64) <= (b.umax as i64) {
        b.smin = b.smin.max(b.umin as i64);
        b.smax = b.smax.min(b.umax as i64);
    }
    if (b.smin as u64) <= (b.smax as u64) {
        b.umin = b.umin.max(b.smin as u64);
        b.umax = b.umax.min(b.smax as u64);
    } else if b.umax < b.smin as u64 {
        b.smin = b.umin as i64;
        b.umax = b.umax.min(b.smax as u64);
    } else if (b.smax as u64) < b.umin {
        b.smax = b.umax as i64;
        b.umin = b.umin.max(b.smin as u64);
    }
}

/// 64-bit bounds from the 32-bit ones, put in the low halves of the 64-bit ends.
fn deduce_mixed(b: &mut Bounds) {
    const HI: u64 = !0xffff_ffffu64;
    let new_umin = (b.umin & HI) | b.u32_min as u64;
    let new_umax = (b.umax & HI) | b.u32_max as u64;
    b.umin = b.umin.max(new_umin);
    b.umax = b.umax.min(new_umax);
    let new_smin = ((b.smin as u64 & HI) | b.u32_min as u64) as i64;
    let new_smax = ((b.smax as u64 & HI) | b.u32_max as u64) as i64;
    b.smin = b.smin.max(new_smin);
    b.smax = b.smax.min(new_smax);

    if (b.s32_min as u32) <= (b.s32_max as u32) {
        let (lo, hi) = (b.s32_min as u32 as u64, b.s32_max as u32 as u64);
        let new_umin = (b.umin & HI) | lo;
        let new_umax = (b.umax & HI) | hi;
        b.umin = b.umin.max(new_umin);
        b.umax = b.umax.min(new_umax);
        let new_smin = ((b.smin as u64 & HI) | lo) as i64;
        let new_smax = ((b.smax as u64 & HI) | hi) as i64;
        b.smin = b.smin.max(new_smin);
        b.smax = b.smax.min(new_smax);
    }

    // A sign-extended 32-bit value whose low half is non-negative has a zero high half.
    if b.s32_min >= 0 && b.smin >= i32::MIN as i64 && b.smax <= i32::MAX as i64 {
        b.smin = b.s32_min as i64;
        b.smax = b.s32_max as i64;
        b.umin = b.s32_min as u64;
        b.umax = b.s32_max as u64;
        b.var_off = b
            .var_off
            .intersect(Tnum::range(b.smin as u64, b.smax as u64));
    }
}

/// `__reg_deduce_bounds`.
fn deduce(b: &mut Bounds) {
    deduce32(b);
    deduce64(b);
    deduce_mixed(b);
}

/// The tnum from the unsigned bounds of both widths (`__reg_bound_offset`).
pub(crate) fn bound_offset(b: &mut Bounds) {
    let t64 = b.var_off.intersect(Tnum::range(b.umin, b.umax));
    let t32 = t64
        .subreg()
        .intersect(Tnum::range(b.u32_min as u64, b.u32_max as u64));
    b.var_off = t64.clear_subreg().or(t32);
}

/// The kernel's full reduction after every operation (`reg_bounds_sync`).
pub fn reg_bounds_sync(b: &mut Bounds) {
    update_bounds(b);
    deduce(b);
    deduce(b);
    deduce(b);
    bound_offset(b);
    update_bounds(b);
}

/// The 32-bit bounds as the 64-bit ones (after a zero extension).
fn assign_32_into_64(b: &mut Bounds) {
    b.umin = b.u32_min as u64;
    b.umax = b.u32_max as u64;
    if b.s32_min >= 0 && b.s32_max >= 0 {
        b.smin = b.s32_min as i64;
        b.smax = b.s32_max as i64;
    } else {
        b.smin = 0;
        b.smax = u32::MAX as i64;
    }
}

/// Keep the low 32 bits (`zext_32_to_64`); no reduction.
pub(crate) fn zext_32_to_64(b: &mut Bounds) {
    b.var_off = b.var_off.subreg();
    assign_32_into_64(b);
}

/// Truncation to `size` bytes (1, 2 or 4), as a zero-extending narrow load or spill does
/// (`coerce_reg_to_size`).
pub fn coerce_to_size(b: &mut Bounds, size: u32) {
    b.var_off = b.var_off.cast(size);
    let mask = (1u64 << (size * 8)) - 1;
    if b.umin & !mask == b.umax & !mask {
        b.umin &= mask;
        b.umax &= mask;
    } else {
        b.umin = 0;
        b.umax = mask;
    }
    b.smin = b.umin as i64;
    b.smax = b.umax as i64;
    if size < 4 {
        mark32_unbounded(b);
    }
    reg_bounds_sync(b);
}

fn sext(v: u64, size: u32) -> i64 {
    match size {
        1 => v as i8 as i64,
        2 => v as i16 as i64,
        _ => v as i32 as i64,
    }
}

/// Sign extension of the low `size` bytes (1, 2 or 4) to 64 bits, as `movsx` and
/// sign-extending loads do (`coerce_reg_to_size_sx`); no reduction.
pub fn coerce_to_size_sx(b: &mut Bounds, size: u32) {
    if b.var_off.is_const() {
        *b = known(sext(b.var_off.value, size) as u64);
        return;
    }
    let bits = size * 8;
    let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    if b.s32_min as i64 >= lo && b.s32_max as i64 <= hi {
        // The low 32 bits are their own sign extension from `bits`, so they are
        // unchanged and the result is them sign-extended: the signed 32-bit range.
        b.smin = b.s32_min as i64;
        b.smax = b.s32_max as i64;
        b.umin = 0;
        b.umax = u64::MAX;
        b.var_off = Tnum::UNKNOWN;
        reg_bounds_sync(b);
        return;
    }
    let top_smax = ((b.smax as u64) >> bits) << bits;
    let top_smin = ((b.smin as u64) >> bits) << bits;
    if top_smax == top_smin {
        let (a, c) = (sext(b.smax as u64, size), sext(b.smin as u64, size));
        let (hi, lo) = (a.max(c), a.min(c));
        if (hi >= 0) == (lo >= 0) {
            b.smin = lo;
            b.smax = hi;
            b.s32_min = lo as i32;
            b.s32_max = hi as i32;
            b.umin = lo as u64;
            b.umax = hi as u64;
            b.u32_min = lo as u32;
            b.u32_max = hi as u32;
            b.var_off = Tnum::range(lo as u64, hi as u64);
            return;
        }
    }
    let (lo, hi) = match size {
        1 => (i8::MIN as i64, i8::MAX as i64),
        2 => (i16::MIN as i64, i16::MAX as i64),
        _ => (i32::MIN as i64, i32::MAX as i64),
    };
    b.smin = lo;
    b.smax = hi;
    b.s32_min = lo as i32;
    b.s32_max = hi as i32;
    b.umin = 0;
    b.u32_min = 0;
    b.umax = u64::MAX;
    b.u32_max = u32::MAX;
    b.var_off = Tnum::UNKNOWN;
}

/// Sign extension of the low `size` bytes (1 or 2) to 32 bits, as a 32-bit `movsx` does
/// (`coerce_subreg_to_size_sx`); only the 32-bit half is meaningful afterwards.
pub(crate) fn coerce_subreg_to_size_sx(b: &mut Bounds, size: u32) {
    if b.var_off.is_const() {
        let v = sext(b.var_off.value, size) as u64;
        b.var_off = Tnum::constant(v);
        b.s32_min = v as i32;
        b.s32_max = v as i32;
        b.u32_min = v as u32;
        b.u32_max = v as u32;
        return;
    }
    let bits = size * 8;
    let top_smax = ((b.s32_max as u32) >> bits) << bits;
    let top_smin = ((b.s32_min as u32) >> bits) << bits;
    if top_smax == top_smin {
        let (a, c) = (
            sext(b.s32_max as u64, size) as i32,
            sext(b.s32_min as u64, size) as i32,
        );
        let (hi, lo) = (a.max(c), a.min(c));
        if (lo >= 0) == (hi >= 0) {
            b.s32_min = lo;
            b.s32_max = hi;
            b.u32_min = lo as u32;
            b.u32_max = hi as u32;
            b.var_off = Tnum::range(lo as i64 as u64, hi as i64 as u64).subreg();
            return;
        }
    }
    let (lo, hi) = if size == 1 {
        (i8::MIN as i32, i8::MAX as i32)
    } else {
        (i16::MIN as i32, i16::MAX as i32)
    };
    b.s32_min = lo;
    b.s32_max = hi;
    b.u32_min = 0;
    b.u32_max = u32::MAX;
    b.var_off = Tnum::UNKNOWN.subreg();
}
