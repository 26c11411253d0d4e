//! [`Object`]: the loaded form of a BPF ELF object; the pipeline that builds it is in
//! `parse` and `entry`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bpfbox_btf::{Btf, BtfExt};
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::{ProgType, Program};

use crate::core::CoreRelocation;
use crate::elf::Section;
use crate::error::{LoadError, ProgramError, Result};
use crate::link::RelocRecord;
use crate::maps::{MapInfo, MapKind};

mod entry;
mod parse;

/// Largest total of linked instructions over all programs of one object.
const MAX_TOTAL_INSNS: usize = 16 << 20;

/// Largest `.bss` (which the file does not back) we are willing to zero-fill.
const MAX_BSS: u64 = 64 << 20;

/// Options of [`Object::parse_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Object name used for global data map names (libbpf: the file name up to its first
    /// `.`); at most 15 bytes are kept.
    pub name: Option<String>,
    /// `CONFIG_*` values for `.kconfig` externs, as in a kernel `.config` (`y`, `m`, `n`,
    /// `"string"`, numbers).
    pub kconfig: HashMap<String, String>,
    /// `LINUX_KERNEL_VERSION` (`KERNEL_VERSION(a, b, c)` = `a << 16 | b << 8 | c`).
    pub kernel_version: u32,
    /// The BTF CO-RE relocates against, and `.ksyms` externs resolve in (libbpf's
    /// `btf_custom_path`, or the host's vmlinux): see [`crate::core::load_host_btf`] and
    /// [`crate::core::load_btf_file`]. `None`: programs needing CO-RE or ksyms are listed in
    /// [`Object::program_errors`] and the rest load.
    pub target_btf: Option<Arc<Btf>>,
    /// Addresses of kernel symbols for typeless `.ksyms` externs (see
    /// [`crate::ksyms::parse_kallsyms`]); a missing strong one fails its programs.
    pub kallsyms: HashMap<String, u64>,
}

/// What a section is to the loader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SectionKind {
    /// Section 0.
    Null,
    /// Programs (entry functions), with the type the name gives them.
    Program(ProgType),
    /// `.text`: subprograms.
    Text,
    /// Global data (`.data*`, `.rodata*`, `.bss*`) turned into a map.
    GlobalData,
    /// BTF-defined maps.
    Maps,
    /// Legacy `struct bpf_map_def` maps.
    LegacyMaps,
    /// `license`.
    License,
    /// `version`.
    Version,
    /// `.BTF`.
    Btf,
    /// `.BTF.ext`.
    BtfExt,
    /// Relocations applied to section `target`.
    Relocations {
        /// Section the records patch.
        target: usize,
    },
    /// Relocations the loader ignores (debug info, BTF, data sections).
    IgnoredRelocations,
    /// The symbol table.
    Symtab,
    /// A string table.
    Strtab,
    /// DWARF.
    Debug,
    /// Anything else (tolerated and ignored, as libbpf does).
    Other,
}

/// One line of [`Object::sections`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SectionSummary {
    /// Index in the section table.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Role.
    pub kind: SectionKind,
    /// Size in bytes.
    pub size: u64,
}

/// Loader-side facts about a program that [`Program`] does not carry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgramMeta {
    /// Program name.
    pub name: String,
    /// ELF section index.
    pub section_index: usize,
    /// False for programs of `?`-prefixed sections (libbpf's autoload off).
    pub autoload: bool,
    /// Whether the section name matched a libbpf section definition.
    pub recognized: bool,
    /// Instructions of the entry function alone (libbpf's `bpf_program__insn_cnt` before
    /// loading).
    pub entry_insns: usize,
}

/// A BPF ELF object, parsed, relocated and linked.
#[derive(Debug)]
pub struct Object {
    name: String,
    license: String,
    kern_version: u32,
    programs: Vec<Program>,
    metas: Vec<ProgramMeta>,
    program_errors: Vec<ProgramError>,
    maps: Vec<MapSpec>,
    map_info: Vec<MapInfo>,
    btf: Option<Arc<Btf>>,
    btf_ext: Option<BtfExt>,
    btf_error: Option<String>,
    relocations: Vec<RelocRecord>,
    core_relocations: Vec<CoreRelocation>,
    sections: Vec<SectionSummary>,
    kconfig_layout: Vec<(String, u32)>,
    /// `(section, variable)` → byte offset, from the ELF symbols: clang leaves `.bss`
    /// variables at offset 0 in their `DATASEC` and libbpf takes the symbols' values.
    global_offsets: HashMap<(String, String), usize>,
}

