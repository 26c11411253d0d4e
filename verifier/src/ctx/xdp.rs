//! `struct xdp_md`, as `xdp_is_valid_access` sees it: read-only, whole 32-bit fields, three
//! of them packet pointers.

use super::{attach, Access, Field, Load};
use crate::state::RegType;

const DATA: i32 = 0;
const DATA_END: i32 = 4;
const DATA_META: i32 = 8;
const EGRESS_IFINDEX: i32 = 20;
const SIZE: i32 = 24;

pub(super) fn access(load: &Load, a: Access) -> Option<Field> {
    if a.off == EGRESS_IFINDEX && load.attach != attach::XDP_DEVMAP {
        return None;
    }
    // Writes are only for offloaded programs, which are not verified here.
    if a.write || !(0..SIZE).contains(&a.off) || !a.aligned() || a.size != 4 {
        return None;
    }
    let ptr = match a.off {
        DATA => RegType::Packet,
        DATA_END => RegType::PacketEnd,
        DATA_META => RegType::PacketMeta,
        _ => return Some(Field::Scalar),
    };
    // A sign-extended pointer is no pointer.
    (!a.signed).then_some(Field::Pointer(ptr))
}
