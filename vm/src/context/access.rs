//! Which bytes of a context a program may store into, and how, as the kernel's
//! `is_valid_access` callbacks decide for each program type (Linux 6.12).
//!
//! net/core/filter.c: `sk_filter_is_valid_access`, `tc_cls_act_is_valid_access`,
//! `cg_skb_is_valid_access`, `lwt_is_valid_access` (also `lwt_seg6local`),
//! `sk_skb_is_valid_access`, `sock_filter_is_valid_access` (cgroup_sock),
//! `sock_addr_is_valid_access`, `sock_ops_is_valid_access`; kernel/bpf/cgroup.c:
//! `sysctl_is_valid_access`, `cg_sockopt_is_valid_access`. Every other type's context is
//! read-only: XDP (writes are for offloaded programs only), kprobe, tracepoint, raw
//! tracepoint, perf event, tracing, LSM, struct_ops, sk_msg, sk_reuseport, sk_lookup,
//! flow_dissector, cgroup_device, lirc_mode2 and netfilter.
//!
//! A run registers the whole context read-only, and a writable region over each of these
//! fields, shaped as the kernel lets a program store into it ([`StoreShape`]): the private
//! tail holding the real packet pointers, and the uapi copies of them, are never writable
//! by the program.

use super::ContextKind;
use crate::memory::StoreShape;
use crate::program::ProgType;

/// A field a program may store into: `len` bytes at `off` of the context, written as `shape`
/// says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritableField {
    /// Offset in the context.
    pub off: u64,
    /// Length in bytes.
    pub len: u64,
    /// How a store into it must be shaped.
    pub shape: StoreShape,
}

/// A 32-bit field, written whole (the kernel's `size == sizeof(__u32)`).
const fn word(off: u64) -> WritableField {
    WritableField {
        off,
        len: 4,
        shape: StoreShape::Whole,
    }
}

/// A 64-bit field, or two 32-bit words of an array written at once
/// (`bpf_ctx_wide_access_ok`), written whole.
const fn dword(off: u64) -> WritableField {
    WritableField {
        off,
        len: 8,
        shape: StoreShape::Whole,
    }
}

/// A byte array any aligned store inside may write.
const fn bytes(off: u64, len: u64) -> WritableField {
    WritableField {
        off,
        len,
        shape: StoreShape::Aligned,
    }
}

use crate::attach;

/// `struct __sk_buff` fields.
mod skb {
    use super::{bytes, dword, word, WritableField};
    use crate::context::skb_off;
    pub const MARK: WritableField = word(skb_off::MARK);
    pub const QUEUE_MAPPING: WritableField = word(12);
    pub const PRIORITY: WritableField = word(skb_off::PRIORITY);
    pub const TC_INDEX: WritableField = word(44);
    pub const CB: WritableField = bytes(skb_off::CB, 20);
    pub const TC_CLASSID: WritableField = word(72);
    pub const TSTAMP: WritableField = dword(skb_off::TSTAMP);
}

/// The fields of `struct __sk_buff` a program of type `t` may write.
fn skb_fields(t: ProgType) -> &'static [WritableField] {
    use skb::*;
    use ProgType as T;
    match t {
        T::SocketFilter => &[CB],
        // `tstamp` needs CAP_BPF, which every run here has.
        T::CgroupSkb => &[MARK, PRIORITY, CB, TSTAMP],
        T::LwtIn | T::LwtOut | T::LwtXmit | T::LwtSeg6local => &[MARK, PRIORITY, CB],
        T::SkSkb => &[TC_INDEX, PRIORITY],
        T::FlowDissector => &[],
        // TC and anything else handed a socket buffer: the widest rules.
        _ => &[
            MARK,
            QUEUE_MAPPING,
            PRIORITY,
            TC_INDEX,
            CB,
            TC_CLASSID,
            TSTAMP,
        ],
    }
}

/// `struct bpf_sock` (cgroup_sock): `bound_dev_if`, `mark` and `priority`, when the program
/// runs at socket creation or release.
fn sock_fields(attach: u32) -> &'static [WritableField] {
    const FIELDS: [WritableField; 3] = [word(0), word(16), word(20)];
    match attach {
        attach::CGROUP_INET_SOCK_CREATE | attach::CGROUP_INET_SOCK_RELEASE => &FIELDS,
        _ => &[],
    }
}

