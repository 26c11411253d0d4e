//! Operands: registers, immediates, memory operands, jump targets, mnemonic suffixes.

use super::*;

pub(super) fn count(m: &str, ops: &[&str], expected: &'static str, ok: &[usize]) -> KResult<()> {
    if ok.contains(&ops.len()) {
        Ok(())
    } else {
        Err(AsmErrorKind::OperandCount {
            mnemonic: m.to_string(),
            expected,
            found: ops.len(),
        })
    }
}

pub(super) fn parse_reg(t: &str, opts: &AsmOptions) -> KResult<u8> {
    let bad = || AsmErrorKind::InvalidRegister(t.to_string());
    let n = t.strip_prefix("%r").ok_or_else(bad)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return Err(bad());
    }
    let v: u8 = n.parse().map_err(|_| bad())?;
    let max = if opts.allow_invalid_regs { 15 } else { 10 };
    if v > max {
        return Err(bad());
    }
    Ok(v)
}

pub(super) fn is_reg(t: &str) -> bool {
    t.starts_with('%')
}

pub(super) fn parse_u64_digits(s: &str, radix: u32) -> Option<u64> {
    if s.is_empty() || s.starts_with('+') {
        return None;
    }
    u64::from_str_radix(s, radix).ok()
}

/// Parses a 32-bit immediate: `0x` u32 pattern, `-0x` negative hex, or signed decimal.
pub(super) fn parse_imm32(t: &str) -> KResult<i32> {
    let bad = || AsmErrorKind::InvalidImmediate(t.to_string());
    let oor = || AsmErrorKind::ImmediateOutOfRange(t.to_string());
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let v = parse_u64_digits(h, 16).ok_or_else(bad)?;
        return u32::try_from(v).map(|v| v as i32).map_err(|_| oor());
    }
    if let Some(h) = t.strip_prefix("-0x").or_else(|| t.strip_prefix("-0X")) {
        let v = parse_u64_digits(h, 16).ok_or_else(bad)?;
        return i64::try_from(v)
            .ok()
            .and_then(|v| i32::try_from(-v).ok())
            .ok_or_else(oor);
    }
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let v: i128 = digits.parse::<i128>().map_err(|_| oor())?;
    let v = if neg { -v } else { v };
    i32::try_from(v).map_err(|_| oor())
}

/// Parses a 64-bit immediate: `0x` u64, `-N` i64 (or `-0x`), or unsigned decimal.
pub(super) fn parse_imm64(t: &str) -> KResult<u64> {
    let bad = || AsmErrorKind::InvalidImmediate(t.to_string());
    let oor = || AsmErrorKind::ImmediateOutOfRange(t.to_string());
    let digits_ok = |s: &str, radix: u32| {
        !s.is_empty() && s.chars().all(|c| c.is_digit(radix)) && !s.starts_with('+')
    };
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if !digits_ok(h, 16) {
            return Err(bad());
        }
        return u64::from_str_radix(h, 16).map_err(|_| oor());
    }
    if let Some(rest) = t.strip_prefix('-') {
        let (radix, d) = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            Some(h) => (16, h),
            None => (10, rest),
        };
        if !digits_ok(d, radix) {
            return Err(bad());
        }
        let v = u128::from_str_radix(d, radix).map_err(|_| oor())?;
        if v > 1u128 << 63 {
            return Err(oor());
        }
        return Ok((-(v as i128)) as i64 as u64);
    }
    if !digits_ok(t, 10) {
        return Err(bad());
    }
    t.parse::<u64>().map_err(|_| oor())
}

/// Parses `[%rN]`, `[%rN+off]` or `[%rN-off]`.
pub(super) fn parse_mem(t: &str, opts: &AsmOptions) -> KResult<(u8, i16)> {
    let bad = || AsmErrorKind::InvalidMemoryOperand(t.to_string());
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(bad)?;
    let split = inner.find(['+', '-']);
    let (r, off) = match split {
        Some(i) => (&inner[..i], &inner[i..]),
        None => (inner, ""),
    };
    let reg = parse_reg(r, opts)?;
    if off.is_empty() {
        return Ok((reg, 0));
    }
    let neg = off.starts_with('-');
    let body = &off[1..];
    let oor = || AsmErrorKind::OffsetOutOfRange(off.to_string());
    if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = parse_u64_digits(h, 16).ok_or_else(bad)?;
        let v = u16::try_from(v).map_err(|_| oor())? as i16;
        return if neg {
            v.checked_neg().ok_or_else(oor)
        } else {
            Ok(v)
        }
        .map(|v| (reg, v));
    }
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let v: i64 = body.parse().map_err(|_| oor())?;
    let v = if neg { -v } else { v };
    i16::try_from(v).map(|v| (reg, v)).map_err(|_| oor())
}

/// Parses a jump target: `+N`, `-N` or a label.
pub(super) fn parse_target(t: &str) -> KResult<Target> {
    if let Some(rest) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) {
        let neg = t.starts_with('-');
        let (radix, d) = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            Some(h) => (16, h),
            None => (10, rest),
        };
        if d.is_empty() || !d.chars().all(|c| c.is_digit(radix)) {
            return Err(AsmErrorKind::InvalidOperand(t.to_string()));
        }
        let v = i64::from_str_radix(d, radix)
            .map_err(|_| AsmErrorKind::OffsetOutOfRange(t.to_string()))?;
        return Ok(Target::Rel(if neg { -v } else { v }));
    }
    if t.is_empty() || is_reg(t) {
        return Err(AsmErrorKind::InvalidOperand(t.to_string()));
    }
    Ok(Target::Label(t.to_string()))
}

pub(super) fn parse_src(t: &str, opts: &AsmOptions) -> KResult<Src> {
    if is_reg(t) {
        Ok(Src::Reg(parse_reg(t, opts)?))
    } else {
        Ok(Src::Imm(parse_imm32(t)?))
    }
}

pub(super) fn alu_op(base: &str) -> Option<AluOp> {
    Some(match base {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::SDiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "mod" => AluOp::Mod,
        "smod" => AluOp::SMod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    })
}

pub(super) fn jmp_cond(base: &str) -> Option<JmpCond> {
    JmpCond::ALL.iter().copied().find(|c| c.mnemonic() == base)
}

pub(super) fn size_suffix(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

pub(super) fn split_width(m: &str) -> (&str, Width) {
    match m.strip_suffix("32") {
        Some(b) => (b, Width::W32),
        None => (m, Width::W64),
    }
}
