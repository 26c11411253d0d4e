//! `bpf_probe_read*`: copies from "unsafe" memory that may fault. Here the readable memory is
//! the run's regions (typically a [`crate::memory::RegionKind::User`] region the embedder
//! registers); a read outside them zeroes the destination and returns the errno the kernel
//! returns for that address on x86-64 (see [`Space`]).

use super::maps::EFAULT;
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

/// `ERANGE` as a helper return value.
const ERANGE: u64 = -34i64 as u64;

/// Which address space a helper reads, deciding the errno of a failed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Space {
    /// `_kernel` forms: `copy_from_kernel_nofault` refuses, with `-ERANGE` and without
    /// trying, an address that is not a canonical kernel address (the user half and its
    /// guard page, the non-canonical hole, the vsyscall page); any other failure is
    /// `-EFAULT`.
    Kernel,
    /// `_user` forms: every failure is `-EFAULT`.
    User,
    /// The legacy forms, which on x86-64 read user memory below `TASK_SIZE` and kernel
    /// memory above it.
    Compat,
}

/// x86-64's `TASK_SIZE_MAX` (4-level paging) and the page after it.
const USER_END: u64 = 0x0000_7fff_ffff_f000;
const PAGE: u64 = 4096;
/// First canonical kernel address with 48-bit virtual addresses.
const KERNEL_START: u64 = 0xffff_8000_0000_0000;
const VSYSCALL_PAGE: u64 = 0xffff_ffff_ff60_0000;

/// Whether x86-64's `copy_from_kernel_nofault_allowed` refuses `addr`.
fn kernel_refuses(addr: u64) -> bool {
    addr < USER_END + PAGE || addr < KERNEL_START || addr & !(PAGE - 1) == VSYSCALL_PAGE
}

impl Space {
    /// The errno of a read from `addr` that failed; `starts_readable` when its first byte
    /// was readable (the read got past the kernel's address check and faulted later).
    fn failed_read(self, starts_readable: bool, addr: u64) -> u64 {
        match self {
            _ if starts_readable => EFAULT,
            Space::User => EFAULT,
            Space::Compat if addr < USER_END => EFAULT,
            Space::Kernel | Space::Compat if kernel_refuses(addr) => ERANGE,
            Space::Kernel | Space::Compat => EFAULT,
        }
    }

    fn errno(self, c: &HelperCtx<'_, '_>, addr: u64) -> u64 {
        self.failed_read(c.is_accessible(addr, 1, false), addr)
    }
}

/// The size argument (the kernel's `u32`), once the destination is known to hold it: every
/// buffer sized by the program is checked before it is allocated.
fn size_arg(c: &HelperCtx<'_, '_>, dst: u64, v: u64) -> Result<usize, HelperError> {
    let size = (v & 0xffff_ffff) as usize;
    c.check_writable(dst, size)?;
    Ok(size)
}

/// `bpf_probe_read{,_kernel,_user}(dst, size, src)`.
fn read(space: Space, c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = size_arg(c, a[0], a[1])?;
    let mut buf = vec![0u8; size];
    let r = if c.read_into(a[2], &mut buf).is_ok() {
        0
    } else {
        buf.fill(0);
        space.errno(c, a[2])
    };
    c.write(a[0], &buf)?;
    Ok(r)
}

/// `bpf_probe_read{,_kernel,_user}_str(dst, size, src)`: copies up to `size - 1` bytes and a
/// NUL, returning the length including the NUL (`size` when truncated); on a fault the
/// destination is zeroed and the errno returned.
fn read_str(space: Space, c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = size_arg(c, a[0], a[1])?;
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
        return Ok(space.errno(c, a[2]));
    }
    out.push(0);
    c.write(a[0], &out)?;
    Ok(out.len() as u64)
}

/// Registers the probe-read helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    let args = &[A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything];
    let helpers: [(u32, &str, Space, bool); 6] = [
        (4, "bpf_probe_read", Space::Compat, false),
        (113, "bpf_probe_read_kernel", Space::Kernel, false),
        (112, "bpf_probe_read_user", Space::User, false),
        (45, "bpf_probe_read_str", Space::Compat, true),
        (115, "bpf_probe_read_kernel_str", Space::Kernel, true),
        (114, "bpf_probe_read_user_str", Space::User, true),
    ];
    // bpf_copy_from_user(dst, size, user_ptr): the sleepable copy; a fault clears dst and
    // is -EFAULT whatever the address.
    reg(r, 148, "bpf_copy_from_user", R::Integer, args, |c, a| {
        let mut buf = vec![0u8; size_arg(c, a[0], a[1])?];
        let r = if c.read_into(a[2], &mut buf).is_ok() {
            0
        } else {
            buf.fill(0);
            -14i64 as u64
        };
        c.write(a[0], &buf)?;
        Ok(r)
    });
    for (id, name, space, string) in helpers {
        if string {
            reg(r, id, name, R::Integer, args, move |c, a| {
                read_str(space, c, a)
            });
        } else {
            reg(r, id, name, R::Integer, args, move |c, a| read(space, c, a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_follows_the_x86_64_address_split() {
        use Space::*;
        let e = |s: Space, a: u64| s.failed_read(false, a);
        // Address 8: the user half.
        assert_eq!(e(Kernel, 8), ERANGE);
        assert_eq!(e(User, 8), EFAULT);
        assert_eq!(
            e(Compat, 8),
            EFAULT,
            "compat reads user memory below TASK_SIZE"
        );
        // The guard page after user space, the non-canonical hole, the vsyscall page.
        for a in [
            0x0000_7fff_ffff_f800,
            0x0000_8000_0000_0000,
            0xffff_7fff_ffff_ffff,
        ] {
            assert_eq!(e(Kernel, a), ERANGE, "{a:#x}");
        }
        assert_eq!(e(Compat, 0x0000_8000_0000_0000), ERANGE);
        assert_eq!(e(Kernel, VSYSCALL_PAGE + 8), ERANGE);
        // Canonical kernel addresses are tried, and fault.
        assert_eq!(e(Kernel, KERNEL_START), EFAULT);
        assert_eq!(e(Compat, 0xffff_ffff_8100_0000), EFAULT);
        assert_eq!(e(User, 0xffff_ffff_8100_0000), EFAULT);
        // A read that starts in readable memory faulted after the check.
        assert_eq!(Kernel.failed_read(true, 8), EFAULT);
    }
}
