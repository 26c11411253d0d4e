//! `bpf_get_stack` (kernel/bpf/stackmap.c). bpfbox runs no kernel or user code under the
//! program, so every call chain it could collect is empty: with no frames to skip the
//! helper copies none and returns 0; asking to skip frames fails with `-EFAULT`. Either way
//! the buffer is cleared, as the kernel clears what it does not fill.

use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

/// `BPF_F_SKIP_FIELD_MASK`.
const SKIP_FIELD_MASK: u64 = 0xff;
/// `BPF_F_USER_STACK`.
const USER_STACK: u64 = 1 << 8;
/// `BPF_F_USER_BUILD_ID`.
const USER_BUILD_ID: u64 = 1 << 11;
/// `sizeof(struct bpf_stack_build_id)`.
const BUILD_ID_SIZE: u64 = 32;

/// `__bpf_get_stack` over an empty call chain: `buf` cleared, 0 or the errno.
pub(crate) fn get_stack(
    c: &mut HelperCtx<'_, '_>,
    buf: u64,
    size: u64,
    flags: u64,
) -> Result<u64, HelperError> {
    let size = size & 0xffff_ffff;
    let user = flags & USER_STACK != 0;
    let build_id = flags & USER_BUILD_ID != 0;
    let elem = if build_id { BUILD_ID_SIZE } else { 8 };
    let r = if flags & !(SKIP_FIELD_MASK | USER_STACK | USER_BUILD_ID) != 0
        || (!user && build_id)
        || !size.is_multiple_of(elem)
    {
        -22i64 as u64
    } else if flags & SKIP_FIELD_MASK != 0 {
        -14i64 as u64
    } else {
        0
    };
    clear(c, buf, size)?;
    Ok(r)
}

/// Zeroes `size` bytes of program memory at `buf`, checked before anything is allocated.
pub(crate) fn clear(c: &mut HelperCtx<'_, '_>, buf: u64, size: u64) -> Result<(), HelperError> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    c.check_writable(buf, size)?;
    c.write(buf, &vec![0u8; size])
}

/// Registers `bpf_get_stack`.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        67,
        "bpf_get_stack",
        R::Integer,
        &[
            A::PtrToCtx,
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::Anything,
        ],
        |c, a| get_stack(c, a[1], a[2], a[3]),
    );
}
