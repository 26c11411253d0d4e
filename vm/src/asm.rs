//! Assembler for the bpf_conformance textual syntax (see `FORMAT.md`, section 4), with a few
//! extensions so that every instruction [`Insn::decode`] accepts can be written down.
//!
//! # Syntax
//!
//! One instruction or label per line. `#` starts a comment. Tokens are separated by
//! whitespace and one trailing comma is stripped from every token, so `mov %r0, 1` and
//! `mov %r0 1` are the same.
//!
//! * Registers: `%r0` .. `%r10` (`%r11` .. `%r15` only with
//!   [`AsmOptions::allow_invalid_regs`], to build negative tests).
//! * 32-bit immediates: `0x...` (a u32 bit pattern, at most `0xffffffff`) or a signed decimal
//!   in the i32 range. As an extension `-0x...` (negative hex, i32 range) is accepted.
//! * 64-bit immediates (`lddw`): `0x...` (u64), `-N` (i64) or unsigned decimal (u64).
//! * Memory operands: `[%rN]`, `[%rN+off]`, `[%rN-off]`; off is decimal or `0x...` (a 16-bit
//!   pattern) and must fit in i16.
//! * Jump targets: `+N` / `-N` (slots relative to the next instruction) or a label. A line
//!   whose first token ends in `:` defines a label at the current slot (`lddw` counts 2). The
//!   built-in label `exit` names the first `exit` instruction (a user label called `exit`
//!   takes precedence). Labels go into `off` for conditional jumps, `ja` and `may_goto`, and
//!   into `imm` for `ja32`, `call local` and `lddw ... func`.
//!
//! Mnemonics (bare ALU names are 64-bit, a `32` suffix selects 32-bit):
//!
//! | form | meaning |
//! | --- | --- |
//! | `add sub mul div or and lsh rsh mod xor mov arsh sdiv smod[32] %rd, imm\|%rs` | ALU |
//! | `neg[32] %rd` | negate |
//! | `movsx864 movsx1664 movsx3264 movsx832 movsx1632 %rd, %rs` | sign-extending move |
//! | `le16 le32 le64 be16 be32 be64 bswap16.. swap16.. %rd` | byte order |
//! | `lddw %rd, imm64` | 64-bit immediate |
//! | `ldxb ldxh ldxw ldxdw ldxsb ldxsh ldxsw %rd, [%rs+off]` | loads |
//! | `stb sth stw stdw [%rd+off], imm` / `stxb stxh stxw stxdw [%rd+off], %rs` | stores |
//! | `lock [fetch] add\|or\|and\|xor[32] [%rd+off], %rs`, `lock xchg[32] ..`, `lock cmpxchg[32] ..` | atomics |
//! | `jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle[32] %rd, imm\|%rs, target` | conditional jumps |
//! | `ja target` / `ja32 target` | unconditional jump (16-bit off / 32-bit imm) |
//! | `call N`, `call helper N`, `call local target`, `call runtime N`, `call %rN`, `call helper %rN` | calls |
//! | `exit` | return |
//!
//! # Extensions
//!
//! These are not part of the conformance syntax; they exist so that the disassembler's
//! conformance output ([`crate::disasm::disassemble_conformance`]) can express every
//! decodable instruction.
//!
//! * `ldabsb ldabsh ldabsw imm` and `ldindb ldindh ldindw %rs, imm`: legacy packet loads.
//! * `lock load_acquire{8,16,32,64} %rd, [%rs+off]` (`load_acquire` alone means 64) and
//!   `lock store_release{8,16,32,64} [%rd+off], %rs` (`store_release` alone means 64).
//! * `may_goto target`.
//! * `lddw %rd, KIND LO [HI]` for the pseudo forms of `ld_imm64`, KIND being one of
//!   `map_fd`, `map_value`, `btf_id`, `func`, `map_idx`, `map_idx_value`. LO is the first
//!   slot's imm (for `func` a jump target: label or `+N`/`-N`), HI (optional, default 0) the
//!   second slot's imm, written as a 32-bit immediate with an optional leading `+`. Examples:
//!   `lddw %r1, map_fd 3`, `lddw %r1, map_idx 0`, `lddw %r1, map_value 3 +8`,
//!   `lddw %r2, func my_sub`.
//! * `call kfunc N [OFF]`: kfunc call with BTF id N and module BTF index OFF (`call runtime N`
//!   is the same with OFF = 0).
//! * `call NAME` / `call helper NAME`: a helper by its kernel name (`bpf_map_lookup_elem` or
//!   `map_lookup_elem`).
//! * `addr_space_cast %rd, %rs, DST_AS, SRC_AS`: arena address-space cast
//!   (imm = DST_AS << 16 | SRC_AS).
//!
//! Every instruction produced is checked with [`Insn::decode`] (unless invalid registers are
//! allowed), so the assembler never emits an encoding the decoder rejects; shift immediates
//! out of range are valid encodings and are accepted.

