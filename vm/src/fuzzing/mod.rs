//! Program generators for fuzzing and differential testing, shared by the fuzz targets and
//! the tests of every engine so that each finding reproduces everywhere.
//!
//! - [`helper_calls`]: a carrier program with random helper calls and context stores, run
//!   through the test run of its program type (re-exported here, its original home).
//! - [`wild`]: random programs of every instruction class for the engines' differential
//!   tests (interpreter against each JIT backend).

pub mod helper_calls;
pub mod wild;

pub use helper_calls::*;
