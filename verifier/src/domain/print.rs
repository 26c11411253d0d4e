//! The kernel's text for a scalar register (`print_reg_state` for `SCALAR_VALUE`,
//! `print_scalar_ranges`, `tnum_strn` in `kernel/bpf/log.c`): `123`, `-5`,
//! `scalar(id=2+4,smin=smin32=0,smax=umax=smax32=umax32=252,var_off=(0x0; 0xfc))`.

use std::fmt::Write;

use super::{Bounds, Tnum};

/// Numbers up to this print in decimal when unsigned, hex beyond.
const UNUM_MAX_DECIMAL: u64 = u16::MAX as u64;
/// Signed numbers in this range print in decimal.
const SNUM_DECIMAL: std::ops::RangeInclusive<i64> = i16::MIN as i64..=i16::MAX as i64;

fn is_snum_decimal(v: i64) -> bool {
    SNUM_DECIMAL.contains(&v)
}

/// An unsigned number as the log prints it.
pub fn unum(out: &mut String, v: u64) {
    if v <= UNUM_MAX_DECIMAL {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{v:#x}");
    }
}

/// A signed number as the log prints it (hex shows the 64-bit pattern).
pub fn snum(out: &mut String, v: i64) {
    if is_snum_decimal(v) {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{:#x}", v as u64);
    }
}

/// A tnum as the log prints it: the constant, or `(value; mask)`.
pub fn tnum(out: &mut String, t: Tnum) {
    if t.is_const() {
        unum(out, t.value);
    } else {
        let _ = write!(out, "({:#x}; {:#x})", t.value, t.mask);
    }
}

/// The `smin=...,umax=...` list: each bound not at its extreme, equal bounds sharing a
/// value (`smin=smin32=0`) unless one is negative and the other not.
pub fn scalar_ranges(out: &mut String, b: &Bounds, sep: &mut &'static str) {
    let s32 = |v: i32| {
        if is_snum_decimal(v as i64) {
            v as i64 as u64
        } else {
            v as u32 as u64
        }
    };
    let mut items: [(&str, u64, bool); 8] = [
        ("smin", b.smin as u64, b.smin == i64::MIN),
        ("smax", b.smax as u64, b.smax == i64::MAX),
        ("umin", b.umin, b.umin == 0),
        ("umax", b.umax, b.umax == u64::MAX),
        ("smin32", s32(b.s32_min), b.s32_min == i32::MIN),
        ("smax32", s32(b.s32_max), b.s32_max == i32::MAX),
        ("umin32", b.u32_min as u64, b.u32_min == 0),
        ("umax32", b.u32_max as u64, b.u32_max == u32::MAX),
    ];
    let negative = |name: &str, v: u64| name.starts_with('s') && (v as i64) < 0;
    for i in 0..items.len() {
        let (name, val, omit) = items[i];
        if omit {
            continue;
        }
        let neg1 = negative(name, val);
        let _ = write!(out, "{sep}{name}=");
        *sep = ",";
        let mut j = i + 2;
        while j < items.len() {
            let (n2, v2, o2) = items[j];
            if !o2 && v2 == val && negative(n2, v2) == neg1 {
                items[j].2 = true;
                let _ = write!(out, "{n2}=");
            }
            j += 2;
        }
        if name.starts_with('s') {
            snum(out, val as i64);
        } else {
            unum(out, val);
        }
    }
}

/// A scalar register's text: `P` when precise, the constant when the tnum is constant,
/// else `scalar(` id (with `+off` when linked by an added constant), ranges and tnum `)`.
pub fn fmt_scalar(b: &Bounds, precise: bool, id: u32, add_const: Option<i32>) -> String {
    let mut out = String::new();
    if precise {
        out.push('P');
    }
    if b.var_off.is_const() {
        snum(&mut out, b.var_off.value as i64);
        return out;
    }
    out.push_str("scalar(");
    let mut sep = "";
    if id != 0 {
        let _ = write!(out, "id={id}");
        sep = ",";
    }
    if let Some(off) = add_const {
        let _ = write!(out, "{off:+}");
    }
    scalar_ranges(&mut out, b, &mut sep);
    if !b.var_off.is_unknown() {
        let _ = write!(out, "{sep}var_off=");
        tnum(&mut out, b.var_off);
    }
    out.push(')');
    out
}
