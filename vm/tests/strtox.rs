//! `bpf_strtol`/`bpf_strtoul` against a reference written from the kernel's documented
//! behaviour (include/uapi/linux/bpf.h and lib/kstrtox.c), over every short string of an
//! alphabet chosen to hit each rule, and over long numbers at the overflow edges.

use bpfbox_vm::helpers::strings::{strtol, strtoul};

const EINVAL: i64 = -22;
const ERANGE: i64 = -34;

/// The reference: returns (magnitude or None on overflow, negative, bytes consumed).
fn reference(buf: &[u8], flags: u64) -> Result<(Option<u64>, bool, usize), i64> {
    let base_flag = flags & 0x1f;
    if buf.is_empty() || flags > 0x1f || ![0, 8, 10, 16].contains(&base_flag) {
        return Err(EINVAL);
    }
    // White space: HT, LF, VT, FF, CR, space, and Latin-1 no-break space.
    let mut pos = 0;
    while pos < buf.len() && [9, 10, 11, 12, 13, 32, 0xa0].contains(&buf[pos]) {
        pos += 1;
    }
    let negative = pos < buf.len() && buf[pos] == b'-';
    if negative {
        pos += 1;
    }
    if pos == buf.len() {
        return Err(EINVAL);
    }
    // Only 63 bytes take part; the rest reads as the end of the string.
    let rest: Vec<u8> = buf[pos..].iter().copied().take(63).collect();
    let at = |i: usize| rest.get(i).copied().unwrap_or(0);
    let hex = |c: u8| c.is_ascii_hexdigit();
    let has_0x = at(0) == b'0' && (at(1) == b'x' || at(1) == b'X');
    let base = match base_flag {
        0 if has_0x && hex(at(2)) => 16,
        0 if at(0) == b'0' => 8,
        0 => 10,
        b => b as u32,
    };
    let skip = if base == 16 && has_0x { 2 } else { 0 };
    let digits: Vec<u32> = (skip..)
        .map(at)
        .map_while(|c| (c as char).to_digit(16).filter(|&d| d < base))
        .collect();
    if digits.is_empty() {
        // An overflow check cannot fire without digits.
        return Err(EINVAL);
    }
    let mut v: u128 = 0;
    let mut overflow = false;
    for d in &digits {
        v = v * u128::from(base) + u128::from(*d);
        if v > u128::from(u64::MAX) {
            overflow = true;
            v &= u128::from(u64::MAX);
        }
    }
    Ok((
        (!overflow).then_some(v as u64),
        negative,
        pos + skip + digits.len(),
    ))
}

fn ref_strtol(buf: &[u8], flags: u64) -> Result<(i64, usize), i64> {
    let (v, neg, n) = reference(buf, flags)?;
    let v = v.ok_or(ERANGE)?;
    if neg {
        if v > 1 << 63 {
            return Err(ERANGE);
        }
        Ok(((v as i64).wrapping_neg(), n))
    } else {
        if v > i64::MAX as u64 {
            return Err(ERANGE);
        }
        Ok((v as i64, n))
    }
}

fn ref_strtoul(buf: &[u8], flags: u64) -> Result<(u64, usize), i64> {
    let (v, neg, n) = reference(buf, flags)?;
    let v = v.ok_or(ERANGE)?;
    if neg {
        return Err(EINVAL);
    }
    Ok((v, n))
}

const FLAGS: [u64; 7] = [0, 8, 10, 16, 2, 17, 0x20];

fn check(buf: &[u8]) {
    for f in FLAGS {
        assert_eq!(
            strtol(buf, f),
            ref_strtol(buf, f),
            "strtol {buf:?} flags {f}"
        );
        assert_eq!(
            strtoul(buf, f),
            ref_strtoul(buf, f),
            "strtoul {buf:?} flags {f}"
        );
    }
}

#[test]
fn every_short_string() {
    let alphabet = b" \t-+017899afgxXF\0\xa0";
    let mut count = 0;
    for len in 0..=4u32 {
        let n = alphabet.len().pow(len);
        for mut code in 0..n {
            let mut buf = Vec::with_capacity(len as usize);
            for _ in 0..len {
                buf.push(alphabet[code % alphabet.len()]);
                code /= alphabet.len();
            }
            check(&buf);
            count += 1;
        }
    }
    assert!(count > 100_000);
}

#[test]
fn overflow_edges_and_long_inputs() {
    let cases: Vec<Vec<u8>> = [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "-18446744073709551615",
        "0xffffffffffffffff",
        "0x10000000000000000",
        "0x7fffffffffffffff",
        "0x8000000000000000",
        "-0x8000000000000000",
        "01777777777777777777777",
        "02000000000000000000000",
        "-0",
        "   -0x",
        "0x",
        "0xg",
        "000000000000000000000000000000000000000000000000000000000000000000001",
        "   1111111111111111111111111111111111111111111111111111111111111111111",
        "\u{a0}42",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([vec![b' '; 70], [vec![b' '; 62], b"12".to_vec()].concat()])
    .collect();
    for c in &cases {
        check(c);
        // Every prefix too: the helper's length argument cuts the string.
        for n in 0..c.len() {
            check(&c[..n]);
        }
    }
    // Worked by hand from the documented rules.
    assert_eq!(strtol(b" -0x1f!", 0), Ok((-31, 6)));
    assert_eq!(strtol(b"0x", 16), Err(EINVAL));
    assert_eq!(strtol(b"0x", 0), Ok((0, 1)));
    assert_eq!(strtoul(b"-1", 10), Err(EINVAL));
    assert_eq!(strtol(b"9223372036854775808", 10), Err(ERANGE));
    assert_eq!(strtol(b"-9223372036854775808", 10), Ok((i64::MIN, 20)));
    assert_eq!(strtoul(b"0777", 0), Ok((511, 4)));
    assert_eq!(strtol(b"+1", 10), Err(EINVAL));
}
