//! Memory a helper reads or writes (`check_helper_mem_access`): on the stack (bounds,
//! initialisation, and the bytes a helper writes), in map keys and values, packets and
//! memory, with the size argument that bounds it (`check_mem_size_reg`).

use bpfbox_vm::maps::spec::{BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};

use super::args::Meta;
use crate::domain::{Scalar, ScalarDomain};
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::stack::MAX_STACK;
use crate::state::{Byte, Reg, RegType, Stack, State};

/// `BPF_MAX_VAR_SIZ` and `BPF_MAX_VAR_OFF`.
const MAX_VAR: u64 = 1 << 29;

/// Read or write, as the helper accesses a memory argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The helper reads the memory.
    Read,
    /// The helper writes the memory.
    Write,
}

/// `tnum_strn`.
pub(crate) fn tnum_text(v: &Scalar) -> String {
    let t = v.bounds().var_off;
    format!("({:#x}; {:#x})", t.value, t.mask)
}

/// Whether `r` holds the NULL constant.
pub(crate) fn is_null(r: &Reg) -> bool {
    r.const_value() == Some(0)
}

/// `check_ptr_alignment` with strict alignment, for `MEM_ALIGNED` arguments.
pub(crate) fn aligned(pc: usize, r: &Reg, size: u32) -> Result<()> {
    let desc = match r.ty {
        RegType::Stack => "stack ",
        RegType::MapValue => "map value ",
        RegType::Ctx => "context ",
        RegType::Packet | RegType::PacketMeta => "packet ",
        _ => "",
    };
    let t = r.val.bounds().var_off;
    let ip = if r.ty.is_packet() { 2 } else { 0 };
    let base = (ip + r.off as i64) as u64;
    if (t.value.wrapping_add(base) | t.mask) & (size as u64 - 1) == 0 {
        return Ok(());
    }
    let var = if t.mask == 0 {
        format!("{}", t.value as i64)
    } else {
        tnum_text(&r.val)
    };
    let msg = if ip != 0 {
        format!(
            "misaligned packet access off {ip}+{var}+{}+0 size {size}",
            r.off
        )
    } else {
        format!("misaligned {desc}access off {var}+{}+0 size {size}", r.off)
    };
    Err(Reject::at(pc, msg))
}

/// `check_mem_size_reg`: `r` (register `regno`) is the size of the memory argument before.
#[allow(clippy::too_many_arguments)]
pub(crate) fn size_reg(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    r: &Reg,
    access: Access,
    zero_ok: bool,
    meta: &mut Meta,
) -> Result<()> {
    let b = r.val.bounds();
    meta.msize_max = b.umax;
    // A size that is not a known constant never counts as written-only memory.
    let constant = r.val.as_const().is_some();
    if b.smin < 0 {
        return Err(Reject::at(
            pc,
            format!("R{regno} min value is negative, either use unsigned or 'var &= const'"),
        ));
    }
    if b.umin == 0 && !zero_ok {
        return Err(Reject::at(
            pc,
            format!(
                "R{regno} invalid zero-sized read: u64=[{},{}]",
                b.umin as i64, b.umax
            ),
        ));
    }
    if b.umax >= MAX_VAR {
        return Err(Reject::at(
            pc,
            format!("R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'"),
        ));
    }
    let m = if constant { Some(meta) } else { None };
    helper_mem(env, st, pc, regno - 1, b.umax, access, zero_ok, m)
}

/// `__check_mem_access`'s bounds test.
fn in_bounds(off: i64, size: u64, mem: u64, zero_ok: bool) -> bool {
    let size_ok = size > 0 || zero_ok;
    off >= 0 && size_ok && off as u64 + size <= mem
}

