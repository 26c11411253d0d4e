//! `struct bpf_sock_addr` (`cgroup_sock_addr` programs, `sock_addr_is_valid_access`): the
//! address fields exist only for the attach type's family, and may be written.

use super::{attach::*, Access, Field, Load};
use crate::state::RegType;

const USER_FAMILY: i32 = 0;
const USER_IP4: i32 = 4;
const USER_IP6: i32 = 8;
const USER_PORT: i32 = 24;
const FAMILY: i32 = 28;
const TYPE: i32 = 32;
const PROTOCOL: i32 = 36;
const MSG_SRC_IP4: i32 = 40;
const MSG_SRC_IP6: i32 = 44;
const SK: i32 = 64;
const SIZE: i32 = 72;

/// Whether the field at `a.off` exists for this attach type's address family.
fn family_ok(load: &Load, a: &Access) -> bool {
    let t = load.attach;
    if a.within(USER_IP4, 4) {
        matches!(
            t,
            CGROUP_INET4_BIND
                | CGROUP_INET4_CONNECT
                | CGROUP_INET4_GETPEERNAME
                | CGROUP_INET4_GETSOCKNAME
                | CGROUP_UDP4_SENDMSG
                | CGROUP_UDP4_RECVMSG
        )
    } else if a.within(USER_IP6, 16) {
        matches!(
            t,
            CGROUP_INET6_BIND
                | CGROUP_INET6_CONNECT
                | CGROUP_INET6_GETPEERNAME
                | CGROUP_INET6_GETSOCKNAME
                | CGROUP_UDP6_SENDMSG
                | CGROUP_UDP6_RECVMSG
        )
    } else if a.within(MSG_SRC_IP4, 4) {
        t == CGROUP_UDP4_SENDMSG
    } else if a.within(MSG_SRC_IP6, 16) {
        t == CGROUP_UDP6_SENDMSG
    } else {
        true
    }
}

pub(super) fn access(load: &Load, a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || !a.aligned() || !family_ok(load, &a) {
        return None;
    }
    let address = a.within(USER_IP4, 4)
        || a.within(USER_IP6, 16)
        || a.within(MSG_SRC_IP4, 4)
        || a.within(MSG_SRC_IP6, 16)
        || a.within(USER_PORT, 4);
    let ok = if address {
        let wide = a.wide_ok(USER_IP6, USER_IP6 + 16) || a.wide_ok(MSG_SRC_IP6, MSG_SRC_IP6 + 16);
        // Reads may be narrow; writes are whole words (or two of them in the IPv6 arrays).
        wide || if a.write { a.size == 4 } else { a.narrow_ok(4) }
    } else if a.within(SK, 8) {
        if a.write || a.size != 8 {
            return None;
        }
        return Some(Field::Pointer(RegType::Socket));
    } else if a.within(USER_FAMILY, 4)
        || a.within(FAMILY, 4)
        || a.within(TYPE, 4)
        || a.within(PROTOCOL, 4)
    {
        !a.write && a.size == 4
    } else {
        false
    };
    ok.then_some(Field::Scalar)
}
