//! `.ksyms` externs resolved against the target BTF as libbpf resolves them: typed variables
//! to the kernel's BTF VAR id (`ld_imm64` with `BPF_PSEUDO_BTF_ID`), typeless variables to
//! their `/proc/kallsyms` address, kfuncs to the kernel's BTF FUNC id
//! (`BPF_PSEUDO_KFUNC_CALL`). Unresolved weak kfunc calls are poisoned as libbpf poisons them.

use std::collections::HashMap;

use bpfbox_btf::core::types_are_compat;
use bpfbox_btf::{essential_name, Btf, Kind, TypeData, TypeId};

use crate::elf::{ElfFile, STB_WEAK};
use crate::kconfig::{Extern, ExternKind};

/// libbpf's `POISON_CALL_KFUNC_BASE`: an unresolved weak kfunc call becomes
/// `call 2002000000 + extern index`.
pub const POISON_CALL_KFUNC_BASE: i32 = 2_002_000_000;

/// How one `.ksyms` extern resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ksym {
    /// A typed variable: the kernel's VAR id.
    Var { btf_id: TypeId },
    /// A typeless variable (address from kallsyms), or an unresolved weak one (0).
    Addr(u64),
    /// A kfunc: the kernel's FUNC id.
    Func { btf_id: TypeId },
    /// An unresolved weak kfunc: calls are poisoned with this immediate.
    PoisonedFunc { imm: i32 },
    /// Resolution failed: libbpf's reason (the load fails).
    Error(String),
}

/// Resolves every `.ksyms` extern of the object. `target` is the kernel BTF; `kallsyms` maps
/// symbol names to addresses for typeless externs.
pub(crate) fn resolve(
    elf: &ElfFile<'_>,
    local: Option<&Btf>,
    externs: &[Extern],
    target: &Btf,
    kallsyms: &HashMap<String, u64>,
) -> HashMap<String, Ksym> {
    let mut out = HashMap::new();
    // libbpf sorts externs by kind (kconfig first), then ksyms by name: that order numbers the
    // poisoned kfunc calls.
    let n_kcfg = externs
        .iter()
        .filter(|e| matches!(e.kind, ExternKind::Kconfig { .. }))
        .count();
    let mut ksyms: Vec<&Extern> = externs
        .iter()
        .filter(|e| e.kind == ExternKind::Ksym)
        .collect();
    ksyms.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, ext) in ksyms.into_iter().enumerate() {
        let weak = elf
            .symbols
            .get(ext.sym_idx)
            .is_some_and(|s| s.bind == STB_WEAK);
        let r = match local {
            Some(local) => resolve_one(local, target, kallsyms, &ext.name, weak, n_kcfg + i),
            None => Ksym::Error("ksyms need the object's BTF".into()),
        };
        out.insert(ext.name.clone(), r);
    }
    out
}

fn local_extern(local: &Btf, name: &str) -> Option<(TypeId, bool)> {
    local.ids_by_name(name).find_map(|id| {
        let t = local.type_by_id(id)?;
        match t.data {
            TypeData::Var { .. } => Some((id, false)),
            TypeData::Func => Some((id, true)),
            _ => None,
        }
    })
}

fn resolve_one(
    local: &Btf,
    target: &Btf,
    kallsyms: &HashMap<String, u64>,
    name: &str,
    weak: bool,
    ext_idx: usize,
) -> Ksym {
    let Some((id, is_func)) = local_extern(local, name) else {
        return Ksym::Error(format!("extern '{name}': no BTF VAR or FUNC"));
    };
    let Some(t) = local.type_by_id(id) else {
        return Ksym::Error(format!("extern '{name}': bad BTF id {id}"));
    };
    let type_id = if is_func {
        t.size_or_type
    } else {
        local.skip_mods_and_typedefs(t.size_or_type).unwrap_or(0)
    };
    if !is_func && type_id == 0 {
        // Typeless: an address from kallsyms.
        return match kallsyms.get(name) {
            Some(&a) => Ksym::Addr(a),
            None if weak => Ksym::Addr(0),
            None => Ksym::Error(format!("extern '{name}' (strong): not resolved")),
        };
    }
    if is_func {
        let kname = essential_name(name);
        let Some(kid) = target.find_by_name_kind(kname, Kind::Func) else {
            return if weak {
                Ksym::PoisonedFunc {
                    imm: POISON_CALL_KFUNC_BASE.wrapping_add(ext_idx as i32),
                }
            } else {
                Ksym::Error(format!(
                    "extern (func ksym) '{name}': not found in kernel or module BTFs"
                ))
            };
        };
        let proto = target.type_by_id(kid).map_or(0, |t| t.size_or_type);
        let compat = types_are_compat(local, type_id, target, proto).unwrap_or(false);
        if !compat {
            return if weak {
                Ksym::PoisonedFunc {
                    imm: POISON_CALL_KFUNC_BASE.wrapping_add(ext_idx as i32),
                }
            } else {
                Ksym::Error(format!(
                    "extern (func ksym) '{name}': func_proto [{type_id}] incompatible with vmlinux [{proto}]"
                ))
            };
        }
        return Ksym::Func { btf_id: kid };
    }
    let Some(kid) = target.find_by_name_kind(name, Kind::Var) else {
        return if weak {
            Ksym::Addr(0)
        } else {
            Ksym::Error(format!(
                "extern (var ksym) '{name}': not found in kernel BTF"
            ))
        };
    };
    let targ_type = target
        .type_by_id(kid)
        .and_then(|t| target.skip_mods_and_typedefs(t.size_or_type).ok())
        .unwrap_or(0);
    if !types_are_compat(local, type_id, target, targ_type).unwrap_or(false) {
        return Ksym::Error(format!(
            "extern (var ksym) '{name}': incompatible types, expected [{type_id}] {}, but kernel has [{targ_type}] {}",
            local.name(type_id).unwrap_or(""),
            target.name(targ_type).unwrap_or("")
        ));
    }
    Ksym::Var { btf_id: kid }
}

/// Parses `/proc/kallsyms`-formatted text into name -> address (the first address of each
/// name; `.llvm.` suffixes of data symbols stripped, as libbpf does).
pub fn parse_kallsyms(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(addr), Some(ty), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        let name = match name.find(".llvm.") {
            Some(i) if ty == "d" => &name[..i],
            _ => name,
        };
        m.entry(name.to_string()).or_insert(addr);
    }
    m
}
