//! `struct sk_msg_md` (`sk_msg_is_valid_access`): read-only; the packet pointers and the
//! socket read whole, every other field a whole word.

use super::{Access, Field};
use crate::state::RegType;

const DATA: i32 = 0;
const DATA_END: i32 = 8;
const FAMILY: i32 = 16;
/// `family` up to the end of `size`: every word field.
const SIZE_END: i32 = 72;
const SK: i32 = 72;

pub(super) fn access(a: Access) -> Option<Field> {
    if a.write || !a.aligned() {
        return None;
    }
    let wide = a.size == 8;
    if a.within(DATA, 8) {
        wide.then_some(Field::Pointer(RegType::Packet))
    } else if a.within(DATA_END, 8) {
        wide.then_some(Field::Pointer(RegType::PacketEnd))
    } else if a.within(SK, 8) {
        wide.then_some(Field::Pointer(RegType::Socket))
    } else if (FAMILY..SIZE_END).contains(&a.off) {
        (a.size == 4).then_some(Field::Scalar)
    } else {
        None
    }
}
