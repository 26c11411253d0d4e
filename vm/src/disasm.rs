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

fn kernel(insn: &Insn, pc: usize, opts: &DisasmOptions<'_>) -> String {
    let sym = opts.symbolizer;
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let c = wr(width);
            match src {
                Src::Reg(s) => format!("{c}{dst} {} {}{c}{s}", alu_str(op), movsx_cast(op)),
                Src::Imm(i) => format!("{c}{dst} {} {i}", alu_str(op)),
            }
        }
        Insn::Neg { width, dst } => {
            let c = wr(width);
            format!("{c}{dst} = -{c}{dst}")
        }
        Insn::End { kind, bits, dst } => format!("r{dst} = {}{bits} r{dst}", end_name(kind)),
        Insn::AddrSpaceCast { dst, src, imm } => format!(
            "r{dst} = addr_space_cast(r{src}, {}, {})",
            (imm as u32) >> 16,
            imm as u32 & 0xffff
        ),
        Insn::Ja { off, long: false } => format!("goto pc{off:+}"),
        Insn::Ja { off, long: true } => format!("gotol pc{off:+}"),
        Insn::MayGoto { off } => format!("may_goto pc{off:+}"),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let c = wr(width);
            match src {
                Src::Reg(s) => format!("if {c}{dst} {} {c}{s} goto pc{off:+}", cond.c_op()),
                Src::Imm(i) => {
                    format!(
                        "if {c}{dst} {} 0x{:x} goto pc{off:+}",
                        cond.c_op(),
                        i as u32
                    )
                }
            }
        }
        Insn::Call(CallTarget::Helper(id)) => {
            let name = sym
                .and_then(|s| s.helper_name(id))
                .or_else(|| {
                    usize::try_from(id)
                        .ok()
                        .and_then(|i| HELPER_NAMES.get(i))
                        .map(|s| s.to_string())
                })
                .unwrap_or_else(|| "unknown".to_string());
            format!("call {name}#{id}")
        }
        Insn::Call(CallTarget::Local(imm)) => {
            let target = pc as i64 + 1 + imm as i64;
            match sym.and_then(|s| s.call_target(pc, target)) {
                Some(name) => format!("call pc{imm:+}#{name}"),
                None => format!("call pc{imm:+}"),
            }
        }
        Insn::Call(CallTarget::Kfunc { btf_id, off }) => {
            let name = sym
                .and_then(|s| s.kfunc_name(btf_id, off))
                .unwrap_or_else(|| "kernel-function".to_string());
            format!("call {name}#{btf_id}")
        }
        Insn::Callx { reg } => format!("callx r{reg}"),
        Insn::Exit { .. } => "exit".to_string(),
        Insn::LdImm64 { dst, kind, imm } => {
            let lo = imm as u32 as i32;
            let hi = (imm >> 32) as u32;
            let map = |default: String| sym.and_then(|s| s.map_name(kind, lo)).unwrap_or(default);
            let v = match kind {
                LdImm64Kind::Imm | LdImm64Kind::BtfId => format!("0x{imm:x}"),
                LdImm64Kind::MapFd => map(format!("map[fd:{}]", lo as u32)),
                LdImm64Kind::MapIdx => map(format!("map[idx:{}]", lo as u32)),
                LdImm64Kind::MapValue => {
                    format!("{}[0]+{hi}", map(format!("map[fd:{}]", lo as u32)))
                }
                LdImm64Kind::MapIdxValue => {
                    format!("{}[0]+{hi}", map(format!("map[idx:{}]", lo as u32)))
                }
                LdImm64Kind::Func => {
                    let target = pc as i64 + 1 + lo as i64;
                    match sym.and_then(|s| s.call_target(pc, target)) {
                        Some(name) => format!("subprog[{lo:+}]#{name}"),
                        None => format!("subprog[{lo:+}]"),
                    }
                }
            };
            format!("r{dst} = {v}")
        }
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => format!("r{dst} = *({} *)(r{src} {off:+})", ldst(size)),
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => format!("r{dst} = *({} *)(r{src} {off:+})", ldsx(size)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => format!("*({} *)(r{dst} {off:+}) = {imm}", ldst(size)),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => format!("*({} *)(r{dst} {off:+}) = r{src}", ldst(size)),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let t = ldst(size);
            let w = if size == Size::DW { "64" } else { "" };
            match op {
                AtomicOp::Add { fetch: false }
                | AtomicOp::Or { fetch: false }
                | AtomicOp::And { fetch: false }
                | AtomicOp::Xor { fetch: false } => {
                    format!("lock *({t} *)(r{dst} {off:+}) {} r{src}", atomic_alu(op))
                }
                AtomicOp::Add { .. }
                | AtomicOp::Or { .. }
                | AtomicOp::And { .. }
                | AtomicOp::Xor { .. } => format!(
                    "r{src} = atomic{w}_fetch_{}(({t} *)(r{dst} {off:+}), r{src})",
                    atomic_name(op)
                ),
                AtomicOp::Cmpxchg => {
                    format!("r0 = atomic{w}_cmpxchg(({t} *)(r{dst} {off:+}), r0, r{src})")
                }
                AtomicOp::Xchg => {
                    format!("r{src} = atomic{w}_xchg(({t} *)(r{dst} {off:+}), r{src})")
                }
                AtomicOp::LoadAcquire => {
                    format!("r{dst} = load_acquire(({t} *)(r{src} {off:+}))")
                }
                AtomicOp::StoreRelease => {
                    format!("store_release(({t} *)(r{dst} {off:+}), r{src})")
                }
            }
        }
        Insn::LdAbs { size, imm } => format!("r0 = *({} *)skb[{imm}]", ldst(size)),
        Insn::LdInd { size, src, imm } => format!("r0 = *({} *)skb[r{src} + {imm}]", ldst(size)),
    }
}