/// The object name libbpf derives from a path: the file name up to its first `.`.
fn name_from_path(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    base.split('.').next().unwrap_or("").to_string()
}

/// At most 15 bytes, as libbpf's `obj->name[BPF_OBJ_NAME_LEN]`.
fn obj_name(name: &str) -> String {
    crate::maps::kernel_name(name)
}

fn section_err(sec: &Section<'_>, offset: u64, msg: impl Into<String>) -> LoadError {
    LoadError::Section {
        section: sec.name.clone(),
        offset,
        msg: msg.into(),
    }
}

/// The running kernel as a CO-RE and `.ksyms` target.
struct HostTarget {
    btf: Arc<Btf>,
    kallsyms: HashMap<String, u64>,
}

/// The host's BTF and symbols, read and parsed on first use and shared by every later load
/// in the process (parsing vmlinux BTF takes far longer than relocating an object). `None`
/// when the kernel publishes no BTF.
fn host_target() -> Option<&'static HostTarget> {
    static HOST: std::sync::OnceLock<Option<HostTarget>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let btf = crate::core::load_host_btf().ok()?;
        let kallsyms = std::fs::read_to_string("/proc/kallsyms")
            .map(|text| crate::ksyms::parse_kallsyms(&text))
            .unwrap_or_default();
        Some(HostTarget { btf, kallsyms })
    })
    .as_ref()
}

impl Object {
    /// Parses an object with default options (no object name, empty kconfig, kernel
    /// version 0).
    pub fn parse(bytes: &[u8]) -> Result<Object> {
        Self::parse_with(bytes, &LoadOptions::default())
    }

