//! bpfbox-verifier: decides what the Linux 6.18 verifier decides, and says it in its words.
//!
//! Stages, each its own module, data flowing one way:
//! program-level checks (control flow, subprograms, pseudo sources) → the abstract state
//! (registers, stack, frames) over a scalar [`domain`] → per-instruction checks by kind →
//! path exploration with pruning, liveness and precision → the log.
#![warn(missing_docs)]

pub mod domain;
