//! A tracepoint's record (`tp_prog_is_valid_access`): read-only, past the first 8 bytes (the
//! common header pointer) and below `PERF_MAX_TRACE_SIZE`.

use super::{Access, Field};

/// `PERF_MAX_TRACE_SIZE`.
const MAX_TRACE_SIZE: i32 = 8192;

pub(super) fn access(a: Access) -> Option<Field> {
    // The kernel compares the offset with `sizeof(void *)` as unsigned, so a negative offset
    // passes the lower bound; the upper bound is a signed comparison.
    let ok = (a.off as u32) >= 8 && a.off < MAX_TRACE_SIZE && !a.write && a.aligned();
    ok.then_some(Field::Scalar)
}