/// `check_mem_region_access` for helper memory of `mem` bytes.
#[allow(clippy::too_many_arguments)]
fn region(
    pc: usize,
    regno: u8,
    r: &Reg,
    size: u64,
    mem: u64,
    zero_ok: bool,
    what: impl Fn(i64) -> String,
) -> Result<()> {
    let b = r.val.bounds();
    let off = r.off as i64;
    if b.smin < 0
        && (b.smin == i64::MIN || off + b.smin != (off + b.smin) as i32 as i64 || b.smin + off < 0)
    {
        return Err(Reject::at(
            pc,
            format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
        ));
    }
    let lo = (b.smin + off) as i32 as i64;
    if !in_bounds(lo, size, mem, zero_ok) {
        return Err(Reject::at(
            pc,
            format!(
                "{}\nR{regno} min value is outside of the allowed memory range",
                what(lo)
            ),
        ));
    }
    if b.umax >= MAX_VAR {
        return Err(Reject::at(
            pc,
            format!("R{regno} unbounded memory access, make sure to bounds check any such access"),
        ));
    }
    let hi = (b.umax as i64 + off) as i32 as i64;
    if !in_bounds(hi, size, mem, zero_ok) {
        return Err(Reject::at(
            pc,
            format!(
                "{}\nR{regno} max value is outside of the allowed memory range",
                what(hi)
            ),
        ));
    }
    Ok(())
}

/// `check_helper_mem_access`: `size` bytes at register `regno`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn helper_mem(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    size: u64,
    access: Access,
    zero_ok: bool,
    meta: Option<&mut Meta>,
) -> Result<()> {
    let r = st.reg(regno).clone();
    let size_i = size as i32;
    match r.ty {
        RegType::Packet | RegType::PacketMeta if !r.maybe_null => {
            if r.val.bounds().smin < 0 {
                return Err(Reject::at(
                    pc,
                    format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
                ));
            }
            let ok = r.range >= 0 && in_bounds(r.off as i64, size, r.range as u64, zero_ok);
            if !ok {
                return Err(Reject::at(
                    pc,
                    format!(
                        "invalid access to packet, off={} size={size_i}, R{regno}(id={},off={},r={})\nR{regno} offset is outside of the packet",
                        r.off, r.id, r.off, r.range
                    ),
                ));
            }
            Ok(())
        }
        RegType::MapKey if !r.maybe_null => {
            if access == Access::Write {
                return Err(Reject::at(
                    pc,
                    format!("R{regno} cannot write into {}", r.type_name()),
                ));
            }
            let ks = env.opts.maps[r.map].key_size;
            region(pc, regno, &r, size, ks as u64, zero_ok, |o| {
                format!("invalid access to map key, key_size={ks} off={o} size={size_i}")
            })
        }
        RegType::MapValue if !r.maybe_null => {
            let map = &env.opts.maps[r.map];
            let vs = map.value_size;
            if access == Access::Write && map.map_flags & BPF_F_RDONLY_PROG != 0 {
                return Err(Reject::at(
                    pc,
                    format!(
                        "write into map forbidden, value_size={vs} off={} size={size_i}",
                        r.off
                    ),
                ));
            }
            if access == Access::Read && map.map_flags & BPF_F_WRONLY_PROG != 0 {
                return Err(Reject::at(
                    pc,
                    format!(
                        "read from map forbidden, value_size={vs} off={} size={size_i}",
                        r.off
                    ),
                ));
            }
            region(pc, regno, &r, size, vs as u64, zero_ok, |o| {
                format!("invalid access to map value, value_size={vs} off={o} size={size_i}")
            })
        }
        RegType::Mem | RegType::RdonlyMem if !r.maybe_null => {
            if access == Access::Write && r.ty == RegType::RdonlyMem {
                return Err(Reject::at(
                    pc,
                    format!("R{regno} cannot write into {}", r.type_name()),
                ));
            }
            let ms = r.mem_size;
            region(pc, regno, &r, size, ms as u64, zero_ok, |o| {
                format!("invalid access to memory, mem_size={ms} off={o} size={size_i}")
            })
        }
        RegType::Stack if !r.maybe_null => {
            stack_range(env, st, pc, regno, &r, size_i, access, zero_ok, meta)
        }
        _ => {
            if zero_ok && size == 0 && is_null(&r) {
                return Ok(());
            }
            Err(Reject::at(
                pc,
                format!("R{regno} type={} expected=fp", r.type_name()),
            ))
        }
    }
}

