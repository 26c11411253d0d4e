//! Typed errors: what went wrong, in which section, at which offset, for which program.

use std::path::PathBuf;

/// An error that makes the whole object unusable.
///
/// Every variant names the section (and byte offset) or the program (and instruction) it
/// concerns, so a report can point at the exact spot of a malformed object.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading the object file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The ELF header is not one of a 64-bit little-endian relocatable BPF object.
    #[error("not a BPF object: {0}")]
    NotBpfObject(String),
    /// A structure of the ELF container (header, section table, symbol table) is malformed.
    #[error("malformed ELF {what} at offset {offset:#x}: {msg}")]
    Elf {
        /// Which structure.
        what: &'static str,
        /// File offset of the structure.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// A section's contents lie outside the file.
    #[error("section '{section}' [{offset:#x}, +{size:#x}) lies outside the {file_len}-byte file")]
    SectionBounds {
        /// Section name (or `#index` when the name is unreadable).
        section: String,
        /// Declared file offset.
        offset: u64,
        /// Declared size.
        size: u64,
        /// Size of the file.
        file_len: usize,
    },
    /// A section's contents are malformed (bad program extent, license, version, ...).
    #[error("section '{section}' at offset {offset:#x}: {msg}")]
    Section {
        /// Section name.
        section: String,
        /// Byte offset inside the section.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// A symbol is malformed.
    #[error("symbol #{index} ('{name}'): {msg}")]
    Symbol {
        /// Index in the symbol table.
        index: usize,
        /// Symbol name, if readable.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// A relocation record cannot be applied.
    #[error("relocation #{index} in '{section}' at offset {offset:#x} (program '{program}', insn {insn}): {msg}")]
    Relocation {
        /// The relocation section (`.relxdp`, ...).
        section: String,
        /// Index of the record in its section.
        index: usize,
        /// `r_offset` of the record.
        offset: u64,
        /// Program the patched instruction belongs to (`?` if none).
        program: String,
        /// Instruction index inside that program's function.
        insn: usize,
        /// What is wrong.
        msg: String,
    },
    /// A map definition is malformed.
    #[error("map '{map}' in section '{section}' at offset {offset:#x}: {msg}")]
    Map {
        /// Map name.
        map: String,
        /// Section holding the definition.
        section: String,
        /// Byte offset of the definition in that section.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// BTF is needed (BTF-defined maps, `.kconfig` externs) but is missing or malformed.
    #[error("section '{section}': {msg}")]
    Btf {
        /// `.BTF`, `.BTF.ext` or the section that needed BTF.
        section: String,
        /// What is wrong (the BTF parser's message when it failed).
        msg: String,
    },
    /// An `extern` cannot be resolved.
    #[error("extern '{name}': {msg}")]
    Extern {
        /// The extern's name.
        name: String,
        /// What is wrong.
        msg: String,
    },
}

/// Why one program of an otherwise good object could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// The program (or a subprogram it calls) carries CO-RE relocation records.
    #[error("program '{program}' needs CO-RE relocation ({count} relocations) and has no target BTF: none was given and the running kernel publishes none at /sys/kernel/btf/vmlinux (give one as LoadOptions::target_btf, or --btf FILE)")]
    NeedsCore {
        /// Program name.
        program: String,
        /// Number of CO-RE records in the program and its subprograms.
        count: usize,
    },
    /// The program references `.ksyms` externs (kfuncs or typed/typeless kernel symbols).
    #[error("program '{program}' references kernel symbols ({}) through .ksyms; ksyms are not supported yet", symbols.join(", "))]
    NeedsKsyms {
        /// Program name.
        program: String,
        /// The extern symbols referenced.
        symbols: Vec<String>,
    },
    /// A CO-RE relocation of the program (or of a subprogram it calls) failed where libbpf
    /// fails the load.
    #[error("program '{program}': prog '{function}': relo #{relo} (section '{section}'): {error} ({errno})")]
    Core {
        /// Program name.
        program: String,
        /// The function holding the relocated instruction (libbpf's prog name).
        function: String,
        /// ELF section of the relocation record.
        section: String,
        /// Record index in that section (libbpf's `relo #N`).
        relo: usize,
        /// libbpf's errno (negative).
        errno: i32,
        /// libbpf's reason.
        error: Box<bpfbox_btf::CoreError>,
    },
    /// A `.ksyms` extern the program uses cannot be resolved in the target BTF (libbpf fails
    /// the load).
    #[error("program '{program}': {reason}")]
    Ksym {
        /// Program name.
        program: String,
        /// The extern.
        symbol: String,
        /// libbpf's reason.
        reason: String,
    },
    /// A relocation of the program (or of a subprogram it calls) cannot be applied.
    #[error("program '{program}': {msg}")]
    Relocation {
        /// Program name.
        program: String,
        /// The function holding the relocation.
        function: String,
        /// The relocation and what is wrong with it.
        msg: String,
    },
    /// Linking the program's subprograms failed.
    #[error("program '{program}', insn {insn}: {msg}")]
    Link {
        /// Program name.
        program: String,
        /// Instruction index in the final program.
        insn: usize,
        /// What is wrong.
        msg: String,
    },
}

impl ProgramError {
    /// The program this error is about.
    pub fn program(&self) -> &str {
        match self {
            ProgramError::NeedsCore { program, .. }
            | ProgramError::NeedsKsyms { program, .. }
            | ProgramError::Core { program, .. }
            | ProgramError::Ksym { program, .. }
            | ProgramError::Relocation { program, .. }
            | ProgramError::Link { program, .. } => program,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, LoadError>;
