//! Socket-option and socket-map helpers of the context's socket (net/core/filter.c,
//! net/core/sock_map.c): `bpf_getsockopt`, `bpf_setsockopt`, `bpf_sock_map_update`,
//! `bpf_sock_hash_update` and `bpf_sk_select_reuseport`.
//!
//! The context's socket options are [`crate::net::Net::sockopts`]. bpfbox's maps hold no
//! sockets and its `sock_ops` contexts carry none, so the socket-map helpers answer what
//! the kernel answers when the socket or the map entry is missing.

use super::maps::{map_arg, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

/// `-ENOENT`.
const ENOENT: u64 = -2i64 as u64;
/// `-EOPNOTSUPP`.
const EOPNOTSUPP: u64 = -95i64 as u64;
/// `SOL_SOCKET`.
const SOL_SOCKET: i32 = 1;
/// `SO_BINDTODEVICE`.
const SO_BINDTODEVICE: i32 = 25;
/// The `SOL_SOCKET` options the helpers accept, all `int`-sized (`sol_socket_sockopt`):
/// `SO_REUSEADDR`, `SO_SNDBUF`, `SO_RCVBUF`, `SO_KEEPALIVE`, `SO_PRIORITY`, `SO_REUSEPORT`,
/// `SO_RCVLOWAT`, `SO_MARK`, `SO_MAX_PACING_RATE`, `SO_BINDTOIFINDEX`, `SO_TXREHASH`.
const SOL_SOCKET_INT_OPTS: [i32; 11] = [2, 7, 8, 9, 12, 15, 18, 36, 47, 62, 74];

/// Whether `sol_socket_sockopt` refuses `(optname, optlen)` before reaching the socket.
fn sol_socket_refuses(optname: i32, optlen: u64, get: bool) -> bool {
    if SOL_SOCKET_INT_OPTS.contains(&optname) {
        optlen != 4
    } else {
        optname != SO_BINDTODEVICE || get
    }
}

/// `bpf_getsockopt(ctx, level, optname, optval, optlen)`: the stored value, else `-EINVAL`;
/// on failure `optval` is cleared.
fn getsockopt(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (level, optname, optlen) = (a[1] as i32, a[2] as i32, a[4] & 0xffff_ffff);
    c.check_writable(a[3], optlen as usize)?;
    let found = if level == SOL_SOCKET && sol_socket_refuses(optname, optlen, true) {
        None
    } else {
        c.env()
            .net
            .sockopts
            .iter()
            .find(|(l, o, v)| *l == level && *o == optname && v.len() as u64 == optlen)
            .map(|(_, _, v)| v.clone())
    };
    match found {
        Some(v) => {
            c.write(a[3], &v)?;
            Ok(0)
        }
        None => {
            super::stack::clear(c, a[3], optlen)?;
            Ok(EINVAL)
        }
    }
}

/// `bpf_setsockopt(ctx, level, optname, optval, optlen)`: stores the value for
/// `bpf_getsockopt`; an option `SOL_SOCKET` does not accept is `-EINVAL`.
fn setsockopt(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (level, optname, optlen) = (a[1] as i32, a[2] as i32, a[4] & 0xffff_ffff);
    if level == SOL_SOCKET && sol_socket_refuses(optname, optlen, false) {
        return Ok(EINVAL);
    }
    let v = c.read(a[3], optlen as usize)?;
    let opts = &mut c.env().net.sockopts;
    opts.retain(|(l, o, _)| (*l, *o) != (level, optname));
    opts.push((level, optname, v));
    Ok(0)
}

/// Registers the socket-option and socket-map helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        57,
        "bpf_getsockopt",
        R::Integer,
        &[
            A::PtrToCtx,
            A::Anything,
            A::Anything,
            A::PtrToUninitMem,
            A::ConstSize,
        ],
        getsockopt,
    );
    reg(
        r,
        49,
        "bpf_setsockopt",
        R::Integer,
        &[
            A::PtrToCtx,
            A::Anything,
            A::Anything,
            A::PtrToMem,
            A::ConstSize,
        ],
        setsockopt,
    );
    // bpf_sock_map_update / bpf_sock_hash_update(skops, map, key, flags): the kernel needs
    // an established or listening TCP socket behind the sock_ops context, which bpfbox's
    // contexts never carry: -EOPNOTSUPP.
    for (id, name) in [(53, "bpf_sock_map_update"), (70, "bpf_sock_hash_update")] {
        reg(
            r,
            id,
            name,
            R::Integer,
            &[A::PtrToCtx, A::ConstMapPtr, A::PtrToMapKey, A::Anything],
            |c, a| {
                map_arg(c, a[1])?;
                Ok(EOPNOTSUPP)
            },
        );
    }
    // bpf_sk_select_reuseport(reuse, map, key, flags): the map's lookup finds no socket in
    // any map bpfbox runs: -ENOENT.
    reg(
        r,
        82,
        "bpf_sk_select_reuseport",
        R::Integer,
        &[A::PtrToCtx, A::ConstMapPtr, A::PtrToMapKey, A::Anything],
        |c, a| {
            map_arg(c, a[1])?;
            Ok(ENOENT)
        },
    );
}
