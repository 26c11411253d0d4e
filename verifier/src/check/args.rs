//! Helper arguments against their prototype (`check_func_arg`): register types per argument
//! kind with the kernel's `R%d type=%s expected=%s` lists, pointer offsets, references passed
//! to release functions, and memory arguments (`check_helper_mem_access`) on the stack, map
//! keys and values, packets and memory, with their sizes (`check_mem_size_reg`).

use bpfbox_vm::helpers::catalogue::{flag, Arg, ArgBase, FuncProto};
use bpfbox_vm::maps::spec::{MapType, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};
use bpfbox_vm::ProgType;

use super::read;
use crate::domain::{Scalar, ScalarDomain};
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::stack::MAX_STACK;
use crate::state::{Byte, Reg, RegType, Stack, State};

/// `BPF_MAX_VAR_SIZ` and `BPF_MAX_VAR_OFF`.
const MAX_VAR: u64 = 1 << 29;

/// What the argument checks learn for the rest of the call (`struct bpf_call_arg_meta`).
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// The helper id.
    pub func_id: i32,
    /// The helper may be given packet pointers.
    pub pkt_access: bool,
    /// The map argument's index in the object's maps.
    pub map: Option<usize>,
    /// The current memory argument is written without being read (`MEM_UNINIT`).
    pub raw_mode: bool,
    /// Stack bytes the helper writes: the stack pointer's register and the size.
    pub access: Option<(u8, u32)>,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`'s value.
    pub mem_size: u32,
    /// The largest value of the last size argument (`msize_max_value`).
    pub msize_max: u64,
    /// The reference a pointer argument carries.
    pub ref_obj_id: u32,
    /// The register a release function releases.
    pub release_regno: u8,
}

/// Read or write, as the helper accesses a memory argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// `tnum_strn`.
fn tnum_text(v: &Scalar) -> String {
    let t = v.bounds().var_off;
    format!("({:#x}; {:#x})", t.value, t.mask)
}

/// Register types an argument kind accepts (`compatible_reg_types`), as the log names them.
fn compatible(base: ArgBase) -> &'static [&'static str] {
    use ArgBase::*;
    const MEM: &[&str] = &[
        "fp",
        "pkt",
        "pkt_meta",
        "map_key",
        "map_value",
        "mem",
        "ringbuf_mem",
        "buf",
        "trusted_ptr_",
    ];
    match base {
        PtrToMapKey | PtrToMapValue | PtrToMem => MEM,
        ConstSize | ConstSizeOrZero | ConstAllocSizeOrZero | Scalar => &["scalar"],
        ConstMapPtr => &["map_ptr"],
        PtrToCtx => &["ctx"],
        PtrToSockCommon => &["sock_common", "sock", "tcp_sock", "xdp_sock"],
        PtrToBtfIdSockCommon => &[
            "sock_common",
            "sock",
            "tcp_sock",
            "xdp_sock",
            "ptr_",
            "trusted_ptr_",
        ],
        PtrToSocket => &["sock"],
        PtrToRingbufMem => &["ringbuf_mem"],
        PtrToStack => &["fp"],
        PtrToFunc => &["func"],
        PtrToConstStr | PtrToTimer => &["map_value"],
        _ => &[],
    }
}

/// The name of `r`'s type as `check_reg_type` compares it, with the flags the argument
/// kind folds away removed.
fn folded_name(r: &Reg, arg: &Arg) -> String {
    let mut r = r.clone();
    if arg.maybe_null() {
        r.maybe_null = false;
    }
    if arg.has(flag::RDONLY) && r.ty == RegType::RdonlyMem {
        r.ty = RegType::Mem;
    }
    r.type_name()
}

/// Whether `r` holds the NULL constant.
fn is_null(r: &Reg) -> bool {
    r.const_value() == Some(0)
}

/// `check_reg_type`.
fn check_reg_type(pc: usize, regno: u8, r: &Reg, arg: &Arg) -> Result<()> {
    let types = compatible(arg.base);
    let name = folded_name(r, arg);
    if types.contains(&name.as_str()) {
        return Ok(());
    }
    Err(Reject::at(
        pc,
        format!(
            "R{regno} type={} expected={}",
            r.type_name(),
            types.join(", ")
        ),
    ))
}

/// `__check_ptr_off_reg`.
fn check_ptr_off(pc: usize, regno: u8, r: &Reg, fixed_off_ok: bool) -> Result<()> {
    let name = r.type_name();
    if r.off < 0 {
        return Err(Reject::at(
            pc,
            format!(
                "negative offset {name} ptr R{regno} off={} disallowed",
                r.off
            ),
        ));
    }
    if !fixed_off_ok && r.off != 0 {
        return Err(Reject::at(
            pc,
            format!(
                "dereference of modified {name} ptr R{regno} off={} disallowed",
                r.off
            ),
        ));
    }
    if r.val.as_const() != Some(0) {
        return Err(Reject::at(
            pc,
            format!(
                "variable {name} access var_off={} disallowed",
                tnum_text(&r.val)
            ),
        ));
    }
    Ok(())
}

/// `check_func_arg_reg_off`.
fn check_arg_reg_off(pc: usize, regno: u8, r: &Reg, arg: &Arg) -> Result<()> {
    if arg.is_release() {
        if r.off != 0 {
            return Err(Reject::at(
                pc,
                format!("R{regno} must have zero offset when passed to release func or trusted arg to kfunc"),
            ));
        }
        return check_ptr_off(pc, regno, r, false);
    }
    match r.ty {
        RegType::Stack
        | RegType::Packet
        | RegType::PacketMeta
        | RegType::MapKey
        | RegType::MapValue
        | RegType::Mem
        | RegType::RdonlyMem
        | RegType::Scalar => Ok(()),
        _ => check_ptr_off(pc, regno, r, false),
    }
}

/// `may_access_direct_pkt_data` for a helper's read.
fn helper_may_read_packet(prog: ProgType, meta: &Meta) -> bool {
    use ProgType::*;
    match prog {
        LwtIn | LwtOut | LwtSeg6local | SkReuseport | FlowDissector | CgroupSkb | SchedCls
        | SchedAct | Xdp | LwtXmit | SkSkb | SkMsg => meta.pkt_access,
        CgroupSockopt => true,
        _ => false,
    }
}

/// Argument kinds the walk does not model yet: callbacks, locks, timers, dynptrs, kptrs,
/// BTF-typed kernel objects, constant strings, arenas.
pub fn unsupported_arg(a: &Arg) -> Option<&'static str> {
    use ArgBase::*;
    Some(match a.base {
        PtrToFunc => "callback helpers",
        PtrToSpinLock => "bpf_spin_lock",
        PtrToTimer => "bpf_timer",
        PtrToDynptr => "dynptrs",
        KptrXchgDest => "kptrs",
        PtrToBtfId | PtrToPercpuBtfId => "helper arguments typed by BTF",
        PtrToConstStr => "constant string arguments",
        PtrToArena => "arenas",
        PtrToStack => "stack pointer arguments of callback helpers",
        _ => return None,
    })
}

/// `check_func_arg` for argument `i` of `fp`.
pub fn check_arg(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    fp: &FuncProto,
    i: usize,
    meta: &mut Meta,
) -> Result<()> {
    let regno = i as u8 + 1;
    let mut arg = fp.args[i];
    if arg.base == ArgBase::DontCare {
        return Ok(());
    }
    let r = read(st, pc, regno)?.clone();
    if arg.base == ArgBase::Anything {
        if r.is_pointer() && !env.privileged() {
            return Err(Reject::at(
                pc,
                format!("R{regno} leaks addr into helper function"),
            ));
        }
        return Ok(());
    }
    if r.ty.is_packet() && !helper_may_read_packet(env.prog.prog_type, meta) {
        return Err(Reject::at(pc, "helper access to the packet is not allowed"));
    }
    if arg.base == ArgBase::PtrToMapValue {
        let Some(m) = meta.map else {
            return Err(Reject::at(pc, "invalid map_ptr to access map->type"));
        };
        match env.opts.maps[m].map_type {
            MapType::Sockmap | MapType::Sockhash => {
                // A socket map's value is a socket.
                if arg.flags != 0 {
                    return Err(Reject::at(pc, "invalid arg_type for sockmap/sockhash"));
                }
                arg = Arg::new(ArgBase::PtrToBtfIdSockCommon, 0);
            }
            MapType::BloomFilter if fp.name == "bpf_map_peek_elem_proto" => {
                // `bpf_map_peek_elem` reads a bloom filter's value.
                arg = Arg::new(ArgBase::PtrToMapValue, 0);
            }
            _ => {}
        }
    }
    if !(is_null(&r) && arg.maybe_null()) {
        check_reg_type(pc, regno, &r, &arg)?;
        check_arg_reg_off(pc, regno, &r, &arg)?;
    }
    if arg.is_release() {
        if r.ref_obj_id == 0 && !is_null(&r) {
            return Err(Reject::at(
                pc,
                format!("R{regno} must be referenced when passed to release function"),
            ));
        }
        meta.release_regno = regno;
    }
    if r.ref_obj_id != 0 {
        if meta.ref_obj_id != 0 {
            return Err(Reject::at(
                pc,
                format!(
                    "verifier internal error: more than one arg with ref_obj_id R{regno} {} {}",
                    r.ref_obj_id, meta.ref_obj_id
                ),
            ));
        }
        meta.ref_obj_id = r.ref_obj_id;
    }
    let access = if arg.has(flag::WRITE) {
        Access::Write
    } else {
        Access::Read
    };
    match arg.base {
        ArgBase::ConstMapPtr => meta.map = Some(r.map),
        ArgBase::PtrToMapKey => {
            let Some(m) = meta.map else {
                return Err(Reject::at(pc, "invalid map_ptr to access map->key"));
            };
            let size = env.opts.maps[m].key_size;
            helper_mem(env, st, pc, regno, size as u64, Access::Read, false, None)?;
        }
        ArgBase::PtrToMapValue => {
            if arg.maybe_null() && is_null(&r) {
                return Ok(());
            }
            let Some(m) = meta.map else {
                return Err(Reject::at(pc, "invalid map_ptr to access map->value"));
            };
            meta.raw_mode = arg.has(flag::UNINIT);
            let size = env.opts.maps[m].value_size;
            helper_mem(env, st, pc, regno, size as u64, access, false, Some(meta))?;
        }
        ArgBase::PtrToMem => {
            meta.raw_mode = arg.has(flag::UNINIT);
            if arg.has(flag::FIXED_SIZE) {
                helper_mem(
                    env,
                    st,
                    pc,
                    regno,
                    arg.size as u64,
                    access,
                    false,
                    Some(meta),
                )?;
                if arg.has(flag::ALIGNED) {
                    aligned(pc, &r, arg.size)?;
                }
            }
        }
        ArgBase::ConstSize | ArgBase::ConstSizeOrZero => {
            // A size always follows its memory argument (`check_func_proto`).
            let prev = fp.args[i.saturating_sub(1)];
            let access = if prev.has(flag::WRITE) {
                Access::Write
            } else {
                Access::Read
            };
            let zero_ok = arg.base == ArgBase::ConstSizeOrZero;
            size_reg(env, st, pc, regno, &r, access, zero_ok, meta)?;
        }
        ArgBase::ConstAllocSizeOrZero => {
            let Some(v) = r.const_value() else {
                return Err(Reject::at(pc, format!("R{regno} is not a known constant'")));
            };
            meta.mem_size = v as u32;
        }
        _ => {}
    }
    Ok(())
}

/// `check_ptr_alignment` with strict alignment, for `MEM_ALIGNED` arguments.
fn aligned(pc: usize, r: &Reg, size: u32) -> Result<()> {
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
fn size_reg(
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
fn helper_mem(
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
