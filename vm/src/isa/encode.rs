//! Encoding: the inverse of decoding, slot for slot.

use super::*;

impl Insn {
    /// Encodes the instruction into its slot (and the second slot for `ld_imm64`).
    pub fn encode(&self) -> ([RawInsn; 2], usize) {
        let one = |r: RawInsn| ([r, RawInsn::default()], 1);
        match *self {
            Insn::Alu {
                width,
                op: aop,
                dst,
                src,
            } => {
                let class = match width {
                    Width::W32 => op::ALU,
                    Width::W64 => op::ALU64,
                };
                let (s, sreg, imm) = match src {
                    Src::Reg(r) => (op::X, r, 0),
                    Src::Imm(i) => (op::K, 0, i),
                };
                one(RawInsn::new(
                    class | s | aop.code(),
                    dst,
                    sreg,
                    aop.off(),
                    imm,
                ))
            }
            Insn::Neg { width, dst } => {
                let class = if width == Width::W64 {
                    op::ALU64
                } else {
                    op::ALU
                };
                one(RawInsn::new(class | op::NEG, dst, 0, 0, 0))
            }
            Insn::End { kind, bits, dst } => {
                let code = match kind {
                    EndKind::ToLe => op::ALU | op::END,
                    EndKind::ToBe => op::ALU | op::END | op::X,
                    EndKind::Swap => op::ALU64 | op::END,
                };
                one(RawInsn::new(code, dst, 0, 0, bits as i32))
            }
            Insn::AddrSpaceCast { dst, src, imm } => {
                one(RawInsn::new(op::ALU64 | op::X | op::MOV, dst, src, 1, imm))
            }
            Insn::Ja { off, long } => {
                if long {
                    one(RawInsn::new(op::JMP32 | op::JA, 0, 0, 0, off))
                } else {
                    one(RawInsn::new(op::JMP | op::JA, 0, 0, off as i16, 0))
                }
            }
            Insn::MayGoto { off } => one(RawInsn::new(op::JMP | op::JCOND, 0, 0, off, 0)),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let class = if width == Width::W64 {
                    op::JMP
                } else {
                    op::JMP32
                };
                let (s, sreg, imm) = match src {
                    Src::Reg(r) => (op::X, r, 0),
                    Src::Imm(i) => (op::K, 0, i),
                };
                one(RawInsn::new(class | s | cond.code(), dst, sreg, off, imm))
            }
            Insn::Call(t) => {
                let (src, off, imm) = match t {
                    CallTarget::Helper(i) => (0, 0, i),
                    CallTarget::Local(i) => (pseudo::CALL, 0, i),
                    CallTarget::Kfunc { btf_id, off } => (pseudo::KFUNC_CALL, off, btf_id),
                };
                one(RawInsn::new(op::JMP | op::CALL, 0, src, off, imm))
            }
            Insn::Callx { reg } => one(RawInsn::new(op::JMP | op::CALL | op::X, reg, 0, 0, 0)),
            Insn::Exit { off } => one(RawInsn::new(op::JMP | op::EXIT, 0, 0, off, 0)),
            Insn::LdImm64 { dst, kind, imm } => (
                [
                    RawInsn::new(
                        op::LD | op::IMM | op::DW,
                        dst,
                        kind.src(),
                        0,
                        imm as u32 as i32,
                    ),
                    RawInsn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
                ],
                2,
            ),
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::LDX | op::MEM | size.code(),
                dst,
                src,
                off,
                0,
            )),
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::LDX | op::MEMSX | size.code(),
                dst,
                src,
                off,
                0,
            )),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => one(RawInsn::new(
                op::ST | op::MEM | size.code(),
                dst,
                0,
                off,
                imm,
            )),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::STX | op::MEM | size.code(),
                dst,
                src,
                off,
                0,
            )),
            Insn::Atomic {
                size,
                op: aop,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::STX | op::ATOMIC | size.code(),
                dst,
                src,
                off,
                aop.imm(),
            )),
            Insn::LdAbs { size, imm } => {
                one(RawInsn::new(op::LD | op::ABS | size.code(), 0, 0, 0, imm))
            }
            Insn::LdInd { size, src, imm } => {
                one(RawInsn::new(op::LD | op::IND | size.code(), 0, src, 0, imm))
            }
        }
    }

    /// Appends the encoded slots to `out`.
    pub fn encode_into(&self, out: &mut Vec<RawInsn>) {
        let (s, n) = self.encode();
        out.extend_from_slice(&s[..n]);
    }
}
