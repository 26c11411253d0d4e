//! `struct bpf_perf_event_data` (`pe_prog_is_valid_access`): read-only; the registers read
//! a long at a time, `sample_period` and `addr` also narrower.

use super::{pt_regs, Access, Field};

const SAMPLE_PERIOD: i32 = pt_regs::SIZE;
const ADDR: i32 = pt_regs::SIZE + 8;
const SIZE: i32 = pt_regs::SIZE + 16;

pub(super) fn access(a: Access) -> Option<Field> {
    if !(0..SIZE).contains(&a.off) || a.write || !a.aligned() {
        return None;
    }
    let ok = if a.within(SAMPLE_PERIOD, 8) || a.within(ADDR, 8) {
        a.narrow_ok(8)
    } else {
        a.size == 8
    };
    ok.then_some(Field::Scalar)
}