fn llvm(insn: &Insn) -> String {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let c = wr(width);
            match src {
                Src::Reg(s) => format!("{c}{dst} {} {}{c}{s}", alu_str(op), movsx_cast(op)),
                Src::Imm(i) => format!("{c}{dst} {} {}", alu_str(op), shex(i as i64)),
            }
        }
        Insn::Neg { width, dst } => {
            let c = wr(width);
            format!("{c}{dst} = -{c}{dst}")
        }
        Insn::End { kind, bits, dst } => format!("r{dst} = {}{bits} r{dst}", end_name(kind)),
        Insn::AddrSpaceCast { dst, src, imm } => format!(
            "r{dst} = addr_space_cast(r{src}, 0x{:x}, 0x{:x})",
            (imm as u32) >> 16,
            imm as u32 & 0xffff
        ),
        Insn::Ja { off, long: false } => format!("goto {}", sshex(off as i64)),
        Insn::Ja { off, long: true } => format!("gotol {}", sshex(off as i64)),
        Insn::MayGoto { off } => format!("may_goto {}", sshex(off as i64)),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let c = wr(width);
            let rhs = match src {
                Src::Reg(s) => format!("{c}{s}"),
                Src::Imm(i) => shex(i as i64),
            };
            format!(
                "if {c}{dst} {} {rhs} goto {}",
                cond.c_op(),
                sshex(off as i64)
            )
        }
        Insn::Call(CallTarget::Helper(i) | CallTarget::Local(i)) => {
            format!("call {}", shex(i as i64))
        }
        Insn::Call(CallTarget::Kfunc { btf_id, .. }) => format!("call {}", shex(btf_id as i64)),
        Insn::Callx { reg } => format!("callx r{reg}"),
        Insn::Exit { .. } => "exit".to_string(),
        Insn::LdImm64 { dst, kind, imm } => {
            if kind == LdImm64Kind::Imm {
                format!("r{dst} = {} ll", shex(imm as i64))
            } else {
                format!(
                    "ld_pseudo\tr{dst}, {}, {}",
                    shex(kind.src() as i64),
                    shex(imm as u32 as i32 as i64)
                )
            }
        }
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => format!("r{dst} = *({} *)({})", ldst(size), llvm_mem(src, off)),
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => format!("r{dst} = *({} *)({})", ldsx(size), llvm_mem(src, off)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => format!(
            "*({} *)({}) = {}",
            ldst(size),
            llvm_mem(dst, off),
            shex(imm as i64)
        ),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => format!("*({} *)({}) = r{src}", ldst(size), llvm_mem(dst, off)),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let t = ldst(size);
            let c = if size == Size::DW { 'r' } else { 'w' };
            let m = llvm_mem(dst, off);
            match op {
                AtomicOp::Add { fetch: false }
                | AtomicOp::Or { fetch: false }
                | AtomicOp::And { fetch: false }
                | AtomicOp::Xor { fetch: false } => {
                    format!("lock *({t} *)({m}) {} {c}{src}", atomic_alu(op))
                }
                AtomicOp::Add { .. }
                | AtomicOp::Or { .. }
                | AtomicOp::And { .. }
                | AtomicOp::Xor { .. } => format!(
                    "{c}{src} = atomic_fetch_{}(({t} *)({m}), {c}{src})",
                    atomic_name(op)
                ),
                AtomicOp::Xchg if size == Size::DW => format!("r{src} = xchg_64({m}, r{src})"),
                AtomicOp::Xchg => format!("w{src} = xchg32_32({m}, w{src})"),
                AtomicOp::Cmpxchg if size == Size::DW => {
                    format!("r0 = cmpxchg_64({m}, r0, r{src})")
                }
                AtomicOp::Cmpxchg => format!("w0 = cmpxchg32_32({m}, w0, w{src})"),
                AtomicOp::LoadAcquire => {
                    format!("{c}{dst} = load_acquire(({t} *)({}))", llvm_mem(src, off))
                }
                AtomicOp::StoreRelease => format!("store_release(({t} *)({m}), {c}{src})"),
            }
        }
        Insn::LdAbs { size, imm } => format!("r0 = *({} *)skb[{}]", ldst(size), shex(imm as i64)),
        Insn::LdInd { size, src, .. } => format!("r0 = *({} *)skb[r{src}]", ldst(size)),
    }
}

