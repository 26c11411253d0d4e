//! Relocation records of code sections, classified the way libbpf's
//! `bpf_program__record_reloc` does: map references, global data, subprogram calls and
//! addresses, externs.

use bpfbox_vm::isa::{op, pseudo, RawInsn};
use bpfbox_vm::maps::spec::MapType;

use crate::elf::{
    ElfFile, Section, Symbol, SHN_LORESERVE, SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_SECTION,
};
use crate::error::{LoadError, Result};
use crate::kconfig::{Extern, ExternKind};
use crate::link::Function;
use crate::maps::MapEntry;

/// `R_BPF_NONE`.
pub const R_BPF_NONE: u32 = 0;
/// `R_BPF_64_64`: `ld_imm64` of a map, global data or function address.
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64`: 64-bit absolute (data and debug sections).
pub const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_ABS32`: 32-bit absolute (data and debug sections).
pub const R_BPF_64_ABS32: u32 = 3;
/// `R_BPF_64_NODYLD32`: 32-bit, not for the dynamic loader (`.BTF`/`.BTF.ext`).
pub const R_BPF_64_NODYLD32: u32 = 4;
/// `R_BPF_64_32`: `call` to a BPF function.
pub const R_BPF_64_32: u32 = 10;

/// The section of `__arena` global variables (libbpf's `ARENA_SEC`).
pub(crate) const ARENA_SEC: &str = ".addr_space.1";

/// `BPF_JMP | BPF_CALL`.
pub(crate) const CALL: u8 = op::JMP | op::CALL;
/// `BPF_LD | BPF_IMM | BPF_DW`.
pub(crate) const LD_IMM64: u8 = op::LD | op::IMM | op::DW;

/// What a relocated instruction must end up referring to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A map (`BPF_PSEUDO_MAP_IDX`).
    Map(usize),
    /// A byte in a global data map: the symbol's offset, to which the instruction's own
    /// `imm` (clang's addend) is added (`BPF_PSEUDO_MAP_IDX_VALUE`).
    MapValue { map: usize, sym_off: u32 },
    /// A `.kconfig` extern (`BPF_PSEUDO_MAP_IDX_VALUE` at the extern's offset).
    Kconfig { map: usize, offset: u32 },
    /// A BPF-to-BPF call to the function starting at `slot` of section `sec`.
    Call { sec: usize, slot: i64 },
    /// `ld_imm64` of the function starting at `slot` of section `sec` (`BPF_PSEUDO_FUNC`).
    FuncAddr { sec: usize, slot: i64 },
    /// A `.ksyms` extern (not supported yet: the program fails with a typed error).
    Ksym(String),
}

/// One relocation inside a function.
#[derive(Debug, Clone)]
pub(crate) struct FuncReloc {
    /// Instruction index relative to the function start.
    pub insn: usize,
    /// Symbol name (section name for `STT_SECTION` symbols).
    pub symbol: String,
    /// What it resolves to.
    pub target: Target,
}

/// Everything the classifier needs to look up.
pub(crate) struct RelocCtx<'a, 'e> {
    pub elf: &'a ElfFile<'e>,
    pub maps: &'a [MapEntry],
    pub externs: &'a [Extern],
    pub kconfig_map: Option<usize>,
    pub text_idx: usize,
}

fn symbol_name(elf: &ElfFile<'_>, sym: &Symbol) -> String {
    if sym.kind == STT_SECTION && sym.name.is_empty() {
        elf.section_name(sym.shndx).to_string()
    } else {
        sym.name.clone()
    }
}

/// libbpf's `sym_is_subprog`: a `.text` section symbol or a global function in `.text`.
fn is_subprog_sym(sym: &Symbol, text_idx: usize) -> bool {
    if text_idx == 0 || sym.shndx != text_idx {
        return false;
    }
    sym.kind == STT_SECTION
        || ((sym.bind == STB_GLOBAL || sym.bind == STB_WEAK) && sym.kind == STT_FUNC)
}

