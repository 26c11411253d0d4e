//! Context access per program type, as each type's `is_valid_access` decides: which offsets
//! and sizes may be read or written, and which fields load as packet pointers. One module per
//! program type; a type without one is not supported yet (fail closed).

mod skb;
mod xdp;

use bpfbox_vm::{ProgType, Program};

use crate::error::Reject;
use crate::state::RegType;

/// What a context load produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A number.
    Scalar,
    /// A pointer of this type (packet data, end, metadata).
    Pointer(RegType),
}

/// Why an access is refused, before the instruction is known.
#[derive(Debug)]
pub enum CtxError {
    /// The kernel refuses it: `invalid bpf_context access off=%d size=%d`.
    Invalid {
        /// Offset.
        off: i32,
        /// Size.
        size: u32,
    },
    /// Context access for this program type is not supported yet.
    Unsupported(ProgType),
}

impl CtxError {
    /// The rejection at instruction `pc`.
    pub fn at(self, pc: usize) -> Reject {
        match self {
            CtxError::Invalid { off, size } => Reject::at(
                pc,
                format!("invalid bpf_context access off={off} size={size}"),
            ),
            CtxError::Unsupported(t) => {
                Reject::unsupported(pc, format!("context access for {} programs", t.name()))
            }
        }
    }
}

/// Decides an access of `size` bytes at `off` into the context of `prog`.
/// `signed` for sign-extending loads.
pub fn access(
    prog: &Program,
    off: i32,
    size: u32,
    write: bool,
    signed: bool,
) -> Result<Field, CtxError> {
    match prog.prog_type {
        ProgType::Xdp => xdp::access(prog.expected_attach_type, off, size, write),
        ProgType::SocketFilter => skb::access(skb::Flavor::SocketFilter, off, size, write, signed),
        ProgType::SchedCls | ProgType::SchedAct => {
            skb::access(skb::Flavor::Tc, off, size, write, signed)
        }
        t => Err(CtxError::Unsupported(t)),
    }
}

/// Whether programs of type `t` may write packet data (`may_access_direct_pkt_data` for
/// writes).
pub fn may_write_packet(t: ProgType) -> bool {
    matches!(
        t,
        ProgType::Xdp
            | ProgType::SchedCls
            | ProgType::SchedAct
            | ProgType::LwtXmit
            | ProgType::SkSkb
            | ProgType::SkMsg
            | ProgType::CgroupSockopt
    )
}