/// `struct bpf_sock_addr`: the user address of the attach type's family (`user_ip6` also two
/// words at once), the port, and the source address of `sendmsg`.
fn sock_addr_fields(attach: u32) -> &'static [WritableField] {
    use attach::*;
    const USER_IP4: WritableField = word(4);
    const USER_PORT: WritableField = word(24);
    const MSG_SRC_IP4: WritableField = word(40);
    /// `user_ip6`: four words, or two aligned pairs.
    const USER_IP6: [WritableField; 6] =
        [word(8), word(12), word(16), word(20), dword(8), dword(16)];
    /// `msg_src_ip6` (44..60): four words, or the one aligned pair at 48.
    const MSG_SRC_IP6: [WritableField; 5] = [word(44), word(48), word(52), word(56), dword(48)];
    const UDP4_SENDMSG: [WritableField; 3] = [USER_IP4, USER_PORT, MSG_SRC_IP4];
    const INET4: [WritableField; 2] = [USER_IP4, USER_PORT];
    const UDP6_SENDMSG: [WritableField; 12] = [
        USER_IP6[0],
        USER_IP6[1],
        USER_IP6[2],
        USER_IP6[3],
        USER_IP6[4],
        USER_IP6[5],
        USER_PORT,
        MSG_SRC_IP6[0],
        MSG_SRC_IP6[1],
        MSG_SRC_IP6[2],
        MSG_SRC_IP6[3],
        MSG_SRC_IP6[4],
    ];
    const INET6: [WritableField; 7] = [
        USER_IP6[0],
        USER_IP6[1],
        USER_IP6[2],
        USER_IP6[3],
        USER_IP6[4],
        USER_IP6[5],
        USER_PORT,
    ];
    match attach {
        CGROUP_UDP4_SENDMSG => &UDP4_SENDMSG,
        CGROUP_INET4_BIND
        | CGROUP_INET4_CONNECT
        | CGROUP_INET4_GETPEERNAME
        | CGROUP_INET4_GETSOCKNAME
        | CGROUP_UDP4_RECVMSG => &INET4,
        CGROUP_UDP6_SENDMSG => &UDP6_SENDMSG,
        CGROUP_INET6_BIND
        | CGROUP_INET6_CONNECT
        | CGROUP_INET6_GETPEERNAME
        | CGROUP_INET6_GETSOCKNAME
        | CGROUP_UDP6_RECVMSG => &INET6,
        // Unix sockets and every other attach type: the port only.
        _ => &[USER_PORT],
    }
}

/// `struct bpf_sockopt`: `optlen` always, `level` and `optname` when setting, `retval` when
/// getting.
fn sockopt_fields(attach: u32) -> &'static [WritableField] {
    const LEVEL: WritableField = word(24);
    const OPTNAME: WritableField = word(28);
    const OPTLEN: WritableField = word(32);
    const RETVAL: WritableField = word(36);
    match attach {
        attach::CGROUP_SETSOCKOPT => &[LEVEL, OPTNAME, OPTLEN],
        attach::CGROUP_GETSOCKOPT => &[OPTLEN, RETVAL],
        _ => &[OPTLEN],
    }
}

/// The fields a program of type `t`, loaded with `expected_attach_type` `attach`, may write
/// in a context laid out as its type's uapi struct.
fn type_fields(t: ProgType, attach: u32) -> &'static [WritableField] {
    use ProgType as T;
    match t {
        T::SocketFilter
        | T::SchedCls
        | T::SchedAct
        | T::CgroupSkb
        | T::LwtIn
        | T::LwtOut
        | T::LwtXmit
        | T::LwtSeg6local
        | T::SkSkb
        | T::FlowDissector => skb_fields(t),
        T::CgroupSock => sock_fields(attach),
        T::CgroupSockAddr => sock_addr_fields(attach),
        // `bpf_sock_ops`: `reply` (the first word of the `args`/`replylong` union; the other
        // words are not writable) and `sk_txhash`.
        T::SockOps => {
            const FIELDS: [WritableField; 2] = [word(4), word(164)];
            &FIELDS
        }
        T::CgroupSockopt => sockopt_fields(attach),
        // `bpf_sysctl`: `file_pos`.
        T::CgroupSysctl => {
            const FILE_POS: WritableField = word(4);
            &[FILE_POS]
        }
        // Read-only: XDP, kprobe, tracepoint, raw tracepoint (writable ones write through the
        // buffer pointer, not the arguments), perf event, tracing, LSM, struct_ops, sk_msg,
        // sk_reuseport, sk_lookup, cgroup_device, lirc_mode2, netfilter; extension programs
        // (their target's rules, unknown here) and the unspecified type fail closed.
        _ => &[],
    }
}

/// The `expected_attach_type` the kernel holds a program to: `bpf_prog_load_fixup_attach_type`
/// makes a cgroup_sock program loaded without one a socket-creation program.
fn effective_attach(t: ProgType, attach: Option<u32>) -> u32 {
    match (t, attach.unwrap_or(0)) {
        (ProgType::CgroupSock, 0) => attach::CGROUP_INET_SOCK_CREATE,
        (_, a) => a,
    }
}

/// The fields of a context of `kind` that a program of type `t` loaded with
/// `expected_attach_type` `attach` may write; `None` when the whole context is writable
/// (by aligned stores).
pub fn writable_ranges(
    kind: ContextKind,
    t: ProgType,
    attach: Option<u32>,
) -> Option<&'static [WritableField]> {
    Some(match kind {
        // These kinds carry private fields (XDP) or are read-only for every type.
        ContextKind::Xdp | ContextKind::Kprobe | ContextKind::Tracepoint => &[],
        ContextKind::RawTracepoint => &[],
        ContextKind::Skb => skb_fields(t),
        // A syscall program's context is the caller's buffer, which
        // `syscall_prog_is_valid_access` lets it store into anywhere.
        ContextKind::Syscall | ContextKind::Struct if t == ProgType::Syscall => return None,
        // Bytes laid out as the type's uapi struct: the type's rules, whichever constructor
        // made them.
        ContextKind::Syscall | ContextKind::Struct => type_fields(t, effective_attach(t, attach)),
    })
}