    /// Reads and parses an object file as libbpf opens and prepares it; the object name
    /// comes from the file name. CO-RE relocations and `.ksyms` resolve against the running
    /// kernel's BTF when the object needs it, as [`Object::from_file_relocated`] with no
    /// target does; without one (no `/sys/kernel/btf/vmlinux`), the programs that need it
    /// say so in [`Object::program_errors`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Object> {
        Self::from_file_relocated(path, None)
    }

    /// Parses the object at `path` as libbpf opens and prepares it: CO-RE relocations and
    /// `.ksyms` resolve against `target`, or — when the object needs a kernel's BTF and no
    /// target is given — against the running kernel's (`/sys/kernel/btf/vmlinux`, with
    /// `/proc/kallsyms` for typeless ksyms). Where no kernel BTF exists, the programs that
    /// need it report so in [`Object::program_errors`] and the rest load. The host's BTF and
    /// symbols are read and parsed once per process.
    pub fn from_file_relocated(path: impl AsRef<Path>, target: Option<Arc<Btf>>) -> Result<Object> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut opts = LoadOptions {
            name: Some(name_from_path(path)),
            target_btf: target,
            ..LoadOptions::default()
        };
        let obj = Self::parse_with(&bytes, &opts)?;
        let needs_kernel = obj.program_errors().iter().any(|e| {
            matches!(
                e,
                ProgramError::NeedsCore { .. } | ProgramError::NeedsKsyms { .. }
            )
        });
        if opts.target_btf.is_some() || !needs_kernel {
            return Ok(obj);
        }
        let Some(host) = host_target() else {
            return Ok(obj);
        };
        opts.target_btf = Some(Arc::clone(&host.btf));
        opts.kallsyms = host.kallsyms.clone();
        Self::parse_with(&bytes, &opts)
    }

    /// The object name used for internal map names.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `license` string.
    pub fn license(&self) -> &str {
        &self.license
    }

    /// The legacy `version` section's value, 0 if absent.
    pub fn kern_version(&self) -> u32 {
        self.kern_version
    }

    /// Programs that loaded, in libbpf's order (section index, then offset).
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// Loader-side facts about the program named `name` (autoload, entry size).
    pub fn program_meta(&self, name: &str) -> Option<&ProgramMeta> {
        self.metas.iter().find(|m| m.name == name)
    }

    /// Programs that could not be loaded, and why (needs CO-RE, uses ksyms, bad calls).
    pub fn program_errors(&self) -> &[ProgramError] {
        &self.program_errors
    }

    /// Map specifications; relocated programs refer to maps by index into this slice.
    pub fn maps(&self) -> &[MapSpec] {
        &self.maps
    }

    /// Origin, libbpf name and initial contents of map `idx`.
    pub fn map_info(&self, idx: usize) -> Option<&MapInfo> {
        self.map_info.get(idx)
    }

    /// Initial value of element 0 of map `idx` (global data and `.kconfig` maps).
    pub fn map_data(&self, idx: usize) -> Option<&[u8]> {
        self.map_info.get(idx)?.data.as_deref()
    }

    /// Index of the map libbpf would call `name`.
    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.map_info.iter().position(|m| m.name == name)
    }

    /// Sets global variable `name` (e.g. a `const volatile` in `.rodata`) before maps are
    /// created, as a libbpf skeleton does between open and load. `bytes` must be exactly the
    /// variable's size.
    pub fn set_global(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let err = |msg: String| LoadError::Extern {
            name: name.to_string(),
            msg,
        };
        let var = self
            .global_var(name)
            .ok_or_else(|| err("no global variable of that name in the object's BTF".into()))?;
        if bytes.len() != var.size {
            return Err(err(format!(
                "the variable has {} bytes, {} given",
                var.size,
                bytes.len()
            )));
        }
        let value_size = self.maps[var.map].value_size as usize;
        let info = &mut self.map_info[var.map];
        let data = info.data.get_or_insert_with(Vec::new);
        let need = value_size.max(var.offset + var.size);
        if data.len() < need {
            data.resize(need, 0);
        }
        data[var.offset..var.offset + var.size].copy_from_slice(bytes);
        Ok(())
    }

    /// The byte offset of global variable `var` in data section `section`, from the ELF
    /// symbol table (as libbpf fills `DATASEC` offsets).
    pub(crate) fn global_offset(&self, section: &str, var: &str) -> Option<usize> {
        self.global_offsets
            .get(&(section.to_string(), var.to_string()))
            .copied()
    }

    /// The object's BTF, if it has a valid `.BTF` section.
    pub fn btf(&self) -> Option<&Btf> {
        self.btf.as_deref()
    }

    /// The object's BTF, shared (the verifier keeps it for global functions and line info).
    pub fn btf_shared(&self) -> Option<Arc<Btf>> {
        self.btf.clone()
    }

    /// The object's `.BTF.ext`, if present and valid.
    pub fn btf_ext(&self) -> Option<&BtfExt> {
        self.btf_ext.as_ref()
    }

    /// Why `.BTF` or `.BTF.ext` was ignored, if it was.
    pub fn btf_error(&self) -> Option<&str> {
        self.btf_error.as_deref()
    }

    /// Every relocation applied, program by program.
    pub fn relocations(&self) -> &[RelocRecord] {
        &self.relocations
    }

    /// Every CO-RE relocation record with its decision, in libbpf's order (empty when no
    /// target BTF was given).
    pub fn core_relocations(&self) -> &[CoreRelocation] {
        &self.core_relocations
    }

    /// Every section and its role.
    pub fn sections(&self) -> &[SectionSummary] {
        &self.sections
    }

    /// Where each `.kconfig` extern lives in the kconfig map (name, byte offset), and the
    /// map's value size (0 without `.kconfig` externs).
    pub fn kconfig_layout(&self) -> (&[(String, u32)], u32) {
        let size = self
            .map_info
            .iter()
            .find(|m| m.kind == MapKind::Kconfig)
            .and_then(|m| m.data.as_ref())
            .map_or(0, |d| d.len() as u32);
        (&self.kconfig_layout, size)
    }
}
