//! bpfbox-kernel-compare: the running kernel as the oracle.
//!
//! [`sys`] wraps the `bpf(2)` syscall (owned descriptors, no libbpf); [`probe`] says what
//! this machine allows.
#![warn(missing_docs)]

pub mod probe;
pub mod sys;
