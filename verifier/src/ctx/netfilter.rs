//! `struct bpf_nf_ctx` (`nf_is_valid_access`): two read-only pointers to kernel objects
//! typed by BTF, which this verifier does not model yet.

use super::{Access, Field};

const SIZE: i32 = 16;

pub(super) fn access(a: Access) -> Option<Field> {
    let ok = (0..SIZE).contains(&a.off) && a.aligned() && !a.write && a.size == 8;
    ok.then_some(Field::Unmodelled("kernel objects typed by BTF"))
}
