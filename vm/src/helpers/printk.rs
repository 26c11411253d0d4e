//! `bpf_trace_printk` and `bpf_snprintf`, with the kernel's format rules
//! (`bpf_bprintf_prepare`): conversions `%d %i %u %x %X` with optional `l`/`ll`, `%c`, `%s`,
//! `%p` (`%pK %px %ps %pS %pB %pi4 %pI4 %pi6 %pI6 %pks %pus`), `%%`, and the optional
//! `[0 +-][width]` prefix. Anything else, or more conversions than arguments, is `-EINVAL`.
//! Pointers print as 16 hex digits (the kernel hashes plain `%p`; we print the value).

use super::maps::EINVAL;
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

/// Size of the kernel's formatting buffer (`MAX_BPRINTF_BUF`).
pub const MAX_BPRINTF_BUF: usize = 1024;

fn pad(out: &mut Vec<u8>, body: &[u8], width: usize, left: bool, zero: bool) {
    let fill = width.saturating_sub(body.len());
    if left {
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(b' ', fill));
    } else if zero && !body.is_empty() && (body[0] == b'-' || body[0] == b'+') {
        out.push(body[0]);
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(&body[1..]);
    } else {
        out.extend(std::iter::repeat_n(if zero { b'0' } else { b' ' }, fill));
        out.extend_from_slice(body);
    }
}

fn is_sep(b: u8) -> bool {
    b == 0 || b.is_ascii_whitespace() || b.is_ascii_punctuation()
}

/// Formats `fmt` (without its NUL) with `args` as the kernel's `bpf_bprintf_prepare` +
/// `bstr_printf` would; `Err(errno)` (negative) when the kernel rejects the format.
pub fn format(c: &HelperCtx<'_, '_>, fmt: &[u8], args: &[u64]) -> Result<Vec<u8>, i64> {
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut n = 0usize;
    let mut i = 0usize;
    while i < fmt.len() {
        let ch = fmt[i];
        if !ch.is_ascii() || !(ch.is_ascii_graphic() || ch.is_ascii_whitespace()) {
            return Err(-22);
        }
        if ch != b'%' {
            out.push(ch);
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            out.push(b'%');
            i += 2;
            continue;
        }
        if n >= args.len() {
            return Err(-22);
        }
        let arg = args[n];
        n += 1;
        i += 1;
        let (mut left, mut zero, mut plus, mut space) = (false, false, false, false);
        while matches!(at(i), b'0' | b'+' | b'-' | b' ') {
            match at(i) {
                b'0' => zero = true,
                b'+' => plus = true,
                b'-' => left = true,
                _ => space = true,
            }
            i += 1;
        }
        let mut width = 0usize;
        while at(i).is_ascii_digit() {
            width = (width * 10 + usize::from(at(i) - b'0')).min(MAX_BPRINTF_BUF);
            i += 1;
        }
        let body: Vec<u8> = match at(i) {
            b'p' => {
                let next = at(i + 1);
                if (next == b'k' || next == b'u') && at(i + 2) == b's' {
                    i += 3;
                    if !is_sep(at(i)) {
                        return Err(-22);
                    }
                    c.read_cstr(arg, MAX_BPRINTF_BUF).unwrap_or_default()
                } else if matches!(next, b'i' | b'I') && matches!(at(i + 2), b'4' | b'6') {
                    let v6 = at(i + 2) == b'6';
                    i += 3;
                    let ip = c
                        .read(arg, if v6 { 16 } else { 4 })
                        .unwrap_or_else(|_| vec![0; 16]);
                    format_ip(&ip, v6, next == b'I').into_bytes()
                } else if is_sep(next) {
                    i += 1;
                    format!("{arg:016x}").into_bytes()
                } else if matches!(next, b'K' | b'x' | b's' | b'S' | b'B') {
                    i += 2;
                    format!("{arg:016x}").into_bytes()
                } else {
                    return Err(-22);
                }
            }
            b's' => {
                i += 1;
                if !is_sep(at(i)) {
                    return Err(-22);
                }
                c.read_cstr(arg, MAX_BPRINTF_BUF).unwrap_or_default()
            }
            b'c' => {
                i += 1;
                vec![arg as u8]
            }
            _ => {
                let mut long = 0;
                while at(i) == b'l' && long < 2 {
                    long += 1;
                    i += 1;
                }
                let conv = at(i);
                i += 1;
                let v = if long == 0 { arg & 0xffff_ffff } else { arg };
                let signed = if long == 0 {
                    i64::from(v as u32 as i32)
                } else {
                    v as i64
                };
                let s = match conv {
                    b'd' | b'i' => {
                        if plus && signed >= 0 {
                            format!("+{signed}")
                        } else if space && signed >= 0 {
                            format!(" {signed}")
                        } else {
                            signed.to_string()
                        }
                    }
                    b'u' => v.to_string(),
                    b'x' => format!("{v:x}"),
                    b'X' => format!("{v:X}"),
                    _ => return Err(-22),
                };
                s.into_bytes()
            }
        };
        pad(&mut out, &body, width, left, zero && !left);
    }
    out.truncate(MAX_BPRINTF_BUF - 1);
    Ok(out)
}

