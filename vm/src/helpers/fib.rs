//! `bpf_fib_lookup` (net/core/filter.c `bpf_ipv4_fib_lookup`/`bpf_ipv6_fib_lookup`) over
//! the run's [`crate::net::Fib`].
//!
//! `struct bpf_fib_lookup` (64 bytes): family, l4_protocol, sport, dport at 0..6,
//! `tot_len`/`mtu_result` at 6, `ifindex` at 8, `tos`/`flowinfo`/`rt_metric` at 12, source
//! at 16, destination at 32, VLAN or `tbid` at 48, `smac` at 52 and `dmac` at 58.

use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::net::{RouteKind, AF_INET, AF_INET6};
use crate::program::ProgType;

/// `sizeof(struct bpf_fib_lookup)`.
pub const FIB_LOOKUP_SIZE: usize = 64;
/// `BPF_FIB_LOOKUP_DIRECT`.
pub const BPF_FIB_LOOKUP_DIRECT: u64 = 1 << 0;
/// `BPF_FIB_LOOKUP_OUTPUT`.
pub const BPF_FIB_LOOKUP_OUTPUT: u64 = 1 << 1;
/// `BPF_FIB_LOOKUP_SKIP_NEIGH`.
pub const BPF_FIB_LOOKUP_SKIP_NEIGH: u64 = 1 << 2;
/// `BPF_FIB_LOOKUP_TBID`.
pub const BPF_FIB_LOOKUP_TBID: u64 = 1 << 3;
/// `BPF_FIB_LOOKUP_SRC`.
pub const BPF_FIB_LOOKUP_SRC: u64 = 1 << 4;
/// `BPF_FIB_LOOKUP_MARK` (the lookup uses `mark`; bpfbox's routes carry no marks).
pub const BPF_FIB_LOOKUP_MARK: u64 = 1 << 5;

/// `BPF_FIB_LKUP_RET_*`.
#[allow(missing_docs)]
pub mod ret {
    pub const SUCCESS: u64 = 0;
    pub const BLACKHOLE: u64 = 1;
    pub const UNREACHABLE: u64 = 2;
    pub const PROHIBIT: u64 = 3;
    pub const NOT_FWDED: u64 = 4;
    pub const FWD_DISABLED: u64 = 5;
    pub const UNSUPP_LWT: u64 = 6;
    pub const NO_NEIGH: u64 = 7;
    pub const FRAG_NEEDED: u64 = 8;
    pub const NO_SRC_ADDR: u64 = 9;
}

/// The lookup on a parameter block; returns the helper's result and updates `p`.
/// `check_mtu` is the XDP form (and the skb form with `tot_len` set).
pub fn fib_lookup(
    fib: &crate::net::Fib,
    p: &mut [u8; FIB_LOOKUP_SIZE],
    flags: u64,
    check_mtu: bool,
) -> u64 {
    let family = u32::from(p[0]);
    let (n, dst_off) = match family {
        AF_INET => (4, 32),
        AF_INET6 => (16, 32),
        _ => return -97i64 as u64, // EAFNOSUPPORT
    };
    let ifindex = u32::from_ne_bytes([p[8], p[9], p[10], p[11]]);
    let Some(dev) = fib.device(ifindex) else {
        return -19i64 as u64; // ENODEV
    };
    // Forwarding must be on for the input device, even for output lookups.
    if !dev.forwarding {
        return ret::FWD_DISABLED;
    }
    let dst: [u8; 16] = {
        let mut d = [0u8; 16];
        d[..n].copy_from_slice(&p[dst_off..dst_off + n]);
        d
    };
    let Some(route) = fib.route(family, &dst) else {
        return ret::NOT_FWDED;
    };
    match route.kind {
        RouteKind::Unicast => {}
        RouteKind::Blackhole => return ret::BLACKHOLE,
        RouteKind::Unreachable => return ret::UNREACHABLE,
        RouteKind::Prohibit => return ret::PROHIBIT,
        RouteKind::Local => return ret::NOT_FWDED,
    }
    let Some(out) = fib.device(route.ifindex) else {
        return ret::NOT_FWDED;
    };
    let mtu = if route.mtu != 0 { route.mtu } else { out.mtu };
    if check_mtu {
        let tot_len = u16::from_ne_bytes([p[6], p[7]]);
        if u32::from(tot_len) > mtu {
            p[6..8].copy_from_slice(&(mtu as u16).to_ne_bytes());
            return ret::FRAG_NEEDED;
        }
    }
    p[12..16].copy_from_slice(&route.metric.to_ne_bytes());
    p[8..12].copy_from_slice(&out.ifindex.to_ne_bytes());
    let next_hop = route.gateway.unwrap_or(dst);
    if let Some(gw) = route.gateway {
        p[dst_off..dst_off + n].copy_from_slice(&gw[..n]);
    }
    if flags & BPF_FIB_LOOKUP_SKIP_NEIGH == 0 {
        let Some(neigh) = fib.neighbour(out.ifindex, family, &next_hop) else {
            return ret::NO_NEIGH;
        };
        p[58..64].copy_from_slice(&neigh.mac);
        p[52..58].copy_from_slice(&out.mac);
    }
    // bpf_fib_set_fwd_params: no VLAN; the MTU when it was checked.
    p[48..52].fill(0);
    if check_mtu {
        p[6..8].copy_from_slice(&(mtu.min(u32::from(u16::MAX)) as u16).to_ne_bytes());
    }
    ret::SUCCESS
}

fn helper(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, super::HelperError> {
    let plen = a[2] as i32;
    if plen < FIB_LOOKUP_SIZE as i32 {
        return Ok(-22i64 as u64);
    }
    let known = BPF_FIB_LOOKUP_DIRECT
        | BPF_FIB_LOOKUP_OUTPUT
        | BPF_FIB_LOOKUP_SKIP_NEIGH
        | BPF_FIB_LOOKUP_TBID
        | BPF_FIB_LOOKUP_SRC
        | BPF_FIB_LOOKUP_MARK;
    if a[3] & !known != 0 {
        return Ok(-22i64 as u64);
    }
    let mut p = [0u8; FIB_LOOKUP_SIZE];
    c.read_into(a[1], &mut p)?;
    let xdp = c.env().prog_type == ProgType::Xdp;
    let check_mtu = xdp || u16::from_ne_bytes([p[6], p[7]]) != 0;
    let fib = c.env().net.fib.clone();
    let mut r = fib_lookup(&fib, &mut p, a[3], check_mtu);
    if r == ret::SUCCESS && !check_mtu {
        // bpf_skb_fib_lookup without tot_len: the packet is checked against the output
        // device, whose MTU is reported.
        let ifindex = u32::from_ne_bytes([p[8], p[9], p[10], p[11]]);
        if let Some(dev) = fib.device(ifindex) {
            let (data, end) = super::packet::skb_bounds(c, a[0])?;
            if end.saturating_sub(data) > u64::from(dev.mtu) + 14 {
                r = ret::FRAG_NEEDED;
            }
            let mtu = dev.mtu.min(u32::from(u16::MAX)) as u16;
            p[6..8].copy_from_slice(&mtu.to_ne_bytes());
        }
    }
    c.write(a[1], &p)?;
    Ok(r)
}

/// Registers `bpf_fib_lookup`.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        69,
        "bpf_fib_lookup",
        R::Integer,
        &[A::PtrToCtx, A::PtrToMem, A::ConstSize, A::Anything],
        helper,
    );
}
