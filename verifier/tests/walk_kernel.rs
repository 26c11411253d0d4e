//! The walk against the running kernel: hand-written programs per feature (registers, ALU,
//! stack spills and fills, branches and pruning, map values, XDP context and packets,
//! helpers, exits). Each is loaded with `BPF_PROG_LOAD`; our verdict and error line must be
//! the kernel's. A program we reject only as not supported yet is reported and counted, and
//! the count is bounded so that coverage cannot silently shrink.

mod common;

use common::walk_cases::{cases, maps};

#[test]
fn walk_matches_the_kernel() {
    if !common::kernel() {
        return;
    }
    let cases = cases();
    let matched = common::assert_cases(&cases, &maps());
    eprintln!("{matched} of {} cases identical to the kernel", cases.len());
    assert!(
        matched * 100 >= cases.len() * 95,
        "only {matched} of {} identical",
        cases.len()
    );
}
