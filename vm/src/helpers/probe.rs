//! `bpf_probe_read*`: copies from "unsafe" memory that may fault. Here the readable memory is
//! the run's regions (typically a [`crate::memory::RegionKind::User`] region the embedder
//! registers); a read outside them fails with `-EFAULT` and zeroes the destination, as the
//! kernel does.

use super::maps::EFAULT;
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

fn size_arg(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX).min(1 << 24)
}

/// `bpf_probe_read{,_kernel,_user}(dst, size, src)`.
fn read(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = size_arg(a[1]);
    let mut buf = vec![0u8; size];
    let r = if c.read_into(a[2], &mut buf).is_ok() {
        0
    } else {
        buf.fill(0);
        EFAULT
    };
    c.write(a[0], &buf)?;
    Ok(r)
}

/// `bpf_probe_read{,_kernel,_user}_str(dst, size, src)`: copies up to `size - 1` bytes and a
/// NUL, returning the length including the NUL (`size` when truncated); on a fault the
/// destination is zeroed and `-EFAULT` returned.
fn read_str(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = size_arg(a[1]);
    if size == 0 {
        return Ok(0);
    }
    let mut out = Vec::with_capacity(size);
    let mut faulted = false;
    for i in 0..size as u64 - 1 {
        let mut b = [0u8];
        if c.read_into(a[2].wrapping_add(i), &mut b).is_err() {
            faulted = true;
            break;
        }
        if b[0] == 0 {
            break;
        }
        out.push(b[0]);
    }
    if faulted {
        c.write(a[0], &vec![0u8; size])?;
        return Ok(EFAULT);
    }
    out.push(0);
    c.write(a[0], &out)?;
    Ok(out.len() as u64)
}

/// Registers the probe-read helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    let args = &[A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything];
    reg(r, 4, "bpf_probe_read", R::Integer, args, read);
    reg(r, 113, "bpf_probe_read_kernel", R::Integer, args, read);
    reg(r, 112, "bpf_probe_read_user", R::Integer, args, read);
    reg(r, 45, "bpf_probe_read_str", R::Integer, args, read_str);
    reg(
        r,
        115,
        "bpf_probe_read_kernel_str",
        R::Integer,
        args,
        read_str,
    );
    reg(
        r,
        114,
        "bpf_probe_read_user_str",
        R::Integer,
        args,
        read_str,
    );
}
