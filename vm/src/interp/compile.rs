//! Pre-decoding: turns validated instructions into a flat array of specialised operations so
//! the hot loop never re-parses an opcode. Each slot of the program gets one [`Op`]; the
//! second slot of `ld_imm64` holds an unreachable placeholder so slot indices stay the same.

use crate::isa::{
    self, AluOp, AtomicOp, CallTarget, EndKind, Insn, JmpCond, LdImm64Kind, RawInsn, Size, Src,
    Width,
};
use crate::semantics::imm64;

/// Operation kind, one per specialised form. `I` = immediate operand, `R` = register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub(crate) enum K {
    Add64I,
    Add64R,
    Sub64I,
    Sub64R,
    Mul64I,
    Mul64R,
    Div64I,
    Div64R,
    SDiv64I,
    SDiv64R,
    Or64I,
    Or64R,
    And64I,
    And64R,
    Lsh64I,
    Lsh64R,
    Rsh64I,
    Rsh64R,
    Mod64I,
    Mod64R,
    SMod64I,
    SMod64R,
    Xor64I,
    Xor64R,
    Mov64I,
    Mov64R,
    MovSx64R,
    Arsh64I,
    Arsh64R,
    Add32I,
    Add32R,
    Sub32I,
    Sub32R,
    Mul32I,
    Mul32R,
    Div32I,
    Div32R,
    SDiv32I,
    SDiv32R,
    Or32I,
    Or32R,
    And32I,
    And32R,
    Lsh32I,
    Lsh32R,
    Rsh32I,
    Rsh32R,
    Mod32I,
    Mod32R,
    SMod32I,
    SMod32R,
    Xor32I,
    Xor32R,
    Mov32I,
    Mov32R,
    MovSx32R,
    Arsh32I,
    Arsh32R,
    Neg64,
    Neg32,
    Zext16,
    Zext32,
    Nop,
    Swap16,
    Swap32,
    Swap64,
    Ja,
    Jeq64I,
    Jeq64R,
    Jgt64I,
    Jgt64R,
    Jge64I,
    Jge64R,
    Jset64I,
    Jset64R,
    Jne64I,
    Jne64R,
    Jsgt64I,
    Jsgt64R,
    Jsge64I,
    Jsge64R,
    Jlt64I,
    Jlt64R,
    Jle64I,
    Jle64R,
    Jslt64I,
    Jslt64R,
    Jsle64I,
    Jsle64R,
    Jeq32I,
    Jeq32R,
    Jgt32I,
    Jgt32R,
    Jge32I,
    Jge32R,
    Jset32I,
    Jset32R,
    Jne32I,
    Jne32R,
    Jsgt32I,
    Jsgt32R,
    Jsge32I,
    Jsge32R,
    Jlt32I,
    Jlt32R,
    Jle32I,
    Jle32R,
    Jslt32I,
    Jslt32R,
    Jsle32I,
    Jsle32R,
    MayGoto,
    CallHelper,
    /// `call bpf_tail_call`, which the kernel executes as an instruction of its own.
    TailCall,
    CallLocal,
    CallKfunc,
    Callx,
    Exit,
    LdImm64,
    /// `ld_imm64` of a map or a kernel symbol that nothing bound.
    LdImm64Unbound,
    Ldx8,
    Ldx16,
    Ldx32,
    Ldx64,
    Ldxs8,
    Ldxs16,
    Ldxs32,
    St8,
    St16,
    St32,
    St64,
    Stx8,
    Stx16,
    Stx32,
    Stx64,
    Atomic,
    LdAbs,
    LdInd,
    AddrSpaceCast,
    /// The second slot of `ld_imm64`: never executed.
    Invalid,
    /// An instruction the kernel's verifier refuses when it walks it; `imm` indexes
    /// [`isa::Decoded::rejected`].
    Rejected,
}

/// One pre-decoded slot. Jump and call targets are absolute slot indices in `off`/`imm`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub kind: K,
    pub dst: u8,
    pub src: u8,
    /// Access size in bytes for atomics and legacy packet loads.
    pub size: u8,
    /// Memory offset, or absolute jump target.
    pub off: i32,
    /// Immediate, already extended to the operation's width; helper id; call target;
    /// atomic opcode; `ld_imm64` value.
    pub imm: u64,
}

