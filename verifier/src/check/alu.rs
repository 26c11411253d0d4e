//! ALU instructions: scalar transfer through the domain, moves that keep pointers and link
//! scalar copies, and the kernel's pointer-arithmetic rules and messages.

use bpfbox_vm::isa::{AluOp, EndKind, Src, Width};

use super::read;
use super::sanitize::{self, Operands};
use crate::domain::{Scalar, ScalarDomain};
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{link, Reg, RegType, State};

/// Largest magnitude of a pointer offset (`BPF_MAX_VAR_OFF`).
const MAX_VAR_OFF: i64 = 1 << 29;

/// The kernel's operator strings (`bpf_alu_string`).
fn op_str(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div | AluOp::SDiv => "/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod | AluOp::SMod => "%=",
        AluOp::Xor => "^=",
        AluOp::Mov | AluOp::MovSx(_) => "=",
        AluOp::Arsh => "s>>=",
    }
}

/// `dst op= src`.
pub fn alu(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    width: Width,
    op: AluOp,
    dst: u8,
    src: Src,
) -> Result<()> {
    if let AluOp::Mov | AluOp::MovSx(_) = op {
        return mov(env, st, pc, width, op, dst, src);
    }
    let src_reg = match src {
        Src::Reg(r) => read(st, pc, r)?.clone(),
        Src::Imm(imm) => Reg::constant(match width {
            Width::W64 => imm as i64 as u64,
            Width::W32 => imm as u32 as u64,
        }),
    };
    let dst_reg = read(st, pc, dst)?.clone();
    if let (Src::Reg(_), AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod) = (src, op) {
        let b = src_reg.val.bounds();
        let nonzero = match width {
            Width::W64 => b.umin > 0,
            Width::W32 => b.u32_min > 0,
        };
        env.observed.divisor(pc, src_reg.is_scalar() && nonzero);
    }
    if let Src::Imm(imm) = src {
        if matches!(op, AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod) && imm == 0 {
            return Err(Reject::at(pc, "div by zero"));
        }
        let bits = if width == Width::W64 { 64 } else { 32 };
        if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) && (imm < 0 || imm >= bits) {
            return Err(Reject::at(pc, format!("invalid shift {imm}")));
        }
    }
    let out = match (dst_reg.is_pointer(), src_reg.is_pointer()) {
        (false, false) => {
            sanitize::val_alu(env, pc, op, dst, src)?;
            let mut v = dst_reg.val;
            v.alu(op, width, &src_reg.val);
            let mut out = Reg::scalar(v);
            if env.privileged() {
                (out.id, out.delta) =
                    link::after_alu(&dst_reg, &src_reg, src == Src::Reg(dst), op, width);
            }
            out
        }
        (true, true) => {
            if op == AluOp::Sub && env.privileged() {
                Reg::unknown()
            } else {
                return Err(Reject::at(
                    pc,
                    format!("R{dst} pointer {} pointer prohibited", op_str(op)),
                ));
            }
        }
        (true, false) => {
            let ops = Operands {
                dst,
                src,
                swapped: false,
            };
            ptr_arith(env, st, pc, width, op, &ops, &dst_reg, &src_reg)?
        }
        (false, true) => {
            let ops = Operands {
                dst,
                src,
                swapped: true,
            };
            ptr_arith(env, st, pc, width, op, &ops, &src_reg, &dst_reg)?
        }
    };
    *st.reg_mut(dst) = out;
    Ok(())
}

