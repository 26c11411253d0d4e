//! Sockets reached through a pointer (`check_sock_access`): `struct bpf_sock` in full or
//! only its fields every socket has, `struct bpf_tcp_sock` and `struct bpf_xdp_sock`.
//! Read-only; what a load gives is a number.

use super::{sock, Access};
use crate::state::RegType;

/// `struct bpf_tcp_sock`: 20 words, two 64-bit counters, then 4 more words.
const TCP_BYTES_RECEIVED: i32 = 80;
const TCP_BYTES_ACKED: i32 = 88;
const TCP_SIZE: i32 = 112;
/// `struct bpf_xdp_sock`: the queue id.
const XDP_SIZE: i32 = 4;

/// Whether a read of `a.size` bytes at `a.off` through a pointer of type `ty` is valid.
pub fn valid(ty: RegType, a: Access) -> bool {
    match ty {
        // `type` up to `priority` exist only in full sockets.
        RegType::SockCommon => {
            !(sock::TYPE..sock::PRIORITY + 4).contains(&a.off) && sock::valid(&a)
        }
        RegType::Socket => sock::valid(&a),
        RegType::TcpSock => {
            if !(0..TCP_SIZE).contains(&a.off) || !a.aligned() {
                return false;
            }
            match a.off {
                TCP_BYTES_RECEIVED | TCP_BYTES_ACKED => a.size == 8,
                _ => a.size == 4,
            }
        }
        RegType::XdpSock => (0..XDP_SIZE).contains(&a.off) && a.aligned() && a.size == 4,
        _ => false,
    }
}