impl Op {
    fn new(kind: K, dst: u8, src: u8, off: i32, imm: u64) -> Op {
        Op {
            kind,
            dst,
            src,
            size: 0,
            off,
            imm,
        }
    }
}

/// Resolves `ld_imm64` pseudo forms (maps, map values, BTF ids) to the address a program sees.
pub trait LdImm64Binder {
    /// The 64-bit value to load for `kind` with the raw immediate `imm`, or `None` if unbound.
    fn bind(&self, kind: LdImm64Kind, imm: u64) -> Option<u64>;
}

/// The compiled form of a program.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub ops: Vec<Op>,
    /// The decoded instructions, kept for diagnostics.
    pub decoded: isa::Decoded,
}

fn alu_kind(width: Width, op: AluOp, reg: bool) -> K {
    use K::*;
    let pair = |i: K, r: K| if reg { r } else { i };
    match (width, op) {
        (Width::W64, AluOp::Add) => pair(Add64I, Add64R),
        (Width::W64, AluOp::Sub) => pair(Sub64I, Sub64R),
        (Width::W64, AluOp::Mul) => pair(Mul64I, Mul64R),
        (Width::W64, AluOp::Div) => pair(Div64I, Div64R),
        (Width::W64, AluOp::SDiv) => pair(SDiv64I, SDiv64R),
        (Width::W64, AluOp::Or) => pair(Or64I, Or64R),
        (Width::W64, AluOp::And) => pair(And64I, And64R),
        (Width::W64, AluOp::Lsh) => pair(Lsh64I, Lsh64R),
        (Width::W64, AluOp::Rsh) => pair(Rsh64I, Rsh64R),
        (Width::W64, AluOp::Mod) => pair(Mod64I, Mod64R),
        (Width::W64, AluOp::SMod) => pair(SMod64I, SMod64R),
        (Width::W64, AluOp::Xor) => pair(Xor64I, Xor64R),
        (Width::W64, AluOp::Mov) => pair(Mov64I, Mov64R),
        (Width::W64, AluOp::MovSx(_)) => MovSx64R,
        (Width::W64, AluOp::Arsh) => pair(Arsh64I, Arsh64R),
        (Width::W32, AluOp::Add) => pair(Add32I, Add32R),
        (Width::W32, AluOp::Sub) => pair(Sub32I, Sub32R),
        (Width::W32, AluOp::Mul) => pair(Mul32I, Mul32R),
        (Width::W32, AluOp::Div) => pair(Div32I, Div32R),
        (Width::W32, AluOp::SDiv) => pair(SDiv32I, SDiv32R),
        (Width::W32, AluOp::Or) => pair(Or32I, Or32R),
        (Width::W32, AluOp::And) => pair(And32I, And32R),
        (Width::W32, AluOp::Lsh) => pair(Lsh32I, Lsh32R),
        (Width::W32, AluOp::Rsh) => pair(Rsh32I, Rsh32R),
        (Width::W32, AluOp::Mod) => pair(Mod32I, Mod32R),
        (Width::W32, AluOp::SMod) => pair(SMod32I, SMod32R),
        (Width::W32, AluOp::Xor) => pair(Xor32I, Xor32R),
        (Width::W32, AluOp::Mov) => pair(Mov32I, Mov32R),
        (Width::W32, AluOp::MovSx(_)) => MovSx32R,
        (Width::W32, AluOp::Arsh) => pair(Arsh32I, Arsh32R),
    }
}