/// Decimal for small values, the u32 hex pattern otherwise (both accepted by the assembler).
fn cimm(i: i32) -> String {
    if (-65536..=65536).contains(&i) {
        i.to_string()
    } else {
        format!("0x{:x}", i as u32)
    }
}

fn cmem(reg: u8, off: i16) -> String {
    format!("[%r{reg}{off:+}]")
}

fn size_sfx(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

fn w32(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn conformance(insn: &Insn) -> String {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let name = match op {
                AluOp::Add => "add",
                AluOp::Sub => "sub",
                AluOp::Mul => "mul",
                AluOp::Div => "div",
                AluOp::SDiv => "sdiv",
                AluOp::Or => "or",
                AluOp::And => "and",
                AluOp::Lsh => "lsh",
                AluOp::Rsh => "rsh",
                AluOp::Mod => "mod",
                AluOp::SMod => "smod",
                AluOp::Xor => "xor",
                AluOp::Mov => "mov",
                AluOp::Arsh => "arsh",
                AluOp::MovSx(bits) => {
                    let s = match src {
                        Src::Reg(r) => r,
                        Src::Imm(_) => 0,
                    };
                    let to = if width == Width::W32 { 32 } else { 64 };
                    return format!("movsx{bits}{to} %r{dst}, %r{s}");
                }
            };
            let rhs = match src {
                Src::Reg(r) => format!("%r{r}"),
                Src::Imm(i) => cimm(i),
            };
            format!("{name}{} %r{dst}, {rhs}", w32(width))
        }
        Insn::Neg { width, dst } => format!("neg{} %r{dst}", w32(width)),
        Insn::End { kind, bits, dst } => format!("{}{bits} %r{dst}", end_name(kind)),
        Insn::AddrSpaceCast { dst, src, imm } => format!(
            "addr_space_cast %r{dst}, %r{src}, {}, {}",
            (imm as u32) >> 16,
            imm as u32 & 0xffff
        ),
        Insn::Ja { off, long: false } => format!("ja {off:+}"),
        Insn::Ja { off, long: true } => format!("ja32 {off:+}"),
        Insn::MayGoto { off } => format!("may_goto {off:+}"),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let rhs = match src {
                Src::Reg(r) => format!("%r{r}"),
                Src::Imm(i) => cimm(i),
            };
            format!("{}{} %r{dst}, {rhs}, {off:+}", jmp_name(cond), w32(width))
        }
        Insn::Call(CallTarget::Helper(id)) => format!("call {id}"),
        Insn::Call(CallTarget::Local(imm)) => format!("call local {imm:+}"),
        Insn::Call(CallTarget::Kfunc { btf_id, off: 0 }) => format!("call runtime {btf_id}"),
        Insn::Call(CallTarget::Kfunc { btf_id, off }) => format!("call kfunc {btf_id} {off}"),
        Insn::Callx { reg } => format!("call %r{reg}"),
        Insn::Exit { .. } => "exit".to_string(),
        Insn::LdImm64 { dst, kind, imm } => {
            let lo = imm as u32 as i32;
            let hi = (imm >> 32) as u32 as i32;
            let name = match kind {
                LdImm64Kind::Imm => return format!("lddw %r{dst}, 0x{imm:x}"),
                LdImm64Kind::MapFd => "map_fd",
                LdImm64Kind::MapValue => "map_value",
                LdImm64Kind::BtfId => "btf_id",
                LdImm64Kind::Func => "func",
                LdImm64Kind::MapIdx => "map_idx",
                LdImm64Kind::MapIdxValue => "map_idx_value",
            };
            let lo = if kind == LdImm64Kind::Func {
                format!("{lo:+}")
            } else {
                cimm(lo)
            };
            if hi == 0 {
                format!("lddw %r{dst}, {name} {lo}")
            } else {
                format!("lddw %r{dst}, {name} {lo} {hi:+}")
            }
        }
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => format!("ldx{} %r{dst}, {}", size_sfx(size), cmem(src, off)),
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => format!("ldxs{} %r{dst}, {}", size_sfx(size), cmem(src, off)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => format!("st{} {}, {}", size_sfx(size), cmem(dst, off), cimm(imm)),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => format!("stx{} {}, %r{src}", size_sfx(size), cmem(dst, off)),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let bits = size.bytes() * 8;
            match op {
                AtomicOp::LoadAcquire => {
                    format!("lock load_acquire{bits} %r{dst}, {}", cmem(src, off))
                }
                AtomicOp::StoreRelease => {
                    format!("lock store_release{bits} {}, %r{src}", cmem(dst, off))
                }
                _ => {
                    let fetch = match op {
                        AtomicOp::Add { fetch: true }
                        | AtomicOp::Or { fetch: true }
                        | AtomicOp::And { fetch: true }
                        | AtomicOp::Xor { fetch: true } => "fetch ",
                        _ => "",
                    };
                    let w = if size == Size::W { "32" } else { "" };
                    format!(
                        "lock {fetch}{}{w} {}, %r{src}",
                        atomic_name(op),
                        cmem(dst, off)
                    )
                }
            }
        }
        Insn::LdAbs { size, imm } => format!("ldabs{} {}", size_sfx(size), cimm(imm)),
        Insn::LdInd { size, src, imm } => {
            format!("ldind{} %r{src}, {}", size_sfx(size), cimm(imm))
        }
    }
}

fn jmp_name(c: JmpCond) -> &'static str {
    c.mnemonic()
}
