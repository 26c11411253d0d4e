//! Loads, stores and atomics: dispatch on the base pointer's type, the stack's byte-precise
//! model with spills and fills, map values against their size, and the context per program
//! type.

use bpfbox_vm::isa::{AtomicOp, Size};
use bpfbox_vm::maps::spec::{BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};

use super::{ctx_access, read};
use crate::ctx;
use crate::domain::{Scalar, ScalarDomain};
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::stack::MAX_STACK;
use crate::state::{Byte, Reg, RegType, Stack, State};

/// What a write stores.
#[derive(Clone)]
pub enum Value {
    /// A register's value (`BPF_STX`).
    Reg(u8, Reg),
    /// An immediate (`BPF_ST`).
    Imm(i32),
    /// Something unknown (helpers, atomics).
    Unknown,
}

/// Read (`Some(dst)`) or write.
enum Access {
    Read,
    Write(Value),
}

/// A variable offset as alignment errors print it: the number when it is known.
fn tnum_str(v: &Scalar) -> String {
    let t = v.bounds().var_off;
    if t.mask == 0 {
        format!("{}", t.value as i64)
    } else {
        format!("({:#x}; {:#x})", t.value, t.mask)
    }
}

/// `check_ptr_alignment` for a fixed-offset access; `force` for atomics, which are always
/// checked strictly.
fn alignment(env: &Env<'_>, pc: usize, reg: &Reg, off: i32, size: u32, force: bool) -> Result<()> {
    let strict = env.strict_alignment || force;
    let (desc, strict) = match reg.ty {
        RegType::Stack => ("stack ", true),
        RegType::Ctx => ("context ", strict),
        RegType::MapValue => ("value ", strict),
        RegType::MapKey => ("key ", strict),
        RegType::FlowKeys => ("flow keys ", strict),
        RegType::Socket => ("sock ", strict),
        RegType::SockCommon => ("sock_common ", strict),
        RegType::TcpSock => ("tcp_sock ", strict),
        RegType::XdpSock => ("xdp_sock ", strict),
        RegType::Packet | RegType::PacketMeta => {
            if !strict {
                return Ok(());
            }
            let t = reg.val.bounds().var_off;
            let base = (2i64 + reg.off as i64 + off as i64) as u64;
            if !aligned(t.value.wrapping_add(base), t.mask, size) {
                return Err(Reject::at(
                    pc,
                    format!(
                        "misaligned packet access off {}+{}+{}+{} size {size}",
                        2,
                        tnum_str(&reg.val),
                        reg.off,
                        off
                    ),
                ));
            }
            return Ok(());
        }
        _ => ("", strict),
    };
    if !strict || size == 1 {
        return Ok(());
    }
    let t = reg.val.bounds().var_off;
    let base = (reg.off as i64 + off as i64) as u64;
    if !aligned(t.value.wrapping_add(base), t.mask, size) {
        return Err(Reject::at(
            pc,
            format!(
                "misaligned {desc}access off {}+{}+{} size {size}",
                tnum_str(&reg.val),
                reg.off,
                off
            ),
        ));
    }
    Ok(())
}

fn aligned(value: u64, mask: u64, size: u32) -> bool {
    (value | mask) & (size as u64 - 1) == 0
}