fn jmp_kind(width: Width, cond: JmpCond, reg: bool) -> K {
    use K::*;
    let table64 = [
        (Jeq64I, Jeq64R),
        (Jgt64I, Jgt64R),
        (Jge64I, Jge64R),
        (Jset64I, Jset64R),
        (Jne64I, Jne64R),
        (Jsgt64I, Jsgt64R),
        (Jsge64I, Jsge64R),
        (Jlt64I, Jlt64R),
        (Jle64I, Jle64R),
        (Jslt64I, Jslt64R),
        (Jsle64I, Jsle64R),
    ];
    let table32 = [
        (Jeq32I, Jeq32R),
        (Jgt32I, Jgt32R),
        (Jge32I, Jge32R),
        (Jset32I, Jset32R),
        (Jne32I, Jne32R),
        (Jsgt32I, Jsgt32R),
        (Jsge32I, Jsge32R),
        (Jlt32I, Jlt32R),
        (Jle32I, Jle32R),
        (Jslt32I, Jslt32R),
        (Jsle32I, Jsle32R),
    ];
    let idx = JmpCond::ALL.iter().position(|&c| c == cond).unwrap_or(0);
    let (i, r) = match width {
        Width::W64 => table64[idx],
        Width::W32 => table32[idx],
    };
    if reg {
        r
    } else {
        i
    }
}

fn size_kind(size: Size, k8: K, k16: K, k32: K, k64: K) -> K {
    match size {
        Size::B => k8,
        Size::H => k16,
        Size::W => k32,
        Size::DW => k64,
    }
}

