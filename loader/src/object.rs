//! [`Object`]: the loaded form of a BPF ELF object, and the pipeline that builds it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bpfbox_btf::{Btf, BtfExt};
use bpfbox_vm::isa::slots_from_bytes;
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::{ProgType, Program};

use crate::core::CoreRelocation;
use crate::elf::{ElfFile, Section, Symbol, SHT_REL, SHT_STRTAB, SHT_SYMTAB, STB_LOCAL, STT_FUNC};
use crate::error::{LoadError, ProgramError, Result};
use crate::globals::{data_kind, internal_map};
use crate::kconfig::Externs;
use crate::link::{Function, RelocRecord};
use crate::maps::{MapEntry, MapInfo, MapKind};
use crate::section::classify;

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

/// libbpf's `is_sec_name_dwarf`.
fn is_dwarf(name: &str) -> bool {
    name.starts_with(".debug_")
}

/// libbpf's `ignore_elf_section` for relocation sections of DWARF and BTF.
fn ignored_rel(name: &str) -> bool {
    name.strip_prefix(".rel")
        .is_some_and(|t| is_dwarf(t) || t == ".BTF" || t == ".BTF.ext")
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

    /// Parses an object.
    pub fn parse_with(bytes: &[u8], opts: &LoadOptions) -> Result<Object> {
        let elf = ElfFile::parse(bytes)?;
        if elf.symtab_index == 0 {
            return Err(LoadError::Elf {
                what: "symbol table",
                offset: 0,
                msg: "no symbol table (stripped object?)".into(),
            });
        }
        let name = obj_name(opts.name.as_deref().unwrap_or(""));
        let sec_names: Vec<String> = elf.sections.iter().map(|s| s.name.clone()).collect();

        // Metadata sections.
        let mut license = String::new();
        let mut kern_version = 0;
        if let Some(sec) = elf.section_by_name("license") {
            let end = sec
                .data
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(sec.data.len());
            license = String::from_utf8_lossy(&sec.data[..end]).into_owned();
        }
        if let Some(sec) = elf.section_by_name("version") {
            let b: [u8; 4] = sec.data.try_into().map_err(|_| {
                section_err(
                    sec,
                    0,
                    format!("invalid kernel version section size {}", sec.data.len()),
                )
            })?;
            kern_version = u32::from_le_bytes(b);
        }

        // BTF is optional: a broken .BTF is reported and ignored, as libbpf does, unless
        // something (BTF maps, externs) needs it.
        let mut btf_error = None;
        let btf = match elf.section_by_name(".BTF") {
            Some(sec) => match Btf::parse(sec.data) {
                Ok(b) => Some(b),
                Err(e) => {
                    btf_error = Some(format!(".BTF: {e}"));
                    None
                }
            },
            None => None,
        };
        let btf_ext = match (elf.section_by_name(".BTF.ext"), &btf) {
            (Some(sec), Some(b)) => match BtfExt::parse(sec.data, b) {
                Ok(x) => Some(x),
                Err(e) => {
                    btf_error = Some(format!(".BTF.ext: {e}"));
                    None
                }
            },
            _ => None,
        };

        let text_idx = elf
            .sections
            .iter()
            .find(|s| s.name == ".text" && s.is_exec() && s.size > 0)
            .map_or(0, |s| s.index);
        let mut funcs = collect_functions(&elf, text_idx)?;

        // Maps: legacy, BTF-defined, global data, kconfig (libbpf's order).
        let mut maps: Vec<MapEntry> = Vec::new();
        if let Some(sec) = elf.section_by_name("maps") {
            maps.extend(crate::maps::legacy_maps(&elf, sec)?);
        }
        let maps_sec = elf.section_by_name(".maps");
        if let Some(sec) = maps_sec {
            maps.extend(crate::maps::btf_maps(&elf, sec, btf.as_ref())?);
        }
        for sec in &elf.sections {
            let Some(kind) = data_kind(sec) else { continue };
            if sec.size == 0 {
                continue;
            }
            let data = if kind == MapKind::Bss {
                if sec.size > MAX_BSS {
                    return Err(section_err(
                        sec,
                        0,
                        format!(
                            ".bss of {} bytes exceeds the {MAX_BSS}-byte limit",
                            sec.size
                        ),
                    ));
                }
                vec![0; sec.size as usize]
            } else {
                sec.data.to_vec()
            };
            maps.push(internal_map(
                &name,
                kind,
                &sec.name,
                sec.index,
                data,
                btf.as_ref(),
            ));
        }
        let Externs {
            list: externs,
            kconfig_data,
        } = crate::kconfig::collect(&elf, btf.as_ref(), &opts.kconfig, opts.kernel_version)?;
        let kconfig_layout: Vec<(String, u32)> = externs
            .iter()
            .filter_map(|e| match e.kind {
                crate::kconfig::ExternKind::Kconfig { offset } => Some((e.name.clone(), offset)),
                _ => None,
            })
            .collect();
        let mut kconfig_map = None;
        if let Some(data) = kconfig_data {
            kconfig_map = Some(maps.len());
            maps.push(internal_map(
                &name,
                MapKind::Kconfig,
                ".kconfig",
                elf.symtab_index,
                data,
                btf.as_ref(),
            ));
        }

        // Relocations of code sections, and `values` initialisers of `.maps`.
        let rctx = crate::reloc::RelocCtx {
            elf: &elf,
            maps: &maps,
            externs: &externs,
            kconfig_map,
            text_idx,
        };
        let mut map_rel = None;
        for rel in elf
            .sections
            .iter()
            .filter(|s| s.sh_type == SHT_REL && !ignored_rel(&s.name))
        {
            let target = elf.section(rel.info as usize).ok_or_else(|| {
                section_err(rel, 0, format!("sh_info {} is not a section", rel.info))
            })?;
            if target.is_exec() {
                let start = funcs.partition_point(|f| f.sec < target.index);
                let end = funcs.partition_point(|f| f.sec <= target.index);
                crate::reloc::collect(&rctx, rel, target, &mut funcs[start..end])?;
            } else if maps_sec.is_some_and(|m| m.index == target.index) {
                map_rel = Some(rel);
            }
        }
        if let (Some(rel), Some(msec), Some(b)) = (map_rel, maps_sec, btf.as_ref()) {
            let is_entry = |s: &Symbol| {
                s.kind == STT_FUNC
                    && funcs
                        .iter()
                        .any(|f| f.is_entry && f.sec == s.shndx && (f.start as u64) * 8 == s.value)
            };
            crate::maps::collect_map_relos(&elf, rel, msec, b, &mut maps, &is_entry)?;
        }

        // CO-RE, on each function before linking (libbpf relocates each (sub)program once,
        // then copies subprograms into their callers).
        let mut core_relocations = Vec::new();
        let mut core_failures = Vec::new();
        if let (Some(target), Some(b), Some(x)) = (&opts.target_btf, &btf, &btf_ext) {
            if x.core_relos.iter().any(|s| !s.records.is_empty()) {
                let pass = crate::core::relocate(b, x, target, &mut funcs, &sec_names, |f| {
                    !f.is_entry || classify(&sec_names[f.sec]).autoload
                });
                core_relocations = pass.log;
                core_failures = pass.failures;
            }
        }

        // `.ksyms` externs, resolved in the target BTF.
        let ksym_res = match &opts.target_btf {
            Some(t) => crate::ksyms::resolve(&elf, btf.as_ref(), &externs, t, &opts.kallsyms),
            None => HashMap::new(),
        };

        // Link every entry program.
        let map_names: Vec<String> = maps.iter().map(|m| m.info.name.clone()).collect();
        let mut programs = Vec::new();
        let mut metas = Vec::new();
        let mut program_errors = Vec::new();
        let mut relocations = Vec::new();
        let index = crate::link::index_functions(&funcs);
        // Every entry program gets its own copies of its subprograms; bound the total so a
        // hostile object cannot make us build millions of copies.
        let mut budget = MAX_TOTAL_INSNS;
        for (i, f) in funcs.iter().enumerate().filter(|(_, f)| f.is_entry) {
            let spec = classify(&sec_names[f.sec]);
            let linked = match crate::link::link(&funcs, &index, i, &map_names, &ksym_res, budget) {
                Ok(l) => l,
                Err(e) => {
                    program_errors.push(e);
                    continue;
                }
            };
            if let Some((function, msg)) = linked.placed.iter().find_map(|p| {
                let func = &funcs[p.func];
                func.reloc_error
                    .as_ref()
                    .map(|e| (func.name.clone(), e.clone()))
            }) {
                program_errors.push(ProgramError::Relocation {
                    program: f.name.clone(),
                    function,
                    msg,
                });
                continue;
            }
            let failed = linked.placed.iter().find_map(|p| {
                core_failures
                    .get(p.func)
                    .and_then(|x| x.as_ref())
                    .map(|(sec, relo, e)| (&funcs[p.func].name, sec, *relo, e))
            });
            if let Some((function, section, relo, e)) = failed {
                program_errors.push(ProgramError::Core {
                    program: f.name.clone(),
                    function: function.clone(),
                    section: section.clone(),
                    relo,
                    errno: e.errno(),
                    error: Box::new(e.clone()),
                });
                continue;
            }
            if let (Some(ext), None) = (&btf_ext, &opts.target_btf) {
                let n = crate::ext::core_relo_count(ext, &funcs, &linked.placed, &sec_names);
                if n > 0 {
                    program_errors.push(ProgramError::NeedsCore {
                        program: f.name.clone(),
                        count: n,
                    });
                    continue;
                }
            }
            if let Some((symbol, reason)) =
                linked.ksyms.iter().find_map(|n| match ksym_res.get(n) {
                    Some(crate::ksyms::Ksym::Error(e)) => Some((n.clone(), e.clone())),
                    _ => None,
                })
            {
                program_errors.push(ProgramError::Ksym {
                    program: f.name.clone(),
                    symbol,
                    reason,
                });
                continue;
            }
            if !linked.ksyms.is_empty() {
                program_errors.push(ProgramError::NeedsKsyms {
                    program: f.name.clone(),
                    symbols: linked.ksyms,
                });
                continue;
            }
            let (func_info, line_info) = match (&btf, &btf_ext) {
                (Some(b), Some(x)) => crate::ext::rebase(b, x, &funcs, &linked.placed, &sec_names),
                _ => (Vec::new(), Vec::new()),
            };
            if linked.insns.len() > budget {
                program_errors.push(ProgramError::Link {
                    program: f.name.clone(),
                    insn: 0,
                    msg: format!("the object's linked programs exceed {MAX_TOTAL_INSNS} instructions in total"),
                });
                continue;
            }
            budget -= linked.insns.len();
            relocations.extend(linked.records);
            metas.push(ProgramMeta {
                name: f.name.clone(),
                section_index: f.sec,
                autoload: spec.autoload,
                recognized: spec.recognized,
                entry_insns: f.insns.len(),
            });
            programs.push(Program {
                name: f.name.clone(),
                section: spec.name,
                prog_type: spec.prog_type,
                expected_attach_type: spec.expected_attach_type,
                attach_target: spec.attach_target,
                prog_flags: spec.prog_flags,
                insns: linked.insns,
                license: license.clone(),
                kern_version,
                func_info,
                line_info,
            });
        }

        let sections = summarize(&elf, maps_sec.map(|s| s.index), text_idx);
        let (maps, map_info) = maps.into_iter().map(|m| (m.spec, m.info)).unzip();
        let global_offsets = elf
            .symbols
            .iter()
            .filter_map(|s| {
                let sec = elf.section(s.shndx)?;
                crate::globals::data_kind(sec)?;
                Some((
                    (sec.name.clone(), s.name.clone()),
                    usize::try_from(s.value).ok()?,
                ))
            })
            .collect();
        Ok(Object {
            global_offsets,
            name,
            license,
            kern_version,
            programs,
            metas,
            program_errors,
            maps,
            map_info,
            btf: btf.map(Arc::new),
            btf_ext,
            btf_error,
            relocations,
            core_relocations,
            sections,
            kconfig_layout,
        })
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

/// Function symbols of every code section, sorted by (section, offset).
fn collect_functions(elf: &ElfFile<'_>, text_idx: usize) -> Result<Vec<Function>> {
    let mut funcs = Vec::new();
    for sec in elf.sections.iter().filter(|s| s.is_exec() && s.size > 0) {
        for sym in elf
            .symbols
            .iter()
            .filter(|s| s.shndx == sec.index && s.kind == STT_FUNC)
        {
            let bad =
                |msg: &str| section_err(sec, sym.value, format!("program '{}': {msg}", sym.name));
            if sym.name.is_empty() {
                return Err(bad("function symbol without a name"));
            }
            let end = sym
                .value
                .checked_add(sym.size)
                .filter(|&e| e <= sec.data.len() as u64);
            let Some(end) = end else {
                return Err(bad("crosses the section boundary"));
            };
            if sym.size == 0 || sym.size % 8 != 0 || sym.value % 8 != 0 {
                return Err(bad(&format!(
                    "corrupted extent (offset {}, size {})",
                    sym.value, sym.size
                )));
            }
            if sec.index != text_idx && sym.bind == STB_LOCAL {
                return Err(bad("static programs are not supported"));
            }
            let insns = slots_from_bytes(&sec.data[sym.value as usize..end as usize])
                .map_err(|e| bad(&e.to_string()))?;
            funcs.push(Function {
                name: sym.name.clone(),
                sec: sec.index,
                start: (sym.value / 8) as usize,
                insns,
                is_entry: sec.index != text_idx,
                relocs: Vec::new(),
                reloc_error: None,
            });
        }
    }
    funcs.sort_by_key(|f| (f.sec, f.start));
    // Two functions at one place would make call targets ambiguous.
    if let Some(w) = funcs
        .windows(2)
        .find(|w| w[0].sec == w[1].sec && w[0].start + w[0].insns.len() > w[1].start)
    {
        let sec = &elf.sections[w[1].sec];
        return Err(section_err(
            sec,
            w[1].start as u64 * 8,
            format!("functions '{}' and '{}' overlap", w[0].name, w[1].name),
        ));
    }
    Ok(funcs)
}

fn summarize(elf: &ElfFile<'_>, maps_idx: Option<usize>, text_idx: usize) -> Vec<SectionSummary> {
    elf.sections
        .iter()
        .map(|s| {
            let kind = if s.index == 0 {
                SectionKind::Null
            } else if s.index == text_idx {
                SectionKind::Text
            } else if s.is_exec() {
                SectionKind::Program(classify(&s.name).prog_type)
            } else if Some(s.index) == maps_idx {
                SectionKind::Maps
            } else if s.name == "maps" {
                SectionKind::LegacyMaps
            } else if data_kind(s).is_some() {
                SectionKind::GlobalData
            } else if s.name == "license" {
                SectionKind::License
            } else if s.name == "version" {
                SectionKind::Version
            } else if s.name == ".BTF" {
                SectionKind::Btf
            } else if s.name == ".BTF.ext" {
                SectionKind::BtfExt
            } else if s.sh_type == SHT_REL {
                let target = s.info as usize;
                let applies = !ignored_rel(&s.name)
                    && elf
                        .section(target)
                        .is_some_and(|t| t.is_exec() || Some(t.index) == maps_idx);
                if applies {
                    SectionKind::Relocations { target }
                } else {
                    SectionKind::IgnoredRelocations
                }
            } else if s.sh_type == SHT_SYMTAB {
                SectionKind::Symtab
            } else if s.sh_type == SHT_STRTAB {
                SectionKind::Strtab
            } else if is_dwarf(&s.name) {
                SectionKind::Debug
            } else {
                SectionKind::Other
            };
            SectionSummary {
                index: s.index,
                name: s.name.clone(),
                kind,
                size: s.size,
            }
        })
        .collect()
}
