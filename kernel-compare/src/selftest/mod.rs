//! The kernel's verifier selftests (`tools/testing/selftests/bpf/progs/verifier_*.c`) as a
//! corpus: [`annotations`] reads each program's expectations from its BTF, [`pattern`]
//! checks expected log messages, and [`runner`] loads and runs each test as the
//! selftests' own loader does.

pub mod annotations;
pub mod caps;
pub mod parity;
pub mod pattern;
pub mod runner;
pub mod xlated;

pub use annotations::{parse_spec, Expect, LoadMode, TestSpec};
pub use parity::{Counts, Parity, StateAgreement};
pub use pattern::{match_in_order, MatchResult, Pattern};
pub use runner::{
    Environment, Expected, RetvalComparison, RunValue, SelftestObject, Status, TestOutcome,
};
