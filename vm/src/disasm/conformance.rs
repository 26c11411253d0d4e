//! [`Syntax::Conformance`]: the bpf_conformance assembly [`crate::asm`] reads back.

use super::*;

/// Decimal for small values, the u32 hex pattern otherwise (both accepted by the assembler).
pub(super) fn cimm(i: i32) -> String {
    if (-65536..=65536).contains(&i) {
        i.to_string()
    } else {
        format!("0x{:x}", i as u32)
    }
}

pub(super) fn cmem(reg: u8, off: i16) -> String {
    format!("[%r{reg}{off:+}]")
}

pub(super) fn size_sfx(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

pub(super) fn w32(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

pub(super) fn conformance(insn: &Insn) -> String {
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

pub(super) fn jmp_name(c: JmpCond) -> &'static str {
    c.mnemonic()
}
