//! Crafted packets for test runs: Ethernet (optionally VLAN-tagged) carrying IPv4, IPv6 or
//! ARP, with TCP, UDP or ICMP inside, checksums filled in. [`crafted`] is the default set
//! `compare --run` feeds to packet programs.

/// An Ethernet address.
pub type Mac = [u8; 6];

/// Source MAC used by [`crafted`].
pub const SRC_MAC: Mac = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01];
/// Destination MAC used by [`crafted`].
pub const DST_MAC: Mac = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02];
/// Source IPv4 address used by [`crafted`] (10.0.0.1).
pub const SRC_V4: [u8; 4] = [10, 0, 0, 1];
/// Destination IPv4 address used by [`crafted`] (10.0.0.2).
pub const DST_V4: [u8; 4] = [10, 0, 0, 2];
/// Source IPv6 address used by [`crafted`] (fd00::1).
pub const SRC_V6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// Destination IPv6 address used by [`crafted`] (fd00::2).
pub const DST_V6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// EtherType IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// EtherType IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// EtherType ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType 802.1Q VLAN.
pub const ETH_P_8021Q: u16 = 0x8100;
/// EtherType 802.1ad (QinQ outer tag).
pub const ETH_P_8021AD: u16 = 0x88a8;

/// IP protocol numbers.
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// The Internet checksum of `data` starting from the partial sum `sum`.
pub fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

/// An Ethernet frame.
pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A VLAN tag (TCI = `vid`) followed by the inner EtherType and payload; put it after an
/// Ethernet header of type [`ETH_P_8021Q`] or [`ETH_P_8021AD`].
pub fn vlan(vid: u16, inner_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 + payload.len());
    f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    f.extend_from_slice(&inner_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet (no options unless `options` is non-empty, a multiple of 4 bytes);
/// `frag_off` is the raw flags+offset field.
pub fn ipv4_full(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    options: &[u8],
    frag_off: u16,
    payload: &[u8],
) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    let mut h = vec![
        0x40 | ihl as u8,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        (frag_off >> 8) as u8,
        frag_off as u8,
        64,
        proto,
        0,
        0,
    ];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(options);
    let c = checksum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv4 packet without options, not fragmented.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_full(src, dst, proto, &[], 0x4000, payload)
}

/// An IPv6 packet.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u16;
    let mut h = vec![0x60, 0, 0, 0, (len >> 8) as u8, len as u8, next, 64];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// The L4 pseudo-header sum for IPv4 or IPv6 addresses.
fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    sum16(src) + sum16(dst) + u32::from(proto) + len as u32
}

/// A TCP segment (20-byte header) with its checksum over the pseudo header of `src`/`dst`
/// (4 or 16 bytes each).
pub fn tcp(src: &[u8], dst: &[u8], sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + payload.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&1000u32.to_be_bytes());
    s.extend_from_slice(&0u32.to_be_bytes());
    s.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    s.extend_from_slice(payload);
    let c = checksum(&s, pseudo(src, dst, IPPROTO_TCP, s.len()));
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

/// A UDP datagram with its checksum.
pub fn udp(src: &[u8], dst: &[u8], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut s = Vec::with_capacity(len as usize);
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&len.to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    let c = checksum(&s, pseudo(src, dst, IPPROTO_UDP, s.len()));
    s[6..8].copy_from_slice(&c.to_be_bytes());
    s
}

/// An ICMP echo request.
pub fn icmp_echo(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![8, 0, 0, 0];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(payload);
    let c = checksum(&s, 0);
    s[2..4].copy_from_slice(&c.to_be_bytes());
    s
}

/// An ICMPv6 echo request with its checksum.
pub fn icmpv6_echo(src: &[u8; 16], dst: &[u8; 16], id: u16, seq: u16) -> Vec<u8> {
    let mut s = vec![128, 0, 0, 0];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    let c = checksum(&s, pseudo(src, dst, IPPROTO_ICMPV6, s.len()));
    s[2..4].copy_from_slice(&c.to_be_bytes());
    s
}

/// An ARP request for `target` from `sender`.
pub fn arp_request(sender_mac: Mac, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut s = vec![0, 1, 8, 0, 6, 4, 0, 1];
    s.extend_from_slice(&sender_mac);
    s.extend_from_slice(&sender);
    s.extend_from_slice(&[0; 6]);
    s.extend_from_slice(&target);
    s
}

/// TCP SYN flag.
pub const TCP_SYN: u8 = 0x02;
/// TCP ACK flag.
pub const TCP_ACK: u8 = 0x10;

