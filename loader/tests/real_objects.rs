//! The 18 Debian xdp-tools / libxdp objects, checked against llvm-objdump's symbol table and
//! libbpf's own open-time view (a tiny C program linked with -lbpf).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bpfbox_loader::{Object, ProgramError, SectionKind};
use bpfbox_vm::isa::{decode_program, pseudo};
use bpfbox_vm::ProgType;
use common::{check_relocated, compare_with_libbpf, libbpf_oracle};

/// Function symbols of `path` per llvm-objdump: name -> (section, size).
fn objdump_funcs(path: &Path) -> Option<BTreeMap<String, (String, u64)>> {
    if !common::have("llvm-objdump-19") {
        common::skip("llvm-objdump-19 not found");
        return None;
    }
    let out = common::run("llvm-objdump-19", &["-t"], path);
    let mut m = BTreeMap::new();
    for line in out
        .lines()
        .filter(|l| l.get(15..24).is_some_and(|f| f.contains('F')))
    {
        // "<value> <flags:7> <section>\t<size> <name>"
        let rest = &line[25..];
        let (sec, tail) = rest.split_once('\t')?;
        let (size, name) = tail.split_once(' ')?;
        m.insert(
            name.trim().to_string(),
            (sec.to_string(), u64::from_str_radix(size, 16).ok()?),
        );
    }
    Some(m)
}

#[test]
fn real_objects_match_objdump_and_decode() {
    let Some(objs) = common::real_objects() else {
        return;
    };
    assert_eq!(
        objs.len(),
        18,
        "expected the 18 xdp-tools objects: {objs:?}"
    );
    for path in &objs {
        let obj = Object::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check_relocated(&obj);
        let Some(funcs) = objdump_funcs(path) else {
            return;
        };
        // Entry programs are the functions outside .text; each loaded or failed, once.
        let mut expected: Vec<&String> = funcs
            .iter()
            .filter(|(_, (s, _))| s != ".text")
            .map(|(n, _)| n)
            .collect();
        let mut got: Vec<&String> = obj.programs().iter().map(|p| &p.name).collect();
        let failed: Vec<String> = obj
            .program_errors()
            .iter()
            .map(|e| e.program().to_string())
            .collect();
        got.extend(failed.iter());
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{}", path.display());
        for p in obj.programs() {
            let (sec, size) = &funcs[&p.name];
            assert_eq!(&p.section, sec, "{}", p.name);
            assert_eq!(
                obj.program_meta(&p.name).unwrap().entry_insns as u64,
                size / 8,
                "{}",
                p.name
            );
            assert_eq!(p.license, "GPL");
        }
        eprintln!(
            "{}: {} programs, {} failed, {} maps, {} relocations",
            path.display(),
            obj.programs().len(),
            obj.program_errors().len(),
            obj.maps().len(),
            obj.relocations().len()
        );
    }
}

#[test]
fn real_objects_match_libbpf() {
    let Some(objs) = common::real_objects() else {
        return;
    };
    let Some(oracle) = libbpf_oracle() else {
        return;
    };
    for path in &objs {
        let obj = Object::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        compare_with_libbpf(&oracle, path, &obj);
    }
}

#[test]
fn xdpdump_needs_core() {
    let path = Path::new("/usr/lib/x86_64-linux-gnu/bpf/xdpdump_bpf.o");
    if !path.exists() {
        common::skip("xdpdump_bpf.o not installed");
        return;
    }
    // Without a target BTF (parsed from bytes, not relocated against the host).
    let obj = Object::parse(&std::fs::read(path).unwrap()).unwrap();
    assert!(obj.programs().is_empty());
    assert_eq!(obj.program_errors().len(), 2);
    for e in obj.program_errors() {
        assert!(
            matches!(e, ProgramError::NeedsCore { count, .. } if *count > 0),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("needs CO-RE relocation") && msg.contains("has no target BTF"),
            "{msg}"
        );
    }
    // The maps and global data still load.
    assert_eq!(obj.maps().len(), 2);
    assert_eq!(obj.map_data(1).map(<[u8]>::len), Some(12));
}

#[test]
fn dispatcher_links_subprograms_per_program() {
    let path = Path::new("/usr/lib/x86_64-linux-gnu/bpf/xdp-dispatcher.o");
    if !path.exists() {
        common::skip("xdp-dispatcher.o not installed");
        return;
    }
    let obj = Object::from_file(path).unwrap();
    let p = obj.program("xdp_dispatcher").unwrap();
    // 148 entry slots + prog0..prog9 and compat_test (6 slots each) from .text.
    assert_eq!(p.insns.len(), 148 + 11 * 6);
    let d = decode_program(&p.insns).unwrap();
    assert_eq!(d.subprogs.len(), 12);
    assert_eq!(p.func_info.len(), 12);
    // The .rodata config is read through MAP_IDX_VALUE of map 0.
    assert_eq!(obj.map_info(0).unwrap().name, "xdp_disp.rodata");
    assert!(obj.map_info(0).unwrap().frozen);
    assert!(p
        .insns
        .iter()
        .any(|i| i.code == 0x18 && i.src == pseudo::MAP_IDX_VALUE && i.imm == 0));
    assert_eq!(obj.program("xdp_pass").unwrap().insns.len(), 2);
    let kind = |n: &str| {
        obj.sections()
            .iter()
            .find(|s| s.name == n)
            .map(|s| s.kind.clone())
    };
    assert_eq!(kind("xdp"), Some(SectionKind::Program(ProgType::Xdp)));
    assert_eq!(kind(".text"), Some(SectionKind::Text));
    assert_eq!(kind(".rodata"), Some(SectionKind::GlobalData));
    assert_eq!(kind(".rel.BTF"), Some(SectionKind::IgnoredRelocations));
    assert!(matches!(
        kind(".relxdp"),
        Some(SectionKind::Relocations { .. })
    ));
    assert_eq!(kind("xdp_metadata"), Some(SectionKind::Other));
}
