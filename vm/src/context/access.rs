//! Which bytes of a context a program may store into, as the kernel's `is_valid_access`
//! callbacks decide for each program type (Linux 6.12, net/core/filter.c:
//! `sk_filter_is_valid_access`, `tc_cls_act_is_valid_access`, `cg_skb_is_valid_access`,
//! `lwt_is_valid_access`, `sk_skb_is_valid_access`, `xdp_is_valid_access`; kprobe,
//! tracepoint and raw tracepoint contexts are read-only).
//!
//! A run registers the whole context read-only, and a writable region over each of these
//! ranges: the private tail holding the real packet pointers, and the uapi copies of them,
//! are never writable by the program.

use super::{skb_off, ContextKind};
use crate::program::ProgType;

/// `__sk_buff` fields as `(offset, size)`.
const MARK: (u64, u64) = (skb_off::MARK, 4);
const QUEUE_MAPPING: (u64, u64) = (12, 4);
const PRIORITY: (u64, u64) = (skb_off::PRIORITY, 4);
const TC_INDEX: (u64, u64) = (44, 4);
const CB: (u64, u64) = (skb_off::CB, 20);
const TC_CLASSID: (u64, u64) = (72, 4);
const TSTAMP: (u64, u64) = (skb_off::TSTAMP, 8);

/// The `(offset, size)` ranges of a context of `kind` that a program of type `t` may write;
/// `None` when the whole context is writable (user-supplied contexts such as a syscall
/// program's).
pub fn writable_ranges(kind: ContextKind, t: ProgType) -> Option<&'static [(u64, u64)]> {
    use ProgType as T;
    Some(match kind {
        ContextKind::Xdp | ContextKind::Kprobe | ContextKind::Tracepoint => &[],
        ContextKind::RawTracepoint => &[],
        ContextKind::Syscall => return None,
        ContextKind::Skb => match t {
            T::SocketFilter => &[CB],
            T::CgroupSkb => &[MARK, PRIORITY, CB, TSTAMP],
            T::LwtIn | T::LwtOut | T::LwtXmit => &[MARK, PRIORITY, CB],
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
        },
    })
}