/// The default crafted packets, by name: every protocol combination the xdp-filter family
/// distinguishes, plus malformed and truncated frames.
pub fn crafted() -> Vec<(String, Vec<u8>)> {
    let body = b"bpfbox";
    let v4_tcp = |dport| {
        eth(
            DST_MAC,
            SRC_MAC,
            ETH_P_IP,
            &ipv4(
                SRC_V4,
                DST_V4,
                IPPROTO_TCP,
                &tcp(&SRC_V4, &DST_V4, 40000, dport, TCP_SYN, body),
            ),
        )
    };
    let v4_udp = |dport| {
        eth(
            DST_MAC,
            SRC_MAC,
            ETH_P_IP,
            &ipv4(
                SRC_V4,
                DST_V4,
                IPPROTO_UDP,
                &udp(&SRC_V4, &DST_V4, 40000, dport, body),
            ),
        )
    };
    let v6_tcp = |dport| {
        eth(
            DST_MAC,
            SRC_MAC,
            ETH_P_IPV6,
            &ipv6(
                SRC_V6,
                DST_V6,
                IPPROTO_TCP,
                &tcp(&SRC_V6, &DST_V6, 40000, dport, TCP_SYN | TCP_ACK, body),
            ),
        )
    };
    let v6_udp = |dport| {
        eth(
            DST_MAC,
            SRC_MAC,
            ETH_P_IPV6,
            &ipv6(
                SRC_V6,
                DST_V6,
                IPPROTO_UDP,
                &udp(&SRC_V6, &DST_V6, 40000, dport, body),
            ),
        )
    };
    let v4_icmp = eth(
        DST_MAC,
        SRC_MAC,
        ETH_P_IP,
        &ipv4(SRC_V4, DST_V4, IPPROTO_ICMP, &icmp_echo(7, 1, body)),
    );
    let v6_icmp = eth(
        DST_MAC,
        SRC_MAC,
        ETH_P_IPV6,
        &ipv6(
            SRC_V6,
            DST_V6,
            IPPROTO_ICMPV6,
            &icmpv6_echo(&SRC_V6, &DST_V6, 7, 1),
        ),
    );
    let arp = eth(
        [0xff; 6],
        SRC_MAC,
        ETH_P_ARP,
        &arp_request(SRC_MAC, SRC_V4, DST_V4),
    );
    let inner_v4_udp = ipv4(
        SRC_V4,
        DST_V4,
        IPPROTO_UDP,
        &udp(&SRC_V4, &DST_V4, 40000, 53, body),
    );
    let vlan_v4_udp = eth(
        DST_MAC,
        SRC_MAC,
        ETH_P_8021Q,
        &vlan(100, ETH_P_IP, &inner_v4_udp),
    );
    let qinq_v6_tcp = eth(
        DST_MAC,
        SRC_MAC,
        ETH_P_8021AD,
        &vlan(
            200,
            ETH_P_8021Q,
            &vlan(
                300,
                ETH_P_IPV6,
                &ipv6(
                    SRC_V6,
                    DST_V6,
                    IPPROTO_TCP,
                    &tcp(&SRC_V6, &DST_V6, 40000, 443, TCP_SYN, body),
                ),
            ),
        ),
    );
    let v4_options = eth(
        DST_MAC,
        SRC_MAC,
        ETH_P_IP,
        &ipv4_full(
            SRC_V4,
            DST_V4,
            IPPROTO_TCP,
            &[1, 1, 1, 0],
            0x4000,
            &tcp(&SRC_V4, &DST_V4, 40000, 22, TCP_SYN, body),
        ),
    );
    let v4_fragment = eth(
        DST_MAC,
        SRC_MAC,
        ETH_P_IP,
        &ipv4_full(SRC_V4, DST_V4, IPPROTO_UDP, &[], 0x2000 | 0x10, body),
    );
    let mut truncated_tcp = v4_tcp(80);
    truncated_tcp.truncate(14 + 20 + 10);
    let mut truncated_ip = v4_tcp(80);
    truncated_ip.truncate(14 + 12);
    let eth_only = eth(DST_MAC, SRC_MAC, 0x88b5, &[]);
    vec![
        ("ipv4_tcp_80".into(), v4_tcp(80)),
        ("ipv4_tcp_8080".into(), v4_tcp(8080)),
        ("ipv4_udp_53".into(), v4_udp(53)),
        ("ipv4_udp_5000".into(), v4_udp(5000)),
        ("ipv4_icmp_echo".into(), v4_icmp),
        ("ipv6_tcp_443".into(), v6_tcp(443)),
        ("ipv6_udp_53".into(), v6_udp(53)),
        ("ipv6_icmpv6_echo".into(), v6_icmp),
        ("arp_request".into(), arp),
        ("vlan_ipv4_udp_53".into(), vlan_v4_udp),
        ("qinq_ipv6_tcp_443".into(), qinq_v6_tcp),
        ("ipv4_options_tcp_22".into(), v4_options),
        ("ipv4_fragment".into(), v4_fragment),
        ("ipv4_truncated_tcp".into(), truncated_tcp),
        ("ipv4_truncated_header".into(), truncated_ip),
        ("eth_only_unknown_type".into(), eth_only),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with its checksum in place sums to zero.
    #[test]
    fn checksums_verify() {
        let ip = ipv4(SRC_V4, DST_V4, IPPROTO_UDP, &[]);
        assert_eq!(checksum(&ip[..20], 0), 0);
        let u = udp(&SRC_V4, &DST_V4, 1, 2, b"abc");
        assert_eq!(
            checksum(&u, pseudo(&SRC_V4, &DST_V4, IPPROTO_UDP, u.len())),
            0
        );
        let t = tcp(&SRC_V6, &DST_V6, 1, 2, TCP_SYN, b"abcd");
        assert_eq!(
            checksum(&t, pseudo(&SRC_V6, &DST_V6, IPPROTO_TCP, t.len())),
            0
        );
    }

    #[test]
    fn crafted_set() {
        let c = crafted();
        assert!(c.len() >= 16);
        assert!(c.iter().all(|(_, p)| p.len() >= 14));
        let names: std::collections::HashSet<_> = c.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), c.len());
    }
}
