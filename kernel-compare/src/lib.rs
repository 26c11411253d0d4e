//! bpfbox-kernel-compare: the running kernel as the oracle.
//!
//! [`sys`] wraps the `bpf(2)` syscall (owned descriptors, no libbpf); [`probe`] says what
//! this machine allows.
#![warn(missing_docs)]

pub mod btf_fixup;
pub mod conformance;
pub mod error;
pub mod flags;
pub mod gen;
pub mod load;
pub mod packet;
pub mod probe;
pub mod report;
pub mod repro;
pub mod run;
pub mod selftest;
pub mod struct_ops;
pub mod sys;
pub mod verifier_log;
pub mod verify;

pub use error::{Error, Result};
pub use flags::parse_prog_flags;
pub use load::{KernelObject, LoadOptions, ProgramLoad, Verdict, VerifierStats};
pub use report::{compare_file, CompareOptions, FileReport, Prefill, Summary};
pub use run::{Difference, Engine, Outcome, RunComparison, RunInput, Session};
