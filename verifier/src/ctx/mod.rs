//! Context access per program type, as each type's `is_valid_access` decides: which offsets
//! and sizes may be read or written, which fields allow narrow loads, and which fields load
//! as pointers. One module per context struct; a program type whose context is described by
//! kernel BTF (tracing, LSM, struct_ops, ext) is not supported yet (fail closed).

pub mod attach;
mod cgroup_dev;
mod netfilter;
mod perf_event;
mod pt_regs;
mod raw_tp;
mod sk_lookup;
mod sk_msg;
mod sk_reuseport;
mod skb;
mod sock;
mod sock_addr;
mod sock_ops;
pub mod sock_ptr;
mod sockopt;
mod syscall;
mod sysctl;
mod tracepoint;
mod xdp;

use bpfbox_vm::{ProgType, Program};

use crate::error::Reject;
use crate::state::RegType;

/// What a valid context access produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A number (or nothing, for a write).
    Scalar,
    /// A pointer of this type with a zero offset (packet data, end, metadata, sockets, flow
    /// keys).
    Pointer(RegType),
    /// A pointer of this type that may be NULL (`sock_or_null`, `sock_common_or_null`).
    PointerOrNull(RegType),
    /// A pointer of a type this verifier does not model yet (tracepoint buffers, BTF
    /// objects): loading it is not supported yet.
    Unmodelled(&'static str),
}

/// One access to the context: `size` bytes at `off` (the instruction's offset plus the
/// register's fixed offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Offset into the context.
    pub off: i32,
    /// Size in bytes: 1, 2, 4 or 8.
    pub size: u32,
    /// A store (`BPF_ST`/`BPF_STX`) rather than a load.
    pub write: bool,
    /// A sign-extending load (`BPF_MEMSX`).
    pub signed: bool,
}

impl Access {
    /// `off` is a multiple of the size, as every type's check demands.
    fn aligned(&self) -> bool {
        self.off % self.size as i32 == 0
    }

    /// `off` lies in `[start, start + len)`.
    fn within(&self, start: i32, len: i32) -> bool {
        (start..start + len).contains(&self.off)
    }

    /// `bpf_ctx_narrow_access_ok`: a power-of-two load no wider than the field.
    fn narrow_ok(&self, field: u32) -> bool {
        self.size <= field && self.size.is_power_of_two()
    }

    /// `bpf_ctx_wide_access_ok`: an aligned 8-byte access inside the array `[start, end)`.
    fn wide_ok(&self, start: i32, end: i32) -> bool {
        self.size == 8 && self.off >= start && self.off + 8 <= end && self.off % 8 == 0
    }
}

/// What the type's rules may depend on beside the access.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// The program type.
    pub prog_type: ProgType,
    /// `expected_attach_type` (0 when none was given, as the kernel sees it).
    pub attach: u32,
    /// Whether the load has CAP_BPF (`bpf_token_capable`).
    pub privileged: bool,
}

impl Load {
    /// How `prog` is loaded.
    pub fn of(prog: &Program, privileged: bool) -> Load {
        Load {
            prog_type: prog.prog_type,
            attach: prog.expected_attach_type.unwrap_or(0),
            privileged,
        }
    }
}

/// Why an access is refused, before the instruction is known.
#[derive(Debug, PartialEq, Eq)]
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

/// Decides an access into the context of a program loaded as `load`.
pub fn access(load: &Load, a: Access) -> Result<Field, CtxError> {
    use ProgType::*;
    let field = match load.prog_type {
        Xdp => xdp::access(load, a),
        SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit
        | LwtSeg6local | SkSkb | FlowDissector => skb::access(load, a),
        CgroupSock => sock::access(load, a),
        CgroupSockAddr => sock_addr::access(load, a),
        SockOps => sock_ops::access(a),
        SkMsg => sk_msg::access(a),
        SkReuseport => sk_reuseport::access(a),
        SkLookup => sk_lookup::access(a),
        CgroupDevice => cgroup_dev::access(a),
        CgroupSysctl => sysctl::access(a),
        CgroupSockopt => sockopt::access(load, a),
        Kprobe => pt_regs::access(a),
        PerfEvent => perf_event::access(a),
        Tracepoint => tracepoint::access(a),
        RawTracepoint => raw_tp::access(a, false),
        RawTracepointWritable => raw_tp::access(a, true),
        Netfilter => netfilter::access(a),
        Syscall => syscall::access(a),
        t => return Err(CtxError::Unsupported(t)),
    };
    field.ok_or(CtxError::Invalid {
        off: a.off,
        size: a.size,
    })
}

/// Whether programs of type `t` may write packet data directly
/// (`may_access_direct_pkt_data` for writes); the others say `cannot write into packet`.
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

/// Whether programs of type `t` may use `BPF_LD_ABS`/`BPF_LD_IND` (`may_access_skb`).
pub fn may_load_abs(t: ProgType) -> bool {
    matches!(
        t,
        ProgType::SocketFilter | ProgType::SchedCls | ProgType::SchedAct
    )
}
