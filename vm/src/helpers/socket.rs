//! Socket helpers (net/core/filter.c): `bpf_sk_lookup_tcp`/`_udp`, `bpf_skc_lookup_tcp`,
//! `bpf_sk_release`, `bpf_sk_fullsock`, `bpf_tcp_sock`, `bpf_get_listener_sock`,
//! `bpf_skc_to_tcp_sock`, `bpf_skc_to_tcp_request_sock`, `bpf_get_socket_cookie` and
//! `bpf_get_netns_cookie`, over the
//! run's [`crate::net::SocketTable`].
//!
//! A socket a program gets is the address of its `struct bpf_sock` (read-only); the
//! `bpf_tcp_sock` view follows it and reads as zeros.

use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::net::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, TCP_LISTEN, TCP_NEW_SYN_RECV};

/// `sizeof(bpf_sock_tuple.ipv4)`.
const TUPLE_V4: u64 = 12;
/// `sizeof(bpf_sock_tuple.ipv6)`.
const TUPLE_V6: u64 = 36;

/// `__bpf_skc_lookup`: the handle of the socket the tuple names, or `None` (also for bad
/// sizes, flags, or a namespace id other than the current one, which has no peers here).
fn lookup(
    c: &mut HelperCtx<'_, '_>,
    a: [u64; 5],
    protocol: u8,
) -> Result<Option<u32>, super::HelperError> {
    let (family, n) = match a[2] {
        TUPLE_V4 => (AF_INET, 4),
        TUPLE_V6 => (AF_INET6, 16),
        _ => return Ok(None),
    };
    let netns = a[3];
    if a[4] != 0 || !((netns as i32) < 0 || netns <= i32::MAX as u64) {
        return Ok(None);
    }
    if (netns as i32) >= 0 {
        return Ok(None);
    }
    let t = c.read(a[1], a[2] as usize)?;
    let saddr = &t[..n];
    let daddr = &t[n..2 * n];
    let sport = u16::from_be_bytes([t[2 * n], t[2 * n + 1]]);
    let dport = u16::from_be_bytes([t[2 * n + 2], t[2 * n + 3]]);
    Ok(c.env()
        .net
        .sockets
        .lookup(family, protocol, saddr, sport, daddr, dport))
}

fn sock_ptr(c: &mut HelperCtx<'_, '_>, handle: Option<u32>) -> u64 {
    handle
        .and_then(|h| c.env().net.sockets.addr(h))
        .unwrap_or(0)
}

fn full_lookup(
    c: &mut HelperCtx<'_, '_>,
    a: [u64; 5],
    proto: u8,
) -> Result<u64, super::HelperError> {
    let h = lookup(c, a, proto)?;
    // bpf_sk_lookup: a request or time-wait socket is not returned.
    let h = h.filter(|&h| c.env().net.sockets.get(h).is_some_and(|s| s.is_full()));
    Ok(sock_ptr(c, h))
}

/// The socket a program pointer names, with a predicate on it; the pointer or 0.
fn filter_sock(
    c: &mut HelperCtx<'_, '_>,
    addr: u64,
    keep: impl Fn(&crate::net::Socket) -> bool,
    tcp_view: bool,
) -> u64 {
    let sockets = &c.env().net.sockets;
    let Some(h) = sockets.handle_of(addr) else {
        return 0;
    };
    match (sockets.get(h), sockets.addr(h)) {
        (Some(s), Some(p)) if keep(s) => {
            if tcp_view {
                p + crate::net::TCP_SOCK_OFF
            } else {
                p
            }
        }
        _ => 0,
    }
}

/// Registers the socket helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    let lookup_args = &[
        A::PtrToCtx,
        A::PtrToMem,
        A::ConstSize,
        A::Anything,
        A::Anything,
    ];
    reg(
        r,
        84,
        "bpf_sk_lookup_tcp",
        R::PtrToMemOrNull,
        lookup_args,
        |c, a| full_lookup(c, a, IPPROTO_TCP),
    );
    reg(
        r,
        85,
        "bpf_sk_lookup_udp",
        R::PtrToMemOrNull,
        lookup_args,
        |c, a| full_lookup(c, a, IPPROTO_UDP),
    );
    reg(
        r,
        99,
        "bpf_skc_lookup_tcp",
        R::PtrToMemOrNull,
        lookup_args,
        |c, a| {
            let h = lookup(c, a, IPPROTO_TCP)?;
            Ok(sock_ptr(c, h))
        },
    );
    reg(
        r,
        86,
        "bpf_sk_release",
        R::Integer,
        &[A::Anything],
        |_, _| Ok(0),
    );
    reg(
        r,
        95,
        "bpf_sk_fullsock",
        R::PtrToMemOrNull,
        &[A::Anything],
        |c, a| Ok(filter_sock(c, a[0], |s| s.is_full(), false)),
    );
    reg(
        r,
        96,
        "bpf_tcp_sock",
        R::PtrToMemOrNull,
        &[A::Anything],
        |c, a| {
            Ok(filter_sock(
                c,
                a[0],
                |s| s.is_full() && s.protocol == IPPROTO_TCP,
                true,
            ))
        },
    );
    reg(
        r,
        98,
        "bpf_get_listener_sock",
        R::PtrToMemOrNull,
        &[A::Anything],
        |c, a| Ok(filter_sock(c, a[0], |s| s.state == TCP_LISTEN, false)),
    );
    reg(
        r,
        137,
        "bpf_skc_to_tcp_sock",
        R::PtrToMemOrNull,
        &[A::Anything],
        |c, a| {
            Ok(filter_sock(
                c,
                a[0],
                |s| s.is_full() && s.protocol == IPPROTO_TCP,
                false,
            ))
        },
    );
    reg(
        r,
        139,
        "bpf_skc_to_tcp_request_sock",
        R::PtrToMemOrNull,
        &[A::Anything],
        |c, a| Ok(filter_sock(c, a[0], |s| s.state == TCP_NEW_SYN_RECV, false)),
    );
    reg(
        r,
        46,
        "bpf_get_socket_cookie",
        R::Integer,
        &[A::PtrToCtx],
        |c, _| Ok(c.env().net.ctx_socket_cookie),
    );
    reg(
        r,
        122,
        "bpf_get_netns_cookie",
        R::Integer,
        &[A::Anything],
        |c, _| Ok(c.env().net.netns_cookie),
    );
}
