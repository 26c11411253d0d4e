//! Linking: each entry program gets its own copy of every subprogram it reaches, appended
//! depth-first in the order libbpf's `bpf_object__reloc_code` appends them, with calls,
//! function addresses and map references rewritten for that copy.

use std::collections::HashMap;

use bpfbox_vm::isa::{pseudo, RawInsn};

use crate::error::ProgramError;
use crate::ksyms::Ksym;
use crate::reloc::{FuncReloc, Target, CALL, LD_IMM64};

/// The kernel's limit on program size (`BPF_COMPLEXITY_LIMIT_INSNS`); a linked program that
/// grows past it is refused instead of being built.
pub const MAX_PROGRAM_INSNS: usize = 1_000_000;

/// One function symbol of a code section.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    /// Symbol name.
    pub name: String,
    /// Section index.
    pub sec: usize,
    /// First slot in the section.
    pub start: usize,
    /// Original instructions.
    pub insns: Vec<RawInsn>,
    /// Whether this is an entry program (a function outside `.text`).
    pub is_entry: bool,
    /// Relocations, relative to `start`.
    pub relocs: Vec<FuncReloc>,
    /// The first relocation of this function that could not be applied: the programs that
    /// use the function fail with it.
    pub reloc_error: Option<String>,
}

/// How an instruction was relocated, for [`crate::Object::relocations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RelocKind {
    /// `ld_imm64` of a map (`BPF_PSEUDO_MAP_IDX`).
    Map,
    /// `ld_imm64` of a global data address (`BPF_PSEUDO_MAP_IDX_VALUE`).
    MapValue,
    /// `ld_imm64` of a `.kconfig` extern (`BPF_PSEUDO_MAP_IDX_VALUE`).
    Kconfig,
    /// A BPF-to-BPF call with an ELF relocation.
    Call,
    /// A pc-relative call inside one section with no relocation, re-targeted.
    LocalCall,
    /// `ld_imm64` of a function address (`BPF_PSEUDO_FUNC`).
    FuncAddr,
    /// `ld_imm64` of a typed `.ksyms` variable (`BPF_PSEUDO_BTF_ID`, the kernel's VAR id).
    KsymBtfId,
    /// `ld_imm64` of a typeless `.ksyms` variable: its kallsyms address (0 if weak and
    /// unresolved).
    KsymAddr,
    /// A kfunc call (`BPF_PSEUDO_KFUNC_CALL`, the kernel's FUNC id).
    Kfunc,
    /// An unresolved weak kfunc call, poisoned as `call 2002000000 + extern index`.
    KfuncPoison,
}

/// One applied relocation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelocRecord {
    /// Entry program.
    pub program: String,
    /// Instruction index in the final program.
    pub insn: usize,
    /// What was done.
    pub kind: RelocKind,
    /// The ELF symbol (section name for section symbols; callee for local calls).
    pub symbol: String,
    /// What it now refers to: `map #i (name)`, `map #i (name) + off`, `insn N (callee)`.
    pub target: String,
}

/// A placed function inside the program being linked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    /// Index into the function list.
    pub func: usize,
    /// First slot in the final program.
    pub base: usize,
}

/// The result of linking one entry program.
pub(crate) struct Linked {
    pub insns: Vec<RawInsn>,
    /// Placed functions in placement order (the entry first).
    pub placed: Vec<Placement>,
    pub records: Vec<RelocRecord>,
    /// `.ksyms` externs used by any placed function.
    pub ksyms: Vec<String>,
}

/// Function index by (section, first slot), so call targets resolve in constant time.
pub(crate) type FuncIndex = HashMap<(usize, i64), usize>;

/// Builds the [`FuncIndex`] of `funcs`.
pub(crate) fn index_functions(funcs: &[Function]) -> FuncIndex {
    funcs
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.sec, f.start as i64), i))
        .collect()
}

