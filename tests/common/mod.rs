//! Shared helpers for the workspace tests: one-line skips (failures under
//! `BPFBOX_REQUIRE_ALL=1`), fixture paths, and a small packet builder whose checksums are
//! computed here, independently of the programs under test.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod engines;

/// Skips the current test with a one-line reason, or fails it under `BPFBOX_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var("BPFBOX_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required test cannot run: {reason}");
    }
    // Not `eprintln!`: the test harness captures that and shows it only for failures, so a
    // skip would be invisible in a plain `cargo test`. The stderr handle is not captured.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
}

/// `tests/fixtures/obj/NAME.o`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/obj")
        .join(format!("{name}.o"))
}

/// The Internet checksum (RFC 1071) of `data`, folded and complemented.
pub fn inet_csum(data: &[u8]) -> u16 {
    !fold(sum16(data, 0))
}

/// One's-complement sum of big-endian 16-bit words added to `acc` (not folded).
pub fn sum16(data: &[u8], mut acc: u64) -> u64 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        acc += u64::from(w);
    }
    acc
}

/// Folds a one's-complement sum to 16 bits.
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

pub const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

/// Ethernet header.
pub fn eth(dst: [u8; 6], src: [u8; 6], proto: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(14);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&proto.to_be_bytes());
    v
}

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// IPv4 header (20 bytes, valid checksum) for `payload_len` bytes of payload.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload_len: usize) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = inet_csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// IPv6 header for `payload_len` bytes of payload.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.push(next);
    h.push(64);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h
}

/// The IPv4 pseudo-header sum for a transport checksum.
fn pseudo4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> u64 {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    sum16(&p, 0)
}

/// The IPv6 pseudo-header sum for a transport checksum.
fn pseudo6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> u64 {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    sum16(&p, 0)
}

/// UDP header + payload with the checksum over `pseudo`.
fn udp_seg(sport: u16, dport: u16, payload: &[u8], pseudo: u64) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let c = !fold(sum16(&u, pseudo));
    let c = if c == 0 { 0xffff } else { c };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// TCP header (20 bytes, SYN) + payload with the checksum over `pseudo`.
fn tcp_seg(sport: u16, dport: u16, payload: &[u8], pseudo: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = !fold(sum16(&t, pseudo));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

pub const IP_A: [u8; 4] = [192, 168, 1, 10];
pub const IP_B: [u8; 4] = [10, 1, 2, 3];
pub const IP6_A: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa];
pub const IP6_B: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb];

/// Ethernet + IPv4 + UDP frame with valid checksums.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let seg = udp_seg(
        sport,
        dport,
        payload,
        pseudo4(src, dst, IPPROTO_UDP, 8 + payload.len()),
    );
    let mut f = eth(MAC_B, MAC_A, ETH_P_IP);
    f.extend(ipv4(src, dst, IPPROTO_UDP, seg.len()));
    f.extend(seg);
    f
}

/// Ethernet + IPv4 + TCP SYN frame with valid checksums.
pub fn tcp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let seg = tcp_seg(
        sport,
        dport,
        payload,
        pseudo4(src, dst, IPPROTO_TCP, 20 + payload.len()),
    );
    let mut f = eth(MAC_B, MAC_A, ETH_P_IP);
    f.extend(ipv4(src, dst, IPPROTO_TCP, seg.len()));
    f.extend(seg);
    f
}

/// Ethernet + IPv4 + ICMP echo request.
pub fn icmp4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
    let c = inet_csum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(MAC_B, MAC_A, ETH_P_IP);
    f.extend(ipv4(src, dst, IPPROTO_ICMP, m.len()));
    f.extend(m);
    f
}

/// Ethernet + IPv6 + UDP frame with a valid checksum.
pub fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let seg = udp_seg(
        sport,
        dport,
        payload,
        pseudo6(src, dst, IPPROTO_UDP, 8 + payload.len()),
    );
    let mut f = eth(MAC_B, MAC_A, ETH_P_IPV6);
    f.extend(ipv6(src, dst, IPPROTO_UDP, seg.len()));
    f.extend(seg);
    f
}

/// Ethernet + IPv6 + TCP SYN frame with a valid checksum.
pub fn tcp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let seg = tcp_seg(
        sport,
        dport,
        payload,
        pseudo6(src, dst, IPPROTO_TCP, 20 + payload.len()),
    );
    let mut f = eth(MAC_B, MAC_A, ETH_P_IPV6);
    f.extend(ipv6(src, dst, IPPROTO_TCP, seg.len()));
    f.extend(seg);
    f
}

/// Ethernet + IPv6 + ICMPv6 echo request (checksum over the pseudo-header).
pub fn icmp6(src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
    let mut m = vec![128, 0, 0, 0, 0, 1, 0, 1];
    let c = !fold(sum16(&m, pseudo6(src, dst, IPPROTO_ICMPV6, m.len())));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(MAC_B, MAC_A, ETH_P_IPV6);
    f.extend(ipv6(src, dst, IPPROTO_ICMPV6, m.len()));
    f.extend(m);
    f
}

/// An ARP request (who-has `target` tell `sender`), padded to 60 bytes.
pub fn arp(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = eth([0xff; 6], MAC_A, ETH_P_ARP);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f.resize(60, 0);
    f
}

/// `frame` with an 802.1Q tag (VLAN `vid`) inserted after the MAC addresses.
pub fn vlan(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&ETH_P_8021Q.to_be_bytes());
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}
