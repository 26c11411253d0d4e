//! Disassembler with three output syntaxes.
//!
//! * [`Syntax::Kernel`] (default): the text of the kernel's verifier log and `bpftool prog
//!   dump xlated`, following the format strings of `kernel/bpf/disasm.c` (Linux 6.12, plus
//!   the 6.15 load-acquire / store-release forms): `r0 = *(u32 *)(r1 +4)`,
//!   `if w1 s< w2 goto pc-4`, `call bpf_map_lookup_elem#1`, `lock *(u64 *)(r10 -8) += r1`.
//!   Where the kernel prints ld_imm64 pseudo forms as a bare number, this follows bpftool:
//!   `r1 = map[fd:3]`, `r1 = map[fd:3][0]+8`, `r1 = map[idx:0]`, `r1 = map[idx:0][0]+8`,
//!   `r1 = subprog[+4]`. `callx` (which 6.12 does not know) is printed `callx r2`.
//!   [`format_lines`] adds bpftool's `   0: (b7) ` prefix.
//! * [`Syntax::Llvm`]: the text of `llvm-objdump-19 -d` for BPF (`r0 = *(u32 *)(r1 + 0x4)`,
//!   `if r1 > 0x5 goto +0x3`, `r1 = 0x1234 ll`, `call 0x1`); objdump's `<label>` suffixes are
//!   omitted. Loads and stores use `r` registers as llvm-objdump does without `-mattr=+alu32`;
//!   32-bit atomics (which it prints as `<unknown>` then) use its `+alu32` text, and
//!   load-acquire / store-release use LLVM 20's text.
//! * [`Syntax::Conformance`]: the bpf_conformance assembly accepted by [`crate::asm`], with
//!   `+N`/`-N` jump targets, so `assemble(disassemble_conformance(p)) == p`.
//!
//! Undecodable slots never panic: [`disassemble`] yields a [`Line`] with `insn: None`, the
//! decode error in `error`, and the text `.word 0x<slot as u64> ; <error>`; decoding resumes
//! at the next slot. [`disassemble_conformance`] instead returns the error, because the
//! assembler cannot express such slots.

use std::fmt::Write as _;

use crate::helper_names::HELPER_NAMES;
use crate::isa::{
    AluOp, AtomicOp, CallTarget, EndKind, Insn, IsaError, JmpCond, LdImm64Kind, RawInsn, Size, Src,
    Width,
};

mod conformance;
mod kernel;
mod llvm;

use conformance::conformance;
use kernel::kernel;
use llvm::llvm;

/// Output syntax.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// The kernel's / bpftool's syntax.
    #[default]
    Kernel,
    /// llvm-objdump's syntax.
    Llvm,
    /// The bpf_conformance assembly syntax.
    Conformance,
}

/// Supplies names the instruction stream does not contain. Every method defaults to `None`,
/// meaning "print the default form".
pub trait Symbolizer {
    /// Name of helper `id` (default: the kernel's name from [`HELPER_NAMES`]).
    fn helper_name(&self, _id: i32) -> Option<String> {
        None
    }
    /// Name of the map an ld_imm64 refers to, replacing `map[fd:N]` / `map[idx:N]`
    /// (`kind` is one of the map kinds, `imm` the first slot's imm).
    fn map_name(&self, _kind: LdImm64Kind, _imm: i32) -> Option<String> {
        None
    }
    /// Name of the subprogram starting at slot `target`, called (or referenced by
    /// `ld_imm64 func`) from `pc`. Kernel syntax prints `call pc+3#name` / `subprog[+3]#name`.
    fn call_target(&self, _pc: usize, _target: i64) -> Option<String> {
        None
    }
    /// Name of a kfunc (default: `kernel-function`).
    fn kfunc_name(&self, _btf_id: i32, _off: i16) -> Option<String> {
        None
    }
}

/// Disassembly options.
#[derive(Clone, Copy, Default)]
pub struct DisasmOptions<'a> {
    /// Print the raw instruction bytes (bpftool's `opcodes`, objdump's default) in
    /// [`format_lines`].
    pub opcodes: bool,
    /// Name supplier.
    pub symbolizer: Option<&'a dyn Symbolizer>,
}

/// One disassembled instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Slot index of the instruction.
    pub pc: usize,
    /// Its slots (2 for `ld_imm64`, else 1).
    pub raw: Vec<RawInsn>,
    /// The decoded instruction, if it decodes.
    pub insn: Option<Insn>,
    /// The instruction text (without slot index or opcode prefix).
    pub text: String,
    /// The decode error of an undecodable slot.
    pub error: Option<IsaError>,
}

/// Disassembles `slots` in `syntax`. Never fails: undecodable slots give lines with `error`.
pub fn disassemble(slots: &[RawInsn], syntax: Syntax, opts: &DisasmOptions<'_>) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pc = 0;
    while pc < slots.len() {
        match Insn::decode(slots, pc) {
            Ok(insn) => {
                let n = insn.slots();
                out.push(Line {
                    pc,
                    raw: slots[pc..pc + n].to_vec(),
                    insn: Some(insn),
                    text: insn_text(&insn, pc, syntax, opts),
                    error: None,
                });
                pc += n;
            }
            Err(e) => {
                out.push(Line {
                    pc,
                    raw: vec![slots[pc]],
                    insn: None,
                    text: format!(".word 0x{:016x} ; {}", slots[pc].to_u64(), e.kind),
                    error: Some(e),
                });
                pc += 1;
            }
        }
    }
    out
}

