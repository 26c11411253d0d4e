//! `BPF_PROG_LOAD` program flags by name (`include/uapi/linux/bpf.h`), for every command
//! that lets the user add flags to a program's own (`compare --flags`, the selftest runner).

use crate::error::{Error, Result};

/// `BPF_F_STRICT_ALIGNMENT`: check alignment as on a strict-alignment architecture.
pub const BPF_F_STRICT_ALIGNMENT: u32 = 1 << 0;
/// `BPF_F_ANY_ALIGNMENT`: skip alignment checks.
pub const BPF_F_ANY_ALIGNMENT: u32 = 1 << 1;
/// `BPF_F_TEST_RND_HI32`: randomise the upper halves of 32-bit results (testing).
pub const BPF_F_TEST_RND_HI32: u32 = 1 << 2;
/// `BPF_F_TEST_STATE_FREQ`: checkpoint states more often (testing).
pub const BPF_F_TEST_STATE_FREQ: u32 = 1 << 3;
/// `BPF_F_SLEEPABLE`: the program may sleep.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS`: the XDP program handles multi-buffer frames.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// `BPF_F_XDP_DEV_BOUND_ONLY`: the XDP program is bound to one device.
pub const BPF_F_XDP_DEV_BOUND_ONLY: u32 = 1 << 6;
/// `BPF_F_TEST_REG_INVARIANTS`: fail on register-bounds invariant violations (testing).
pub const BPF_F_TEST_REG_INVARIANTS: u32 = 1 << 7;
/// `BPF_F_TOKEN_FD`: a BPF token is passed.
pub const BPF_F_TOKEN_FD: u32 = 1 << 16;

/// Every program flag name with its uapi value. `BPF_F_TEST_SANITY_STRICT` is the name
/// bit 7 had before it was renamed `BPF_F_TEST_REG_INVARIANTS`.
pub const PROG_FLAGS: &[(&str, u32)] = &[
    ("BPF_F_STRICT_ALIGNMENT", BPF_F_STRICT_ALIGNMENT),
    ("BPF_F_ANY_ALIGNMENT", BPF_F_ANY_ALIGNMENT),
    ("BPF_F_TEST_RND_HI32", BPF_F_TEST_RND_HI32),
    ("BPF_F_TEST_STATE_FREQ", BPF_F_TEST_STATE_FREQ),
    ("BPF_F_SLEEPABLE", BPF_F_SLEEPABLE),
    ("BPF_F_XDP_HAS_FRAGS", BPF_F_XDP_HAS_FRAGS),
    ("BPF_F_XDP_DEV_BOUND_ONLY", BPF_F_XDP_DEV_BOUND_ONLY),
    ("BPF_F_TEST_REG_INVARIANTS", BPF_F_TEST_REG_INVARIANTS),
    ("BPF_F_TEST_SANITY_STRICT", BPF_F_TEST_REG_INVARIANTS),
    ("BPF_F_TOKEN_FD", BPF_F_TOKEN_FD),
];

/// The value of one flag: a name from [`PROG_FLAGS`] (case-insensitive, `BPF_F_` optional)
/// or a number (`0x` hex, or decimal).
pub fn parse_prog_flag(word: &str) -> Result<u32> {
    let w = word.trim();
    let bad = |msg: String| Error::Flags {
        input: word.to_string(),
        msg,
    };
    if w.is_empty() {
        return Err(bad("empty flag".into()));
    }
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).map_err(|e| bad(format!("bad hex number: {e}")));
    }
    if w.bytes().all(|b| b.is_ascii_digit()) {
        return w.parse().map_err(|e| bad(format!("bad number: {e}")));
    }
    let upper = w.to_ascii_uppercase();
    let full = if upper.starts_with("BPF_F_") {
        upper
    } else {
        format!("BPF_F_{upper}")
    };
    PROG_FLAGS
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = PROG_FLAGS.iter().map(|(n, _)| *n).collect();
            bad(format!("unknown flag; known: {}", names.join(", ")))
        })
}

/// Program flags as written on a command line: names or numbers joined by `|` or `,`
/// (spaces allowed), OR-ed together. `BPF_F_TEST_RND_HI32|BPF_F_TEST_REG_INVARIANTS`,
/// `0x84` and `test_rnd_hi32, 0x80` all give `0x84`.
pub fn parse_prog_flags(s: &str) -> Result<u32> {
    if s.trim().is_empty() {
        return Err(Error::Flags {
            input: s.to_string(),
            msg: "no flags given".into(),
        });
    }
    s.split(['|', ','])
        .try_fold(0u32, |acc, w| match parse_prog_flag(w) {
            Ok(v) => Ok(acc | v),
            Err(Error::Flags { input, msg }) if input != s => Err(Error::Flags {
                input: s.to_string(),
                msg: format!("`{}`: {msg}", input.trim()),
            }),
            Err(e) => Err(e),
        })
}

/// The names of the bits set in `flags` (unknown bits as one hex number), `|`-joined;
/// `0` when none.
pub fn prog_flags_names(flags: u32) -> String {
    let mut rest = flags;
    let mut names = Vec::new();
    for (n, v) in PROG_FLAGS {
        if rest & v != 0 && *n != "BPF_F_TEST_SANITY_STRICT" {
            names.push(n.to_string());
            rest &= !v;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_separators() {
        assert_eq!(
            parse_prog_flags("BPF_F_TEST_RND_HI32|BPF_F_TEST_REG_INVARIANTS").unwrap(),
            0x84
        );
        assert_eq!(parse_prog_flags("0x84").unwrap(), 0x84);
        assert_eq!(parse_prog_flags("test_rnd_hi32, 0x80").unwrap(), 0x84);
        assert_eq!(parse_prog_flags("132").unwrap(), 0x84);
        assert_eq!(parse_prog_flags("BPF_F_TEST_SANITY_STRICT").unwrap(), 0x80);
        assert_eq!(parse_prog_flags("sleepable | xdp_has_frags").unwrap(), 0x30);
        assert_eq!(parse_prog_flags("BPF_F_STRICT_ALIGNMENT").unwrap(), 1);
        assert_eq!(parse_prog_flags("BPF_F_ANY_ALIGNMENT").unwrap(), 2);
        assert_eq!(parse_prog_flags("BPF_F_TEST_STATE_FREQ").unwrap(), 8);
    }

    #[test]
    fn bad_input_is_an_error() {
        for s in ["", "BPF_F_NOPE", "0xzz", "a||b", "|", "99999999999"] {
            let e = parse_prog_flags(s).unwrap_err();
            assert!(e.to_string().contains(s.trim()), "{s}: {e}");
        }
        assert!(parse_prog_flags("nope")
            .unwrap_err()
            .to_string()
            .contains("BPF_F_TEST_REG_INVARIANTS"));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            prog_flags_names(0x84),
            "BPF_F_TEST_RND_HI32|BPF_F_TEST_REG_INVARIANTS"
        );
        assert_eq!(prog_flags_names(0), "0");
        assert_eq!(prog_flags_names(1 << 20), "0x100000");
        for (n, v) in PROG_FLAGS {
            assert_eq!(parse_prog_flags(&prog_flags_names(*v)).unwrap(), *v, "{n}");
        }
    }
}