use std::collections::HashMap;

use crate::helper_names::helper_id;
use crate::isa::{
    AluOp, AtomicOp, CallTarget, EndKind, Insn, IsaErrorKind, JmpCond, LdImm64Kind, RawInsn, Size,
    Src, Width,
};

/// Assembler options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsmOptions {
    /// Accept `%r11` .. `%r15` (as the upstream assembler does, to build invalid-register
    /// tests). Instructions are then not validated with [`Insn::decode`].
    pub allow_invalid_regs: bool,
}

/// What went wrong while assembling a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// The mnemonic is not known.
    #[error("unknown mnemonic `{0}`")]
    UnknownMnemonic(String),
    /// Wrong number of operands.
    #[error("`{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// The mnemonic.
        mnemonic: String,
        /// Accepted operand counts, e.g. `"2"` or `"2 or 3"`.
        expected: &'static str,
        /// Number of operands given.
        found: usize,
    },
    /// Not a register, or a register number out of range.
    #[error("invalid register `{0}`")]
    InvalidRegister(String),
    /// Not a number.
    #[error("invalid immediate `{0}`")]
    InvalidImmediate(String),
    /// A number that does not fit its field.
    #[error("immediate `{0}` out of range")]
    ImmediateOutOfRange(String),
    /// Malformed memory operand.
    #[error("invalid memory operand `{0}`")]
    InvalidMemoryOperand(String),
    /// A memory or jump offset that does not fit in 16 bits.
    #[error("offset `{0}` out of range")]
    OffsetOutOfRange(String),
    /// A resolved jump or call target that does not fit its field.
    #[error("target `{target}` ({value}) does not fit the {field} field")]
    TargetOutOfRange {
        /// The target as written.
        target: String,
        /// The relative offset it resolved to.
        value: i64,
        /// `off` or `imm`.
        field: &'static str,
    },
    /// A label that is never defined.
    #[error("unknown label `{0}`")]
    UnknownLabel(String),
    /// A label defined twice.
    #[error("duplicate label `{0}`")]
    DuplicateLabel(String),
    /// A malformed `lock` instruction.
    #[error("invalid lock instruction: {0}")]
    InvalidLock(String),
    /// A malformed operand of another kind (call or lddw forms).
    #[error("invalid operand `{0}`")]
    InvalidOperand(String),
    /// The encoded instruction is rejected by the decoder (e.g. writes r10).
    #[error("invalid instruction: {0}")]
    InvalidInsn(IsaErrorKind),
}

/// An assembly error at a (1-based) line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct AsmError {
    /// 1-based line number in the input.
    pub line: usize,
    /// What is wrong.
    pub kind: AsmErrorKind,
}

type KResult<T> = Result<T, AsmErrorKind>;

/// Assembles conformance-syntax text with default options.
pub fn assemble(text: &str) -> Result<Vec<RawInsn>, AsmError> {
    assemble_with(text, &AsmOptions::default())
}

/// Assembles conformance-syntax text.
pub fn assemble_with(text: &str, opts: &AsmOptions) -> Result<Vec<RawInsn>, AsmError> {
    assemble_lines(text.lines().enumerate().map(|(i, l)| (i + 1, l)), opts)
}

