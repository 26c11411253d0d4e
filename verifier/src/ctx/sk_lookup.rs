//! `struct bpf_sk_lookup` (`sk_lookup_is_valid_access`): read-only; the socket pointer, word
//! fields that allow narrow loads, and the 16-bit remote port with its padding.

use super::{Access, Field};
use crate::state::RegType;

const SK: i32 = 0;
const FAMILY: i32 = 8;
const REMOTE_PORT: i32 = 36;
const PORT_PAD: i32 = 38;
const LOCAL_IP4: i32 = 40;
/// `local_ip4` up to the end of `ingress_ifindex`.
const INGRESS_IFINDEX_END: i32 = 68;
const SIZE: i32 = 72;

pub(super) fn access(a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() || a.write {
        return None;
    }
    let ok = if a.within(SK, 8) {
        return (a.size == 8).then_some(Field::PointerOrNull(RegType::Socket));
    } else if (FAMILY..REMOTE_PORT).contains(&a.off)
        || (LOCAL_IP4..INGRESS_IFINDEX_END).contains(&a.off)
    {
        a.narrow_ok(4)
    } else if a.within(REMOTE_PORT, 2) {
        // A whole word is allowed for compatibility.
        a.size == 4 || a.narrow_ok(2)
    } else if a.within(PORT_PAD, 2) {
        a.narrow_ok(2)
    } else {
        false
    };
    ok.then_some(Field::Scalar)
}
