//! Local dynptrs (`bpf_dynptr_from_mem`, `bpf_dynptr_read`, `bpf_dynptr_write`,
//! `bpf_dynptr_data`) and `bpf_user_ringbuf_drain`, which hands each sample to its callback
//! as a dynptr (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c).
//!
//! A dynptr is laid out as the kernel's `struct bpf_dynptr_kern`: the data pointer, then a
//! `u32` holding the size in its low 24 bits, the type from bit 28 and read-only at bit 31,
//! then a `u32` offset.

use super::maps::{map_arg, E2BIG, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::maps::user_ringbuf::DYNPTR_MAX_SIZE;
use crate::memory::{Region, RegionKind};

/// `BPF_DYNPTR_TYPE_LOCAL`.
const DYNPTR_TYPE_LOCAL: u32 = 1;
/// Bit position of the type in the size word.
const DYNPTR_TYPE_SHIFT: u32 = 28;
/// The read-only bit of the size word.
const DYNPTR_RDONLY_BIT: u32 = 1 << 31;
/// `BPF_MAX_USER_RINGBUF_SAMPLES`.
const MAX_USER_RINGBUF_SAMPLES: u64 = 128 * 1024;
/// `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP`.
const WAKEUP_FLAGS: u64 = 3;

/// A dynptr as stored in program memory.
struct Dynptr {
    data: u64,
    size: u32,
    rdonly: bool,
    offset: u32,
}

fn load(c: &HelperCtx<'_, '_>, addr: u64) -> Result<Dynptr, HelperError> {
    let mut b = [0u8; 16];
    c.read_into(addr, &mut b)?;
    let word = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
    Ok(Dynptr {
        data: u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        size: word & DYNPTR_MAX_SIZE as u32,
        rdonly: word & DYNPTR_RDONLY_BIT != 0,
        offset: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
    })
}

/// The 16 bytes of a local dynptr over `size` bytes at `data`.
fn encode(data: u64, size: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&data.to_ne_bytes());
    b[8..12].copy_from_slice(&(size | DYNPTR_TYPE_LOCAL << DYNPTR_TYPE_SHIFT).to_ne_bytes());
    b
}

/// `bpf_dynptr_check_off_len`.
fn off_len_ok(d: &Dynptr, off: u64, len: u64) -> bool {
    let size = u64::from(d.size);
    len <= size && off <= size - len
}

/// `bpf_user_ringbuf_drain(map, callback, ctx, flags)`.
fn drain(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if a[3] & !WAKEUP_FLAGS != 0 {
        return Ok(EINVAL);
    }
    let map = map_arg(c, a[0])?;
    let (mut samples, mut discarded, mut ret) = (0u64, 0u64, 0u64);
    while samples < MAX_USER_RINGBUF_SAMPLES && ret == 0 {
        let Some(sample) = map.user_ringbuf_take() else {
            break;
        };
        samples += 1;
        let Some(data) = sample else {
            discarded += 1;
            continue;
        };
        // The sample and its dynptr stay in scratch memory while the callback runs, then
        // their regions are withdrawn and the memory freed.
        let scratch = &mut c.env().scratch;
        scratch.push(data.into_boxed_slice());
        let (addr, len) = match scratch.last() {
            Some(s) => (s.as_ptr() as u64, s.len()),
            None => break,
        };
        scratch.push(Box::new(encode(addr, len as u32)));
        let Some(d) = scratch.last() else { break };
        let dynptr = d.as_ptr();
        // SAFETY: both buffers live in the environment's scratch space, kept (boxed, never
        // moved) until their regions are withdrawn below.
        unsafe {
            c.add_region(Region::new(addr as *const u8, len, false, RegionKind::User));
            c.add_region(Region::new(dynptr, 16, false, RegionKind::User));
        }
        let r = c.call_function(a[1], [dynptr as u64, a[2], 0, 0, 0]);
        c.remove_region(dynptr as u64, RegionKind::User);
        c.remove_region(addr, RegionKind::User);
        let scratch = &mut c.env().scratch;
        scratch.pop();
        scratch.pop();
        ret = r?;
    }
    Ok(samples - discarded)
}

/// Registers the dynptr helpers and `bpf_user_ringbuf_drain`.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        209,
        "bpf_user_ringbuf_drain",
        R::Integer,
        &[
            A::ConstMapPtr,
            A::PtrToFunc,
            A::PtrToStackOrNull,
            A::Anything,
        ],
        drain,
    );
    // bpf_dynptr_from_mem(data, size, flags, ptr): a local dynptr, or a null one.
    reg(
        r,
        197,
        "bpf_dynptr_from_mem",
        R::Integer,
        &[
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::Anything,
            A::PtrToStackOrNull,
        ],
        |c, a| {
            let size = a[1] & 0xffff_ffff;
            let (bytes, r) = if size > DYNPTR_MAX_SIZE {
                ([0u8; 16], E2BIG)
            } else if a[2] != 0 {
                ([0u8; 16], EINVAL)
            } else {
                (encode(a[0], size as u32), 0)
            };
            c.write(a[3], &bytes)?;
            Ok(r)
        },
    );
    // bpf_dynptr_read(dst, len, src, offset, flags)
    reg(
        r,
        201,
        "bpf_dynptr_read",
        R::Integer,
        &[
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::Anything,
            A::Anything,
            A::Anything,
        ],
        |c, a| {
            let d = load(c, a[2])?;
            let (len, off) = (a[1] & 0xffff_ffff, a[3] & 0xffff_ffff);
            if d.data == 0 || a[4] != 0 {
                return Ok(EINVAL);
            }
            if !off_len_ok(&d, off, len) {
                return Ok(E2BIG);
            }
            let bytes = c.read(d.data + u64::from(d.offset) + off, len as usize)?;
            c.write(a[0], &bytes)?;
            Ok(0)
        },
    );
    // bpf_dynptr_write(dst, offset, src, len, flags)
    reg(
        r,
        202,
        "bpf_dynptr_write",
        R::Integer,
        &[
            A::Anything,
            A::Anything,
            A::PtrToMem,
            A::ConstSizeOrZero,
            A::Anything,
        ],
        |c, a| {
            let d = load(c, a[0])?;
            let (off, len) = (a[1] & 0xffff_ffff, a[3] & 0xffff_ffff);
            if d.data == 0 || d.rdonly || a[4] != 0 {
                return Ok(EINVAL);
            }
            if !off_len_ok(&d, off, len) {
                return Ok(E2BIG);
            }
            let bytes = c.read(a[2], len as usize)?;
            c.write(d.data + u64::from(d.offset) + off, &bytes)?;
            Ok(0)
        },
    );
    // bpf_dynptr_data(ptr, offset, len): a pointer into the data, or NULL.
    reg(
        r,
        203,
        "bpf_dynptr_data",
        R::PtrToMemOrNull,
        &[A::Anything, A::Anything, A::Anything],
        |c, a| {
            let d = load(c, a[0])?;
            let (off, len) = (a[1] & 0xffff_ffff, a[2] & 0xffff_ffff);
            if d.data == 0 || d.rdonly || !off_len_ok(&d, off, len) {
                return Ok(0);
            }
            Ok(d.data + u64::from(d.offset) + off)
        },
    );
}
