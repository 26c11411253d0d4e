//! Ring buffer helpers (`bpf_ringbuf_*`) and `bpf_perf_event_output`.

use super::maps::{map_arg, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::maps::{MapRef, MapType};

fn ret<T>(r: crate::maps::MapResult<T>) -> u64 {
    r.map_or_else(|e| e.helper_ret() as u64, |_| 0)
}

/// The ring buffer whose data area holds `addr`.
fn ring_of(c: &mut HelperCtx<'_, '_>, addr: u64) -> Option<MapRef> {
    c.env()
        .maps
        .iter()
        .find(|m| {
            m.map_type() == MapType::Ringbuf && m.regions().iter().any(|r| r.contains(addr, 1))
        })
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
            Ok(map.reserve(a[1], a[2]).map_or(0, |p| p as u64))
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
    // bpf_perf_event_output(ctx, map, flags, data, size); BPF_F_CTXLEN_MASK (appending packet
    // bytes) is not supported and gives -EINVAL.
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
            if a[2] >> 32 != 0 {
                return Ok(EINVAL);
            }
            let map = map_arg(c, a[1])?;
            let data = c.read(
                a[3],
                usize::try_from(a[4]).unwrap_or(usize::MAX).min(1 << 30),
            )?;
            let cpu = c.env().cpu;
            Ok(ret(map.perf_event_output(cpu, a[2], &data)))
        },
    );
}
