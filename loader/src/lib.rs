//! bpfbox-loader: a clang-compiled BPF ELF object turned into relocated programs, map
//! specifications and global data, the way libbpf opens and relocates it.
//!
//! ```no_run
//! let obj = bpfbox_loader::Object::from_file("xdp_pass.o")?;
//! for prog in obj.programs() {
//!     println!("{} ({}): {} insns", prog.name, prog.prog_type.name(), prog.insns.len());
//! }
//! # Ok::<(), bpfbox_loader::LoadError>(())
//! ```
//!
//! The stages, one module each: [`elf`] (container), [`section`] (SEC names), [`maps`]
//! (legacy and BTF-defined maps), [`globals`] (data sections as maps), [`kconfig`]
//! (externs), `reloc` (relocation records), [`link`] (subprogram appending), `ext`
//! (func/line info rebasing) and [`object`] (the pipeline and the [`Object`] API).
//! Programs refer to maps by index (`BPF_PSEUDO_MAP_IDX` / `BPF_PSEUDO_MAP_IDX_VALUE`).
//! CO-RE records are applied by [`core`] against [`LoadOptions::target_btf`] (the host's
//! `/sys/kernel/btf/vmlinux` through [`load_host_btf`], or any BTF file through
//! [`load_btf_file`]); without a target, programs that need CO-RE are listed in
//! [`Object::program_errors`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
pub mod elf;
pub mod error;
mod ext;
pub mod globals;
mod instance;
pub mod kconfig;
pub mod ksyms;
pub mod link;
pub mod maps;
pub mod object;
mod reloc;
pub mod section;

pub use crate::core::{
    load_btf_file, load_host_btf, parse_target_btf, CoreOutcome, CoreRelocation, VMLINUX_BTF_PATH,
};
pub use error::{LoadError, ProgramError};
pub use instance::{libbpf_create_spec, maps_used, GlobalVar, ProgramSlot};
pub use link::{RelocKind, RelocRecord};
pub use maps::{MapInfo, MapKind, MapSlot};
pub use object::{LoadOptions, Object, ProgramMeta, SectionKind, SectionSummary};
pub use reloc::{R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64, R_BPF_64_NODYLD32};
pub use section::{classify, SectionSpec};
