//! `bpf_check_mtu` (net/core/filter.c `bpf_xdp_check_mtu`/`bpf_skb_check_mtu`) against the
//! devices of the run's [`crate::net::Fib`]; test runs receive on the loopback device.

use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::program::ProgType;

/// `BPF_MTU_CHK_SEGS`.
pub const BPF_MTU_CHK_SEGS: u64 = 1;
/// `BPF_MTU_CHK_RET_FRAG_NEEDED`.
pub const BPF_MTU_CHK_RET_FRAG_NEEDED: u64 = 1;
/// The link header every modelled device has (Ethernet, as the loopback device declares).
const HARD_HEADER_LEN: i64 = 14;

/// `bpf_check_mtu(ctx, ifindex, &mtu_len, len_diff, flags)`.
fn check_mtu(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let xdp = c.env().prog_type == ProgType::Xdp;
    let mut w = [0u8; 4];
    c.read_into(a[2], &mut w)?;
    let mtu_len = u32::from_ne_bytes(w);
    let len_diff = i64::from(a[3] as i32);
    let flags = a[4];
    if xdp && flags != 0 {
        return Ok(-22i64 as u64);
    }
    if !xdp && (flags & !BPF_MTU_CHK_SEGS != 0 || (flags != 0 && (len_diff != 0 || mtu_len != 0))) {
        return Ok(-22i64 as u64);
    }
    let ifindex = match a[1] as u32 {
        0 => crate::context::LOOPBACK_IFINDEX,
        i => i,
    };
    let Some(mtu) = c.env().net.fib.device(ifindex).map(|d| d.mtu) else {
        return Ok(-19i64 as u64);
    };
    let pkt_len = if xdp {
        let data = super::packet::rd64(c, a[0].wrapping_add(crate::context::xdp_off::DATA))?;
        let end = super::packet::rd64(c, a[0].wrapping_add(crate::context::xdp_off::DATA_END))?;
        end.wrapping_sub(data) as i64
    } else {
        let (data, end) = super::packet::skb_bounds(c, a[0])?;
        end.wrapping_sub(data) as i64
    };
    let len = if mtu_len != 0 {
        i64::from(mtu_len) + HARD_HEADER_LEN
    } else {
        pkt_len
    } + len_diff;
    // Test-run socket buffers are never GSO, so a long one needs fragmenting either way.
    let r = u64::from(len > i64::from(mtu) + HARD_HEADER_LEN) * BPF_MTU_CHK_RET_FRAG_NEEDED;
    c.write(a[2], &mtu.to_ne_bytes())?;
    Ok(r)
}

/// Registers `bpf_check_mtu`.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        163,
        "bpf_check_mtu",
        R::Integer,
        &[
            A::PtrToCtx,
            A::Anything,
            A::PtrToLong,
            A::Anything,
            A::Anything,
        ],
        check_mtu,
    );
}