/// `adjust_ptr_min_max_vals`: `ptr op off`, where the pointer was the source operand when
/// `swapped` (`scalar += pointer`).
#[allow(clippy::too_many_arguments)]
fn ptr_arith(
    env: &mut Env<'_>,
    st: &State,
    pc: usize,
    width: Width,
    op: AluOp,
    ops: &Operands,
    ptr: &Reg,
    off: &Reg,
) -> Result<Reg> {
    let (dst, swapped) = (ops.dst, ops.swapped);
    let b = off.val.bounds();
    let known = off.val.as_const().is_some();
    if width == Width::W32 {
        if op == AluOp::Sub && env.privileged() {
            return Ok(Reg::unknown());
        }
        return Err(Reject::at(
            pc,
            format!("R{dst} 32-bit pointer arithmetic prohibited"),
        ));
    }
    if ptr.maybe_null {
        return Err(Reject::at(
            pc,
            format!(
                "R{dst} pointer arithmetic on {} prohibited, null-check it first",
                ptr.type_name()
            ),
        ));
    }
    let allowed = match ptr.ty {
        RegType::Ctx
        | RegType::MapValue
        | RegType::MapKey
        | RegType::Stack
        | RegType::Packet
        | RegType::PacketMeta
        | RegType::Mem
        | RegType::RdonlyMem => true,
        RegType::MapPtr => known && b.smin == 0 && op == AluOp::Add,
        RegType::FlowKeys => known,
        _ => false,
    };
    if !allowed {
        return Err(Reject::at(
            pc,
            format!(
                "R{dst} pointer arithmetic on {} prohibited",
                ptr.type_name()
            ),
        ));
    }
    sane_offset(pc, off, ptr.ty)?;
    sane_offset(pc, ptr, ptr.ty)?;
    let window = sanitize::begin(env, st, pc, op, ops, ptr, off)?;
    let mut out = ptr.clone();
    match op {
        AluOp::Add => {
            let sum = ptr.off as i64 + b.smin;
            if known && sum == sum as i32 as i64 {
                out.off = sum as i32;
            } else {
                out.val.alu(AluOp::Add, Width::W64, &off.val);
                if ptr.ty.is_packet() {
                    out.id = env.new_id();
                    out.range = 0;
                }
            }
        }
        AluOp::Sub => {
            if swapped {
                return Err(Reject::at(
                    pc,
                    format!("R{dst} tried to subtract pointer from scalar"),
                ));
            }
            if ptr.ty == RegType::Stack {
                return Err(Reject::at(
                    pc,
                    format!("R{dst} subtraction from stack pointer prohibited"),
                ));
            }
            let diff = ptr.off as i64 - b.smin;
            if known && diff == diff as i32 as i64 {
                out.off = diff as i32;
            } else {
                out.val.alu(AluOp::Sub, Width::W64, &off.val);
                if ptr.ty.is_packet() {
                    out.id = env.new_id();
                    out.range = 0;
                }
            }
        }
        AluOp::And | AluOp::Or | AluOp::Xor => {
            return Err(Reject::at(
                pc,
                format!(
                    "R{dst} bitwise operator {} on pointer prohibited",
                    op_str(op)
                ),
            ))
        }
        _ => {
            return Err(Reject::at(
                pc,
                format!(
                    "R{dst} pointer arithmetic with {} operator prohibited",
                    op_str(op)
                ),
            ))
        }
    }
    sane_offset(pc, &out, ptr.ty)?;
    sanitize::commit(env, pc, op, ops, window, &out)?;
    Ok(out)
}

/// `check_reg_sane_offset`: the operand, the pointer and the result of pointer arithmetic must
/// each stay within `BPF_MAX_VAR_OFF`.
fn sane_offset(pc: usize, reg: &Reg, ty: RegType) -> Result<()> {
    let name = ty.name();
    if let Some(v) = reg.val.as_const() {
        let v = v as i64;
        if v >= MAX_VAR_OFF || v <= -MAX_VAR_OFF {
            return Err(Reject::at(
                pc,
                format!("math between {name} pointer and {v} is not allowed"),
            ));
        }
    }
    if reg.off as i64 >= MAX_VAR_OFF || reg.off as i64 <= -MAX_VAR_OFF {
        return Err(Reject::at(
            pc,
            format!("{name} pointer offset {} is not allowed", reg.off),
        ));
    }
    let smin = reg.val.bounds().smin;
    if smin == i64::MIN {
        return Err(Reject::at(
            pc,
            format!(
                "math between {name} pointer and register with unbounded min value is not allowed"
            ),
        ));
    }
    if smin >= MAX_VAR_OFF || smin <= -MAX_VAR_OFF {
        return Err(Reject::at(
            pc,
            format!("value {smin} makes {name} pointer be out of bounds"),
        ));
    }
    Ok(())
}

