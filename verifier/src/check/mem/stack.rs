//! The stack (`check_stack_read`, `check_stack_write`): byte-precise slots with spilled
//! registers, fixed-offset fills and spills, and variable-offset reads and writes.

use super::{Access, Value};
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::stack::MAX_STACK;
use crate::state::{Byte, Reg, RegType, Stack, State};

/// A load or store of `size` bytes at `off` (the fixed offsets summed) through the stack
/// pointer `reg` in register `regno`.
#[allow(clippy::too_many_arguments)]
pub(super) fn access(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    reg: &Reg,
    off: i32,
    size: u32,
    acc: Access,
) -> Result<Option<Reg>> {
    // The frame the pointer points into: the current one or a caller's.
    let fi = reg.frameno as usize;
    if fi >= st.frames.len() {
        return Err(Reject::at(pc, format!("R{regno} points into a dead frame")));
    }
    let Some(var) = reg.val.as_const() else {
        return var_access(env, st, pc, regno, reg, off, size, acc, fi);
    };
    let off = off + var as i32;
    let write = matches!(acc, Access::Write(_));
    stack_bounds_in(env, st, pc, regno, off, size as i32, write, fi)?;
    let subprog = st.frames[fi].subprog;
    let depth = ((-off + 7) / 8 * 8) as u32;
    if env.stack_depth[subprog] < depth {
        env.stack_depth[subprog] = depth;
    }
    match acc {
        Access::Read => stack_read(env, st, pc, off, size, fi).map(Some),
        Access::Write(v) => stack_write(env, st, pc, off, size, v, fi).map(|_| None),
    }
}

/// `BPF_MAX_VAR_OFF`.
const MAX_VAR_OFF: i64 = 1 << 29;

/// A variable-offset access of frame `fi`: `check_stack_access_within_bounds` over every
/// offset the pointer may hold, then `check_stack_read_var_off` or
/// `check_stack_write_var_off`.
#[allow(clippy::too_many_arguments)]
fn var_access(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    reg: &Reg,
    off: i32,
    size: u32,
    acc: Access,
    fi: usize,
) -> Result<Option<Reg>> {
    let write = matches!(acc, Access::Write(_));
    let extra = if write { " write to" } else { " read from" };
    let b = reg.val.bounds();
    if b.smax >= MAX_VAR_OFF || b.smin <= -MAX_VAR_OFF {
        return Err(Reject::at(
            pc,
            format!("invalid unbounded variable-offset{extra} stack R{regno}"),
        ));
    }
    let min_off = b.smin + off as i64;
    let max_off = b.smax + off as i64 + size as i64;
    let min_valid = if write || env.privileged() {
        -(MAX_STACK as i64)
    } else {
        -(st.frames[fi].stack.allocated() as i64)
    };
    if min_off < min_valid || min_off > -1 || max_off > 0 {
        return Err(Reject::at(
            pc,
            format!(
                "invalid variable-offset{extra} stack R{regno} var_off={} off={off} size={size}",
                tnum_text(reg)
            ),
        ));
    }
    if !env.privileged() {
        return Err(Reject::unsupported(
            pc,
            "variable-offset stack access in unprivileged loads",
        ));
    }
    let (min_off, max_off) = (min_off as i32, max_off as i32);
    st.frames[fi].stack.grow(-min_off);
    let subprog = st.frames[fi].subprog;
    let depth = ((-min_off + 7) / 8 * 8) as u32;
    if env.stack_depth[subprog] < depth {
        env.stack_depth[subprog] = depth;
    }
    let stack = &mut st.frames[fi].stack;
    match acc {
        // A privileged load may read uninitialised bytes and spilled pointers
        // (`check_stack_range_initialized`); the value is zero only if every byte it may
        // read is (`mark_reg_stack_read`).
        Access::Read => Ok(Some(
            if (min_off..max_off).all(|i| stack.byte(i) == Byte::Zero) {
                Reg::constant(0)
            } else {
                Reg::unknown()
            },
        )),
        Access::Write(v) => {
            let zero = match &v {
                Value::Reg(_, r) => r.const_value() == Some(0),
                Value::Imm(i) => *i == 0,
                Value::Unknown => false,
            };
            for i in min_off..max_off {
                let (s, b) = Stack::locate(i);
                let slot = &mut stack.slots[s];
                let byte = slot.bytes[b];
                // A spilled zero stays when zero is written over it.
                if zero
                    && byte == Byte::Spill
                    && slot.is_spill()
                    && slot.spilled.const_value() == Some(0)
                {
                    continue;
                }
                // Any other spilled register in range is lost.
                slot.spilled = Reg::not_init();
                slot.bytes[b] = if zero && byte == Byte::Zero {
                    Byte::Zero
                } else {
                    Byte::Misc
                };
            }
            Ok(None)
        }
    }
}

