//! `.BTF.ext` parsing checked against the ELF symbol table and against the
//! DWARF line table as printed by `llvm-objdump --line-numbers`.

mod common;

use std::collections::HashMap;

use bpfbox_btf::{Btf, BtfExt, CoreRelocKind, Kind};
use common::{run, skip, which, xdp_objects, Elf};

fn load(elf: &Elf) -> Option<(Btf, BtfExt)> {
    let btf = Btf::parse(elf.section(".BTF")?).expect(".BTF parses");
    let ext = BtfExt::parse(elf.section(".BTF.ext")?, &btf).expect(".BTF.ext parses");
    Some((btf, ext))
}

#[test]
fn func_info_matches_elf_symbols() {
    let objs = xdp_objects();
    if objs.is_empty() {
        return skip("no xdp-tools objects in /usr/lib/x86_64-linux-gnu/bpf");
    }
    let mut checked = 0;
    for obj in &objs {
        let elf = Elf::open(obj);
        let Some((btf, ext)) = load(&elf) else {
            continue;
        };
        assert_eq!(ext.func_info_rec_size, 8, "{}", obj.display());
        let syms = elf.symbols();
        for sec in &ext.func_info {
            let shndx = elf
                .section_index(&sec.name)
                .unwrap_or_else(|| panic!("{}: no ELF section {}", obj.display(), sec.name));
            let mut funcs: Vec<(u64, &str)> = syms
                .iter()
                .filter(|s| s.is_func() && s.shndx as usize == shndx)
                .map(|s| (s.value, s.name.as_str()))
                .collect();
            funcs.sort();
            let mut recs: Vec<(u64, &str)> = sec
                .records
                .iter()
                .map(|fi| {
                    let t = btf.type_by_id(fi.type_id).expect("func_info type exists");
                    assert_eq!(t.kind(), Kind::Func, "func_info type must be FUNC");
                    let proto = btf.type_by_id(t.size_or_type).expect("FUNC proto exists");
                    assert_eq!(proto.kind(), Kind::FuncProto);
                    (u64::from(fi.insn_off), btf.name(fi.type_id).unwrap())
                })
                .collect();
            recs.sort();
            assert_eq!(recs, funcs, "{} section {}", obj.display(), sec.name);
            checked += recs.len();
        }
    }
    assert!(checked > 0, "no func_info record was checked");
}

/// Parse `llvm-objdump -d --line-numbers` into, per section, a map from
/// instruction index to the (file, line) annotation in force there.
fn objdump_lines(text: &str) -> HashMap<String, Vec<(u32, String, u32)>> {
    let mut out: HashMap<String, Vec<(u32, String, u32)>> = HashMap::new();
    let mut section = String::new();
    let mut pending: Option<(String, u32)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Disassembly of section ") {
            section = rest.trim_end_matches(':').to_string();
            pending = None;
        } else if let Some(ann) = line.strip_prefix("; ") {
            if let Some((file, no)) = ann.rsplit_once(':') {
                if let Ok(no) = no.parse::<u32>() {
                    pending = Some((file.to_string(), no));
                }
            }
        } else if let Some((idx, _)) = line.trim_start().split_once(':') {
            if let (Ok(idx), Some((file, no))) = (idx.parse::<u32>(), pending.take()) {
                out.entry(section.clone())
                    .or_default()
                    .push((idx, file, no));
            }
        }
    }
    out
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[test]
fn line_info_matches_dwarf_lines() {
    let Some(objdump) = which("llvm-objdump-19").or_else(|| which("llvm-objdump")) else {
        return skip("llvm-objdump not installed");
    };
    let objs = xdp_objects();
    if objs.is_empty() {
        return skip("no xdp-tools objects in /usr/lib/x86_64-linux-gnu/bpf");
    }
    let (mut matched, mut total) = (0usize, 0usize);
    for obj in &objs {
        let elf = Elf::open(obj);
        let Some((btf, ext)) = load(&elf) else {
            continue;
        };
        if ext.line_info.is_empty() {
            continue;
        }
        assert_eq!(ext.line_info_rec_size, 16);
        let text = run(&objdump, &["-d", "--line-numbers", obj.to_str().unwrap()]);
        let dwarf = objdump_lines(&String::from_utf8_lossy(&text));
        let func_starts: HashMap<&str, Vec<u32>> = ext
            .func_info
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.records.iter().map(|f| f.insn_off).collect(),
                )
            })
            .collect();
        for sec in &ext.line_info {
            let rows = dwarf.get(&sec.name).map(Vec::as_slice).unwrap_or(&[]);
            let starts = func_starts
                .get(sec.name.as_str())
                .cloned()
                .unwrap_or_default();
            assert!(
                sec.records
                    .windows(2)
                    .all(|w| w[0].insn_off <= w[1].insn_off),
                "line_info records are sorted by instruction"
            );
            for li in &sec.records {
                assert_eq!(li.insn_off % 8, 0);
                let file = li.file_name(&btf).expect("file name resolves");
                li.source_line(&btf).expect("line text resolves");
                // Line 0 mirrors a DWARF "no line" row, which objdump omits.
                if li.line() == 0 {
                    continue;
                }
                total += 1;
                // The DWARF row in force at this instruction.
                let row = rows.iter().rev().find(|(idx, _, _)| *idx <= li.insn_idx());
                let Some((_, dfile, dline)) = row else {
                    println!(
                        "{}: no DWARF row before insn {}",
                        obj.display(),
                        li.insn_idx()
                    );
                    continue;
                };
                // At a function start LLVM records the declaration line,
                // which precedes the first statement's line.
                let ok = if starts.contains(&li.insn_off) {
                    li.line() <= *dline
                } else {
                    li.line() == *dline
                };
                if ok && basename(dfile) == basename(file) {
                    matched += 1;
                } else {
                    println!(
                        "{} {} insn {}: BTF {}:{} DWARF {}:{}",
                        obj.display(),
                        sec.name,
                        li.insn_idx(),
                        file,
                        li.line(),
                        dfile,
                        dline
                    );
                }
            }
        }
    }
    println!("{matched}/{total} line_info records match DWARF");
    assert!(total > 0, "no line_info records");
    assert_eq!(matched, total);
}

#[test]
fn core_reloc_kind_names() {
    for (i, k) in CoreRelocKind::ALL.iter().enumerate() {
        assert_eq!(*k as usize, i);
        assert_eq!(CoreRelocKind::from_u32(i as u32), Some(*k));
    }
    assert_eq!(CoreRelocKind::from_u32(13), None);
    assert_eq!(CoreRelocKind::FieldByteOffset.name(), "byte_off");
    assert_eq!(CoreRelocKind::TypeMatches.name(), "type_matches");
    assert_eq!(CoreRelocKind::EnumvalValue.name(), "enumval_value");
}