/// Links entry program `entry`; `map_names` label the relocation log.
pub(crate) fn link(
    funcs: &[Function],
    index: &FuncIndex,
    entry: usize,
    map_names: &[String],
    ksym_res: &HashMap<String, Ksym>,
    limit: usize,
) -> Result<Linked, ProgramError> {
    let limit = limit.min(MAX_PROGRAM_INSNS);
    let main = &funcs[entry];
    let perr = |insn: usize, msg: String| ProgramError::Link {
        program: main.name.clone(),
        insn,
        msg,
    };
    let mut out = main.insns.clone();
    let mut placed = vec![Placement {
        func: entry,
        base: 0,
    }];
    let mut where_: HashMap<usize, usize> = HashMap::from([(entry, 0)]);
    let mut records = Vec::new();
    let mut ksyms = Vec::new();
    let names = Names {
        program: &main.name,
        maps: map_names,
        ksyms: ksym_res,
    };
    apply_data(&funcs[entry], 0, &mut out, &names, &mut records, &mut ksyms)?;
    // Depth-first like libbpf, with an explicit stack: (function, base, next insn).
    let mut stack = vec![(entry, 0usize, 0usize)];
    while let Some(&(fi, base, start_i)) = stack.last() {
        let f = &funcs[fi];
        let mut pushed = false;
        let mut i = start_i;
        while i < f.insns.len() {
            let pc = base + i;
            let insn = out[pc];
            // Relocations are sorted by instruction (see `reloc::collect`).
            let reloc = f
                .relocs
                .binary_search_by_key(&i, |r| r.insn)
                .ok()
                .map(|k| &f.relocs[k]);
            let is_call = insn.code == CALL && insn.src == pseudo::CALL;
            let is_func_addr = insn.code == LD_IMM64 && insn.src == pseudo::FUNC;
            let (sec, slot, kind, symbol) = match reloc.map(|r| (&r.target, r)) {
                Some((Target::Call { sec, slot }, r)) => {
                    (*sec, *slot, RelocKind::Call, r.symbol.clone())
                }
                Some((Target::FuncAddr { sec, slot }, r)) => {
                    (*sec, *slot, RelocKind::FuncAddr, r.symbol.clone())
                }
                _ if is_call && reloc.is_none() => {
                    // Same-section static call: imm is already relative to the original place.
                    let slot = (f.start + i) as i64 + i64::from(insn.imm) + 1;
                    (f.sec, slot, RelocKind::LocalCall, String::new())
                }
                _ if is_func_addr && reloc.is_none() => {
                    return Err(perr(pc, "missing subprogram address relocation".into()));
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            let callee = index.get(&(sec, slot)).copied().ok_or_else(|| {
                perr(
                    pc,
                    format!(
                        "call target slot {slot} of section #{sec} is not the start of a function"
                    ),
                )
            })?;
            let callee_base = match where_.get(&callee) {
                Some(&b) => b,
                None => {
                    let b = out.len();
                    if b + funcs[callee].insns.len() > limit {
                        return Err(perr(
                            pc,
                            format!("linked program exceeds its limit of {limit} instructions"),
                        ));
                    }
                    out.extend_from_slice(&funcs[callee].insns);
                    where_.insert(callee, b);
                    placed.push(Placement {
                        func: callee,
                        base: b,
                    });
                    apply_data(
                        &funcs[callee],
                        b,
                        &mut out,
                        &names,
                        &mut records,
                        &mut ksyms,
                    )?;
                    // Come back to this instruction once the callee is relocated.
                    let top = stack.len() - 1;
                    stack[top].2 = i;
                    stack.push((callee, b, 0));
                    pushed = true;
                    break;
                }
            };
            let rel = callee_base as i64 - pc as i64 - 1;
            let imm = i32::try_from(rel).map_err(|_| perr(pc, "call offset overflows".into()))?;
            out[pc].imm = imm;
            if kind == RelocKind::FuncAddr {
                out[pc].src = pseudo::FUNC;
            }
            let symbol = if symbol.is_empty() {
                funcs[callee].name.clone()
            } else {
                symbol
            };
            records.push(RelocRecord {
                program: main.name.clone(),
                insn: pc,
                kind,
                symbol,
                target: format!("insn {callee_base} ({})", funcs[callee].name),
            });
            i += 1;
        }
        if !pushed {
            stack.pop();
        }
    }
    records.sort_by_key(|r| r.insn);
    Ok(Linked {
        insns: out,
        placed,
        records,
        ksyms,
    })
}

/// What data relocations resolve names against, for one entry program.
struct Names<'a> {
    program: &'a str,
    maps: &'a [String],
    ksyms: &'a HashMap<String, Ksym>,
}

/// Applies the map, global data, kconfig and ksym relocations of `f` placed at `base`.
fn apply_data(
    f: &Function,
    base: usize,
    out: &mut [RawInsn],
    names: &Names<'_>,
    records: &mut Vec<RelocRecord>,
    ksyms: &mut Vec<String>,
) -> Result<(), ProgramError> {
    let (program, map_names, ksym_res) = (names.program, names.maps, names.ksyms);
    for r in &f.relocs {
        let pc = base + r.insn;
        let label = |m: usize| {
            format!(
                "map #{m} ({})",
                map_names.get(m).map_or("?", |s| s.as_str())
            )
        };
        let (kind, target) = match r.target {
            Target::Map(m) => {
                out[pc].src = pseudo::MAP_IDX;
                out[pc].imm = m as i32;
                (RelocKind::Map, label(m))
            }
            Target::MapValue { map, sym_off }
            | Target::Kconfig {
                map,
                offset: sym_off,
            } => {
                if r.insn + 1 >= f.insns.len() {
                    return Err(ProgramError::Link {
                        program: program.to_string(),
                        insn: pc,
                        msg: "ld_imm64 relocation on the last slot of a function".into(),
                    });
                }
                let is_kconfig = matches!(r.target, Target::Kconfig { .. });
                // For data, clang's addend sits in imm; for kconfig the offset is absolute.
                let off = if is_kconfig {
                    sym_off as i32
                } else {
                    out[pc].imm.wrapping_add(sym_off as i32)
                };
                out[pc].src = pseudo::MAP_IDX_VALUE;
                out[pc].imm = map as i32;
                out[pc + 1].imm = off;
                let kind = if is_kconfig {
                    RelocKind::Kconfig
                } else {
                    RelocKind::MapValue
                };
                (kind, format!("{} + {off}", label(map)))
            }
            Target::Ksym(ref name) => {
                let is_ld = out[pc].code == LD_IMM64;
                if is_ld && r.insn + 1 >= f.insns.len() {
                    return Err(ProgramError::Link {
                        program: program.to_string(),
                        insn: pc,
                        msg: "ld_imm64 relocation on the last slot of a function".into(),
                    });
                }
                match (ksym_res.get(name), is_ld) {
                    (Some(Ksym::Var { btf_id } | Ksym::Func { btf_id }), true) => {
                        out[pc].src = pseudo::BTF_ID;
                        out[pc].imm = *btf_id as i32;
                        out[pc + 1].imm = 0;
                        (RelocKind::KsymBtfId, format!("kernel BTF [{btf_id}]"))
                    }
                    (Some(Ksym::Addr(a)), true) => {
                        out[pc].imm = *a as u32 as i32;
                        out[pc + 1].imm = (*a >> 32) as u32 as i32;
                        (RelocKind::KsymAddr, format!("{a:#x}"))
                    }
                    (Some(Ksym::PoisonedFunc { .. }), true) => {
                        out[pc].imm = 0;
                        out[pc + 1].imm = 0;
                        (RelocKind::KsymAddr, "0x0 (unresolved weak)".into())
                    }
                    (Some(Ksym::Func { btf_id }), false) => {
                        out[pc].src = pseudo::KFUNC_CALL;
                        out[pc].imm = *btf_id as i32;
                        out[pc].off = 0;
                        (RelocKind::Kfunc, format!("kernel BTF [{btf_id}]"))
                    }
                    (Some(Ksym::PoisonedFunc { imm }), false) => {
                        out[pc] = RawInsn::new(CALL, 0, 0, 0, *imm);
                        (RelocKind::KfuncPoison, format!("poisoned (call {imm})"))
                    }
                    _ => {
                        if !ksyms.contains(name) {
                            ksyms.push(name.clone());
                        }
                        continue;
                    }
                }
            }
            Target::Call { .. } | Target::FuncAddr { .. } => continue,
        };
        records.push(RelocRecord {
            program: program.to_string(),
            insn: pc,
            kind,
            symbol: r.symbol.clone(),
            target,
        });
    }
    Ok(())
}
