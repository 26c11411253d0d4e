//! Reading the kernel's text for a scalar register back (the inverse of [`super::print`]):
//! how the kernel's own log is compared with ours.

use super::{Bounds, Tnum};
use crate::domain::alu::UNKNOWN;
use crate::domain::sync::known;

/// A scalar register read from a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedScalar {
    /// Marked precise (`P` prefix).
    pub precise: bool,
    /// The link id (0 when none).
    pub id: u32,
    /// The constant added since the link (`id=2+4`).
    pub add_const: Option<i32>,
    /// The numbers.
    pub bounds: Bounds,
}

/// Why a scalar's text could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read scalar state `{text}`: {why}")]
pub struct ParseError {
    /// The text.
    pub text: String,
    /// What was wrong.
    pub why: &'static str,
}

fn number(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()? as i128,
        None => digits.parse::<u64>().ok()? as i128,
    };
    Some(if neg { -v } else { v })
}

fn tnum(s: &str) -> Option<Tnum> {
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        let (v, m) = inner.split_once("; ")?;
        return Some(Tnum::new(number(v)? as u64, number(m)? as u64));
    }
    Some(Tnum::constant(number(s)? as u64))
}

/// Splits `a=1,b=(0x0; 0xf),c=2` at the commas outside parentheses.
fn fields(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0u32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Reads a scalar register's text as the kernel prints it (`-5`, `P0x10000`,
/// `scalar(id=1,smin=smin32=0,umax=255,var_off=(0x0; 0xff))`).
pub fn parse_scalar(text: &str) -> Result<ParsedScalar, ParseError> {
    let err = |why| ParseError {
        text: text.to_string(),
        why,
    };
    let (precise, rest) = match text.strip_prefix('P') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let mut p = ParsedScalar {
        precise,
        id: 0,
        add_const: None,
        bounds: UNKNOWN,
    };
    let Some(inner) = rest
        .strip_prefix("scalar(")
        .and_then(|r| r.strip_suffix(')'))
    else {
        let v = number(rest).ok_or_else(|| err("not a number nor scalar(...)"))?;
        p.bounds = known(v as u64);
        return Ok(p);
    };
    for field in fields(inner) {
        let names: Vec<&str> = field.split('=').collect();
        let (value, names) = names.split_last().ok_or_else(|| err("empty field"))?;
        if names.is_empty() {
            return Err(err("field without '='"));
        }
        if names == ["var_off"] {
            p.bounds.var_off = tnum(value).ok_or_else(|| err("bad var_off"))?;
            continue;
        }
        if names == ["id"] {
            let (id, off) = match value.find(['+', '-']) {
                Some(i) => (&value[..i], Some(&value[i..])),
                None => (*value, None),
            };
            p.id = id.parse().map_err(|_| err("bad id"))?;
            if let Some(off) = off {
                let off = off.strip_prefix('+').unwrap_or(off);
                p.add_const = Some(off.parse().map_err(|_| err("bad id offset"))?);
            }
            continue;
        }
        let v = number(value).ok_or_else(|| err("bad number"))?;
        let b = &mut p.bounds;
        for name in names {
            match *name {
                "smin" => b.smin = v as i64,
                "smax" => b.smax = v as i64,
                "umin" => b.umin = v as u64,
                "umax" => b.umax = v as u64,
                "smin32" => b.s32_min = v as i32,
                "smax32" => b.s32_max = v as i32,
                "umin32" => b.u32_min = v as u32,
                "umax32" => b.u32_max = v as u32,
                _ => return Err(err("unknown field")),
            }
        }
    }
    Ok(p)
}
