//! What an instruction "scratches": the registers the kernel checks as operands
//! (`check_reg_arg` marks each, read or written) and the stack slots a load, store or atomic
//! at a stack address touches. The log prints only these after the instruction.

use bpfbox_vm::isa::{AtomicOp, Insn, Src};

use super::state::Scratched;
use crate::domain::ScalarDomain;
use crate::state::{RegType, State};

/// The registers and slots `insn` marks, from the state before it runs.
pub fn of_insn(insn: &Insn, st: &State) -> Scratched {
    let mut s = Scratched::default();
    let src_reg = |s: &mut Scratched, src: &Src| {
        if let Src::Reg(r) = src {
            s.reg(*r);
        }
    };
    match insn {
        Insn::Alu { dst, src, .. } | Insn::Jmp { dst, src, .. } => {
            src_reg(&mut s, src);
            s.reg(*dst);
        }
        Insn::Neg { dst, .. } | Insn::End { dst, .. } | Insn::LdImm64 { dst, .. } => s.reg(*dst),
        Insn::AddrSpaceCast { dst, src, .. } => {
            s.reg(*src);
            s.reg(*dst);
        }
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        }
        | Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => {
            s.reg(*src);
            s.reg(*dst);
            stack_slots(&mut s, st, *src, *off, size.bytes());
        }
        Insn::St { size, dst, off, .. } => {
            s.reg(*dst);
            stack_slots(&mut s, st, *dst, *off, size.bytes());
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => {
            s.reg(*src);
            s.reg(*dst);
            stack_slots(&mut s, st, *dst, *off, size.bytes());
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            s.reg(*src);
            s.reg(*dst);
            if *op == AtomicOp::Cmpxchg {
                s.reg(0);
            }
            let base = if *op == AtomicOp::LoadAcquire {
                *src
            } else {
                *dst
            };
            stack_slots(&mut s, st, base, *off, size.bytes());
        }
        Insn::LdAbs { .. } | Insn::LdInd { .. } | Insn::Call(_) | Insn::Callx { .. } => {
            // The arguments are checked and r0-r5 clobbered through `check_reg_arg`.
            for r in 0..=5 {
                s.reg(r);
            }
            if let Insn::LdInd { src, .. } | Insn::Callx { reg: src } = insn {
                s.reg(*src);
            }
            match insn {
                // The implicit context operand.
                Insn::LdAbs { .. } | Insn::LdInd { .. } => s.reg(6),
                _ => {}
            }
        }
        Insn::Ja { .. } | Insn::MayGoto { .. } | Insn::Exit { .. } => {}
    }
    s
}

/// Marks the slots an access of `size` bytes at `base + off` covers when `base` points into
/// the stack: the slot of its first byte for a constant address, every slot of the range a
/// variable address may reach.
fn stack_slots(s: &mut Scratched, st: &State, base: u8, off: i16, size: u32) {
    let Some(reg) = st.cur().regs.get(base as usize) else {
        return;
    };
    if reg.ty != RegType::Stack {
        return;
    }
    let b = reg.val.bounds();
    let fixed = reg.off as i64 + off as i64;
    let (lo, hi) = if b.var_off.is_const() {
        let a = fixed + b.var_off.value as i64;
        (a, a + 1)
    } else {
        (
            fixed.saturating_add(b.smin),
            fixed.saturating_add(b.smax) + size as i64,
        )
    };
    let mut a = lo.max(-512);
    while a < hi.min(0) {
        s.slot(((-a - 1) / 8) as usize);
        a += 1;
    }
}
