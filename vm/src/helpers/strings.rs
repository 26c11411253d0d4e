//! `bpf_strtol` and `bpf_strtoul` (kernel/bpf/helpers.c, lib/kstrtox.c semantics).
//!
//! Leading white space (the kernel's `isspace`, which includes 0xa0) is skipped, then one
//! `-`; at most 63 bytes after that are parsed. Base 0 picks 16 for `0x` followed by a hex
//! digit, 8 for a leading `0`, else 10; base 16 also skips a `0x` prefix. Overflow is
//! `-ERANGE` (digits are still consumed), no digit is `-EINVAL`. On success the helpers
//! return the number of bytes consumed, white space and sign included.

use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};

/// `EINVAL`.
const EINVAL: i64 = -22;
/// `ERANGE`.
const ERANGE: i64 = -34;

/// The kernel's `isspace` (lib/ctype.c): `\t`..`\r`, space, and 0xa0.
fn is_space(b: u8) -> bool {
    matches!(b, 9..=13 | b' ' | 0xa0)
}

/// `__bpf_strtoull`: the magnitude, whether a `-` preceded it, and the bytes consumed; or
/// a negative errno.
pub fn strtoull(buf: &[u8], flags: u64) -> Result<(u64, bool, usize), i64> {
    let mut base = (flags & 0x1f) as u32;
    if buf.is_empty() || !matches!(base, 0 | 8 | 10 | 16) || flags & !0x1f != 0 {
        return Err(EINVAL);
    }
    let mut i = buf.iter().take_while(|&&b| is_space(b)).count();
    let negative = buf.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let consumed = i;
    if consumed == buf.len() {
        return Err(EINVAL);
    }
    // The kernel copies at most 63 bytes into a NUL-terminated buffer.
    let mut s: Vec<u8> = buf[i..buf.len().min(i + 63)].to_vec();
    s.push(0);
    s.extend_from_slice(&[0, 0]);
    let lower = |b: u8| b.to_ascii_lowercase();
    let mut p = 0usize;
    if base == 0 {
        base = if s[0] == b'0' {
            if lower(s[1]) == b'x' && s[2].is_ascii_hexdigit() {
                16
            } else {
                8
            }
        } else {
            10
        };
    }
    if base == 16 && s[0] == b'0' && lower(s[1]) == b'x' {
        p = 2;
    }
    let start = p;
    let (mut res, mut overflow) = (0u64, false);
    while let Some(&c) = s.get(p) {
        let val = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            _ if (b'a'..=b'f').contains(&lower(c)) => u32::from(lower(c) - b'a') + 10,
            _ => break,
        };
        if val >= base {
            break;
        }
        if res & (!0u64 << 60) != 0 && res > (u64::MAX - u64::from(val)) / u64::from(base) {
            overflow = true;
        }
        res = res
            .wrapping_mul(u64::from(base))
            .wrapping_add(u64::from(val));
        p += 1;
    }
    if overflow {
        return Err(ERANGE);
    }
    if p == start {
        return Err(EINVAL);
    }
    Ok((res, negative, consumed + p))
}

/// `bpf_strtol`'s result: the value and bytes consumed, or a negative errno.
pub fn strtol(buf: &[u8], flags: u64) -> Result<(i64, usize), i64> {
    let (v, neg, n) = strtoull(buf, flags)?;
    if neg {
        let r = v.wrapping_neg() as i64;
        if r > 0 {
            return Err(ERANGE);
        }
        Ok((r, n))
    } else {
        if (v as i64) < 0 {
            return Err(ERANGE);
        }
        Ok((v as i64, n))
    }
}

/// `bpf_strtoul`'s result: the value and bytes consumed, or a negative errno (a `-` is
/// `-EINVAL`).
pub fn strtoul(buf: &[u8], flags: u64) -> Result<(u64, usize), i64> {
    let (v, neg, n) = strtoull(buf, flags)?;
    if neg {
        return Err(EINVAL);
    }
    Ok((v, n))
}

/// Registers `bpf_strtol` and `bpf_strtoul`.
pub(crate) fn register(r: &mut HelperRegistry) {
    let args = &[A::PtrToMem, A::ConstSize, A::Anything, A::PtrToLong];
    reg(r, 105, "bpf_strtol", R::Integer, args, |c, a| {
        c.write(a[3], &0u64.to_ne_bytes())?;
        let buf = c.read(a[0], a[1] as usize)?;
        Ok(match strtol(&buf, a[2]) {
            Ok((v, n)) => {
                c.write(a[3], &v.to_ne_bytes())?;
                n as u64
            }
            Err(e) => e as u64,
        })
    });
    reg(r, 106, "bpf_strtoul", R::Integer, args, |c, a| {
        c.write(a[3], &0u64.to_ne_bytes())?;
        let buf = c.read(a[0], a[1] as usize)?;
        Ok(match strtoul(&buf, a[2]) {
            Ok((v, n)) => {
                c.write(a[3], &v.to_ne_bytes())?;
                n as u64
            }
            Err(e) => e as u64,
        })
    });
}
