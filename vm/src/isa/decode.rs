//! Decoding: one instruction at a time with the kernel's per-instruction rules, then a
//! program as a whole (jump targets, subprograms, `ld_imm64` pairs).

use super::*;

fn reg(r: u8) -> Result<u8, IsaErrorKind> {
    if r >= NUM_REGS {
        Err(IsaErrorKind::InvalidReg(r))
    } else {
        Ok(r)
    }
}

fn wreg(r: u8) -> Result<u8, IsaErrorKind> {
    let r = reg(r)?;
    if r == FRAME_PTR {
        Err(IsaErrorKind::FramePointerWrite)
    } else {
        Ok(r)
    }
}

impl Insn {
    /// Decodes the instruction starting at `slots[pc]`, with the kernel's per-instruction rules.
    pub fn decode(slots: &[RawInsn], pc: usize) -> Result<Insn, IsaError> {
        let Some(&r) = slots.get(pc) else {
            return Err(IsaError::new(pc, IsaErrorKind::InvalidLdImm64));
        };
        Self::decode_one(r, slots.get(pc + 1).copied()).map_err(|k| IsaError::new(pc, k))
    }

    fn decode_one(r: RawInsn, next: Option<RawInsn>) -> Result<Insn, IsaErrorKind> {
        let code = r.code;
        match op::class(code) {
            op::ALU | op::ALU64 => Self::decode_alu(r),
            op::JMP | op::JMP32 => Self::decode_jmp(r),
            op::LDX => {
                let mode = code & 0xe0;
                if (mode != op::MEM && mode != op::MEMSX) || r.imm != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_LDX"));
                }
                let size = Size::from_code(code);
                if mode == op::MEMSX && size == Size::DW {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                let src = reg(r.src)?;
                let dst = wreg(r.dst)?;
                if mode == op::MEM {
                    Ok(Insn::Ldx {
                        size,
                        dst,
                        src,
                        off: r.off,
                    })
                } else {
                    Ok(Insn::LdxSx {
                        size,
                        dst,
                        src,
                        off: r.off,
                    })
                }
            }
            op::ST => {
                if code & 0xe0 != op::MEM {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_ST"));
                }
                Ok(Insn::St {
                    size: Size::from_code(code),
                    dst: reg(r.dst)?,
                    off: r.off,
                    imm: r.imm,
                })
            }
            op::STX => {
                let mode = code & 0xe0;
                let size = Size::from_code(code);
                if mode == op::ATOMIC {
                    let aop =
                        AtomicOp::from_imm(r.imm).ok_or(IsaErrorKind::InvalidAtomicOp(r.imm))?;
                    let acq_rel = matches!(aop, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
                    if !acq_rel && size != Size::W && size != Size::DW {
                        return Err(if matches!(size, Size::B | Size::H) {
                            IsaErrorKind::InvalidAtomicSize
                        } else {
                            IsaErrorKind::UnknownOpcode(code)
                        });
                    }
                    let (dst, src) = match aop {
                        // The loaded value goes to dst; src is the base.
                        AtomicOp::LoadAcquire => (wreg(r.dst)?, reg(r.src)?),
                        AtomicOp::Cmpxchg => (reg(r.dst)?, reg(r.src)?),
                        _ if aop.fetches() => (reg(r.dst)?, wreg(r.src)?),
                        _ => (reg(r.dst)?, reg(r.src)?),
                    };
                    return Ok(Insn::Atomic {
                        size,
                        op: aop,
                        dst,
                        src,
                        off: r.off,
                    });
                }
                if mode != op::MEM {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.imm != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_STX"));
                }
                Ok(Insn::Stx {
                    size,
                    dst: reg(r.dst)?,
                    src: reg(r.src)?,
                    off: r.off,
                })
            }
            _ => {
                // BPF_LD
                let mode = code & 0xe0;
                let size = Size::from_code(code);
                match mode {
                    op::IMM => {
                        if size != Size::DW {
                            return Err(IsaErrorKind::UnknownOpcode(code));
                        }
                        let Some(n) = next else {
                            return Err(IsaErrorKind::InvalidLdImm64);
                        };
                        if n.code != 0 || n.dst != 0 || n.src != 0 || n.off != 0 {
                            return Err(IsaErrorKind::InvalidLdImm64);
                        }
                        let kind = LdImm64Kind::from_src(r.src)
                            .ok_or(IsaErrorKind::UnrecognizedLdImm64)?;
                        if matches!(kind, LdImm64Kind::MapFd | LdImm64Kind::MapIdx) && n.imm != 0 {
                            return Err(IsaErrorKind::UnrecognizedLdImm64);
                        }
                        if r.off != 0 {
                            return Err(IsaErrorKind::Reserved("BPF_LD_IMM64"));
                        }
                        Ok(Insn::LdImm64 {
                            dst: wreg(r.dst)?,
                            kind,
                            imm: (r.imm as u32 as u64) | ((n.imm as u32 as u64) << 32),
                        })
                    }
                    op::ABS | op::IND => {
                        if size == Size::DW {
                            return Err(IsaErrorKind::UnknownOpcode(code));
                        }
                        if r.dst != 0 || r.off != 0 || (mode == op::ABS && r.src != 0) {
                            return Err(IsaErrorKind::Reserved("BPF_LD_[ABS|IND]"));
                        }
                        if mode == op::ABS {
                            Ok(Insn::LdAbs { size, imm: r.imm })
                        } else {
                            Ok(Insn::LdInd {
                                size,
                                src: reg(r.src)?,
                                imm: r.imm,
                            })
                        }
                    }
                    _ => Err(IsaErrorKind::UnknownOpcode(code)),
                }
            }
        }
    }

    fn decode_alu(r: RawInsn) -> Result<Insn, IsaErrorKind> {
        let code = r.code;
        let width = if op::class(code) == op::ALU64 {
            Width::W64
        } else {
            Width::W32
        };
        let is_x = code & op::X != 0;
        let opv = code & 0xf0;
        match opv {
            op::NEG => {
                if is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != 0 || r.off != 0 || r.imm != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_NEG"));
                }
                Ok(Insn::Neg {
                    width,
                    dst: wreg(r.dst)?,
                })
            }
            op::END => {
                let kind = match (width, is_x) {
                    (Width::W32, false) => EndKind::ToLe,
                    (Width::W32, true) => EndKind::ToBe,
                    (Width::W64, false) => EndKind::Swap,
                    (Width::W64, true) => return Err(IsaErrorKind::UnknownOpcode(code)),
                };
                if r.src != 0 || r.off != 0 || !matches!(r.imm, 16 | 32 | 64) {
                    return Err(IsaErrorKind::Reserved("BPF_END"));
                }
                Ok(Insn::End {
                    kind,
                    bits: r.imm as u8,
                    dst: wreg(r.dst)?,
                })
            }
            op::MOV => {
                if is_x {
                    let aop = match (width, r.off) {
                        (Width::W32, 0) | (Width::W64, 0) if r.imm == 0 => AluOp::Mov,
                        (Width::W32, 8 | 16) | (Width::W64, 8 | 16 | 32) if r.imm == 0 => {
                            AluOp::MovSx(r.off as u8)
                        }
                        (Width::W64, 1) => {
                            if r.imm != 1 && r.imm != 1 << 16 {
                                return Err(IsaErrorKind::AddrSpaceCast);
                            }
                            return Ok(Insn::AddrSpaceCast {
                                dst: wreg(r.dst)?,
                                src: reg(r.src)?,
                                imm: r.imm,
                            });
                        }
                        _ => return Err(IsaErrorKind::Reserved("BPF_MOV")),
                    };
                    let src = reg(r.src)?;
                    Ok(Insn::Alu {
                        width,
                        op: aop,
                        dst: wreg(r.dst)?,
                        src: Src::Reg(src),
                    })
                } else {
                    if r.src != 0 || r.off != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_MOV"));
                    }
                    Ok(Insn::Alu {
                        width,
                        op: AluOp::Mov,
                        dst: wreg(r.dst)?,
                        src: Src::Imm(r.imm),
                    })
                }
            }
            0xe0 | 0xf0 => Err(IsaErrorKind::UnknownOpcode(code)),
            _ => {
                let signed = match r.off {
                    0 => false,
                    1 if opv == 0x30 || opv == 0x90 => true,
                    _ => return Err(IsaErrorKind::Reserved("BPF_ALU")),
                };
                let aop = match (opv, signed) {
                    (0x00, _) => AluOp::Add,
                    (0x10, _) => AluOp::Sub,
                    (0x20, _) => AluOp::Mul,
                    (0x30, false) => AluOp::Div,
                    (0x30, true) => AluOp::SDiv,
                    (0x40, _) => AluOp::Or,
                    (0x50, _) => AluOp::And,
                    (0x60, _) => AluOp::Lsh,
                    (0x70, _) => AluOp::Rsh,
                    (0x90, false) => AluOp::Mod,
                    (0x90, true) => AluOp::SMod,
                    (0xa0, _) => AluOp::Xor,
                    (0xc0, _) => AluOp::Arsh,
                    _ => return Err(IsaErrorKind::InvalidAluOp(opv)),
                };
                let src = if is_x {
                    if r.imm != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_ALU"));
                    }
                    Src::Reg(reg(r.src)?)
                } else {
                    if r.src != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_ALU"));
                    }
                    Src::Imm(r.imm)
                };
                Ok(Insn::Alu {
                    width,
                    op: aop,
                    dst: wreg(r.dst)?,
                    src,
                })
            }
        }
    }

    fn decode_jmp(r: RawInsn) -> Result<Insn, IsaErrorKind> {
        let code = r.code;
        let jmp32 = op::class(code) == op::JMP32;
        let is_x = code & op::X != 0;
        let opv = code & 0xf0;
        let width = if jmp32 { Width::W32 } else { Width::W64 };
        match opv {
            op::JA => {
                if is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != 0 || r.dst != 0 || (!jmp32 && r.imm != 0) || (jmp32 && r.off != 0) {
                    return Err(IsaErrorKind::Reserved("BPF_JA"));
                }
                Ok(if jmp32 {
                    Insn::Ja {
                        off: r.imm,
                        long: true,
                    }
                } else {
                    Insn::Ja {
                        off: r.off as i32,
                        long: false,
                    }
                })
            }
            op::CALL => {
                if jmp32 {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if is_x {
                    // callx: register in dst, everything else reserved.
                    if r.src != 0 || r.off != 0 || r.imm != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_CALL"));
                    }
                    return Ok(Insn::Callx { reg: reg(r.dst)? });
                }
                if (r.src != pseudo::KFUNC_CALL && r.off != 0)
                    || (r.src != 0 && r.src != pseudo::CALL && r.src != pseudo::KFUNC_CALL)
                    || r.dst != 0
                {
                    return Err(IsaErrorKind::Reserved("BPF_CALL"));
                }
                Ok(Insn::Call(match r.src {
                    0 => CallTarget::Helper(r.imm),
                    pseudo::CALL => CallTarget::Local(r.imm),
                    _ => CallTarget::Kfunc {
                        btf_id: r.imm,
                        off: r.off,
                    },
                }))
            }
            op::EXIT => {
                if jmp32 || is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.imm != 0 || r.src != 0 || r.dst != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_EXIT"));
                }
                Ok(Insn::Exit { off: r.off })
            }
            op::JCOND => {
                if jmp32 || is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != pseudo::MAY_GOTO || r.dst != 0 || r.imm != 0 || r.off == 0 {
                    return Err(IsaErrorKind::InvalidMayGoto {
                        off: r.off,
                        imm: r.imm,
                    });
                }
                Ok(Insn::MayGoto { off: r.off })
            }
            _ => {
                let cond = JmpCond::from_op(opv).ok_or(IsaErrorKind::UnknownOpcode(code))?;
                let dst = reg(r.dst)?;
                let src = if is_x {
                    if r.imm != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_JMP/JMP32"));
                    }
                    Src::Reg(reg(r.src)?)
                } else {
                    if r.src != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_JMP/JMP32"));
                    }
                    Src::Imm(r.imm)
                };
                Ok(Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off: r.off,
                })
            }
        }
    }
}