/// `tnum_strn` of a pointer's variable offset.
fn tnum_text(reg: &Reg) -> String {
    let t = reg.val.bounds().var_off;
    format!("({:#x}; {:#x})", t.value, t.mask)
}

/// `check_stack_access_within_bounds` for a constant offset (helpers' reads say `read from`
/// as direct reads do), in the current frame.
#[allow(clippy::too_many_arguments)]
pub fn stack_bounds(
    env: &Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    off: i32,
    size: i32,
    write: bool,
) -> Result<()> {
    let fi = st.frames.len() - 1;
    stack_bounds_in(env, st, pc, regno, off, size, write, fi)
}

/// [`stack_bounds`] in frame `fi`.
#[allow(clippy::too_many_arguments)]
pub fn stack_bounds_in(
    env: &Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    off: i32,
    size: i32,
    write: bool,
    fi: usize,
) -> Result<()> {
    let extra = if write { " write to" } else { " read from" };
    let min_valid = if write || env.privileged() {
        -MAX_STACK
    } else {
        -st.frames[fi].stack.allocated()
    };
    let bad = off < min_valid || off > -1 || off as i64 + size as i64 > 0 || size < 0;
    if bad {
        return Err(Reject::at(
            pc,
            format!("invalid{extra} stack R{regno} off={off} size={size}"),
        ));
    }
    st.frames[fi].stack.grow(-off);
    Ok(())
}

/// `check_stack_read_fixed_off` in frame `fi`.
fn stack_read(
    env: &Env<'_>,
    st: &mut State,
    pc: usize,
    off: i32,
    size: u32,
    fi: usize,
) -> Result<Reg> {
    let stack = &st.frames[fi].stack;
    let (spi, _) = Stack::locate(off);
    let slot = stack.slots[spi].clone();
    let uninit_ok = env.privileged();
    let byte_at = |i: u32| stack.byte(off + i as i32);
    if slot.is_spill() {
        let spill_size = 1
            + (1..8)
                .rev()
                .take_while(|&i| slot.bytes[i - 1] == Byte::Spill)
                .count() as u32;
        if size == 8 && spill_size == 8 {
            return Ok(slot.spilled.clone());
        }
        if !slot.spilled.is_scalar() {
            return Err(Reject::at(pc, "invalid size of register fill"));
        }
        if size <= spill_size && off % 8 == 0 {
            // A narrowing fill breaks the link only when the value does not fit.
            let mut r = slot.spilled.clone();
            if reg_width(&r) > size * 8 {
                r.id = 0;
                r.delta = crate::state::Delta::None;
            }
            return Ok(r);
        }
        let (mut spills, mut zeros) = (0, 0);
        for i in 0..size {
            match byte_at(i) {
                Byte::Spill => spills += 1,
                Byte::Misc => {}
                Byte::Zero => zeros += 1,
                Byte::Invalid if uninit_ok => {}
                Byte::Invalid => {
                    return Err(Reject::at(
                        pc,
                        format!("invalid read from stack off {off}+{i} size {size}"),
                    ))
                }
            }
        }
        if (spills == size && slot.spilled.val.as_const() == Some(0)) || zeros == size {
            return Ok(Reg::constant(0));
        }
        return Ok(Reg::unknown());
    }
    let mut zeros = 0;
    for i in 0..size {
        match byte_at(i) {
            Byte::Zero => zeros += 1,
            Byte::Misc => {}
            Byte::Invalid if uninit_ok => {}
            _ => {
                return Err(Reject::at(
                    pc,
                    format!("invalid read from stack off {off}+{i} size {size}"),
                ))
            }
        }
    }
    Ok(if zeros == size {
        Reg::constant(0)
    } else {
        Reg::unknown()
    })
}

