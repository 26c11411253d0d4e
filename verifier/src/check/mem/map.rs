//! Map values (`check_map_access`): read-only and write-only maps, the value's bounds with
//! the variable offset, and loads from frozen read-only arrays, which are known.

use bpfbox_vm::maps::spec::{BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};

use super::super::const_str;
use super::{Access, Value};
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::Reg;

/// A load or store of `size` bytes at `off` (the fixed offsets summed) through the map value
/// pointer `reg` in register `regno`.
#[allow(clippy::too_many_arguments)]
pub(super) fn access(
    env: &Env<'_>,
    pc: usize,
    regno: u8,
    reg: &Reg,
    off: i32,
    size: u32,
    acc: Access,
    signed: bool,
) -> Result<Option<Reg>> {
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
    region(pc, regno, reg, off, size, map.value_size, |o| {
        format!(
            "invalid access to map value, value_size={} off={o} size={size}",
            map.value_size
        )
    })?;
    Ok(match acc {
        Access::Read => Some(direct_read(env, pc, reg, off, size, signed)?),
        Access::Write(_) => None,
    })
}

/// A load from a map value: a frozen read-only array's bytes at a constant offset are
/// known (`bpf_map_direct_read`), anything else is any scalar.
fn direct_read(
    env: &Env<'_>,
    pc: usize,
    reg: &Reg,
    off: i32,
    size: u32,
    signed: bool,
) -> Result<Reg> {
    let (Some(var), Some(value)) = (reg.val.as_const(), const_str::frozen_value(env, reg.map))
    else {
        return Ok(Reg::unknown());
    };
    let map = &env.opts.maps[reg.map];
    if map.map_type != bpfbox_vm::maps::spec::MapType::Array {
        return Ok(Reg::unknown());
    }
    if map.max_entries != 1 {
        // `map_direct_value_addr` fails and the kernel refuses without a message.
        return Err(Reject::unsupported(
            pc,
            "loads from a frozen array of more than one element",
        ));
    }
    let at = (off as i64 + var as i64) as usize;
    let mut bytes = [0u8; 8];
    for (i, b) in bytes.iter_mut().enumerate().take(size as usize) {
        *b = const_str::value_byte(value, at + i);
    }
    let raw = u64::from_le_bytes(bytes);
    let v = match (size, signed) {
        (1, true) => raw as u8 as i8 as i64 as u64,
        (2, true) => raw as u16 as i16 as i64 as u64,
        (4, true) => raw as u32 as i32 as i64 as u64,
        _ => raw,
    };
    Ok(Reg::constant(v))
}

/// `check_mem_region_access`: the variable offset's bounds plus `off` stay in `[0, size)`.
pub(crate) fn region(
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