/// A program decoded and checked as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// `(slot index, instruction)` in slot order; the second slot of `ld_imm64` is skipped.
    pub insns: Vec<(usize, Insn)>,
    /// Number of slots.
    pub len: usize,
    /// Slot indices where subprograms start (always includes 0), sorted.
    pub subprogs: Vec<usize>,
    /// Instructions the kernel refuses only when its verifier walks them
    /// ([`IsaErrorKind::checked_when_walked`]), by slot index, in slot order. They are not in
    /// `insns`; executing one is a fault with the kernel's words.
    pub rejected: Vec<(usize, IsaErrorKind)>,
}

/// Whether `code` is in the kernel's instruction table (`bpf_opcode_in_insntable`), extended
/// with `callx` (0x8d), which RFC 9669 defines and the kernel does not accept.
pub fn in_insn_table(code: u8) -> bool {
    let class = op::class(code);
    let opv = code & 0xf0;
    let x = code & op::X != 0;
    match class {
        op::ALU | op::ALU64 => match opv {
            op::NEG => !x,
            op::END => class == op::ALU || !x,
            0xe0 | 0xf0 => false,
            _ => true,
        },
        op::JMP => match opv {
            op::JA | op::EXIT | op::JCOND => !x,
            op::CALL => true,
            _ => JmpCond::from_op(opv).is_some(),
        },
        op::JMP32 => match opv {
            op::JA => !x,
            _ => JmpCond::from_op(opv).is_some(),
        },
        op::STX => matches!(code & 0xe0, op::MEM | op::ATOMIC),
        op::ST => code & 0xe0 == op::MEM,
        op::LDX => match code & 0xe0 {
            op::MEM => true,
            op::MEMSX => code & 0x18 != op::DW,
            _ => false,
        },
        _ => match code & 0xe0 {
            op::IMM => code & 0x18 == op::DW,
            op::ABS | op::IND => code & 0x18 != op::DW,
            _ => false,
        },
    }
}

