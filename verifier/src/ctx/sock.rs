//! `struct bpf_sock`: as `cgroup_sock` programs see it (`sock_filter_is_valid_access`: the
//! common socket rules, then per attach type which fields exist and which may be written),
//! and as any program reads it through a socket pointer (`bpf_sock_is_valid_access`).

use super::{attach, Access, Field, Load};

const BOUND_DEV_IF: i32 = 0;
const FAMILY: i32 = 4;
pub(super) const TYPE: i32 = 8;
const PROTOCOL: i32 = 12;
const MARK: i32 = 16;
pub(super) const PRIORITY: i32 = 20;
const SRC_IP4: i32 = 24;
const SRC_IP6: i32 = 28;
const SRC_PORT: i32 = 44;
const DST_PORT: i32 = 48;
const DST_IP4: i32 = 52;
const DST_IP6: i32 = 56;
const STATE: i32 = 72;
const RX_QUEUE_MAPPING: i32 = 76;
const SIZE: i32 = 80;

/// `bpf_sock_is_valid_access`.
pub(super) fn valid(a: &Access) -> bool {
    if !(0..SIZE).contains(&a.off) || !a.aligned() {
        return false;
    }
    let narrow = matches!(
        a.off,
        STATE | FAMILY | TYPE | PROTOCOL | SRC_PORT | RX_QUEUE_MAPPING
    ) || a.within(SRC_IP4, 4)
        || a.within(SRC_IP6, 16)
        || a.within(DST_IP4, 4)
        || a.within(DST_IP6, 16);
    if narrow {
        return a.narrow_ok(4);
    }
    if a.within(DST_PORT, 2) {
        // The 16-bit port may also be read as a whole word.
        return a.narrow_ok(if a.size == 4 { 4 } else { 2 });
    }
    if a.within(DST_PORT + 2, 2) {
        return false;
    }
    a.size == 4
}

pub(super) fn access(load: &Load, a: Access) -> Option<Field> {
    if !valid(&a) {
        return None;
    }
    let read_only = !a.write;
    // `bpf_prog_load_fixup_attach_type`: loaded without an attach type, a cgroup_sock
    // program is a socket-creation program.
    let at = match load.attach {
        0 => attach::CGROUP_INET_SOCK_CREATE,
        a => a,
    };
    let ok = match a.off {
        BOUND_DEV_IF | MARK | PRIORITY => matches!(
            at,
            attach::CGROUP_INET_SOCK_CREATE | attach::CGROUP_INET_SOCK_RELEASE
        ),
        o if (SRC_IP4..SRC_IP4 + 4).contains(&o) => {
            at == attach::CGROUP_INET4_POST_BIND && read_only
        }
        o if (SRC_IP6..SRC_IP6 + 16).contains(&o) => {
            at == attach::CGROUP_INET6_POST_BIND && read_only
        }
        o if (SRC_PORT..SRC_PORT + 4).contains(&o) => {
            matches!(
                at,
                attach::CGROUP_INET4_POST_BIND | attach::CGROUP_INET6_POST_BIND
            ) && read_only
        }
        _ => read_only,
    };
    ok.then_some(Field::Scalar)
}
