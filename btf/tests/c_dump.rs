//! `dump_c` against `bpftool btf dump ... format c`, and the header it
//! produces compiled with clang for the BPF target. The compiled object then
//! serves as an oracle for `.BTF.ext` CO-RE relocation parsing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfbox_btf::dump::{dump_c_with, CDumpOptions};
use bpfbox_btf::{dump_c, Btf, BtfExt, CoreRelocKind, Kind};
use common::{run, skip, which, xdp_objects, Elf, VMLINUX};

/// Our output in both enum-attribute styles: bpftool on libbpf < 1.2 omits
/// `mode(byte)`/`mode(word)`, newer ones emit them.
fn ours_both(btf: &Btf) -> (Vec<u8>, Vec<u8>) {
    let mut modern = Vec::new();
    dump_c(btf, &mut modern).unwrap();
    let mut legacy = Vec::new();
    let opts = CDumpOptions {
        enum_mode_attributes: false,
        ..CDumpOptions::default()
    };
    dump_c_with(btf, &mut legacy, &opts).unwrap();
    (modern, legacy)
}

fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let a = String::from_utf8_lossy(ours);
    let b = String::from_utf8_lossy(theirs);
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n ours:    {x}\n bpftool: {y}", i + 1);
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

fn assert_matches(what: &str, btf: &Btf, theirs: &[u8]) {
    let (modern, legacy) = ours_both(btf);
    if modern != theirs && legacy != theirs {
        panic!("{what}: {}", first_difference(&legacy, theirs));
    }
}

#[test]
fn vmlinux_c_matches_bpftool() {
    let Some(bpftool) = which("bpftool") else {
        return skip("bpftool not installed");
    };
    if !Path::new(VMLINUX).exists() {
        return skip("no /sys/kernel/btf/vmlinux");
    }
    let btf = Btf::from_file(VMLINUX).unwrap();
    let theirs = run(&bpftool, &["btf", "dump", "file", VMLINUX, "format", "c"]);
    assert_matches(VMLINUX, &btf, &theirs);
}

#[test]
fn xdp_objects_c_match_bpftool() {
    let Some(bpftool) = which("bpftool") else {
        return skip("bpftool not installed");
    };
    let objs = xdp_objects();
    if objs.is_empty() {
        return skip("no xdp-tools objects in /usr/lib/x86_64-linux-gnu/bpf");
    }
    for obj in objs {
        let elf = Elf::open(&obj);
        let Some(sec) = elf.section(".BTF") else {
            continue;
        };
        let btf = Btf::parse(sec).unwrap();
        let path = obj.to_str().unwrap();
        let theirs = run(&bpftool, &["btf", "dump", "file", path, "format", "c"]);
        assert_matches(path, &btf, &theirs);
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpfbox-btf-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PROGRAM: &str = r#"
#include "vmlinux.h"
#define SEC(name) __attribute__((section(name), used))

SEC("tp_btf/sched_switch")
int probe(struct task_struct *t)
{
	int r = t->pid;                                           /* byte_off */
	r += __builtin_preserve_field_info(t->tgid, 1);           /* byte_sz */
	r += __builtin_preserve_field_info(t->tgid, 2);           /* field_exists */
	r += __builtin_preserve_type_info(*t, 1);                 /* type_size */
	r += __builtin_preserve_type_info(*t, 0);                 /* type_exists */
	r += __builtin_preserve_enum_value(*(enum bpf_map_type *)BPF_MAP_TYPE_HASH, 1); /* enumval_value */
	r += __builtin_btf_type_id(*t, 1);                        /* target_type_id */
	return r;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn vmlinux_header_compiles_and_core_relocs_parse() {
    let Some(clang) = which("clang-19").or_else(|| which("clang")) else {
        return skip("clang not installed");
    };
    if !Path::new(VMLINUX).exists() {
        return skip("no /sys/kernel/btf/vmlinux");
    }
    let vmlinux = Btf::from_file(VMLINUX).unwrap();
    let dir = scratch_dir("c");
    let mut header = Vec::new();
    dump_c(&vmlinux, &mut header).unwrap();
    std::fs::write(dir.join("vmlinux.h"), &header).unwrap();
    std::fs::write(dir.join("prog.c"), PROGRAM).unwrap();
    let obj = dir.join("prog.o");
    let out = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-c"])
        .arg(dir.join("prog.c"))
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clang failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );

    let elf = Elf::open(&obj);
    let btf = Btf::parse(elf.section(".BTF").unwrap()).unwrap();
    let ext = BtfExt::parse(elf.section(".BTF.ext").unwrap(), &btf).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // func_info: exactly our one function.
    assert_eq!(ext.func_info.len(), 1);
    assert_eq!(ext.func_info[0].name, "tp_btf/sched_switch");
    let fi = &ext.func_info[0].records;
    assert_eq!(fi.len(), 1);
    assert_eq!(btf.name(fi[0].type_id), Some("probe"));
    assert_eq!(fi[0].insn_off, 0);
    // line_info points into prog.c.
    assert!(ext.line_info_count() > 0);
    for li in &ext.line_info[0].records {
        assert!(li.file_name(&btf).unwrap().ends_with("prog.c"));
    }

    // CO-RE relocations: the kinds we asked for.
    assert!(ext.header.hdr_len >= 32);
    assert_eq!(ext.core_relos.len(), 1);
    let relos = &ext.core_relos[0].records;
    let mut kinds: Vec<CoreRelocKind> = relos.iter().map(|r| r.kind().unwrap()).collect();
    kinds.sort_by_key(|k| *k as u32);
    use CoreRelocKind::*;
    assert_eq!(
        kinds,
        vec![
            FieldByteOffset,
            FieldByteSize,
            FieldExists,
            TypeIdTarget,
            TypeExists,
            TypeSize,
            EnumvalValue
        ]
    );
    // Field accesses are "0:<member index>" in the object's task_struct,
    // which must be the member's index in the kernel's task_struct too.
    let kernel_ts = vmlinux
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap();
    let index_of = |name: &str| {
        vmlinux
            .members(kernel_ts)
            .unwrap()
            .position(|m| m.name == name)
            .unwrap()
    };
    for r in relos {
        let access = r.access_str(&btf).unwrap();
        let local = btf.type_by_id(r.type_id).unwrap();
        match r.kind().unwrap() {
            FieldByteOffset => {
                assert_eq!(btf.type_name(local), "task_struct");
                assert_eq!(access, format!("0:{}", index_of("pid")));
            }
            FieldByteSize | FieldExists => {
                assert_eq!(access, format!("0:{}", index_of("tgid")));
            }
            TypeSize | TypeExists | TypeIdTarget => {
                assert_eq!(access, "0");
                assert_eq!(btf.type_name(local), "task_struct");
            }
            EnumvalValue => {
                assert_eq!(btf.type_name(local), "bpf_map_type");
                let idx: usize = access.parse().unwrap();
                let TypeDataEnum { names } = enum_names(&btf, r.type_id);
                assert_eq!(names[idx], "BPF_MAP_TYPE_HASH");
            }
            k => panic!("unexpected relocation {k}"),
        }
    }
}

struct TypeDataEnum {
    names: Vec<String>,
}

fn enum_names(btf: &Btf, id: u32) -> TypeDataEnum {
    match &btf.type_by_id(id).unwrap().data {
        bpfbox_btf::TypeData::Enum(vs) => TypeDataEnum {
            names: vs
                .iter()
                .map(|v| btf.string_at(v.name_off).unwrap().to_string())
                .collect(),
        },
        other => panic!("not an enum: {other:?}"),
    }
}