/// Assembles `(line number, text)` pairs; line numbers are used in errors only.
pub fn assemble_lines<'a, I>(lines: I, opts: &AsmOptions) -> Result<Vec<RawInsn>, AsmError>
where
    I: IntoIterator<Item = (usize, &'a str)>,
{
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut first_exit: Option<usize> = None;
    let mut pending: Vec<Pending> = Vec::new();
    let mut slot = 0usize;
    for (line, text) in lines {
        let text = text.split('#').next().unwrap_or("");
        let toks: Vec<&str> = text
            .split_whitespace()
            .map(|t| t.strip_suffix(',').unwrap_or(t))
            .filter(|t| !t.is_empty())
            .collect();
        let Some(first) = toks.first() else { continue };
        if let Some(name) = first.strip_suffix(':') {
            if labels.insert(name.to_string(), slot).is_some() {
                return Err(AsmError {
                    line,
                    kind: AsmErrorKind::DuplicateLabel(name.to_string()),
                });
            }
            continue;
        }
        let p = parse_insn(&toks, opts).map_err(|kind| AsmError { line, kind })?;
        if matches!(p.insn, Insn::Exit { .. }) && first_exit.is_none() {
            first_exit = Some(slot);
        }
        let n = p.insn.slots();
        pending.push(Pending { line, slot, ..p });
        slot += n;
    }
    let mut out = Vec::with_capacity(slot);
    for p in pending {
        let err = |kind| AsmError { line: p.line, kind };
        let mut insn = p.insn;
        if let Some((target, field)) = &p.fixup {
            let value = match target {
                Target::Rel(v) => *v,
                Target::Label(name) => {
                    let t = labels
                        .get(name)
                        .copied()
                        .or(if name == "exit" { first_exit } else { None })
                        .ok_or_else(|| err(AsmErrorKind::UnknownLabel(name.clone())))?;
                    t as i64 - p.slot as i64 - 1
                }
            };
            let shown = match target {
                Target::Rel(v) => format!("{v:+}"),
                Target::Label(n) => n.clone(),
            };
            let oor = |field| {
                err(AsmErrorKind::TargetOutOfRange {
                    target: shown.clone(),
                    value,
                    field,
                })
            };
            match field {
                Field::Off => {
                    let v = i16::try_from(value).map_err(|_| oor("off"))?;
                    match &mut insn {
                        Insn::Jmp { off, .. } | Insn::MayGoto { off } => *off = v,
                        Insn::Ja { off, .. } => *off = v as i32,
                        _ => {}
                    }
                }
                Field::Imm => {
                    let v = i32::try_from(value).map_err(|_| oor("imm"))?;
                    match &mut insn {
                        Insn::Ja { off, .. } => *off = v,
                        Insn::Call(CallTarget::Local(imm)) => *imm = v,
                        Insn::LdImm64 { imm, .. } => {
                            *imm = (*imm & 0xffff_ffff_0000_0000) | v as u32 as u64
                        }
                        _ => {}
                    }
                }
            }
        }
        let (slots, n) = insn.encode();
        if !opts.allow_invalid_regs {
            Insn::decode(&slots[..n], 0).map_err(|e| err(AsmErrorKind::InvalidInsn(e.kind)))?;
        }
        out.extend_from_slice(&slots[..n]);
    }
    Ok(out)
}

#[derive(Clone, Debug)]
enum Target {
    Rel(i64),
    Label(String),
}

#[derive(Clone, Copy, Debug)]
enum Field {
    Off,
    Imm,
}

#[derive(Clone, Debug)]
struct Pending {
    line: usize,
    slot: usize,
    insn: Insn,
    fixup: Option<(Target, Field)>,
}

impl Pending {
    fn plain(insn: Insn) -> Self {
        Pending {
            line: 0,
            slot: 0,
            insn,
            fixup: None,
        }
    }

    fn fix(insn: Insn, target: Target, field: Field) -> Self {
        Pending {
            line: 0,
            slot: 0,
            insn,
            fixup: Some((target, field)),
        }
    }
}

fn count(m: &str, ops: &[&str], expected: &'static str, ok: &[usize]) -> KResult<()> {
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

fn parse_reg(t: &str, opts: &AsmOptions) -> KResult<u8> {
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

fn is_reg(t: &str) -> bool {
    t.starts_with('%')
}

fn parse_u64_digits(s: &str, radix: u32) -> Option<u64> {
    if s.is_empty() || s.starts_with('+') {
        return None;
    }
    u64::from_str_radix(s, radix).ok()
}

/// Parses a 32-bit immediate: `0x` u32 pattern, `-0x` negative hex, or signed decimal.
fn parse_imm32(t: &str) -> KResult<i32> {
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
fn parse_imm64(t: &str) -> KResult<u64> {
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
fn parse_mem(t: &str, opts: &AsmOptions) -> KResult<(u8, i16)> {
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
fn parse_target(t: &str) -> KResult<Target> {
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

fn parse_src(t: &str, opts: &AsmOptions) -> KResult<Src> {
    if is_reg(t) {
        Ok(Src::Reg(parse_reg(t, opts)?))
    } else {
        Ok(Src::Imm(parse_imm32(t)?))
    }
}

fn alu_op(base: &str) -> Option<AluOp> {
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

fn jmp_cond(base: &str) -> Option<JmpCond> {
    JmpCond::ALL.iter().copied().find(|c| c.mnemonic() == base)
}

fn size_suffix(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

fn split_width(m: &str) -> (&str, Width) {
    match m.strip_suffix("32") {
        Some(b) => (b, Width::W32),
        None => (m, Width::W64),
    }
}

fn parse_insn(toks: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    let lower = toks[0].to_ascii_lowercase();
    let m = lower.as_str();
    let ops = &toks[1..];
    let reg = |t: &str| parse_reg(t, opts);

    // Fixed names first.
    match m {
        "exit" => {
            count(m, ops, "0", &[0])?;
            return Ok(Pending::plain(Insn::EXIT));
        }
        "ja" | "ja32" | "may_goto" => {
            count(m, ops, "1", &[1])?;
            let t = parse_target(ops[0])?;
            return Ok(match m {
                "ja" => Pending::fix(
                    Insn::Ja {
                        off: 0,
                        long: false,
                    },
                    t,
                    Field::Off,
                ),
                "ja32" => Pending::fix(Insn::Ja { off: 0, long: true }, t, Field::Imm),
                _ => Pending::fix(Insn::MayGoto { off: 0 }, t, Field::Off),
            });
        }
        "neg" | "neg32" => {
            count(m, ops, "1", &[1])?;
            let width = if m == "neg" { Width::W64 } else { Width::W32 };
            return Ok(Pending::plain(Insn::Neg {
                width,
                dst: reg(ops[0])?,
            }));
        }
        "call" => return parse_call(m, ops, opts),
        "lock" => return parse_lock(ops, opts),
        "lddw" => return parse_lddw(m, ops, opts),
        "addr_space_cast" => {
            count(m, ops, "4", &[4])?;
            let a = parse_imm32(ops[2])?;
            let b = parse_imm32(ops[3])?;
            if !(0..=0xffff).contains(&a) {
                return Err(AsmErrorKind::ImmediateOutOfRange(ops[2].to_string()));
            }
            if !(0..=0xffff).contains(&b) {
                return Err(AsmErrorKind::ImmediateOutOfRange(ops[3].to_string()));
            }
            return Ok(Pending::plain(Insn::AddrSpaceCast {
                dst: reg(ops[0])?,
                src: reg(ops[1])?,
                imm: (a << 16) | b,
            }));
        }
        "movsx864" | "movsx1664" | "movsx3264" | "movsx832" | "movsx1632" => {
            count(m, ops, "2", &[2])?;
            let (bits, width) = match m {
                "movsx864" => (8, Width::W64),
                "movsx1664" => (16, Width::W64),
                "movsx3264" => (32, Width::W64),
                "movsx832" => (8, Width::W32),
                _ => (16, Width::W32),
            };
            return Ok(Pending::plain(Insn::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst: reg(ops[0])?,
                src: Src::Reg(reg(ops[1])?),
            }));
        }
        _ => {}
    }

    // Byte order: le16.. be16.. bswap16.. swap16..
    for (prefix, kind) in [
        ("le", EndKind::ToLe),
        ("be", EndKind::ToBe),
        ("bswap", EndKind::Swap),
        ("swap", EndKind::Swap),
    ] {
        if let Some(bits) = m.strip_prefix(prefix) {
            let bits = match bits {
                "16" => 16,
                "32" => 32,
                "64" => 64,
                _ => continue,
            };
            count(m, ops, "1", &[1])?;
            return Ok(Pending::plain(Insn::End {
                kind,
                bits,
                dst: reg(ops[0])?,
            }));
        }
    }

    // Loads and stores.
    if let Some(sfx) = m.strip_prefix("ldxs") {
        if let Some(size) = size_suffix(sfx).filter(|s| *s != Size::DW) {
            count(m, ops, "2", &[2])?;
            let (src, off) = parse_mem(ops[1], opts)?;
            return Ok(Pending::plain(Insn::LdxSx {
                size,
                dst: reg(ops[0])?,
                src,
                off,
            }));
        }
    }
    if let Some(size) = m.strip_prefix("ldx").and_then(size_suffix) {
        count(m, ops, "2", &[2])?;
        let (src, off) = parse_mem(ops[1], opts)?;
        return Ok(Pending::plain(Insn::Ldx {
            size,
            dst: reg(ops[0])?,
            src,
            off,
        }));
    }
    if let Some(size) = m.strip_prefix("stx").and_then(size_suffix) {
        count(m, ops, "2", &[2])?;
        let (dst, off) = parse_mem(ops[0], opts)?;
        return Ok(Pending::plain(Insn::Stx {
            size,
            dst,
            src: reg(ops[1])?,
            off,
        }));
    }
    if let Some(size) = m.strip_prefix("st").and_then(size_suffix) {
        count(m, ops, "2", &[2])?;
        let (dst, off) = parse_mem(ops[0], opts)?;
        return Ok(Pending::plain(Insn::St {
            size,
            dst,
            off,
            imm: parse_imm32(ops[1])?,
        }));
    }
    if let Some(size) = m
        .strip_prefix("ldabs")
        .and_then(size_suffix)
        .filter(|s| *s != Size::DW)
    {
        count(m, ops, "1", &[1])?;
        return Ok(Pending::plain(Insn::LdAbs {
            size,
            imm: parse_imm32(ops[0])?,
        }));
    }
    if let Some(size) = m
        .strip_prefix("ldind")
        .and_then(size_suffix)
        .filter(|s| *s != Size::DW)
    {
        count(m, ops, "2", &[2])?;
        return Ok(Pending::plain(Insn::LdInd {
            size,
            src: reg(ops[0])?,
            imm: parse_imm32(ops[1])?,
        }));
    }

    let (base, width) = split_width(m);
    if let Some(op) = alu_op(base) {
        count(m, ops, "2", &[2])?;
        return Ok(Pending::plain(Insn::Alu {
            width,
            op,
            dst: reg(ops[0])?,
            src: parse_src(ops[1], opts)?,
        }));
    }
    if let Some(cond) = jmp_cond(base) {
        count(m, ops, "3", &[3])?;
        let dst = reg(ops[0])?;
        let src = parse_src(ops[1], opts)?;
        let t = parse_target(ops[2])?;
        return Ok(Pending::fix(
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off: 0,
            },
            t,
            Field::Off,
        ));
    }
    Err(AsmErrorKind::UnknownMnemonic(toks[0].to_string()))
}

fn parse_call(m: &str, ops: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    let helper = |t: &str| -> KResult<Pending> {
        if is_reg(t) {
            return Ok(Pending::plain(Insn::Callx {
                reg: parse_reg(t, opts)?,
            }));
        }
        let starts_num = t.starts_with(|c: char| c.is_ascii_digit() || c == '-');
        if !starts_num {
            if let Some(id) = helper_id(t) {
                return Ok(Pending::plain(Insn::Call(CallTarget::Helper(id))));
            }
            return Err(AsmErrorKind::InvalidOperand(t.to_string()));
        }
        Ok(Pending::plain(Insn::Call(CallTarget::Helper(parse_imm32(
            t,
        )?))))
    };
    match ops.first().copied() {
        None => Err(AsmErrorKind::OperandCount {
            mnemonic: m.to_string(),
            expected: "1 or 2",
            found: 0,
        }),
        Some("helper") => {
            count("call helper", &ops[1..], "1", &[1])?;
            helper(ops[1])
        }
        Some("local") => {
            count("call local", &ops[1..], "1", &[1])?;
            let t = parse_target(ops[1])?;
            Ok(Pending::fix(
                Insn::Call(CallTarget::Local(0)),
                t,
                Field::Imm,
            ))
        }
        Some("runtime") => {
            count("call runtime", &ops[1..], "1", &[1])?;
            Ok(Pending::plain(Insn::Call(CallTarget::Kfunc {
                btf_id: parse_imm32(ops[1])?,
                off: 0,
            })))
        }
        Some("kfunc") => {
            count("call kfunc", &ops[1..], "1 or 2", &[1, 2])?;
            let off = match ops.get(2) {
                Some(t) => {
                    let v = parse_imm32(t.strip_prefix('+').unwrap_or(t))?;
                    i16::try_from(v).map_err(|_| AsmErrorKind::OffsetOutOfRange(t.to_string()))?
                }
                None => 0,
            };
            Ok(Pending::plain(Insn::Call(CallTarget::Kfunc {
                btf_id: parse_imm32(ops[1])?,
                off,
            })))
        }
        Some(t) => {
            count(m, ops, "1", &[1])?;
            helper(t)
        }
    }
}

fn parse_lock(ops: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    let bad = |s: &str| AsmErrorKind::InvalidLock(s.to_string());
    let (fetch, rest) = match ops.first() {
        Some(&"fetch") => (true, &ops[1..]),
        Some(_) => (false, ops),
        None => return Err(bad("missing operation")),
    };
    let Some(name) = rest.first() else {
        return Err(bad("missing operation"));
    };
    let operands = &rest[1..];
    if operands.len() != 2 {
        return Err(AsmErrorKind::OperandCount {
            mnemonic: format!("lock {name}"),
            expected: "2",
            found: operands.len(),
        });
    }
    let name = name.to_ascii_lowercase();
    // Acquire / release extensions.
    for (prefix, load) in [("load_acquire", true), ("store_release", false)] {
        if let Some(sfx) = name.strip_prefix(prefix) {
            let size = match sfx {
                "8" => Size::B,
                "16" => Size::H,
                "32" => Size::W,
                "" | "64" => Size::DW,
                _ => return Err(bad(&name)),
            };
            if fetch {
                return Err(bad("fetch is not allowed with load_acquire/store_release"));
            }
            return Ok(Pending::plain(if load {
                let (src, off) = parse_mem(operands[1], opts)?;
                Insn::Atomic {
                    size,
                    op: AtomicOp::LoadAcquire,
                    dst: parse_reg(operands[0], opts)?,
                    src,
                    off,
                }
            } else {
                let (dst, off) = parse_mem(operands[0], opts)?;
                Insn::Atomic {
                    size,
                    op: AtomicOp::StoreRelease,
                    dst,
                    src: parse_reg(operands[1], opts)?,
                    off,
                }
            }));
        }
    }
    let (base, width) = split_width(&name);
    let op = match base {
        "add" => AtomicOp::Add { fetch },
        "or" => AtomicOp::Or { fetch },
        "and" => AtomicOp::And { fetch },
        "xor" => AtomicOp::Xor { fetch },
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::Cmpxchg,
        _ => return Err(bad(&name)),
    };
    let size = if width == Width::W32 {
        Size::W
    } else {
        Size::DW
    };
    let (dst, off) = parse_mem(operands[0], opts)?;
    Ok(Pending::plain(Insn::Atomic {
        size,
        op,
        dst,
        src: parse_reg(operands[1], opts)?,
        off,
    }))
}

fn parse_lddw(m: &str, ops: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    count(m, ops, "2, 3 or 4", &[2, 3, 4])?;
    let dst = parse_reg(ops[0], opts)?;
    if ops.len() == 2 {
        return Ok(Pending::plain(Insn::LdImm64 {
            dst,
            kind: LdImm64Kind::Imm,
            imm: parse_imm64(ops[1])?,
        }));
    }
    let kind = match ops[1].to_ascii_lowercase().as_str() {
        "map_fd" => LdImm64Kind::MapFd,
        "map_value" => LdImm64Kind::MapValue,
        "btf_id" => LdImm64Kind::BtfId,
        "func" => LdImm64Kind::Func,
        "map_idx" => LdImm64Kind::MapIdx,
        "map_idx_value" => LdImm64Kind::MapIdxValue,
        _ => return Err(AsmErrorKind::InvalidOperand(ops[1].to_string())),
    };
    let hi = match ops.get(3) {
        Some(t) => parse_imm32(t.strip_prefix('+').unwrap_or(t))? as u32 as u64,
        None => 0,
    };
    if kind == LdImm64Kind::Func {
        let t = parse_target(ops[2])?;
        return Ok(Pending::fix(
            Insn::LdImm64 {
                dst,
                kind,
                imm: hi << 32,
            },
            t,
            Field::Imm,
        ));
    }
    let lo = parse_imm32(ops[2])? as u32 as u64;
    Ok(Pending::plain(Insn::LdImm64 {
        dst,
        kind,
        imm: (hi << 32) | lo,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> RawInsn {
        let v = assemble(s).expect("assembles");
        assert_eq!(v.len(), 1, "{s}");
        v[0]
    }

    #[test]
    fn basic_encodings() {
        assert_eq!(one("mov %r0, 1"), RawInsn::new(0xb7, 0, 0, 0, 1));
        assert_eq!(one("mov32 %r0 %r2"), RawInsn::new(0xbc, 0, 2, 0, 0));
        assert_eq!(one("add %r1, 0xffffffff"), RawInsn::new(0x07, 1, 0, 0, -1));
        assert_eq!(one("sdiv32 %r1, -3"), RawInsn::new(0x34, 1, 0, 1, -3));
        assert_eq!(one("movsx1632 %r1, %r2"), RawInsn::new(0xbc, 1, 2, 16, 0));
        assert_eq!(one("bswap16 %r1"), RawInsn::new(0xd7, 1, 0, 0, 16));
        assert_eq!(one("be32 %r1"), RawInsn::new(0xdc, 1, 0, 0, 32));
        assert_eq!(one("ldxh %r1, [%r2-4]"), RawInsn::new(0x69, 1, 2, -4, 0));
        assert_eq!(one("ldxsw %r1, [%r2]"), RawInsn::new(0x81, 1, 2, 0, 0));
        assert_eq!(one("stdw [%r10-8], 5"), RawInsn::new(0x7a, 10, 0, -8, 5));
        assert_eq!(one("stxb [%r1+0x10], %r3"), RawInsn::new(0x73, 1, 3, 16, 0));
        assert_eq!(
            one("lock fetch add32 [%r10-8], %r1"),
            RawInsn::new(0xc3, 10, 1, -8, 1)
        );
        assert_eq!(
            one("lock cmpxchg [%r10-8], %r1"),
            RawInsn::new(0xdb, 10, 1, -8, 0xf1)
        );
        assert_eq!(one("jne32 %r1, 0xb, +4"), RawInsn::new(0x56, 1, 0, 4, 11));
        assert_eq!(one("ja32 -2"), RawInsn::new(0x06, 0, 0, 0, -2));
        assert_eq!(one("call local +3"), RawInsn::new(0x85, 0, 1, 0, 3));
        assert_eq!(one("call %r2"), RawInsn::new(0x8d, 2, 0, 0, 0));
        assert_eq!(one("call helper 5"), RawInsn::new(0x85, 0, 0, 0, 5));
        assert_eq!(one("call runtime 7"), RawInsn::new(0x85, 0, 2, 0, 7));
        assert_eq!(one("lsh32 %r0, 60"), RawInsn::new(0x64, 0, 0, 0, 60));
    }

    #[test]
    fn labels_and_exit() {
        let p = assemble("jne %r0, 0, exit\nlddw %r0, 1\nl:\nja l\nexit\nexit").unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(p[0].off, 3);
        assert_eq!(p[3].off, -1);
    }
}
