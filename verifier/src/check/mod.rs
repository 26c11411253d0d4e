//! Per-instruction checks by kind. Each returns where the path goes next.

pub mod alu;
pub mod args;
pub mod call;
pub mod callback;
pub mod const_str;
pub mod ctx_access;
pub mod exit;
pub mod helper_mem;
pub mod jmp;
pub mod ld_abs;
pub mod map_in_map;
pub mod map_key;
pub mod mapfunc;
pub mod may_goto;
pub mod mem;
pub mod sanitize;
pub mod subprog;
pub mod tail_call;

use bpfbox_vm::isa::{CallTarget, Insn, LdImm64Kind};

use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType, State};

/// Where a path goes after an instruction.
pub enum Flow {
    /// Continue at this instruction.
    Next(usize),
    /// Both sides of a branch are possible: the current state falls through to `fall`,
    /// `taken` (the other side's state) is explored later from `target`.
    Branch {
        /// The state of the taken side.
        taken: Box<State>,
        /// Where the taken side continues.
        target: usize,
        /// Where the current state continues.
        fall: usize,
    },
    /// The path ended at a valid exit.
    Exit,
    /// A helper call schedules its callback: `entry` enters it at `start` and is explored
    /// later; the current state continues at `next`.
    Callback {
        /// The state entering the callback.
        entry: Box<State>,
        /// The callback's first instruction.
        start: usize,
        /// Where the current state continues.
        next: usize,
    },
    /// A callback returned to its helper call at this instruction, which runs again.
    CallbackReturn(usize),
}

