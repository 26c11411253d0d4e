//! Loads, stores and atomics (`check_mem_access`): dispatch on the base pointer's type to
//! the stack (`stack`), map values (`map`), the context per program type, packets and
//! memory, after the alignment rules (`align`).

mod align;
mod map;
mod stack;

pub(crate) use map::region;
pub use stack::{stack_bounds, stack_bounds_in};

use bpfbox_vm::isa::{AtomicOp, Size};

use super::{ctx_access, read};
use crate::ctx;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType, State};
use align::alignment;

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
pub(super) enum Access {
    Read,
    Write(Value),
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
        RegType::Stack => stack::access(env, st, pc, regno, &reg, off, size, acc),
        RegType::MapValue => map::access(env, pc, regno, &reg, off, size, acc, signed),
        RegType::MapKey => {
            // A callback's key: read-only, `key_size` bytes.
            if matches!(acc, Access::Write(_)) {
                return Err(Reject::at(
                    pc,
                    format!("write to change key R{regno} not allowed"),
                ));
            }
            let ks = env.opts.maps.get(reg.map).map_or(0, |m| m.key_size);
            region(pc, regno, &reg, off, size, ks, |o| {
                format!("invalid access to map key, key_size={ks} off={o} size={size}")
            })?;
            Ok(Some(Reg::unknown()))
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
            map::region(pc, regno, &reg, off, size, ms, |o| {
                format!("invalid access to memory, mem_size={ms} off={o} size={size}")
            })?;
            Ok(match acc {
                Access::Read => Some(Reg::unknown()),
                Access::Write(_) => None,
            })
        }
        RegType::Scalar
        | RegType::PacketEnd
        | RegType::NotInit
        | RegType::Func
        | RegType::ConstDynptr => Err(Reject::at(
            pc,
            format!("R{regno} invalid mem access '{}'", reg.type_name()),
        )),
        _ => Err(Reject::unsupported(
            pc,
            format!("memory access through {}", reg.type_name()),
        )),
    }
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
    if base.ty == RegType::Stack && base.val.as_const().is_none() {
        return Err(Reject::unsupported(
            pc,
            "atomics at a variable stack offset",
        ));
    }
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
    if old.is_pointer() && base.ty == RegType::Stack && !env.privileged() {
        // The atomic's read of a spilled pointer as a scalar would leak it.
        return Err(Reject::at(
            pc,
            format!("leaking pointer from stack off {}", base.off + off as i32),
        ));
    }
    // The fetch is a fill (`check_mem_access` into the load register): a spilled register,
    // pointer or scalar, comes back as it was; the slot then holds data.
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
        *st.reg_mut(r) = narrow(old, n, false);
    }
    Ok(())
}
