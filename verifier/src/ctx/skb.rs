//! `struct __sk_buff`, as `bpf_skb_is_valid_access` and the socket-filter and tc
//! (`sched_cls`, `sched_act`) wrappers see it.

use super::{CtxError, Field};
use crate::state::RegType;

const CB: i32 = 48;
const CB_END: i32 = 68;
const TC_CLASSID: i32 = 72;
const DATA: i32 = 76;
const DATA_END: i32 = 80;
const FAMILY: i32 = 88;
const REMOTE_IP4: i32 = 92;
const LOCAL_IP4: i32 = 96;
const REMOTE_IP6: i32 = 100;
const LOCAL_IP6_END: i32 = 132;
const LOCAL_PORT_END: i32 = 140;
const DATA_META: i32 = 140;
const FLOW_KEYS: i32 = 144;
const TSTAMP: i32 = 152;
const WIRE_LEN: i32 = 160;
const SK: i32 = 168;
const TSTAMP_TYPE: i32 = 180;
const HWTSTAMP: i32 = 184;
const SIZE: i32 = 192;
const MARK: i32 = 8;
const QUEUE_MAPPING: i32 = 12;
const PRIORITY: i32 = 32;
const TC_INDEX: i32 = 44;

/// Whether `off` lies in the field `[start, start + len)`.
fn field(off: i32, start: i32, len: i32) -> bool {
    (start..start + len).contains(&off)
}

/// Which program wraps the common rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// `sk_filter_is_valid_access`.
    SocketFilter,
    /// `tc_cls_act_is_valid_access`.
    Tc,
}

pub(super) fn access(
    flavor: Flavor,
    off: i32,
    size: u32,
    write: bool,
    signed: bool,
) -> Result<Field, CtxError> {
    let invalid = Err(CtxError::Invalid { off, size });
    let mut ptr = None;
    match flavor {
        Flavor::SocketFilter => {
            if field(off, TC_CLASSID, 4)
                || field(off, DATA, 4)
                || field(off, DATA_META, 4)
                || field(off, DATA_END, 4)
                || (FAMILY..LOCAL_PORT_END).contains(&off)
                || field(off, TSTAMP, 8)
                || field(off, WIRE_LEN, 4)
                || field(off, HWTSTAMP, 8)
            {
                return invalid;
            }
            if write && !(CB..CB_END).contains(&off) {
                return invalid;
            }
        }
        Flavor::Tc => {
            if write {
                let ok = field(off, MARK, 4)
                    || field(off, TC_INDEX, 4)
                    || field(off, PRIORITY, 4)
                    || field(off, TC_CLASSID, 4)
                    || (CB..CB_END).contains(&off)
                    || field(off, TSTAMP, 8)
                    || field(off, QUEUE_MAPPING, 4);
                if !ok {
                    return invalid;
                }
            }
            if field(off, DATA, 4) {
                ptr = Some(RegType::Packet);
            } else if field(off, DATA_META, 4) {
                ptr = Some(RegType::PacketMeta);
            } else if field(off, DATA_END, 4) {
                ptr = Some(RegType::PacketEnd);
            } else if (FAMILY..LOCAL_PORT_END).contains(&off) {
                return invalid;
            } else if off == TSTAMP_TYPE {
                return if size == 1 {
                    Ok(Field::Scalar)
                } else {
                    invalid
                };
            }
        }
    }
    common(off, size, write, signed)?;
    Ok(ptr.map_or(Field::Scalar, Field::Pointer))
}

/// `bpf_skb_is_valid_access`.
fn common(off: i32, size: u32, write: bool, signed: bool) -> Result<(), CtxError> {
    let invalid = Err(CtxError::Invalid { off, size });
    if !(0..SIZE).contains(&off) || off % size as i32 != 0 {
        return invalid;
    }
    if (CB..CB_END).contains(&off) {
        if off + size as i32 > CB_END {
            return invalid;
        }
    } else if field(off, DATA, 4) || field(off, DATA_META, 4) || field(off, DATA_END, 4) {
        if signed || size != 4 {
            return invalid;
        }
    } else if (REMOTE_IP6..LOCAL_IP6_END).contains(&off)
        || field(off, REMOTE_IP4, 4)
        || field(off, LOCAL_IP4, 4)
    {
        if size != 4 {
            return invalid;
        }
    } else if field(off, FLOW_KEYS, 8)
        || off == TSTAMP_TYPE
        || (TSTAMP_TYPE + 1..HWTSTAMP).contains(&off)
    {
        return invalid;
    } else if field(off, HWTSTAMP, 8) {
        if write || size != 8 {
            return invalid;
        }
    } else if field(off, TSTAMP, 8) {
        if size != 8 {
            return invalid;
        }
    } else if field(off, SK, 8) {
        if write || size != 8 {
            return invalid;
        }
        return Err(CtxError::Unsupported(bpfbox_vm::ProgType::SchedCls));
    } else if write {
        if size != 4 {
            return invalid;
        }
    } else if size > 4 || size & (size - 1) != 0 {
        return invalid;
    }
    Ok(())
}
