//! bpfbox: run, check and compile eBPF programs in user space, held against the real kernel.
//!
//! This facade re-exports the workspace crates and hosts the `bpfbox` command ([`cli`]).

pub use bpfbox_btf as btf;
pub use bpfbox_kernel_compare as kernel_compare;
pub use bpfbox_vm as vm;

pub mod cli;
