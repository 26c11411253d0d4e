//! `struct bpf_sysctl` (`sysctl_is_valid_access`): `write` read-only, `file_pos` readable
//! narrow and writable whole.

use super::{Access, Field};

const WRITE: i32 = 0;
const FILE_POS: i32 = 4;
const SIZE: i32 = 8;

pub(super) fn access(a: Access) -> Option<Field> {
    if a.off < 0 || a.off + a.size as i32 > SIZE || !a.aligned() {
        return None;
    }
    let ok = if a.within(WRITE, 4) {
        !a.write && a.narrow_ok(4)
    } else if a.within(FILE_POS, 4) {
        if a.write {
            a.size == 4
        } else {
            a.narrow_ok(4)
        }
    } else {
        false
    };
    ok.then_some(Field::Scalar)
}
