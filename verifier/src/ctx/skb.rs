//! `struct __sk_buff`, as `bpf_skb_is_valid_access` sees it, behind the wrapper of each
//! program type that uses it: socket filters, tc (`sched_cls`, `sched_act`), `cgroup_skb`,
//! the lightweight tunnels, `sk_skb` and the flow dissector (which has rules of its own).

use bpfbox_vm::ProgType;

use super::{Access, Field, Load};
use crate::state::RegType;

const MARK: i32 = 8;
const QUEUE_MAPPING: i32 = 12;
const PRIORITY: i32 = 32;
const TC_INDEX: i32 = 44;
const CB: i32 = 48;
const CB_END: i32 = 68;
const TC_CLASSID: i32 = 72;
const DATA: i32 = 76;
const DATA_END: i32 = 80;
/// `family` up to the end of `local_port`: the socket fields.
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

/// A 4-byte field.
fn at4(a: &Access, start: i32) -> bool {
    a.within(start, 4)
}

/// An 8-byte field.
fn at8(a: &Access, start: i32) -> bool {
    a.within(start, 8)
}

fn cb(a: &Access) -> bool {
    (CB..CB_END).contains(&a.off)
}

fn sock_fields(a: &Access) -> bool {
    (FAMILY..LOCAL_PORT_END).contains(&a.off)
}

/// The packet pointer a field loads as, in the types where the wrapper says so.
fn packet_field(a: &Access, meta: bool) -> Option<RegType> {
    if at4(a, DATA) {
        Some(RegType::Packet)
    } else if at4(a, DATA_END) {
        Some(RegType::PacketEnd)
    } else if meta && at4(a, DATA_META) {
        Some(RegType::PacketMeta)
    } else {
        None
    }
}

pub(super) fn access(load: &Load, a: Access) -> Option<Field> {
    use ProgType::*;
    let ptr = match load.prog_type {
        SocketFilter => {
            let hidden = at4(&a, TC_CLASSID)
                || at4(&a, DATA)
                || at4(&a, DATA_META)
                || at4(&a, DATA_END)
                || sock_fields(&a)
                || at8(&a, TSTAMP)
                || at4(&a, WIRE_LEN)
                || at8(&a, HWTSTAMP);
            if hidden || (a.write && !cb(&a)) {
                return None;
            }
            None
        }
        SchedCls | SchedAct => {
            let writable = at4(&a, MARK)
                || at4(&a, TC_INDEX)
                || at4(&a, PRIORITY)
                || at4(&a, TC_CLASSID)
                || cb(&a)
                || at8(&a, TSTAMP)
                || at4(&a, QUEUE_MAPPING);
            if a.write && !writable {
                return None;
            }
            if sock_fields(&a) {
                return None;
            }
            if a.off == TSTAMP_TYPE {
                return (a.size == 1).then_some(Field::Scalar);
            }
            packet_field(&a, true)
        }
        CgroupSkb => {
            if at4(&a, TC_CLASSID) || at4(&a, DATA_META) || at4(&a, WIRE_LEN) {
                return None;
            }
            if (at4(&a, DATA) || at4(&a, DATA_END)) && !load.privileged {
                return None;
            }
            let writable = at4(&a, MARK)
                || at4(&a, PRIORITY)
                || cb(&a)
                || (at8(&a, TSTAMP) && load.privileged);
            if a.write && !writable {
                return None;
            }
            packet_field(&a, false)
        }
        LwtIn | LwtOut | LwtXmit | LwtSeg6local => {
            let hidden = at4(&a, TC_CLASSID)
                || sock_fields(&a)
                || at4(&a, DATA_META)
                || at8(&a, TSTAMP)
                || at4(&a, WIRE_LEN)
                || at8(&a, HWTSTAMP);
            if hidden {
                return None;
            }
            if a.write && !(at4(&a, MARK) || at4(&a, PRIORITY) || cb(&a)) {
                return None;
            }
            packet_field(&a, false)
        }
        SkSkb => {
            let hidden = at4(&a, TC_CLASSID)
                || at4(&a, DATA_META)
                || at8(&a, TSTAMP)
                || at4(&a, WIRE_LEN)
                || at8(&a, HWTSTAMP)
                || at4(&a, MARK);
            if hidden || (a.write && !(at4(&a, TC_INDEX) || at4(&a, PRIORITY))) {
                return None;
            }
            packet_field(&a, false)
        }
        FlowDissector => return flow_dissector(a),
        _ => return None,
    };
    let field = common(a)?;
    Some(ptr.map_or(field, Field::Pointer))
}

/// `bpf_skb_is_valid_access`, the rules every wrapper ends with.
fn common(a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() {
        return None;
    }
    let ok = if cb(&a) {
        a.off + a.size as i32 <= CB_END
    } else if at4(&a, DATA) || at4(&a, DATA_META) || at4(&a, DATA_END) {
        !a.signed && a.size == 4
    } else if (REMOTE_IP6..LOCAL_IP6_END).contains(&a.off)
        || at4(&a, REMOTE_IP4)
        || at4(&a, LOCAL_IP4)
    {
        a.size == 4
    } else if at8(&a, FLOW_KEYS) || (TSTAMP_TYPE..HWTSTAMP).contains(&a.off) {
        false
    } else if at8(&a, HWTSTAMP) {
        !a.write && a.size == 8
    } else if at8(&a, TSTAMP) {
        a.size == 8
    } else if at8(&a, SK) {
        if a.write || a.size != 8 {
            return None;
        }
        return Some(Field::PointerOrNull(RegType::SockCommon));
    } else if a.write {
        a.size == 4
    } else {
        a.narrow_ok(4)
    };
    ok.then_some(Field::Scalar)
}

/// `flow_dissector_is_valid_access`: read-only, only the packet pointers and the flow keys.
fn flow_dissector(a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() || a.write {
        return None;
    }
    if at4(&a, DATA) || at4(&a, DATA_END) {
        if a.signed || a.size != 4 {
            return None;
        }
        return packet_field(&a, false).map(Field::Pointer);
    }
    if at8(&a, FLOW_KEYS) {
        return (a.size == 8).then_some(Field::Pointer(RegType::FlowKeys));
    }
    None
}
