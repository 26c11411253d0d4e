//! `struct bpf_cgroup_dev_ctx` (`cgroup_dev_is_valid_access`): read-only words; only
//! `access_type` allows narrow loads.

use super::{Access, Field};

const ACCESS_TYPE: i32 = 0;
const SIZE: i32 = 12;

pub(super) fn access(a: Access) -> Option<Field> {
    if a.write || a.off < 0 || a.off + a.size as i32 > SIZE || !a.aligned() {
        return None;
    }
    let ok = if a.within(ACCESS_TYPE, 4) {
        a.narrow_ok(4)
    } else {
        a.size == 4
    };
    ok.then_some(Field::Scalar)
}
