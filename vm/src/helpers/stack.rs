//! `bpf_get_stack` (kernel/bpf/stackmap.c). bpfbox runs no kernel or user code under the
//! program, so every call chain it could collect is empty: with no frames to skip the
//! helper copies none and returns 0; asking to skip frames fails with `-EFAULT`. Either way
//! the buffer is cleared, as the kernel clears what it does not fill.

use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};

/// `BPF_F_SKIP_FIELD_MASK`.
const SKIP_FIELD_MASK: u64 = 0xff;
/// `BPF_F_USER_STACK`.
const USER_STACK: u64 = 1 << 8;
/// `BPF_F_USER_BUILD_ID`.
const USER_BUILD_ID: u64 = 1 << 11;
/// `sizeof(struct bpf_stack_build_id)`.
const BUILD_ID_SIZE: u64 = 32;

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
        |c, a| {
            let (size, flags) = (a[2] & 0xffff_ffff, a[3]);
            let user = flags & USER_STACK != 0;
            let build_id = flags & USER_BUILD_ID != 0;
            let elem = if build_id { BUILD_ID_SIZE } else { 8 };
            let r = if flags & !(SKIP_FIELD_MASK | USER_STACK | USER_BUILD_ID) != 0
                || (!user && build_id)
                || size % elem != 0
            {
                -22i64 as u64
            } else if flags & SKIP_FIELD_MASK != 0 {
                -14i64 as u64
            } else {
                0
            };
            c.check_writable(a[1], size as usize)?;
            c.write(a[1], &vec![0u8; size as usize])?;
            Ok(r)
        },
    );
}