/// Compiles a decoded program. `binder` resolves the pseudo `ld_imm64` forms.
pub(crate) fn compile(
    slots: &[RawInsn],
    binder: Option<&dyn LdImm64Binder>,
) -> Result<Compiled, isa::IsaError> {
    let decoded = isa::decode_program(slots)?;
    let mut ops = vec![Op::new(K::Invalid, 0, 0, 0, 0); slots.len()];
    for &(pc, insn) in &decoded.insns {
        // Targets were range-checked by decode_program, so they fit in i32.
        let target = |t: Option<i64>| t.unwrap_or(0) as i32;
        let op = match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (reg, s, imm) = match src {
                    Src::Reg(r) => (true, r, 0u64),
                    Src::Imm(i) => {
                        let v = match width {
                            Width::W64 => imm64(i),
                            Width::W32 => i as u32 as u64,
                        };
                        (false, 0, v)
                    }
                };
                let imm = match op {
                    // Shift counts are masked once here instead of on every execution.
                    AluOp::Lsh | AluOp::Rsh | AluOp::Arsh if !reg => match width {
                        Width::W64 => imm & 63,
                        Width::W32 => imm & 31,
                    },
                    AluOp::MovSx(bits) => match width {
                        Width::W64 => 64 - bits as u64,
                        Width::W32 => 32 - bits as u64,
                    },
                    _ => imm,
                };
                Op::new(alu_kind(width, op, reg), dst, s, 0, imm)
            }
            Insn::Neg { width, dst } => {
                let k = if width == Width::W64 {
                    K::Neg64
                } else {
                    K::Neg32
                };
                Op::new(k, dst, 0, 0, 0)
            }
            Insn::End { kind, bits, dst } => {
                let k = match (kind, bits) {
                    (EndKind::ToLe, 16) => K::Zext16,
                    (EndKind::ToLe, 32) => K::Zext32,
                    (EndKind::ToLe, _) => K::Nop,
                    (_, 16) => K::Swap16,
                    (_, 32) => K::Swap32,
                    _ => K::Swap64,
                };
                Op::new(k, dst, 0, 0, 0)
            }
            Insn::AddrSpaceCast { dst, src, imm } => {
                Op::new(K::AddrSpaceCast, dst, src, 0, imm as u32 as u64)
            }
            Insn::Ja { .. } => Op::new(K::Ja, 0, 0, target(insn.jump_target(pc)), 0),
            Insn::MayGoto { .. } => Op::new(K::MayGoto, 0, 0, target(insn.jump_target(pc)), 0),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => {
                let (reg, s, imm) = match src {
                    Src::Reg(r) => (true, r, 0),
                    Src::Imm(i) => (false, 0, imm64(i)),
                };
                Op::new(
                    jmp_kind(width, cond, reg),
                    dst,
                    s,
                    target(insn.jump_target(pc)),
                    imm,
                )
            }
            Insn::Call(CallTarget::Helper(id)) if id as u64 == super::BPF_FUNC_TAIL_CALL => {
                Op::new(K::TailCall, 0, 0, 0, 0)
            }
            Insn::Call(CallTarget::Helper(id)) => Op::new(K::CallHelper, 0, 0, 0, id as u32 as u64),
            Insn::Call(CallTarget::Local(_)) => {
                Op::new(K::CallLocal, 0, 0, target(insn.local_call_target(pc)), 0)
            }
            Insn::Call(CallTarget::Kfunc { btf_id, off }) => {
                Op::new(K::CallKfunc, 0, 0, off as i32, btf_id as u32 as u64)
            }
            Insn::Callx { reg } => Op::new(K::Callx, reg, 0, 0, 0),
            Insn::Exit { .. } => Op::new(K::Exit, 0, 0, 0, 0),
            Insn::LdImm64 { dst, kind, imm } => match kind {
                LdImm64Kind::Imm => Op::new(K::LdImm64, dst, 0, 0, imm),
                // A function pointer is its slot index; callx and helpers taking callbacks
                // understand that encoding.
                LdImm64Kind::Func => Op::new(
                    K::LdImm64,
                    dst,
                    0,
                    0,
                    insn.local_call_target(pc).unwrap_or(0) as u64,
                ),
                _ => match binder.and_then(|b| b.bind(kind, imm)) {
                    Some(v) => Op::new(K::LdImm64, dst, 0, 0, v),
                    None => Op::new(K::LdImm64Unbound, dst, kind.src(), 0, imm),
                },
            },
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => Op::new(
                size_kind(size, K::Ldx8, K::Ldx16, K::Ldx32, K::Ldx64),
                dst,
                src,
                off as i32,
                0,
            ),
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => Op::new(
                size_kind(size, K::Ldxs8, K::Ldxs16, K::Ldxs32, K::Invalid),
                dst,
                src,
                off as i32,
                0,
            ),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => Op::new(
                size_kind(size, K::St8, K::St16, K::St32, K::St64),
                dst,
                0,
                off as i32,
                imm64(imm),
            ),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => Op::new(
                size_kind(size, K::Stx8, K::Stx16, K::Stx32, K::Stx64),
                dst,
                src,
                off as i32,
                0,
            ),
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                let mut o = Op::new(K::Atomic, dst, src, off as i32, op.imm() as u32 as u64);
                o.size = size.bytes() as u8;
                o
            }
            Insn::LdAbs { size, imm } => {
                let mut o = Op::new(K::LdAbs, 0, 0, 0, imm as u32 as u64);
                o.size = size.bytes() as u8;
                o
            }
            Insn::LdInd { size, src, imm } => {
                let mut o = Op::new(K::LdInd, 0, src, 0, imm as u32 as u64);
                o.size = size.bytes() as u8;
                o
            }
        };
        ops[pc] = op;
    }
    for (i, &(pc, _)) in decoded.rejected.iter().enumerate() {
        ops[pc] = Op::new(K::Rejected, 0, 0, 0, i as u64);
    }
    Ok(Compiled { ops, decoded })
}

/// Recovers the atomic operation from a compiled op.
pub(crate) fn atomic_op(imm: u64) -> AtomicOp {
    let i = imm as u32 as i32;
    let fetch = i & isa::op::FETCH != 0;
    match i {
        0x00 | 0x01 => AtomicOp::Add { fetch },
        0x40 | 0x41 => AtomicOp::Or { fetch },
        0x50 | 0x51 => AtomicOp::And { fetch },
        0xa0 | 0xa1 => AtomicOp::Xor { fetch },
        isa::op::XCHG => AtomicOp::Xchg,
        isa::op::CMPXCHG => AtomicOp::Cmpxchg,
        isa::op::LOAD_ACQ => AtomicOp::LoadAcquire,
        _ => AtomicOp::StoreRelease,
    }
}

/// The access size of a compiled atomic or packet-load op.
pub(crate) fn op_size(bytes: u8) -> Size {
    match bytes {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    }
}