/// Decodes every instruction of a program and applies the kernel's whole-program structural
/// rules, in the kernel's order so that a program with several faults gets the same first
/// complaint:
/// 1. subprogram starts from local calls and function pointers (`call to invalid destination`);
/// 2. per subprogram, every jump stays inside it and its last instruction is `exit` or `ja`;
/// 3. the `ld_imm64` shape, `BPF_LDX` reserved fields and the opcode table;
/// 4. no jump lands on the second slot of an `ld_imm64`;
/// 5. every instruction's fields, in slot order. The kernel checks these only on the paths
///    its verifier walks, so an instruction that fails them lands in [`Decoded::rejected`]
///    instead of failing the program.
pub fn decode_program(slots: &[RawInsn]) -> Result<Decoded, IsaError> {
    if slots.is_empty() {
        return Err(IsaError::new(0, IsaErrorKind::Empty));
    }
    let len = slots.len() as i64;
    // 1. Subprograms, from the raw slots as the kernel finds them.
    let mut subprogs = vec![0usize];
    for (pc, r) in slots.iter().enumerate() {
        let is_call = r.code == op::JMP | op::CALL && r.src == pseudo::CALL;
        let is_func = r.code == op::LD | op::IMM | op::DW && r.src == pseudo::FUNC;
        if is_call || is_func {
            let t = pc as i64 + 1 + r.imm as i64;
            if t < 0 || t >= len {
                return Err(IsaError::new(pc, IsaErrorKind::InvalidCallTarget));
            }
            subprogs.push(t as usize);
        }
    }
    subprogs.sort_unstable();
    subprogs.dedup();
    // 2. Jump ranges and fall-through, per subprogram.
    for (i, &start) in subprogs.iter().enumerate() {
        let end = subprogs.get(i + 1).copied().unwrap_or(slots.len());
        for (pc, r) in slots.iter().enumerate().take(end).skip(start) {
            let class = op::class(r.code);
            let opv = r.code & 0xf0;
            if (class == op::JMP || class == op::JMP32) && opv != op::EXIT && opv != op::CALL {
                let off = if r.code == op::JMP32 | op::JA {
                    r.imm as i64
                } else {
                    r.off as i64
                };
                let to = pc as i64 + 1 + off;
                if to < start as i64 || to >= end as i64 {
                    return Err(IsaError::new(
                        pc,
                        IsaErrorKind::JumpOutOfRange { from: pc, to },
                    ));
                }
            }
        }
        let last = slots[end - 1].code;
        if last != op::JMP | op::EXIT && last != op::JMP32 | op::JA && last != op::JMP | op::JA {
            return Err(IsaError::new(end - 1, IsaErrorKind::LastInsnNotExit));
        }
    }
    // 3. ld_imm64 shape, LDX reserved fields, the opcode table.
    let mut second_half = vec![false; slots.len()];
    let mut pc = 0;
    while pc < slots.len() {
        let r = slots[pc];
        let err = |kind| Err(IsaError::new(pc, kind));
        if op::class(r.code) == op::LDX {
            let mode = r.code & 0xe0;
            if (mode != op::MEM && mode != op::MEMSX) || r.imm != 0 {
                return err(IsaErrorKind::Reserved("BPF_LDX"));
            }
        }
        if r.code == op::LD | op::IMM | op::DW {
            match slots.get(pc + 1) {
                Some(n) if n.code == 0 && n.dst == 0 && n.src == 0 && n.off == 0 => {
                    let ok = match r.src {
                        0 | pseudo::BTF_ID | pseudo::FUNC => true,
                        pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => true,
                        pseudo::MAP_FD | pseudo::MAP_IDX => n.imm == 0,
                        _ => false,
                    };
                    if !ok {
                        return err(IsaErrorKind::UnrecognizedLdImm64);
                    }
                }
                _ => return err(IsaErrorKind::InvalidLdImm64),
            }
            second_half[pc + 1] = true;
            pc += 2;
            continue;
        }
        if !in_insn_table(r.code) {
            return err(IsaErrorKind::UnknownOpcode(r.code));
        }
        pc += 1;
    }
    // 4. Jumps and calls into the second half of an ld_imm64.
    for (pc, r) in slots.iter().enumerate() {
        if second_half[pc] {
            continue;
        }
        let class = op::class(r.code);
        let opv = r.code & 0xf0;
        let target = if (class == op::JMP || class == op::JMP32) && opv != op::EXIT {
            if opv == op::CALL && r.src != pseudo::CALL {
                continue;
            }
            let off = if r.code == op::JMP32 | op::JA || opv == op::CALL {
                r.imm as i64
            } else {
                r.off as i64
            };
            pc as i64 + 1 + off
        } else {
            continue;
        };
        if (0..len).contains(&target) && second_half[target as usize] {
            return Err(IsaError::new(
                pc,
                IsaErrorKind::JumpIntoLdImm64(target as usize - 1),
            ));
        }
    }
    // 5. Every instruction's fields.
    let mut insns = Vec::with_capacity(slots.len());
    let mut rejected = Vec::new();
    let mut pc = 0;
    while pc < slots.len() {
        match Insn::decode(slots, pc) {
            Ok(insn) => {
                insns.push((pc, insn));
                pc += insn.slots();
            }
            Err(e) if e.kind.checked_when_walked() => {
                rejected.push((pc, e.kind));
                // Step 3 checked the shape of every ld_imm64, so its second slot is there.
                pc += if slots[pc].code == op::LD | op::IMM | op::DW {
                    2
                } else {
                    1
                };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Decoded {
        insns,
        len: slots.len(),
        subprogs,
        rejected,
    })
}