/// `check_stack_range_initialized` for a privileged load (uninitialised bytes and spilled
/// pointers may be read), with `check_stack_access_within_bounds` first.
#[allow(clippy::too_many_arguments)]
fn stack_range(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    r: &Reg,
    size: i32,
    access: Access,
    zero_ok: bool,
    meta: Option<&mut Meta>,
) -> Result<()> {
    if r.frameno as usize + 1 != st.frames.len() {
        return Err(Reject::unsupported(pc, "helper access to a caller's stack"));
    }
    if size == 0 && !zero_ok {
        return Err(Reject::at(pc, "invalid zero-sized read"));
    }
    let extra = match access {
        Access::Read => " read from",
        Access::Write => " write to",
    };
    let b = r.val.bounds();
    let off = r.off as i64;
    let constant = r.val.as_const();
    let (min_off, max_off) = match constant {
        Some(v) => (v as i64 + off, v as i64 + off + size as i64),
        None => {
            if b.smax >= MAX_VAR as i64 || b.smin <= -(MAX_VAR as i64) {
                return Err(Reject::at(
                    pc,
                    format!("invalid unbounded variable-offset{extra} stack R{regno}"),
                ));
            }
            (b.smin + off, b.smax + off + size as i64)
        }
    };
    let min_valid = if access == Access::Write || env.privileged() {
        -(MAX_STACK as i64)
    } else {
        -(st.cur().stack.allocated() as i64)
    };
    if min_off < min_valid || min_off > -1 || max_off > 0 || size < 0 {
        return Err(Reject::at(
            pc,
            match constant {
                Some(_) => format!("invalid{extra} stack R{regno} off={} size={size}", r.off),
                None => format!(
                    "invalid variable-offset{extra} stack R{regno} var_off={} off={} size={size}",
                    tnum_text(&r.val),
                    r.off
                ),
            },
        ));
    }
    if !env.privileged() {
        return Err(Reject::unsupported(
            pc,
            "helper stack access in unprivileged loads",
        ));
    }
    st.cur_mut().stack.grow((-min_off) as i32);
    let subprog = st.cur().subprog;
    let depth = ((-min_off + 7) / 8 * 8) as u32;
    if env.stack_depth[subprog] < depth {
        env.stack_depth[subprog] = depth;
    }
    let (lo, hi) = match constant {
        Some(_) => (min_off, min_off),
        None => (b.smin + off, b.smax + off),
    };
    if let Some(meta) = meta {
        if meta.raw_mode && constant.is_some() {
            meta.access = Some((regno, size as u32));
            return Ok(());
        }
    }
    if access == Access::Write {
        let stack = &mut st.cur_mut().stack;
        for i in lo..hi + size as i64 {
            let (s, byte) = Stack::locate(i as i32);
            let slot = &mut stack.slots[s];
            match slot.bytes[byte] {
                Byte::Misc => {}
                Byte::Zero | Byte::Invalid => slot.bytes[byte] = Byte::Misc,
                Byte::Spill if slot.is_spill() => {
                    slot.spilled = Reg::unknown();
                    for x in slot.bytes.iter_mut() {
                        if *x != Byte::Invalid {
                            *x = Byte::Misc;
                        }
                    }
                }
                Byte::Spill => {
                    return Err(Reject::at(
                        pc,
                        format!(
                            "invalid read from stack R{regno} off {}+{} size {size}",
                            lo,
                            i - lo
                        ),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// The helper's raw-mode writes: `size` bytes at the stack pointer in register `regno`
/// become data (`check_mem_access` of each byte as the kernel does after the arguments).
pub fn mark_written(st: &mut State, regno: u8, size: u32) {
    let r = st.reg(regno).clone();
    let base = r.off + r.val.as_const().unwrap_or(0) as i32;
    let stack = &mut st.cur_mut().stack;
    for i in 0..size as i32 {
        let (s, b) = Stack::locate(base + i);
        let slot = &mut stack.slots[s];
        if slot.is_spill() {
            for x in slot.bytes.iter_mut() {
                if *x != Byte::Invalid {
                    *x = Byte::Misc;
                }
            }
        }
        slot.spilled = Reg::not_init();
        slot.bytes[b] = Byte::Misc;
    }
}
