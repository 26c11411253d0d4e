//! `struct pt_regs` (x86-64) as kprobe programs see it (`kprobe_prog_is_valid_access`):
//! read-only, any aligned access inside it.

use super::{Access, Field};

/// `sizeof(struct pt_regs)`: 21 registers.
pub(super) const SIZE: i32 = 21 * 8;

pub(super) fn access(a: Access) -> Option<Field> {
    let ok = (0..SIZE).contains(&a.off) && !a.write && a.aligned() && a.off + a.size as i32 <= SIZE;
    ok.then_some(Field::Scalar)
}
