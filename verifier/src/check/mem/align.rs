//! `check_ptr_alignment`: which pointer types are always checked strictly (the stack),
//! which only under `BPF_F_STRICT_ALIGNMENT`, and packets' 2-byte IP alignment.

use crate::domain::{Scalar, ScalarDomain};
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType};

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
pub(super) fn alignment(
    env: &Env<'_>,
    pc: usize,
    reg: &Reg,
    off: i32,
    size: u32,
    force: bool,
) -> Result<()> {
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
