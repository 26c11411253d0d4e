//! bpfbox-vm: the eBPF instruction set, its semantics, the interpreter, maps and helpers.
//!
//! Everything that gives an instruction its meaning lives here once: [`isa`] decodes and
//! validates, [`semantics`] defines each operation, [`interp`] executes. The verifier and the
//! JITs are tested against these definitions.

#![warn(missing_docs)]

pub mod attach;
pub mod conformance;
pub mod env;
pub mod fuzzing;
pub mod helper_names;
pub mod helpers;
pub mod interp;
pub mod isa;
pub mod maps;
pub mod memory;
pub mod net;
pub mod program;
pub mod semantics;
pub mod task;

pub use env::Env;
pub use interp::{Fault, FaultKind, RunOutcome, Vm};
pub use isa::{Insn, RawInsn};
pub use program::{ProgType, Program};

pub mod asm;
pub mod conformance_file;
pub mod context;
pub mod disasm;
pub mod testrun;
