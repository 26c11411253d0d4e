//! Ring buffer helpers (`bpf_ringbuf_*`) and `bpf_perf_event_output`.

use super::maps::{map_arg, EFAULT, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::maps::{MapRef, MapType};
use crate::memory::RegionKind;

fn ret<T>(r: crate::maps::MapResult<T>) -> u64 {
    r.map_or_else(|e| e.helper_ret() as u64, |_| 0)
}

/// The ring buffer whose data area holds `addr`.
fn ring_of(c: &mut HelperCtx<'_, '_>, addr: u64) -> Option<MapRef> {
    c.env()
        .maps
        .iter()
        .find(|m| m.map_type() == MapType::Ringbuf && m.ringbuf_owns(addr))
        .cloned()
}

fn submit_or_discard(
    c: &mut HelperCtx<'_, '_>,
    a: [u64; 5],
    discard: bool,
) -> Result<u64, HelperError> {
    let Some(map) = ring_of(c, a[0]) else {
        return Err(HelperError::Message(format!(
            "{:#x} is not a ring buffer record",
            a[0]
        )));
    };
    let p = a[0] as usize as *const u8;
    let r = if discard {
        map.discard(p, a[1])
    } else {
        map.submit(p, a[1])
    };
    r.map_err(|e| HelperError::Message(e.to_string()))?;
    // The record is the consumer's now: the program loses its way to it.
    c.remove_region(a[0], RegionKind::RingBuf);
    Ok(0)
}

/// Registers the ring buffer and perf output helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        130,
        "bpf_ringbuf_output",
        R::Integer,
        &[A::ConstMapPtr, A::PtrToMem, A::ConstSizeOrZero, A::Anything],
        |c, a| {
            let map = map_arg(c, a[0])?;
            let data = c.read(
                a[1],
                usize::try_from(a[2]).unwrap_or(usize::MAX).min(1 << 30),
            )?;
            Ok(ret(map.output(&data, a[3])))
        },
    );
    reg(
        r,
        131,
        "bpf_ringbuf_reserve",
        R::PtrToRingbufMemOrNull,
        &[A::ConstMapPtr, A::Anything, A::Anything],
        |c, a| {
            let map = map_arg(c, a[0])?;
            let Some(p) = map.reserve(a[1], a[2]) else {
                return Ok(0);
            };
            if let Some(r) = map.ringbuf_record_region(p, a[1]) {
                // SAFETY: the record lies in the ring's data area, which the map (held by
                // the run's map table) owns for the whole run.
                unsafe { c.add_region(r) };
            }
            Ok(p as u64)
        },
    );
    reg(
        r,
        132,
        "bpf_ringbuf_submit",
        R::Void,
        &[A::PtrToRingbufMem, A::Anything],
        |c, a| submit_or_discard(c, a, false),
    );
    reg(
        r,
        133,
        "bpf_ringbuf_discard",
        R::Void,
        &[A::PtrToRingbufMem, A::Anything],
        |c, a| submit_or_discard(c, a, true),
    );
    reg(
        r,
        134,
        "bpf_ringbuf_query",
        R::Integer,
        &[A::ConstMapPtr, A::Anything],
        |c, a| {
            let map = map_arg(c, a[0])?;
            Ok(map.query(a[1]))
        },
    );
    // bpf_perf_event_output(ctx, map, flags, data, size). Networking programs may ask for
    // the first BPF_F_CTXLEN_MASK bytes of the packet to follow the data in the sample
    // (bpf_skb_event_output / bpf_xdp_event_output); tracing programs may not.
    reg(
        r,
        25,
        "bpf_perf_event_output",
        R::Integer,
        &[
            A::PtrToCtx,
            A::ConstMapPtr,
            A::Anything,
            A::PtrToMem,
            A::ConstSizeOrZero,
        ],
        |c, a| {
            const INDEX_MASK: u64 = 0xffff_ffff;
            const CTXLEN_MASK: u64 = 0xf_ffff << 32;
            let flags = a[2];
            let packet = packet_of(c, a[0])?;
            let allowed = if packet.is_some() {
                INDEX_MASK | CTXLEN_MASK
            } else {
                INDEX_MASK
            };
            if flags & !allowed != 0 {
                return Ok(EINVAL);
            }
            let map = map_arg(c, a[1])?;
            let mut data = c.read(
                a[3],
                usize::try_from(a[4]).unwrap_or(usize::MAX).min(1 << 30),
            )?;
            let ctx_len = (flags & CTXLEN_MASK) >> 32;
            if let Some((start, end)) = packet.filter(|_| ctx_len > 0) {
                if ctx_len > end.saturating_sub(start) {
                    return Ok(EFAULT);
                }
                data.extend(c.read(start, ctx_len as usize)?);
            }
            let cpu = c.env().cpu;
            Ok(ret(map.perf_event_output(cpu, flags & INDEX_MASK, &data)))
        },
    );
}

/// `(data, data_end)` of the packet behind a networking context, `None` for other programs.
fn packet_of(c: &mut HelperCtx<'_, '_>, ctx: u64) -> Result<Option<(u64, u64)>, HelperError> {
    use crate::program::ProgType as T;
    let t = c.env().prog_type;
    if t == T::Xdp {
        let (data, end) = (
            super::packet::rd64(c, ctx.wrapping_add(crate::context::xdp_off::DATA))?,
            super::packet::rd64(c, ctx.wrapping_add(crate::context::xdp_off::DATA_END))?,
        );
        return Ok(Some((data, end)));
    }
    if matches!(
        t,
        T::SocketFilter
            | T::SchedCls
            | T::SchedAct
            | T::CgroupSkb
            | T::LwtIn
            | T::LwtOut
            | T::LwtXmit
            | T::SkSkb
    ) {
        return super::packet::skb_bounds(c, ctx).map(Some);
    }
    Ok(None)
}