/// Checks `insn` at `pc` against `st`, updating `st`.
pub fn step(env: &mut Env<'_>, st: &mut State, pc: usize, insn: &Insn) -> Result<Flow> {
    let next = Flow::Next(pc + insn.slots());
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => alu::alu(env, st, pc, width, op, dst, src)?,
        Insn::Neg { width, dst } => alu::neg(env, st, pc, width, dst)?,
        Insn::End { kind, bits, dst } => alu::end(env, st, pc, kind, bits, dst)?,
        Insn::AddrSpaceCast { .. } => {
            return Err(Reject::unsupported(pc, "addr_space_cast (arenas)"))
        }
        Insn::LdImm64 { dst, kind, imm } => ld_imm64(env, st, pc, dst, kind, imm)?,
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => {
            let base = st.reg(src).ty;
            mem::load(env, st, pc, size, dst, src, off, false)?;
            same_ptr_type(env, pc, base)?;
        }
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => {
            let base = st.reg(src).ty;
            mem::load(env, st, pc, size, dst, src, off, true)?;
            same_ptr_type(env, pc, base)?;
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => {
            let v4 = spill_barrier(env, st, dst, off, size.bytes(), None);
            mem::store_imm(env, st, pc, size, dst, off, imm)?;
            same_ptr_type(env, pc, st.reg(dst).ty)?;
            v4_barrier(env, pc, v4);
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => {
            let v4 = spill_barrier(env, st, dst, off, size.bytes(), Some(src));
            mem::store_reg(env, st, pc, size, dst, src, off)?;
            same_ptr_type(env, pc, st.reg(dst).ty)?;
            v4_barrier(env, pc, v4);
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => mem::atomic(env, st, pc, size, op, dst, src, off)?,
        Insn::LdAbs { .. } => return ld_abs::ld_abs(env, st, pc, None),
        Insn::LdInd { src, .. } => return ld_abs::ld_abs(env, st, pc, Some(src)),
        Insn::Ja { off, .. } => return Ok(Flow::Next((pc as i64 + 1 + off as i64) as usize)),
        // The walk handles it: it needs the path's earlier states (see `may_goto`).
        Insn::MayGoto { .. } => return Err(Reject::at(pc, "may_goto outside the walk")),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => return jmp::cond(env, st, pc, width, cond, dst, src, off),
        Insn::Call(CallTarget::Local(imm)) => return subprog::call(env, st, pc, imm),
        Insn::Call(CallTarget::Helper(tail_call::TAIL_CALL)) => {
            tail_call::call(env, st, pc)?;
            return tail_call::after(env, st, pc);
        }
        Insn::Call(t) => {
            if let Some((entry, start)) = call::call(env, st, pc, t)? {
                return Ok(Flow::Callback {
                    entry,
                    start,
                    next: pc + 1,
                });
            }
        }
        Insn::Callx { .. } => return Err(Reject::at(pc, format!("unknown opcode {:02x}", 0x8d))),
        Insn::Exit { .. } => return exit::exit(env, st, pc),
    }
    Ok(next)
}

/// Whether a store of `size` bytes at `dst + off` into the stack needs a speculation
/// barrier after it when Spectre v4 is not bypassed (`check_stack_write_fixed_off`): it
/// stores a pointer, or the first `size` bytes of the slot's kinds (as the kernel indexes
/// them) are not all `misc` or zero, so a speculatively bypassed store could leave a
/// pointer or uninitialised bytes readable.
fn spill_barrier(env: &Env<'_>, st: &State, dst: u8, off: i16, size: u32, src: Option<u8>) -> bool {
    if env.privileged() {
        return false;
    }
    let base = st.reg(dst);
    if base.ty != RegType::Stack {
        return false;
    }
    let Some(var) = base.val.as_const() else {
        return false;
    };
    let at = base.off as i64 + off as i64 + var as i64;
    let Ok(at) = i32::try_from(at) else {
        return false;
    };
    if !(-crate::state::stack::MAX_STACK..0).contains(&at) {
        return false;
    }
    if src.is_some_and(|r| st.reg(r).is_pointer()) {
        return true;
    }
    let (spi, _) = crate::state::Stack::locate(at);
    let Some(frame) = st.frames.get(base.frameno as usize) else {
        return false;
    };
    match frame.stack.slots.get(spi) {
        // Not allocated yet: the kernel grows the stack first, with invalid bytes.
        None => true,
        Some(slot) => slot.bytes[..size.min(8) as usize]
            .iter()
            .any(|b| !matches!(b, crate::state::Byte::Misc | crate::state::Byte::Zero)),
    }
}

/// Records the barrier [`spill_barrier`] asked for.
fn v4_barrier(env: &mut Env<'_>, pc: usize, needed: bool) {
    if needed && !env.spec.nospec_result.contains(&pc) {
        env.spec.nospec_result.push(pc);
    }
}

/// `save_aux_ptr_type`: a load or store at `pc` through a pointer of type `ty`, checked
/// against the type an earlier path used there. The rewrite of a context or socket access
/// depends on the type, so one instruction cannot serve such a pointer and another type.
fn same_ptr_type(env: &mut Env<'_>, pc: usize, ty: RegType) -> Result<()> {
    // `reg_type_mismatch_ok`: types whose accesses are not rewritten.
    let plain = |t: RegType| {
        !matches!(
            t,
            RegType::Ctx
                | RegType::Socket
                | RegType::SockCommon
                | RegType::TcpSock
                | RegType::XdpSock
        )
    };
    let Some(prev) = env.ptr_types.get_mut(pc) else {
        return Ok(());
    };
    match *prev {
        None => *prev = Some(ty),
        Some(p) if p != ty && (!plain(p) || !plain(ty)) => {
            return Err(Reject::at(
                pc,
                "same insn cannot be used with different pointers",
            ))
        }
        Some(_) => {}
    }
    Ok(())
}

/// Reads register `r` as an operand (`check_reg_arg(SRC_OP)`).
pub fn read(st: &State, pc: usize, r: u8) -> Result<&Reg> {
    let reg = st.reg(r);
    if reg.ty == RegType::NotInit {
        return Err(Reject::at(pc, format!("R{r} !read_ok")));
    }
    Ok(reg)
}

fn ld_imm64(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    dst: u8,
    kind: LdImm64Kind,
    imm: u64,
) -> Result<()> {
    let reg = match kind {
        LdImm64Kind::Imm => Reg::constant(imm),
        LdImm64Kind::MapIdx => {
            let mut r = Reg::pointer(RegType::MapPtr);
            r.map = imm as u32 as usize;
            r
        }
        LdImm64Kind::MapIdxValue => {
            let mut r = Reg::pointer(RegType::MapValue);
            r.map = imm as u32 as usize;
            r.off = (imm >> 32) as i32;
            r
        }
        LdImm64Kind::Func => callback::ld_func(env, pc, imm)?,
        _ => return Err(Reject::unsupported(pc, "this ld_imm64 source")),
    };
    let _ = env;
    *st.reg_mut(dst) = reg;
    Ok(())
}
