//! Constant strings (`ARG_PTR_TO_CONST_STR`, `check_reg_const_str`): a pointer at a constant
//! offset into the value of a frozen read-only array map, with a NUL before the value ends;
//! and `bpf_snprintf`'s format, which the kernel validates while verifying
//! (`check_bpf_snprintf_call` with `bpf_bprintf_prepare`'s rules).

use bpfbox_vm::maps::spec::MapType;

use super::helper_mem::region;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::State;

/// The bytes of a frozen read-only map's value (`bpf_map_is_rdonly`), if map `m` is one.
pub(crate) fn frozen_value<'e>(env: &'e Env<'_>, m: usize) -> Option<&'e [u8]> {
    let spec = env.opts.maps.get(m)?;
    if spec.map_flags & bpfbox_vm::maps::spec::BPF_F_RDONLY_PROG == 0 {
        return None;
    }
    env.opts.frozen_values.get(m)?.as_deref()
}

/// Byte `i` of a frozen value: the loader may hand fewer bytes than the value holds, the
/// rest of the value is zero.
pub(crate) fn value_byte(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

/// `check_reg_const_str` for register `regno`, a map value pointer (the type was checked).
pub fn check(env: &Env<'_>, st: &State, pc: usize, regno: u8) -> Result<()> {
    let r = st.reg(regno).clone();
    let Some(value) = frozen_value(env, r.map) else {
        return Err(Reject::at(
            pc,
            format!("R{regno} does not point to a readonly map'"),
        ));
    };
    let Some(var) = r.val.as_const() else {
        return Err(Reject::at(
            pc,
            format!("R{regno} is not a constant address'"),
        ));
    };
    let spec = &env.opts.maps[r.map];
    if spec.map_type != MapType::Array {
        if spec.map_type == MapType::Arena {
            return Err(Reject::unsupported(pc, "arenas"));
        }
        return Err(Reject::at(
            pc,
            "no direct value access support for this map type",
        ));
    }
    // `check_map_access` of the bytes from the pointer to the end of the value.
    let vs = spec.value_size as i64;
    let size = vs - r.off as i64;
    let what = |o: i64| format!("invalid access to map value, value_size={vs} off={o} size={size}");
    if size <= 0 {
        let lo = (var as i64 + r.off as i64) as i32 as i64;
        return Err(Reject::at(
            pc,
            format!(
                "{}\nR{regno} min value is outside of the allowed memory range",
                what(lo)
            ),
        ));
    }
    region(pc, regno, &r, size as u64, vs as u64, false, what)?;
    // `map_direct_value_addr`: an array's value is addressable only with one element.
    if spec.max_entries != 1 {
        return Err(Reject::at(pc, "direct value access on string failed"));
    }
    let start = (r.off as i64 + var as i64) as usize;
    if !(start..vs as usize).any(|i| value_byte(value, i) == 0) {
        return Err(Reject::at(pc, "string is not zero-terminated"));
    }
    Ok(())
}

/// `check_bpf_snprintf_call`, after the arguments: the format (r3, a constant string) must
/// suit as many arguments as r5 holds `u64`s.
pub fn snprintf(env: &Env<'_>, st: &State, pc: usize) -> Result<()> {
    let len = st.reg(5).val.bounds().var_off.value;
    if !len.is_multiple_of(8) {
        // The kernel refuses without a message of its own.
        return Err(Reject::unsupported(
            pc,
            "bpf_snprintf with a data length that is not a multiple of 8",
        ));
    }
    let num_args = (len / 8) as u32;
    let fmt = st.reg(3);
    let value = frozen_value(env, fmt.map).unwrap_or(&[]);
    let start = (fmt.off as i64 + fmt.val.bounds().var_off.value as i64) as usize;
    let end = (start..value.len())
        .find(|&i| value[i] == 0)
        .unwrap_or(value.len());
    let text = value.get(start..end).unwrap_or(&[]);
    if !format_ok(text, num_args) {
        return Err(Reject::at(pc, "Invalid format string"));
    }
    Ok(())
}

/// The kernel's `ctype` classes (Latin-1) that `bpf_bprintf_prepare` consults.
mod ctype {
    /// `isspace`.
    pub fn space(c: u8) -> bool {
        matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0xa0)
    }

    /// `ispunct`.
    pub fn punct(c: u8) -> bool {
        c.is_ascii_punctuation() || matches!(c, 0xa1..=0xbf | 0xd7 | 0xf7)
    }

    /// `isprint` for ASCII.
    pub fn print(c: u8) -> bool {
        (0x20..=0x7e).contains(&c)
    }
}

/// `bpf_bprintf_prepare`'s validation of a format (`fmt` without its NUL) for `num_args`
/// arguments: plain text (no ASCII control bytes but white space), `%%`, and conversions
/// `[0 +-]*[width]` then `%p` (alone or `pK px ps pS pB pi4 pI4 pi6 pI6 pks pus`), `%s`,
/// `%c`, or `%[l[l]]{i,d,u,x,X}`, at most one per argument.
pub fn format_ok(fmt: &[u8], num_args: u32) -> bool {
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    let sep = |c: u8| c == 0 || ctype::space(c) || ctype::punct(c);
    let mut specs = 0u32;
    let mut i = 0usize;
    while i < fmt.len() {
        let c = fmt[i];
        if c.is_ascii() && !ctype::print(c) && !ctype::space(c) {
            return false;
        }
        if c != b'%' {
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            i += 2;
            continue;
        }
        if specs >= num_args {
            return false;
        }
        i += 1;
        if !at(i).is_ascii() {
            return false;
        }
        while matches!(at(i), b'0' | b'+' | b'-' | b' ') {
            i += 1;
        }
        if matches!(at(i), b'1'..=b'9') {
            i += 1;
            while at(i).is_ascii_digit() {
                i += 1;
            }
        }
        match at(i) {
            b'p' => {
                let next = at(i + 1);
                if sep(next) {
                } else if matches!(next, b'k' | b'u') && at(i + 2) == b's' {
                    // `%pks` / `%pus`: a string conversion, which must end the word.
                    i += 2;
                    if !sep(at(i + 1)) {
                        return false;
                    }
                } else if matches!(next, b'K' | b'x' | b's' | b'S' | b'B') {
                    i += 1;
                } else if matches!(next, b'i' | b'I') && matches!(at(i + 2), b'4' | b'6') {
                    i += 2;
                } else {
                    return false;
                }
            }
            b's' => {
                if !sep(at(i + 1)) {
                    return false;
                }
            }
            b'c' => {}
            _ => {
                for _ in 0..2 {
                    if at(i) == b'l' {
                        i += 1;
                    }
                }
                if !matches!(at(i), b'i' | b'd' | b'u' | b'x' | b'X') {
                    return false;
                }
            }
        }
        specs += 1;
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::format_ok;

    #[test]
    fn conversions_need_arguments() {
        assert!(format_ok(b"%d-%s-%x", 3));
        assert!(!format_ok(b"%d-%s-%x", 2));
        assert!(format_ok(b"100%% sure", 0));
        assert!(format_ok(b"%-08lld %llx %pI4 %pks", 4));
    }

    #[test]
    fn bad_conversions_and_bytes() {
        assert!(!format_ok(b"%q", 1));
        assert!(!format_ok(b"%sx", 1));
        assert!(!format_ok(b"%lllu", 1));
        assert!(!format_ok(b"%pQ", 1));
        assert!(!format_ok(b"a\x01b", 0));
        assert!(format_ok(b"tab\there", 0));
    }
}