fn mov(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    width: Width,
    op: AluOp,
    dst: u8,
    src: Src,
) -> Result<()> {
    let out = match src {
        Src::Imm(imm) => Reg::constant(match width {
            Width::W64 => imm as i64 as u64,
            Width::W32 => imm as u32 as u64,
        }),
        Src::Reg(r) => {
            let s = read(st, pc, r)?.clone();
            match (width, op, s.is_pointer()) {
                (Width::W64, AluOp::Mov, _) => {
                    // Copies of an unknown scalar share an id, so a bound learned on one
                    // holds for the others.
                    link_copy(env, st, r, |_| true)
                }
                (_, AluOp::MovSx(_), true) => {
                    if !env.privileged() {
                        return Err(Reject::at(
                            pc,
                            format!("R{r} sign-extension part of pointer"),
                        ));
                    }
                    unknown_of_width(width)
                }
                (Width::W32, _, true) => {
                    if !env.privileged() {
                        return Err(Reject::at(pc, format!("R{r} partial copy of pointer")));
                    }
                    unknown_of_width(width)
                }
                (_, _, true) => unreachable_pointer_mov(pc)?,
                (_, _, false) => {
                    // A copy the move does not change (a 32-bit move of a value that fits
                    // in 32 bits, a sign extension of a value whose sign bit is clear) is
                    // linked with its source, as 64-bit copies are.
                    let keeps = |v: &Reg| {
                        let umax = v.val.bounds().umax;
                        match op {
                            AluOp::MovSx(bits) => {
                                (1..64).contains(&bits) && umax < 1u64 << (bits - 1)
                            }
                            _ => 64 - umax.leading_zeros() <= 32,
                        }
                    };
                    let linked = keeps(&s).then(|| link_copy(env, st, r, keeps));
                    let mut v = Scalar::unknown();
                    v.alu(op, width, &s.val);
                    let mut out = Reg::scalar(v);
                    if let Some(l) = linked {
                        out.id = l.id;
                        out.delta = l.delta;
                    }
                    out
                }
            }
        }
    };
    *st.reg_mut(dst) = out;
    Ok(())
}

/// An unknown scalar as a move of `width` leaves it: a 32-bit move zero-extends.
fn unknown_of_width(width: Width) -> Reg {
    let mut v = Scalar::unknown();
    v.alu(AluOp::Mov, width, &Scalar::unknown());
    Reg::scalar(v)
}

/// `assign_scalar_id_before_mov` on register `r` when `keeps` says its copy is the same
/// value, and the copy.
fn link_copy(env: &mut Env<'_>, st: &mut State, r: u8, keeps: impl Fn(&Reg) -> bool) -> Reg {
    let src = st.reg_mut(r);
    if keeps(src) {
        let mut fresh = env.id_gen;
        src.link_for_copy(|| {
            fresh += 1;
            fresh
        });
        env.id_gen = fresh;
    }
    src.clone()
}

/// Only `mov` reaches the pointer arms; anything else is refused rather than guessed.
fn unreachable_pointer_mov(pc: usize) -> Result<Reg> {
    Err(Reject::unsupported(pc, "this move of a pointer"))
}

/// `dst = -dst`.
pub fn neg(env: &mut Env<'_>, st: &mut State, pc: usize, width: Width, dst: u8) -> Result<()> {
    let r = read(st, pc, dst)?.clone();
    if r.is_pointer() && !env.privileged() {
        return Err(Reject::at(
            pc,
            format!("R{dst} pointer arithmetic prohibited"),
        ));
    }
    let out = if r.is_scalar() {
        let mut v = r.val;
        v.neg(width);
        Reg::scalar(v)
    } else {
        Reg::unknown()
    };
    *st.reg_mut(dst) = out;
    Ok(())
}

/// Byte swaps and endianness conversions.
pub fn end(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    kind: EndKind,
    bits: u8,
    dst: u8,
) -> Result<()> {
    let r = read(st, pc, dst)?.clone();
    if r.is_pointer() && !env.privileged() {
        return Err(Reject::at(
            pc,
            format!("R{dst} pointer arithmetic prohibited"),
        ));
    }
    let out = if r.is_scalar() {
        let mut v = r.val;
        v.end(kind, bits);
        Reg::scalar(v)
    } else {
        Reg::unknown()
    };
    *st.reg_mut(dst) = out;
    Ok(())
}
