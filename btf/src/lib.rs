//! BTF (BPF Type Format) and `.BTF.ext` parsing, validation and dumping.
//!
//! * [`Btf::parse`] decodes a `.BTF` blob (both byte orders, split BTF via
//!   [`Btf::parse_split`]) into owned [`Type`] records.
//! * [`Btf::validate`] applies the Linux kernel's BTF verifier rules and
//!   reports failures with the kernel's wording.
//! * [`BtfExt::parse`] decodes `.BTF.ext` (func_info, line_info, CO-RE
//!   relocations).
//! * [`core`] relocates CO-RE records against a target BTF as libbpf does
//!   ([`CoreRelocator`], [`patch_insn`]).
//! * [`dump_raw`] and [`dump_c`] print types like `bpftool btf dump ...
//!   format raw|c`.
//!
//! Parsing never panics and never allocates more than the input backs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod btf;
mod bytes;
pub mod core;
pub mod dump;
mod error;
mod ext;
mod header;
mod index;
mod parse;
pub mod types;
mod validate;

pub use crate::btf::{Btf, MemberRef, MAX_RESOLVE_DEPTH};
pub use crate::bytes::Endian;
pub use crate::core::{
    essential_name, patch_insn, CoreDecision, CoreError, CoreInsn, CoreRelocator, CoreRes,
    PatchStep, POISON_HELPER,
};
pub use crate::dump::{dump_c, dump_raw};
pub use crate::error::BtfError;
pub use crate::ext::{
    BtfExt, BtfExtHeader, CoreReloc, CoreRelocKind, ExtSection, FuncInfo, LineInfo,
};
pub use crate::header::{BtfHeader, BTF_HEADER_LEN, BTF_MAGIC, BTF_VERSION};
pub use crate::types::{Kind, Type, TypeData, TypeId};
