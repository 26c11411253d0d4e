//! `struct sk_reuseport_md` (`sk_reuseport_is_valid_access`): read-only; pointers at their
//! exact offsets, a few words that allow narrow loads.

use super::{Access, Field};
use crate::state::RegType;

const DATA: i32 = 0;
const DATA_END: i32 = 8;
const LEN: i32 = 16;
const ETH_PROTOCOL: i32 = 20;
const IP_PROTOCOL: i32 = 24;
const BIND_INANY: i32 = 28;
const HASH: i32 = 32;
const SK: i32 = 40;
const MIGRATING_SK: i32 = 48;
const SIZE: i32 = 56;

pub(super) fn access(a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() || a.write {
        return None;
    }
    let wide = a.size == 8;
    match a.off {
        DATA => wide.then_some(Field::Pointer(RegType::Packet)),
        DATA_END => wide.then_some(Field::Pointer(RegType::PacketEnd)),
        HASH => (a.size == 4).then_some(Field::Scalar),
        SK => wide.then_some(Field::Pointer(RegType::Socket)),
        MIGRATING_SK => wide.then_some(Field::PointerOrNull(RegType::SockCommon)),
        _ => {
            // `eth_protocol` is read at least as wide as `skb->protocol` (16 bits).
            if a.within(ETH_PROTOCOL, 4) && a.size < 2 {
                return None;
            }
            let narrowable = a.within(ETH_PROTOCOL, 4)
                || a.within(IP_PROTOCOL, 4)
                || a.within(BIND_INANY, 4)
                || a.within(LEN, 4);
            (narrowable && a.narrow_ok(4)).then_some(Field::Scalar)
        }
    }
}