/// Classifies the relocations of code section `code` (from relocation section `rel_sec`) and
/// attaches them to `funcs` (the functions of that section).
pub(crate) fn collect(
    ctx: &RelocCtx<'_, '_>,
    rel_sec: &Section<'_>,
    code: &Section<'_>,
    funcs: &mut [Function],
) -> Result<()> {
    let elf = ctx.elf;
    for (i, rel) in elf.rels(rel_sec)?.into_iter().enumerate() {
        let err = |program: &str, insn: usize, msg: String| LoadError::Relocation {
            section: rel_sec.name.clone(),
            index: i,
            offset: rel.offset,
            program: program.to_string(),
            insn,
            msg,
        };
        // Absolute relocations only make sense in data and debug sections; clang never puts
        // them on instructions, and libbpf does not apply them there either.
        if matches!(
            rel.r_type,
            R_BPF_NONE | R_BPF_64_ABS64 | R_BPF_64_ABS32 | R_BPF_64_NODYLD32
        ) {
            continue;
        }
        if rel.r_type != R_BPF_64_64 && rel.r_type != R_BPF_64_32 {
            return Err(err(
                "?",
                0,
                format!("unknown relocation type {}", rel.r_type),
            ));
        }
        let sym = elf
            .symbols
            .get(rel.sym)
            .ok_or_else(|| err("?", 0, format!("symbol #{} not found", rel.sym)))?;
        if sym.shndx >= elf.sections.len() && sym.shndx < SHN_LORESERVE {
            return Err(err(
                "?",
                0,
                format!(
                    "symbol '{}' points to invalid section #{}",
                    sym.name, sym.shndx
                ),
            ));
        }
        if rel.offset % 8 != 0 || rel.offset >= code.data.len() as u64 {
            return Err(err(
                "?",
                0,
                "offset is not an instruction of the section".into(),
            ));
        }
        let slot = (rel.offset / 8) as usize;
        // Relocations outside any function belong to overridden weak functions: skipped.
        let Some(f) = funcs
            .iter_mut()
            .find(|f| slot >= f.start && slot < f.start + f.insns.len())
        else {
            continue;
        };
        let idx = slot - f.start;
        let insn = f.insns[idx];
        let name = symbol_name(elf, sym);
        let fname = f.name.clone();
        let fail = |msg: String| err(&fname, idx, msg);
        // A relocation we cannot apply fails the programs that use this function, not the
        // object.
        let target = match classify(ctx, sym, insn, &name, &fail) {
            Ok(t) => t,
            Err(e) => {
                f.reloc_error.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        f.relocs.push(FuncReloc {
            insn: idx,
            symbol: name,
            target,
        });
    }
    // Linking looks relocations up by instruction; a second record for one instruction is
    // malformed (libbpf would apply only one of them).
    for f in funcs.iter_mut() {
        f.relocs.sort_by_key(|r| r.insn);
        if let Some(w) = f.relocs.windows(2).find(|w| w[0].insn == w[1].insn) {
            return Err(LoadError::Relocation {
                section: rel_sec.name.clone(),
                index: 0,
                offset: ((f.start + w[0].insn) * 8) as u64,
                program: f.name.clone(),
                insn: w[0].insn,
                msg: "two relocations for one instruction".into(),
            });
        }
    }
    Ok(())
}

/// What relocation `sym` of instruction `insn` refers to (libbpf's
/// `bpf_program__record_reloc`).
fn classify(
    ctx: &RelocCtx<'_, '_>,
    sym: &Symbol,
    insn: RawInsn,
    name: &str,
    fail: &dyn Fn(String) -> LoadError,
) -> Result<Target> {
    let elf = ctx.elf;
    if insn.code != CALL && insn.code != LD_IMM64 {
        return Err(fail(format!(
            "invalid relocation against '{name}' for insn code {:#x}",
            insn.code
        )));
    }
    let target = if sym.is_extern() {
        let ext = ctx
            .externs
            .iter()
            .find(|e| e.sym_idx == sym.index)
            .ok_or_else(|| fail(format!("extern relocation to unknown extern '{name}'")))?;
        match (&ext.kind, insn.code) {
            (ExternKind::Kconfig { offset }, LD_IMM64) => Target::Kconfig {
                map: ctx
                    .kconfig_map
                    .ok_or_else(|| fail("no .kconfig map".into()))?,
                offset: *offset,
            },
            (ExternKind::Kconfig { .. }, _) => {
                return Err(fail(format!("call to .kconfig extern '{name}'")))
            }
            (ExternKind::Ksym, _) => Target::Ksym(ext.name.clone()),
        }
    } else if insn.code == CALL {
        if insn.src != pseudo::CALL {
            return Err(fail("incorrect bpf_call opcode".into()));
        }
        let callee = elf.section(sym.shndx).filter(|s| s.is_exec());
        let Some(callee) = callee else {
            return Err(fail(format!(
                "bad call relocation against '{name}' in section '{}'",
                elf.section_name(sym.shndx)
            )));
        };
        if !sym.value.is_multiple_of(8) {
            return Err(fail(format!(
                "bad call relocation against '{name}' at offset {}",
                sym.value
            )));
        }
        // Global callee: st_value is its offset, imm is -1. Static callee: the symbol is
        // the section and imm + 1 is the callee's slot.
        Target::Call {
            sec: callee.index,
            slot: (sym.value / 8) as i64 + i64::from(insn.imm) + 1,
        }
    } else if sym.shndx == SHN_UNDEF || sym.shndx >= SHN_LORESERVE {
        return Err(fail(format!(
            "relocation against '{name}' in special section {:#x}; uninitialised global variable?",
            sym.shndx
        )));
    } else if is_subprog_sym(sym, ctx.text_idx)
        || (sym.kind == STT_FUNC && elf.section(sym.shndx).is_some_and(|s| s.is_exec()))
    {
        if !sym.value.is_multiple_of(8) || insn.imm % 8 != 0 {
            return Err(fail(format!(
                "bad subprog address relocation against '{name}' at offset {}+{}",
                sym.value, insn.imm
            )));
        }
        Target::FuncAddr {
            sec: sym.shndx,
            slot: (sym.value as i64 + i64::from(insn.imm)) / 8,
        }
    } else if ctx.maps.iter().any(|m| {
        matches!(
            m.info.kind,
            crate::maps::MapKind::Legacy | crate::maps::MapKind::Btf
        ) && m.sec_idx == sym.shndx
    }) {
        // Map definitions: the symbol's offset picks the map.
        let map = ctx
            .maps
            .iter()
            .position(|m| {
                matches!(
                    m.info.kind,
                    crate::maps::MapKind::Legacy | crate::maps::MapKind::Btf
                ) && m.sec_idx == sym.shndx
                    && m.sec_offset == sym.value
            })
            .ok_or_else(|| {
                fail(format!(
                    "map relocation failed to find map for section '{}', offset {}",
                    elf.section_name(sym.shndx),
                    sym.value
                ))
            })?;
        Target::Map(map)
    } else if elf.section_name(sym.shndx) == ARENA_SEC {
        // `__arena` globals: the arena map's memory, at the symbol's offset.
        let map = ctx
            .maps
            .iter()
            .position(|m| m.spec.map_type == MapType::Arena)
            .ok_or_else(|| fail("bad arena data relocation, no arena maps defined".into()))?;
        let sym_off = u32::try_from(sym.value)
            .map_err(|_| fail(format!("arena symbol offset {} overflows", sym.value)))?;
        Target::MapValue { map, sym_off }
    } else if let Some(map) = ctx.maps.iter().position(|m| {
        matches!(
            m.info.kind,
            crate::maps::MapKind::Data | crate::maps::MapKind::Rodata | crate::maps::MapKind::Bss
        ) && m.sec_idx == sym.shndx
    }) {
        let sym_off = u32::try_from(sym.value)
            .map_err(|_| fail(format!("data symbol offset {} overflows", sym.value)))?;
        Target::MapValue { map, sym_off }
    } else {
        return Err(fail(format!(
            "bad data relocation against '{name}' in section '{}'",
            elf.section_name(sym.shndx)
        )));
    };
    Ok(target)
}
