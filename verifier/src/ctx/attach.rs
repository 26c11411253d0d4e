//! The kernel's `enum bpf_attach_type` ids that context and return-value rules depend on
//! (the one table is `bpfbox_vm::attach`).

pub use bpfbox_vm::attach::*;