fn format_ip(ip: &[u8], v6: bool, upper: bool) -> String {
    if !v6 {
        let b = |k: usize| ip.get(k).copied().unwrap_or(0);
        return if upper {
            format!("{}.{}.{}.{}", b(0), b(1), b(2), b(3))
        } else {
            format!("{:03}.{:03}.{:03}.{:03}", b(0), b(1), b(2), b(3))
        };
    }
    let words: Vec<String> = ip
        .chunks(2)
        .map(|w| {
            let v = u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)]);
            if upper {
                format!("{v:x}")
            } else {
                format!("{v:04x}")
            }
        })
        .collect();
    if upper {
        words.join(":")
    } else {
        words.concat()
    }
}

/// Reads a format string of `size` bytes that must end in NUL.
fn read_fmt(c: &HelperCtx<'_, '_>, addr: u64, size: u64) -> Result<Option<Vec<u8>>, HelperError> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size == 0 || size > 1 << 20 {
        return Ok(None);
    }
    let mut fmt = c.read(addr, size)?;
    if fmt.pop() != Some(0) {
        return Ok(None);
    }
    if let Some(nul) = fmt.iter().position(|&b| b == 0) {
        fmt.truncate(nul);
    }
    Ok(Some(fmt))
}

/// Registers `bpf_trace_printk` and `bpf_snprintf`.
pub(crate) fn register(r: &mut HelperRegistry) {
    // bpf_trace_printk(fmt, fmt_size, a1, a2, a3): the formatted line goes to Env::printk
    // (without its trailing newline); returns its length.
    reg(
        r,
        6,
        "bpf_trace_printk",
        R::Integer,
        &[A::PtrToMem, A::ConstSize],
        |c, a| {
            let Some(fmt) = read_fmt(c, a[0], a[1])? else {
                return Ok(EINVAL);
            };
            match format(c, &fmt, &a[2..5]) {
                Ok(line) => {
                    let len = line.len() as u64;
                    let mut s = String::from_utf8_lossy(&line).into_owned();
                    if s.ends_with('\n') {
                        s.pop();
                    }
                    let env = c.env();
                    if env.printk.len() < env.printk_limit {
                        env.printk.push(s);
                    } else {
                        env.output_limit_reached = true;
                    }
                    Ok(len)
                }
                Err(e) => Ok(e as u64),
            }
        },
    );
    // bpf_snprintf(str, str_size, fmt, data, data_len): data holds u64 arguments (at most
    // 12, data_len a multiple of 8); returns the untruncated length including the NUL.
    reg(
        r,
        165,
        "bpf_snprintf",
        R::Integer,
        &[
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::PtrToConstStr,
            A::PtrToMem,
            A::ConstSizeOrZero,
        ],
        |c, a| {
            if a[4] % 8 != 0 || a[4] / 8 > 12 {
                return Ok(EINVAL);
            }
            let data = c.read(a[3], a[4] as usize)?;
            let args: Vec<u64> = data
                .chunks_exact(8)
                .map(|w| u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])))
                .collect();
            let fmt = c.read_cstr(a[2], 1 << 16)?;
            let out = match format(c, &fmt, &args) {
                Ok(o) => o,
                Err(e) => return Ok(e as u64),
            };
            let size = usize::try_from(a[1]).unwrap_or(usize::MAX);
            if size > 0 {
                let n = out.len().min(size - 1);
                let mut buf = out[..n].to_vec();
                buf.push(0);
                c.write(a[0], &buf)?;
            }
            Ok(out.len() as u64 + 1)
        },
    );
}
