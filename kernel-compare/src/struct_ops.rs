//! Where a `struct_ops` program plugs in: the kernel loads such a program only with the
//! kernel BTF id of the operations struct (`attach_btf_id`) and the index of the function
//! pointer member it implements (`expected_attach_type`), which libbpf reads from the
//! `.struct_ops` map whose initialiser names the program.

use std::collections::HashMap;

use bpfbox_btf::{Btf, Kind, TypeData};
use bpfbox_loader::elf::{ElfFile, SHT_REL, STT_OBJECT};

/// The struct and member a `struct_ops` program is the implementation of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The operations struct (`bpf_dummy_ops`, `tcp_congestion_ops`, ...).
    pub struct_name: String,
    /// The function pointer member.
    pub member: String,
}

/// Every program a `.struct_ops` / `.struct_ops.link` initialiser names, with its slot
/// (the first slot when a program fills several).
pub fn slots(elf: &ElfFile<'_>, btf: &Btf) -> HashMap<String, Slot> {
    let mut out = HashMap::new();
    for rel_sec in elf.sections.iter().filter(|s| s.sh_type == SHT_REL) {
        let Some(target) = elf.section(rel_sec.info as usize) else {
            continue;
        };
        if !target.name.starts_with(".struct_ops") {
            continue;
        }
        let Ok(rels) = elf.rels(rel_sec) else {
            continue;
        };
        for r in rels {
            let Some(prog) = elf.symbols.get(r.sym) else {
                continue;
            };
            // The variable (one operations struct) holding the relocated pointer.
            let Some(var) = elf.symbols.iter().find(|s| {
                s.shndx == target.index
                    && s.kind == STT_OBJECT
                    && s.value <= r.offset
                    && r.offset < s.value.saturating_add(s.size)
            }) else {
                continue;
            };
            let Some(slot) = member_at(btf, &var.name, (r.offset - var.value) * 8) else {
                continue;
            };
            out.entry(prog.name.clone()).or_insert(slot);
        }
    }
    out
}

/// The struct type of variable `var` and its member at `bit_offset`.
fn member_at(btf: &Btf, var: &str, bit_offset: u64) -> Option<Slot> {
    let var_id = btf.find_by_name_kind(var, Kind::Var)?;
    let ty = btf
        .skip_mods_and_typedefs(btf.type_by_id(var_id)?.size_or_type)
        .ok()?;
    let t = btf.type_by_id(ty)?;
    let TypeData::Struct(members) = &t.data else {
        return None;
    };
    let m = members
        .iter()
        .find(|m| u64::from(m.bit_offset) == bit_offset)?;
    Some(Slot {
        struct_name: btf.name(ty)?.to_string(),
        member: btf.string_at(m.name_off)?.to_string(),
    })
}

/// The kernel's `(attach_btf_id, member index)` for `slot` in `vmlinux`.
pub fn kernel_target(vmlinux: &Btf, slot: &Slot) -> Result<(u32, u32), String> {
    let id = vmlinux
        .find_by_name_kind(&slot.struct_name, Kind::Struct)
        .ok_or_else(|| format!("struct {} not found in kernel BTF", slot.struct_name))?;
    let members = vmlinux.type_by_id(id).map(|t| t.members()).unwrap_or(&[]);
    let index = members
        .iter()
        .position(|m| vmlinux.string_at(m.name_off) == Some(slot.member.as_str()))
        .ok_or_else(|| {
            format!(
                "struct {} of the kernel has no member {}",
                slot.struct_name, slot.member
            )
        })?;
    Ok((id, index as u32))
}
