//! Loads and stores through the context and through socket pointers: the pointer must be
//! the one the program received, then each program type's rules decide (`check_ctx_access`,
//! `check_sock_access`).

use crate::ctx;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::Reg;

/// An access through the context pointer `reg` (register `regno`): the loaded value for a
/// read, `None` for a write.
pub fn context(
    env: &mut Env<'_>,
    pc: usize,
    regno: u8,
    reg: &Reg,
    a: ctx::Access,
) -> Result<Option<Reg>> {
    unmodified_ctx(pc, regno, reg)?;
    let load = ctx::Load::of(env.prog, env.privileged());
    let kind = ctx::access(&load, a).map_err(|e| e.at(pc))?;
    if a.write {
        return Ok(None);
    }
    Ok(Some(match kind {
        ctx::Field::Scalar => Reg::unknown(),
        ctx::Field::Pointer(ty) => Reg::pointer(ty),
        ctx::Field::PointerOrNull(ty) => {
            // Each load is a new pointer to NULL-check.
            let mut r = Reg::pointer(ty);
            r.maybe_null = true;
            r.id = env.new_id();
            r
        }
        ctx::Field::Unmodelled(what) => return Err(Reject::unsupported(pc, what)),
    }))
}

/// A read through a non-NULL socket pointer; sockets are never written.
pub fn socket(pc: usize, regno: u8, reg: &Reg, a: ctx::Access) -> Result<Option<Reg>> {
    if a.write {
        return Err(Reject::at(
            pc,
            format!("R{regno} cannot write into {}", reg.type_name()),
        ));
    }
    if reg.val.bounds().smin < 0 {
        return Err(Reject::at(
            pc,
            format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
        ));
    }
    if !ctx::sock_ptr::valid(reg.ty, a) {
        return Err(Reject::at(
            pc,
            format!(
                "R{regno} invalid {} access off={} size={}",
                reg.type_name(),
                a.off,
                a.size
            ),
        ));
    }
    Ok(Some(Reg::unknown()))
}

/// `sizeof(struct bpf_flow_keys)`.
const FLOW_KEYS_SIZE: i64 = 56;

/// An access to the flow keys (`check_flow_keys_access`): anywhere inside the struct, read or
/// written.
pub fn flow_keys(pc: usize, off: i32, size: u32, read: bool) -> Result<Option<Reg>> {
    if off < 0 || off as i64 + size as i64 > FLOW_KEYS_SIZE {
        return Err(Reject::at(
            pc,
            format!("invalid access to flow keys off={off} size={size}"),
        ));
    }
    Ok(read.then(Reg::unknown))
}

/// `check_ptr_off_reg` for a context pointer: only the pointer as the program received it
/// may be dereferenced.
pub fn unmodified_ctx(pc: usize, regno: u8, reg: &Reg) -> Result<()> {
    if reg.off < 0 {
        return Err(Reject::at(
            pc,
            format!(
                "negative offset ctx ptr R{regno} off={} disallowed",
                reg.off
            ),
        ));
    }
    if reg.off != 0 {
        return Err(Reject::at(
            pc,
            format!(
                "dereference of modified ctx ptr R{regno} off={} disallowed",
                reg.off
            ),
        ));
    }
    if reg.val.as_const() != Some(0) {
        let t = reg.val.bounds().var_off;
        return Err(Reject::at(
            pc,
            format!(
                "variable ctx access var_off=({:#x}; {:#x}) disallowed",
                t.value, t.mask
            ),
        ));
    }
    Ok(())
}
