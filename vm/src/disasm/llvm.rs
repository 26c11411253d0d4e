//! [`Syntax::Llvm`]: `llvm-objdump -d`'s text for BPF.

use super::*;

pub(super) fn llvm(insn: &Insn) -> String {
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
