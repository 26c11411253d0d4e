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

mod insn;
mod operands;

use insn::parse_insn;

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
pub(super) enum Target {
    Rel(i64),
    Label(String),
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Field {
    Off,
    Imm,
}

#[derive(Clone, Debug)]
pub(super) struct Pending {
    line: usize,
    slot: usize,
    insn: Insn,
    fixup: Option<(Target, Field)>,
}

impl Pending {
    pub(super) fn plain(insn: Insn) -> Self {
        Pending {
            line: 0,
            slot: 0,
            insn,
            fixup: None,
        }
    }

    pub(super) fn fix(insn: Insn, target: Target, field: Field) -> Self {
        Pending {
            line: 0,
            slot: 0,
            insn,
            fixup: Some((target, field)),
        }
    }
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
