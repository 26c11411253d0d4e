//! `bpfbox show`: what an object holds — programs, maps, data sections, BTF types and the
//! relocations the loader applied.

use std::path::PathBuf;

use bpfbox_btf::types::Kind;
use bpfbox_loader::SectionKind;

use super::object::{self, c_type};
use super::{print_json, CliResult};

/// Arguments of `bpfbox show`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  bpfbox show tests/fixtures/obj/example_xdp.o")]
pub struct ShowArgs {
    /// A BPF ELF object.
    file: PathBuf,
    /// CO-RE target BTF (raw BTF or an ELF file with .BTF); default: the running kernel's,
    /// when the object needs one.
    #[arg(long)]
    btf: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox show`.
pub fn run(a: ShowArgs) -> CliResult {
    let obj = object::open(&a.file, a.btf.as_deref())?;
    let btf = obj.btf();
    // Named types a reader looks for: functions, structs, unions, enums, typedefs, variables.
    let types: Vec<(u32, &'static str, String)> = btf
        .map(|b| {
            b.types()
                .filter_map(|(id, t)| {
                    let kind = match t.kind() {
                        Kind::Func => "func",
                        Kind::Struct => "struct",
                        Kind::Union => "union",
                        Kind::Enum | Kind::Enum64 => "enum",
                        Kind::Typedef => "typedef",
                        Kind::Var => "var",
                        Kind::Datasec => "datasec",
                        _ => return None,
                    };
                    let name = b.type_name(t);
                    if name.is_empty() {
                        return None;
                    }
                    let text = match t.kind() {
                        Kind::Func => c_type(b, id, ""),
                        Kind::Var => c_type(b, t.size_or_type, name),
                        _ => name.to_string(),
                    };
                    Some((id, kind, text))
                })
                .collect()
        })
        .unwrap_or_default();
    let data_sections: Vec<_> = obj
        .sections()
        .iter()
        .filter(|s| s.kind == SectionKind::GlobalData)
        .collect();
    if a.json {
        let maps: Vec<_> = obj
            .maps()
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let info = obj.map_info(i);
                serde_json::json!({
                    "index": i,
                    "name": info.map(|m| m.name.as_str()),
                    "spec": spec,
                    "kind": info.map(|m| &m.kind),
                    "section": info.map(|m| m.section.as_str()),
                    "frozen": info.is_some_and(|m| m.frozen),
                })
            })
            .collect();
        return print_json(&serde_json::json!({
            "name": obj.name(),
            "license": obj.license(),
            "kern_version": obj.kern_version(),
            "programs": obj.programs().iter().map(|p| serde_json::json!({
                "name": p.name,
                "section": p.section,
                "type": p.prog_type.name(),
                "expected_attach_type": p.expected_attach_type,
                "attach_target": p.attach_target,
                "prog_flags": p.prog_flags,
                "insns": p.insns.len(),
                "functions": p.func_info.len(),
            })).collect::<Vec<_>>(),
            "program_errors": obj.program_errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "maps": maps,
            "data_sections": data_sections,
            "types": types.iter().map(|(id, k, t)| serde_json::json!({"id": id, "kind": k, "decl": t})).collect::<Vec<_>>(),
            "relocations": obj.relocations(),
        }));
    }
    crate::outln!(
        "object {}: license \"{}\", {} programs, {} maps, {} BTF types",
        obj.name(),
        obj.license(),
        obj.programs().len(),
        obj.maps().len(),
        btf.map_or(0, |b| b.len())
    )?;
    crate::outln!("\nprograms:")?;
    for p in obj.programs() {
        let target = p
            .attach_target
            .as_deref()
            .map(|t| format!(" target {t}"))
            .unwrap_or_default();
        crate::outln!(
            "  {:<24} section {:<24} type {:<16} {:>5} insns {:>3} functions{target}",
            p.name,
            p.section,
            p.prog_type.name(),
            p.insns.len(),
            p.func_info.len().max(1)
        )?;
    }
    for e in obj.program_errors() {
        crate::outln!("  {:<24} not loadable: {e}", e.program())?;
    }
    crate::outln!("\nmaps:")?;
    for (i, spec) in obj.maps().iter().enumerate() {
        let info = obj.map_info(i);
        crate::outln!(
            "  {:>2} {:<24} {:<20} key {:>3} value {:>5} max_entries {:>7} flags {:#x}{}  ({})",
            i,
            info.map_or(spec.name.as_str(), |m| m.name.as_str()),
            spec.map_type.name(),
            spec.key_size,
            spec.value_size,
            spec.max_entries,
            spec.map_flags,
            if info.is_some_and(|m| m.frozen) {
                " frozen"
            } else {
                ""
            },
            info.map_or("", |m| m.section.as_str())
        )?;
    }
    crate::outln!("\ndata sections:")?;
    for s in &data_sections {
        crate::outln!("  {:<24} {:>6} bytes", s.name, s.size)?;
    }
    crate::outln!("\ntypes:")?;
    for (id, kind, text) in &types {
        crate::outln!("  [{id}] {kind} {text}")?;
    }
    crate::outln!("\nrelocations:")?;
    for r in obj.relocations() {
        crate::outln!(
            "  {:<24} insn {:>5} {:<10} {} -> {}",
            r.program,
            r.insn,
            format!("{:?}", r.kind),
            r.symbol,
            r.target
        )?;
    }
    Ok(())
}