/// `check_mem_access`: register `regno` plus `off`, `size` bytes. A read returns the loaded
/// value (before narrowing).
#[allow(clippy::too_many_arguments)]
fn access(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    off: i16,
    size: u32,
    acc: Access,
    signed: bool,
) -> Result<Option<Reg>> {
    let reg = st.reg(regno).clone();
    alignment(env, pc, &reg, off as i32, size, false)?;
    let off = off as i32 + reg.off;
    if reg.maybe_null {
        return Err(Reject::at(
            pc,
            format!("R{regno} invalid mem access '{}'", reg.type_name()),
        ));
    }
    match reg.ty {
        RegType::Stack => {
            if reg.val.as_const() != Some(0) {
                return Err(Reject::unsupported(pc, "variable-offset stack access"));
            }
            // The frame the pointer points into: the current one or a caller's.
            let fi = reg.frameno as usize;
            if fi >= st.frames.len() {
                return Err(Reject::at(pc, format!("R{regno} points into a dead frame")));
            }
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
        RegType::MapValue => {
            let map = env
                .opts
                .maps
                .get(reg.map)
                .cloned()
                .ok_or_else(|| Reject::at(pc, "invalid map index"))?;
            let flags = map.map_flags;
            if let Access::Write(Value::Reg(r, v)) = &acc {
                if v.is_pointer() && !env.privileged() {
                    return Err(Reject::at(pc, format!("R{r} leaks addr into map")));
                }
            }
            if matches!(acc, Access::Write(_)) && flags & BPF_F_RDONLY_PROG != 0 {
                return Err(Reject::at(
                    pc,
                    format!(
                        "write into map forbidden, value_size={} off={off} size={size}",
                        map.value_size
                    ),
                ));
            }
            if matches!(acc, Access::Read) && flags & BPF_F_WRONLY_PROG != 0 {
                return Err(Reject::at(
                    pc,
                    format!(
                        "read from map forbidden, value_size={} off={off} size={size}",
                        map.value_size
                    ),
                ));
            }
            region(pc, regno, &reg, off, size, map.value_size, |o| {
                format!(
                    "invalid access to map value, value_size={} off={o} size={size}",
                    map.value_size
                )
            })?;
            Ok(match acc {
                Access::Read => Some(Reg::unknown()),
                Access::Write(_) => None,
            })
        }
        RegType::Ctx => {
            if let Access::Write(Value::Reg(r, v)) = &acc {
                if v.is_pointer() && !env.privileged() {
                    return Err(Reject::at(pc, format!("R{r} leaks addr into ctx")));
                }
            }
            let a = ctx::Access {
                off,
                size,
                write: matches!(acc, Access::Write(_)),
                signed,
            };
            ctx_access::context(env, pc, regno, &reg, a)
        }
        RegType::Socket | RegType::SockCommon | RegType::TcpSock | RegType::XdpSock => {
            let a = ctx::Access {
                off,
                size,
                write: matches!(acc, Access::Write(_)),
                signed,
            };
            ctx_access::socket(pc, regno, &reg, a)
        }
        RegType::FlowKeys => {
            if let Access::Write(Value::Reg(r, v)) = &acc {
                if v.is_pointer() && !env.privileged() {
                    return Err(Reject::at(pc, format!("R{r} leaks addr into flow keys")));
                }
            }
            ctx_access::flow_keys(pc, off, size, matches!(acc, Access::Read))
        }
        RegType::Packet | RegType::PacketMeta => {
            if let Access::Write(_) = acc {
                if !ctx::may_write_packet(env.prog.prog_type) {
                    return Err(Reject::at(pc, "cannot write into packet"));
                }
            }
            if let Access::Write(Value::Reg(r, v)) = &acc {
                if v.is_pointer() && !env.privileged() {
                    return Err(Reject::at(pc, format!("R{r} leaks addr into packet")));
                }
            }
            // The variable part is covered by the range learnt for this id; only the
            // fixed offset is checked against it.
            if reg.val.bounds().smin < 0 {
                return Err(Reject::at(
                    pc,
                    format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
                ));
            }
            if reg.range < 0 {
                // At or past `pkt_end`: the kernel does not detail the access.
                return Err(Reject::at(
                    pc,
                    format!("R{regno} offset is outside of the packet"),
                ));
            }
            let ok = off >= 0 && off as i64 + size as i64 <= reg.range as i64;
            if !ok {
                return Err(Reject::at(
                    pc,
                    format!(
                        "invalid access to packet, off={off} size={size}, R{regno}(id={},off={off},r={})\nR{regno} offset is outside of the packet",
                        reg.id, reg.range
                    ),
                ));
            }
            Ok(match acc {
                Access::Read => Some(Reg::unknown()),
                Access::Write(_) => None,
            })
        }
        RegType::Mem | RegType::RdonlyMem => {
            if matches!(acc, Access::Write(_)) && reg.ty == RegType::RdonlyMem {
                return Err(Reject::at(
                    pc,
                    format!("R{regno} cannot write into {}", reg.type_name()),
                ));
            }
            if let Access::Write(Value::Reg(r, v)) = &acc {
                if v.is_pointer() && !env.privileged() {
                    return Err(Reject::at(pc, format!("R{r} leaks addr into mem")));
                }
            }
            let ms = reg.mem_size;
            region(pc, regno, &reg, off, size, ms, |o| {
                format!("invalid access to memory, mem_size={ms} off={o} size={size}")
            })?;
            Ok(match acc {
                Access::Read => Some(Reg::unknown()),
                Access::Write(_) => None,
            })
        }
        RegType::Scalar | RegType::PacketEnd | RegType::NotInit => Err(Reject::at(
            pc,
            format!("R{regno} invalid mem access '{}'", reg.type_name()),
        )),
        _ => Err(Reject::unsupported(
            pc,
            format!("memory access through {}", reg.type_name()),
        )),
    }
}

/// `check_mem_region_access`: the variable offset's bounds plus `off` stay in `[0, size)`.
fn region(
    pc: usize,
    regno: u8,
    reg: &Reg,
    off: i32,
    size: u32,
    mem: u32,
    msg: impl Fn(i64) -> String,
) -> Result<()> {
    let b = reg.val.bounds();
    if b.smin < 0
        && (b.smin == i64::MIN
            || (off as i64 + b.smin) != (off as i64 + b.smin) as i32 as i64
            || b.smin + (off as i64) < 0)
    {
        return Err(Reject::at(
            pc,
            format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
        ));
    }
    let ok = |o: i64| o >= 0 && size > 0 && o as u64 + size as u64 <= mem as u64;
    let lo = (b.smin + off as i64) as i32 as i64;
    if !ok(lo) {
        return Err(Reject::at(
            pc,
            format!(
                "{}\nR{regno} min value is outside of the allowed memory range",
                msg(lo)
            ),
        ));
    }
    if b.umax >= 1 << 29 {
        return Err(Reject::at(
            pc,
            format!("R{regno} unbounded memory access, make sure to bounds check any such access"),
        ));
    }
    let hi = (b.umax as i64 + off as i64) as i32 as i64;
    if !ok(hi) {
        return Err(Reject::at(
            pc,
            format!(
                "{}\nR{regno} max value is outside of the allowed memory range",
                msg(hi)
            ),
        ));
    }
    Ok(())
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
        Value::Reg(regno, r) if aligned && r.is_scalar() && privileged => {
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
        Value::Imm(imm) if aligned && privileged => Some(Reg::constant(*imm as i64 as u64)),
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
            } else if slot.bytes[i] == Byte::Zero || (privileged && slot.bytes[i] == Byte::Invalid)
            {
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

/// Narrows a loaded scalar to `size` bytes, zero- or sign-extended.
fn narrow(r: Reg, size: u32, signed: bool) -> Reg {
    if !r.is_scalar() || size >= 8 {
        return r;
    }
    // `coerce_reg_to_size(_sx)`: the bounds change, the link (if any) stays, as the
    // kernel's loads keep it; fills that do not hold the whole value dropped it already.
    let mut out = r;
    if signed {
        out.val.coerce_to_size_sx(size);
    } else {
        out.val.coerce_to_size(size);
    }
    out
}

/// `dst = *(size *)(src + off)`.
#[allow(clippy::too_many_arguments)]
pub fn load(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    size: Size,
    dst: u8,
    src: u8,
    off: i16,
    signed: bool,
) -> Result<()> {
    read(st, pc, src)?;
    let v = access(env, st, pc, src, off, size.bytes(), Access::Read, signed)?
        .unwrap_or_else(Reg::unknown);
    *st.reg_mut(dst) = narrow(v, size.bytes(), signed);
    Ok(())
}

/// `*(size *)(dst + off) = imm`.
pub fn store_imm(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    size: Size,
    dst: u8,
    off: i16,
    imm: i32,
) -> Result<()> {
    read(st, pc, dst)?;
    access(
        env,
        st,
        pc,
        dst,
        off,
        size.bytes(),
        Access::Write(Value::Imm(imm)),
        false,
    )?;
    Ok(())
}

/// `*(size *)(dst + off) = src`.
pub fn store_reg(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    size: Size,
    dst: u8,
    src: u8,
    off: i16,
) -> Result<()> {
    let v = read(st, pc, src)?.clone();
    read(st, pc, dst)?;
    access(
        env,
        st,
        pc,
        dst,
        off,
        size.bytes(),
        Access::Write(Value::Reg(src, v)),
        false,
    )?;
    Ok(())
}

/// Atomic operations on the stack and map values.
#[allow(clippy::too_many_arguments)]
pub fn atomic(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    size: Size,
    op: AtomicOp,
    dst: u8,
    src: u8,
    off: i16,
) -> Result<()> {
    if matches!(op, AtomicOp::LoadAcquire | AtomicOp::StoreRelease) {
        return Err(Reject::unsupported(pc, "load-acquire and store-release"));
    }
    let s = read(st, pc, src)?.clone();
    read(st, pc, dst)?;
    if op == AtomicOp::Cmpxchg {
        read(st, pc, 0)?;
    }
    if s.is_pointer() && !env.privileged() {
        return Err(Reject::at(pc, format!("R{src} leaks addr into mem")));
    }
    let base = st.reg(dst).clone();
    match base.ty {
        RegType::Stack | RegType::MapValue => {}
        RegType::Ctx
        | RegType::Packet
        | RegType::PacketMeta
        | RegType::Socket
        | RegType::SockCommon
        | RegType::TcpSock
        | RegType::XdpSock => {
            return Err(Reject::at(
                pc,
                format!(
                    "BPF_ATOMIC stores into R{dst} {} is not allowed",
                    base.type_name()
                ),
            ))
        }
        _ => {
            return Err(Reject::unsupported(
                pc,
                format!("atomics on {}", base.type_name()),
            ))
        }
    }
    let n = size.bytes();
    alignment(env, pc, &base, off as i32, n, true)?;
    let old = access(env, st, pc, dst, off, n, Access::Read, false)?.unwrap_or_else(Reg::unknown);
    if old.is_pointer() {
        return Err(Reject::unsupported(pc, "atomics on a spilled pointer"));
    }
    access(
        env,
        st,
        pc,
        dst,
        off,
        n,
        Access::Write(Value::Unknown),
        false,
    )?;
    if op.fetches() {
        let r = if op == AtomicOp::Cmpxchg { 0 } else { src };
        *st.reg_mut(r) = narrow(Reg::unknown(), n, false);
    }
    Ok(())
}
