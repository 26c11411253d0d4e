//! Safe wrappers over the `bpf(2)` syscall, without libbpf.
//!
//! Each command has its own `#[repr(C)]` attribute struct laid out as the matching member of
//! the kernel's `union bpf_attr` (include/uapi/linux/bpf.h); the syscall is given the size of
//! that struct, and the kernel treats the fields it does not receive as zero. Every object
//! the kernel hands back is an [`Fd`] closed on drop: nothing is pinned or left behind.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::RawInsn;
use bytemuck::{Pod, Zeroable};

mod info;
mod load;
mod map;
mod test_run;

pub use info::*;
pub use load::*;
pub use map::*;
pub use test_run::*;

/// `BPF_OBJ_NAME_LEN`: object names are at most 15 bytes plus a NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// Log level bit: the verifier's instruction-by-instruction log.
pub const BPF_LOG_LEVEL1: u32 = 1;
/// Log level bit: the verbose log (register states at every instruction).
pub const BPF_LOG_LEVEL2: u32 = 2;
/// Log level bit: statistics only (`processed N insns ...`, `verification time`).
pub const BPF_LOG_STATS: u32 = 4;

/// `BPF_F_TEST_RUN_ON_CPU`: run on the CPU given in [`TestRunIn::cpu`].
pub const BPF_F_TEST_RUN_ON_CPU: u32 = 1;

/// Largest verifier log we are willing to allocate (the kernel caps `log_size` at 1 GiB).
pub const MAX_LOG_SIZE: usize = 256 << 20;

/// First log buffer size; it grows until the log fits.
pub(super) const INITIAL_LOG_SIZE: usize = 64 << 10;

/// `enum bpf_cmd` values used here.
#[allow(missing_docs)]
pub mod cmd {
    pub const MAP_CREATE: i64 = 0;
    pub const MAP_LOOKUP_ELEM: i64 = 1;
    pub const MAP_UPDATE_ELEM: i64 = 2;
    pub const MAP_DELETE_ELEM: i64 = 3;
    pub const MAP_GET_NEXT_KEY: i64 = 4;
    pub const PROG_LOAD: i64 = 5;
    pub const PROG_TEST_RUN: i64 = 10;
    pub const OBJ_GET_INFO_BY_FD: i64 = 15;
    pub const BTF_LOAD: i64 = 18;
    pub const MAP_LOOKUP_AND_DELETE_ELEM: i64 = 21;
    pub const MAP_FREEZE: i64 = 22;
    pub const MAP_LOOKUP_BATCH: i64 = 24;
}

pub(super) const ENOENT: i32 = libc::ENOENT;
pub(super) const ENOSPC: i32 = libc::ENOSPC;

/// A failed `bpf(2)` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bpf({op}) failed: {} ({errno})", errno_name(*.errno))]
pub struct SysError {
    /// The command (`BPF_MAP_CREATE`, ...).
    pub op: &'static str,
    /// The positive errno.
    pub errno: i32,
}

/// Result of a `bpf(2)` wrapper.
pub type SysResult<T> = Result<T, SysError>;

/// The symbolic name of an errno (`EINVAL`), or its number.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        524 => "ENOTSUPP",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// An owned BPF object descriptor (map, program, BTF), closed when dropped.
#[derive(Debug)]
pub struct Fd(OwnedFd);

impl Fd {
    /// The raw descriptor, for attributes such as `fd_array` or `inner_map_fd`.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

pub(super) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Issues `bpf(cmd, attr, sizeof(attr))`.
pub(super) fn bpf<T: Pod>(cmd: i64, op: &'static str, attr: &mut T) -> SysResult<i64> {
    let size = std::mem::size_of::<T>();
    // SAFETY: `attr` is a plain-old-data struct laid out like the union member the kernel
    // reads for `cmd`, valid for `size` bytes; every pointer stored in it refers to a buffer
    // the caller keeps alive until this call returns, sized for what the kernel reads or
    // writes through it (the map element wrappers size theirs from the map's own info,
    // `elem_sizes`, since the kernel goes by the map's sizes, not the attr's).
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size) };
    if ret < 0 {
        Err(SysError {
            op,
            errno: last_errno(),
        })
    } else {
        Ok(ret)
    }
}

/// Like [`bpf`] for commands that return a new descriptor.
pub(super) fn bpf_fd<T: Pod>(cmd: i64, op: &'static str, attr: &mut T) -> SysResult<Fd> {
    let fd = bpf(cmd, op, attr)?;
    let fd = RawFd::try_from(fd).map_err(|_| SysError {
        op,
        errno: libc::EBADF,
    })?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
    Ok(Fd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

pub(super) fn ptr(b: &[u8]) -> u64 {
    if b.is_empty() {
        0
    } else {
        b.as_ptr() as u64
    }
}

pub(super) fn ptr_mut(b: &mut [u8]) -> u64 {
    if b.is_empty() {
        0
    } else {
        b.as_mut_ptr() as u64
    }
}

/// An object name as the kernel wants it: at most 15 bytes of `[A-Za-z0-9_.]`, NUL padded.
/// Other characters are dropped (the kernel would refuse them with `EINVAL`).
pub fn obj_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    let ok = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.');
    for (o, b) in out.iter_mut().zip(ok.take(BPF_OBJ_NAME_LEN - 1)) {
        *o = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attribute structs have the sizes of the kernel's union members.
    #[test]
    fn layouts() {
        use std::mem::size_of;
        assert_eq!(size_of::<MapCreateAttr>(), 80);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(size_of::<BtfLoadAttr>(), 40);
        assert_eq!(size_of::<ProgLoadAttr>(), 152);
        assert_eq!(size_of::<TestRunAttr>(), 80);
        assert_eq!(size_of::<BpfProgInfo>(), 232);
        assert_eq!(size_of::<BpfMapInfo>(), 88);
    }

    #[test]
    fn names_are_cut_and_filtered() {
        assert_eq!(&obj_name("a-b.c")[..4], b"ab.c");
        let n = obj_name("a_very_long_program_name");
        assert_eq!(n[15], 0);
        assert_eq!(&n[..15], b"a_very_long_pro");
    }
}
