//! [`Syntax::Kernel`]: the verifier log's and `bpftool prog dump xlated`'s text.

use super::*;

pub(super) fn kernel(insn: &Insn, pc: usize, opts: &DisasmOptions<'_>) -> String {
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
