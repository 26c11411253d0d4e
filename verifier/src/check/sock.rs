//! Loads through socket pointers (`check_sock_access`): which fields of `struct bpf_sock`,
//! `struct bpf_tcp_sock` and `struct bpf_xdp_sock` a program may read, and at which sizes,
//! as `bpf_sock_common_is_valid_access`, `bpf_sock_is_valid_access`,
//! `bpf_tcp_sock_is_valid_access` and `bpf_xdp_sock_is_valid_access` decide. Socket
//! pointers are never written through.

use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::state::{Reg, RegType};

/// `sizeof(struct bpf_sock)`.
const SOCK_SIZE: i32 = 80;
// Offsets in `struct bpf_sock`.
const TYPE: i32 = 8;
const PRIORITY: i32 = 20;
const SRC_IP4: i32 = 24;
const SRC_IP6: i32 = 28;
const SRC_PORT: i32 = 44;
const DST_PORT: i32 = 48;
const DST_IP4: i32 = 52;
const DST_IP6: i32 = 56;
const STATE: i32 = 72;
const RX_QUEUE_MAPPING: i32 = 76;
const FAMILY: i32 = 4;
const PROTOCOL: i32 = 12;
/// `offsetofend(struct bpf_tcp_sock, icsk_retransmits)`.
const TCP_SOCK_END: i32 = 112;
/// The `__u64` fields of `struct bpf_tcp_sock`: `bytes_received`, `bytes_acked`.
const TCP_U64: [i32; 2] = [80, 88];
/// `offsetofend(struct bpf_xdp_sock, queue_id)`.
const XDP_SOCK_END: i32 = 4;

/// `bpf_ctx_narrow_access_ok`.
fn narrow_ok(size: i32, size_default: i32) -> bool {
    size <= size_default && size & (size - 1) == 0
}

/// `bpf_sock_is_valid_access`.
fn sock_ok(off: i32, size: i32) -> bool {
    if !(0..SOCK_SIZE).contains(&off) || off % size != 0 {
        return false;
    }
    let in4 = |start: i32| (start..start + 4).contains(&off);
    let in16 = |start: i32| (start..start + 16).contains(&off);
    if [STATE, FAMILY, TYPE, PROTOCOL, SRC_PORT, RX_QUEUE_MAPPING].contains(&off)
        || in4(SRC_IP4)
        || in16(SRC_IP6)
        || in4(DST_IP4)
        || in16(DST_IP6)
    {
        return narrow_ok(size, 4);
    }
    if (DST_PORT..DST_PORT + 2).contains(&off) {
        // A 4-byte load of the 2-byte port (and its padding) is allowed too.
        let field = if size == 4 { 4 } else { 2 };
        return narrow_ok(size, field);
    }
    if (DST_PORT + 2..DST_IP4).contains(&off) {
        return false;
    }
    size == 4
}

/// `bpf_sock_common_is_valid_access`: `type` through `priority` are not common.
fn sock_common_ok(off: i32, size: i32) -> bool {
    if (TYPE..PRIORITY + 4).contains(&off) {
        return false;
    }
    sock_ok(off, size)
}

/// `bpf_tcp_sock_is_valid_access`.
fn tcp_sock_ok(off: i32, size: i32) -> bool {
    if !(0..TCP_SOCK_END).contains(&off) || off % size != 0 {
        return false;
    }
    if TCP_U64.contains(&off) {
        size == 8
    } else {
        size == 4
    }
}

/// `bpf_xdp_sock_is_valid_access`.
fn xdp_sock_ok(off: i32, size: i32) -> bool {
    (0..XDP_SOCK_END).contains(&off) && off % size == 0 && size == 4
}

/// A load or store of `size` bytes at `off` (the instruction's offset plus the pointer's)
/// through the socket pointer in register `regno`.
pub fn access(pc: usize, regno: u8, reg: &Reg, off: i32, size: u32, write: bool) -> Result<()> {
    if write {
        return Err(Reject::at(
            pc,
            format!("R{regno} cannot write into {}", reg.type_name()),
        ));
    }
    if reg.val.bounds().smin < 0 {
        return Err(Reject::at(
            pc,
            format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
        ));
    }
    let size_i = size as i32;
    let ok = match reg.ty {
        RegType::SockCommon => sock_common_ok(off, size_i),
        RegType::Socket => sock_ok(off, size_i),
        RegType::TcpSock => tcp_sock_ok(off, size_i),
        RegType::XdpSock => xdp_sock_ok(off, size_i),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(Reject::at(
        pc,
        format!(
            "R{regno} invalid {} access off={off} size={size}",
            reg.type_name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sock_fields() {
        assert!(sock_ok(FAMILY, 4) && sock_ok(FAMILY, 2) && sock_ok(SRC_IP4 + 1, 1));
        assert!(!sock_ok(0, 8) && !sock_ok(SOCK_SIZE, 4) && !sock_ok(2, 4));
        assert!(sock_ok(DST_PORT, 2) && sock_ok(DST_PORT, 4) && !sock_ok(DST_PORT + 2, 2));
        assert!(sock_ok(0, 4) && !sock_ok(0, 2));
        assert!(!sock_common_ok(TYPE, 4) && sock_common_ok(FAMILY, 4));
        assert!(tcp_sock_ok(80, 8) && !tcp_sock_ok(80, 4) && !tcp_sock_ok(112, 4));
        assert!(xdp_sock_ok(0, 4) && !xdp_sock_ok(0, 8));
    }
}