/// Renders lines as a listing: kernel syntax as bpftool (`   0: (b7) r0 = 0`, bytes on the
/// next line with `opcodes`), llvm syntax as objdump (`       0:\t<bytes>\t<text>`),
/// conformance syntax as plain lines.
pub fn format_lines(lines: &[Line], syntax: Syntax, opts: &DisasmOptions<'_>) -> String {
    let mut s = String::new();
    for l in lines {
        let bytes: Vec<String> = l
            .raw
            .iter()
            .flat_map(|r| r.to_bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        let bytes = bytes.join(" ");
        let code = l.raw.first().map(|r| r.code).unwrap_or(0);
        let _ = match syntax {
            Syntax::Kernel => {
                let r = writeln!(s, "{:4}: ({:02x}) {}", l.pc, code, l.text);
                if opts.opcodes {
                    writeln!(s, "       {bytes}")
                } else {
                    r
                }
            }
            Syntax::Llvm => {
                if opts.opcodes {
                    writeln!(s, "{:8}:\t{}\t{}", l.pc, bytes, l.text)
                } else {
                    writeln!(s, "{:8}:\t{}", l.pc, l.text)
                }
            }
            Syntax::Conformance => writeln!(s, "{}", l.text),
        };
    }
    s
}

/// Disassembles to conformance-syntax text that [`crate::asm::assemble`] accepts and that
/// assembles back to exactly `slots`. Fails on the first undecodable slot.
pub fn disassemble_conformance(slots: &[RawInsn]) -> Result<String, IsaError> {
    let opts = DisasmOptions::default();
    let mut s = String::new();
    for l in disassemble(slots, Syntax::Conformance, &opts) {
        if let Some(e) = l.error {
            return Err(e);
        }
        s.push_str(&l.text);
        s.push('\n');
    }
    Ok(s)
}

/// The text of one decoded instruction at slot `pc`.
pub fn insn_text(insn: &Insn, pc: usize, syntax: Syntax, opts: &DisasmOptions<'_>) -> String {
    match syntax {
        Syntax::Kernel => kernel(insn, pc, opts),
        Syntax::Llvm => llvm(insn),
        Syntax::Conformance => conformance(insn),
    }
}

fn alu_str(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div => "/=",
        AluOp::SDiv => "s/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod => "%=",
        AluOp::SMod => "s%=",
        AluOp::Xor => "^=",
        AluOp::Mov | AluOp::MovSx(_) => "=",
        AluOp::Arsh => "s>>=",
    }
}

fn movsx_cast(op: AluOp) -> &'static str {
    match op {
        AluOp::MovSx(8) => "(s8)",
        AluOp::MovSx(16) => "(s16)",
        AluOp::MovSx(32) => "(s32)",
        _ => "",
    }
}

fn ldst(size: Size) -> &'static str {
    match size {
        Size::B => "u8",
        Size::H => "u16",
        Size::W => "u32",
        Size::DW => "u64",
    }
}

fn ldsx(size: Size) -> &'static str {
    match size {
        Size::B => "s8",
        Size::H => "s16",
        _ => "s32",
    }
}

fn wr(width: Width) -> char {
    match width {
        Width::W32 => 'w',
        Width::W64 => 'r',
    }
}

fn end_name(kind: EndKind) -> &'static str {
    match kind {
        EndKind::ToLe => "le",
        EndKind::ToBe => "be",
        EndKind::Swap => "bswap",
    }
}

fn atomic_name(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add { .. } => "add",
        AtomicOp::Or { .. } => "or",
        AtomicOp::And { .. } => "and",
        AtomicOp::Xor { .. } => "xor",
        AtomicOp::Xchg => "xchg",
        AtomicOp::Cmpxchg => "cmpxchg",
        AtomicOp::LoadAcquire => "load_acquire",
        AtomicOp::StoreRelease => "store_release",
    }
}

fn atomic_alu(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add { .. } => "+=",
        AtomicOp::Or { .. } => "|=",
        AtomicOp::And { .. } => "&=",
        _ => "^=",
    }
}

/// `0x5` / `-0x5`, as llvm prints signed immediates.
fn shex(v: i64) -> String {
    if v < 0 {
        format!("-0x{:x}", v.unsigned_abs())
    } else {
        format!("0x{v:x}")
    }
}

/// `+0x3` / `-0x4`.
fn sshex(v: i64) -> String {
    if v < 0 {
        shex(v)
    } else {
        format!("+0x{v:x}")
    }
}

/// `(r1 + 0x4)` / `(r1 - 0x8)` as llvm prints a memory operand.
fn llvm_mem(reg: u8, off: i16) -> String {
    if off < 0 {
        format!("r{reg} - 0x{:x}", (off as i32).unsigned_abs())
    } else {
        format!("r{reg} + 0x{off:x}")
    }
}
