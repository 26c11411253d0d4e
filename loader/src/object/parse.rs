//! The pipeline from ELF bytes to an [`Object`], in libbpf's order: metadata, BTF,
//! functions, maps (legacy, BTF-defined, global data, kconfig), relocations, CO-RE, `.ksyms`,
//! then each entry program linked with its subprograms ([`super::entry`]).

use std::collections::HashMap;
use std::sync::Arc;

use bpfbox_btf::{Btf, BtfExt};
use bpfbox_vm::isa::slots_from_bytes;

use super::entry::{link_entries, Entries, LinkInputs};
use super::{section_err, LoadOptions, Object, SectionKind, SectionSummary, MAX_BSS};
use crate::elf::{ElfFile, Symbol, SHT_REL, SHT_STRTAB, SHT_SYMTAB, STB_LOCAL, STT_FUNC};
use crate::error::{LoadError, Result};
use crate::globals::{data_kind, internal_map};
use crate::kconfig::{Extern, Externs};
use crate::link::Function;
use crate::maps::{MapEntry, MapKind};
use crate::section::classify;

impl Object {
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
        let name = super::obj_name(opts.name.as_deref().unwrap_or(""));
        let sec_names: Vec<String> = elf.sections.iter().map(|s| s.name.clone()).collect();
        let (license, kern_version) = metadata(&elf)?;
        let (btf, btf_ext, btf_error) = object_btf(&elf);

        let text_idx = elf
            .sections
            .iter()
            .find(|s| s.name == ".text" && s.is_exec() && s.size > 0)
            .map_or(0, |s| s.index);
        let mut funcs = collect_functions(&elf, text_idx)?;
        let maps_sec = elf.section_by_name(".maps").map(|s| s.index);
        let mut maps = collect_maps(&elf, &name, btf.as_ref())?;
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
        let kconfig_map = kconfig_data.map(|data| {
            maps.push(internal_map(
                &name,
                MapKind::Kconfig,
                ".kconfig",
                elf.symtab_index,
                data,
                btf.as_ref(),
            ));
            maps.len() - 1
        });
        relocate(
            &elf,
            &mut funcs,
            &mut maps,
            &externs,
            kconfig_map,
            text_idx,
            btf.as_ref(),
        )?;

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

        let Entries {
            programs,
            metas,
            program_errors,
            relocations,
        } = link_entries(&LinkInputs {
            funcs: &funcs,
            sec_names: &sec_names,
            map_names: &maps.iter().map(|m| m.info.name.clone()).collect::<Vec<_>>(),
            ksym_res: &ksym_res,
            core_failures: &core_failures,
            btf: btf.as_ref(),
            btf_ext: btf_ext.as_ref(),
            relocating: opts.target_btf.is_some(),
            license: &license,
            kern_version,
        });

        let sections = summarize(&elf, maps_sec, text_idx);
        let (maps, map_info) = maps.into_iter().map(|m| (m.spec, m.info)).unzip();
        Ok(Object {
            global_offsets: global_offsets(&elf),
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
}

/// The `license` string and the `version` section.
fn metadata(elf: &ElfFile<'_>) -> Result<(String, u32)> {
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
    Ok((license, kern_version))
}

/// `.BTF` and `.BTF.ext`. BTF is optional: a broken one is reported and ignored, as libbpf
/// does, unless something (BTF maps, externs) needs it.
fn object_btf(elf: &ElfFile<'_>) -> (Option<Btf>, Option<BtfExt>, Option<String>) {
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
    (btf, btf_ext, btf_error)
}

/// Maps in libbpf's order: legacy, BTF-defined, then global data (the kconfig map comes
/// after, once the externs are known).
fn collect_maps(elf: &ElfFile<'_>, name: &str, btf: Option<&Btf>) -> Result<Vec<MapEntry>> {
    let mut maps: Vec<MapEntry> = Vec::new();
    if let Some(sec) = elf.section_by_name("maps") {
        maps.extend(crate::maps::legacy_maps(elf, sec)?);
    }
    if let Some(sec) = elf.section_by_name(".maps") {
        maps.extend(crate::maps::btf_maps(elf, sec, btf)?);
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
        maps.push(internal_map(name, kind, &sec.name, sec.index, data, btf));
    }
    Ok(maps)
}

/// Relocations of code sections, and the `values` initialisers of `.maps`.
fn relocate(
    elf: &ElfFile<'_>,
    funcs: &mut [Function],
    maps: &mut [MapEntry],
    externs: &[Extern],
    kconfig_map: Option<usize>,
    text_idx: usize,
    btf: Option<&Btf>,
) -> Result<()> {
    let maps_sec = elf.section_by_name(".maps");
    let rctx = crate::reloc::RelocCtx {
        elf,
        maps: &*maps,
        externs,
        kconfig_map,
        text_idx,
    };
    let mut map_rel = None;
    for rel in elf
        .sections
        .iter()
        .filter(|s| s.sh_type == SHT_REL && !ignored_rel(&s.name))
    {
        let target = elf
            .section(rel.info as usize)
            .ok_or_else(|| section_err(rel, 0, format!("sh_info {} is not a section", rel.info)))?;
        if target.is_exec() {
            let start = funcs.partition_point(|f| f.sec < target.index);
            let end = funcs.partition_point(|f| f.sec <= target.index);
            crate::reloc::collect(&rctx, rel, target, &mut funcs[start..end])?;
        } else if maps_sec.is_some_and(|m| m.index == target.index) {
            map_rel = Some(rel);
        }
    }
    if let (Some(rel), Some(msec), Some(b)) = (map_rel, maps_sec, btf) {
        let is_entry = |s: &Symbol| {
            s.kind == STT_FUNC
                && funcs
                    .iter()
                    .any(|f| f.is_entry && f.sec == s.shndx && (f.start as u64) * 8 == s.value)
        };
        crate::maps::collect_map_relos(elf, rel, msec, b, maps, &is_entry)?;
    }
    Ok(())
}

/// `(section, variable)` → byte offset of every global-data symbol.
fn global_offsets(elf: &ElfFile<'_>) -> HashMap<(String, String), usize> {
    elf.symbols
        .iter()
        .filter_map(|s| {
            let sec = elf.section(s.shndx)?;
            data_kind(sec)?;
            Some((
                (sec.name.clone(), s.name.clone()),
                usize::try_from(s.value).ok()?,
            ))
        })
        .collect()
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
