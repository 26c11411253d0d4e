//! bpfbox: run, check and compile eBPF programs in user space, held against the real kernel.
//!
//! This facade re-exports the workspace crates, offers the object-level API ([`Object`],
//! [`Vm`], [`Context`], [`RunResult`]) and hosts the `bpfbox` command ([`cli`]).

#![warn(missing_docs)]

pub use bpfbox_btf as btf;
pub use bpfbox_jit as jit;
pub use bpfbox_kernel_compare as kernel_compare;
pub use bpfbox_loader as loader;
pub use bpfbox_vm as vm;

pub mod cli;
mod run_context;
mod runtime;

pub use bpfbox_loader::{LoadOptions, Object};
pub use bpfbox_vm::context::{Context, PtRegs};
pub use bpfbox_vm::testrun::{RunResult, TestRun};
pub use runtime::{Engine, Error, Vm, VmBuilder};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
