//! `BPF_PROG_TYPE_SYSCALL`'s context: the caller's buffer, read and written at any offset
//! below 64 KiB that is a multiple of the access size (`syscall_prog_is_valid_access`).

use super::{Access, Field};

/// An access to a syscall program's context.
pub fn access(a: Access) -> Option<Field> {
    (a.off >= 0 && a.off < i32::from(u16::MAX) && a.aligned()).then_some(Field::Scalar)
}