/// `check_stack_write_fixed_off` in frame `fi`.
fn stack_write(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    off: i32,
    size: u32,
    v: Value,
    fi: usize,
) -> Result<()> {
    let privileged = env.privileged();
    // Scalars are spilled as registers only for CAP_BPF loads; others write data.
    let bpf_capable = env.bpf_capable();
    let in_caller = fi + 1 != st.frames.len();
    let (spi, _) = Stack::locate(off);
    {
        let slot = &st.frames[fi].stack.slots[spi];
        if !privileged && slot.is_spill() && !slot.spilled.is_scalar() && size != 8 {
            return Err(Reject::at(
                pc,
                "attempt to corrupt spilled pointer on stack",
            ));
        }
    }
    let aligned = off % 8 == 0;
    let spill = match &v {
        Value::Reg(regno, r) if aligned && r.is_scalar() && bpf_capable => {
            // A spill that holds the whole value links the slot with the register (an id
            // is given first if it has none); a narrowing spill does not.
            let mut r = r.clone();
            if reg_width(&r) <= 8 * size {
                let src = st.reg_mut(*regno);
                src.link_for_copy(|| env.new_id());
                (r.id, r.delta) = (src.id, src.delta);
            } else {
                r.id = 0;
                r.delta = crate::state::Delta::None;
            }
            Some(r)
        }
        Value::Imm(imm) if aligned && bpf_capable => Some(Reg::constant(*imm as i64 as u64)),
        Value::Reg(_, r) if r.is_pointer() => {
            if size != 8 {
                return Err(Reject::at(pc, "invalid size of register spill"));
            }
            if in_caller && r.ty == RegType::Stack {
                return Err(Reject::at(
                    pc,
                    "cannot spill pointers to stack into stack frame of the caller",
                ));
            }
            Some(r.clone())
        }
        _ => None,
    };
    let slot = &mut st.frames[fi].stack.slots[spi];
    if let Some(r) = spill {
        // A narrow spill keeps the whole register; fills narrow it as loads do.
        slot.spilled = r;
        for i in 0..8usize {
            if i >= 8 - size as usize {
                slot.bytes[i] = Byte::Spill;
            } else if slot.bytes[i] == Byte::Zero || slot.bytes[i] == Byte::Invalid {
            } else {
                slot.bytes[i] = Byte::Misc;
            }
        }
        return Ok(());
    }
    slot.spilled = Reg::not_init();
    if slot.is_spill() {
        // Data over part of a spilled register scrubs the whole slot.
        for b in slot.bytes.iter_mut() {
            if *b != Byte::Invalid {
                *b = Byte::Misc;
            }
        }
    }
    let zero = match &v {
        Value::Reg(_, r) => r.const_value() == Some(0),
        Value::Imm(i) => *i == 0,
        Value::Unknown => false,
    };
    let kind = if zero { Byte::Zero } else { Byte::Misc };
    let stack = &mut st.frames[fi].stack;
    for i in 0..size as i32 {
        let (s, b) = Stack::locate(off + i);
        stack.slots[s].bytes[b] = kind;
    }
    Ok(())
}

/// `get_reg_width`: how many low bits a scalar's values need.
fn reg_width(r: &Reg) -> u32 {
    64 - r.val.bounds().umax.leading_zeros()
}
