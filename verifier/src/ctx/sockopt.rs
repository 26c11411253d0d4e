//! `struct bpf_sockopt` (`cg_sockopt_is_valid_access`): the option buffer loads as packet
//! pointers; which words may be written, and whether `retval` exists, depend on the attach
//! type (get or set).

use super::{attach, Access, Field, Load};
use crate::state::RegType;

const SK: i32 = 0;
const OPTVAL: i32 = 8;
const OPTVAL_END: i32 = 16;
const LEVEL: i32 = 24;
const OPTNAME: i32 = 28;
const OPTLEN: i32 = 32;
const RETVAL: i32 = 36;
const SIZE: i32 = 40;

pub(super) fn access(load: &Load, a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() {
        return None;
    }
    let get = load.attach == attach::CGROUP_GETSOCKOPT;
    let set = load.attach == attach::CGROUP_SETSOCKOPT;
    let word = a.size == 4;
    let wide = a.size == 8;
    let ok = if a.write {
        match a.off {
            RETVAL => word && get,
            OPTNAME | LEVEL => word && set,
            OPTLEN => word,
            _ => false,
        }
    } else if a.within(SK, 8) {
        return wide.then_some(Field::Pointer(RegType::Socket));
    } else if a.within(OPTVAL, 8) {
        return wide.then_some(Field::Pointer(RegType::Packet));
    } else if a.within(OPTVAL_END, 8) {
        return wide.then_some(Field::Pointer(RegType::PacketEnd));
    } else if a.within(RETVAL, 4) {
        word && get
    } else {
        word
    };
    ok.then_some(Field::Scalar)
}
