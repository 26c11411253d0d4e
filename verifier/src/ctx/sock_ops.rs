//! `struct bpf_sock_ops` (`sock_ops_is_valid_access`): word fields read whole, the 64-bit
//! counters and pointers read whole, two fields writable.

use super::{Access, Field};
use crate::state::RegType;

const REPLY: i32 = 4;
const SK_TXHASH: i32 = 164;
const BYTES_RECEIVED: i32 = 168;
const SK: i32 = 184;
const SKB_DATA: i32 = 192;
const SKB_DATA_END: i32 = 200;
const SKB_TCP_FLAGS: i32 = 212;
const SKB_HWTSTAMP: i32 = 216;
const SIZE: i32 = 224;

pub(super) fn access(a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() {
        return None;
    }
    if a.write {
        return (matches!(a.off, REPLY | SK_TXHASH) && a.size == 4).then_some(Field::Scalar);
    }
    let wide = a.size == 8;
    if a.within(BYTES_RECEIVED, 16) || a.within(SKB_HWTSTAMP, 8) {
        wide.then_some(Field::Scalar)
    } else if a.within(SK, 8) {
        wide.then_some(Field::PointerOrNull(RegType::Socket))
    } else if a.within(SKB_DATA, 8) {
        wide.then_some(Field::Pointer(RegType::Packet))
    } else if a.within(SKB_DATA_END, 8) {
        wide.then_some(Field::Pointer(RegType::PacketEnd))
    } else if a.off == SKB_TCP_FLAGS {
        a.narrow_ok(4).then_some(Field::Scalar)
    } else {
        (a.size == 4).then_some(Field::Scalar)
    }
}
