//! Small C programs compiled with clang, exercising what the real objects do not: static and
//! global subprograms, function pointers, every global data flavour, map-in-map and program
//! array initialisers, kconfig and ksyms externs, legacy maps, `?` sections.

mod common;

use std::collections::HashMap;

use bpfbox_loader::{LoadError, LoadOptions, MapKind, MapSlot, Object, ProgramError, RelocKind};
use bpfbox_vm::isa::{decode_program, pseudo};
use bpfbox_vm::maps::spec::MapType;

const MAIN: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } in1 SEC(".maps"), in2 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 3); __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = { .values = { [0] = &in1, [2] = &in2 } };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 5000); } rb SEC(".maps");
int tail_a(void *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2); __uint(key_size, 4); __array(values, int (void *)); } jmp SEC(".maps") = { .values = { [1] = (void *)&tail_a } };

int counter = 3;
const volatile int limit = 10;
static __u64 hits;
char buf[16] SEC(".data.custom") = "hello";
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern _Bool CONFIG_BPF_JIT __kconfig;

static __attribute__((noinline)) int sadd(int a, int b) { return a + b + limit; }
__attribute__((noinline)) int gmul(int a) { hits++; return sadd(a, counter) * 2; }
static int cb(__u32 i, void *c) { *(int *)c += i; return 0; }

SEC("xdp") int tail_a(void *ctx) { return gmul(1); }
SEC("xdp") int main_b(struct xdp_md *ctx) {
	int s = 0; __u32 k = 0;
	bpf_loop(4, cb, &s, 0);
	void *m = bpf_map_lookup_elem(&outer, &k);
	bpf_tail_call(ctx, &jmp, 1);
	return sadd(s, buf[1]) + (m != 0) + LINUX_KERNEL_VERSION + CONFIG_HZ + CONFIG_BPF_JIT;
}
SEC("?tc") int opt_c(void *ctx) { return gmul(2) + sadd(1, 2); }
SEC("kprobe/do_sys_open") int kp(void *ctx) { return 0; }
SEC("fentry.s/foo") int fs(void *ctx) { return 0; }
SEC("xdp.frags") int frags(void *ctx) { return 2; }
SEC("cgroup_skb/ingress") int cgi(void *ctx) { return 1; }
char _license[] SEC("license") = "GPL";
"#;

fn compile(name: &str, src: &str) -> Option<std::path::PathBuf> {
    if !std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        common::skip("libbpf-dev headers (bpf/bpf_helpers.h) not installed");
        return None;
    }
    common::compile_bpf(name, src)
}

fn opts(name: &str, kconfig: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        name: Some(name.into()),
        kconfig: kconfig
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        kernel_version: 0x060c00,
        ..LoadOptions::default()
    }
}

#[test]
fn subprograms_globals_map_in_map_kconfig() {
    let Some(path) = compile("main", MAIN) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    // A strong CONFIG_ extern missing from the config is an error, as in libbpf.
    match Object::parse_with(&bytes, &opts("main", &[])) {
        Err(LoadError::Extern { name, .. }) => assert_eq!(name, "CONFIG_BPF_JIT"),
        other => panic!("expected extern error, got {other:?}"),
    }
    let obj = Object::parse_with(&bytes, &opts("main", &[("CONFIG_BPF_JIT", "y")])).unwrap();
    common::check_relocated(&obj);
    if let Some(oracle) = common::libbpf_oracle() {
        common::compare_with_libbpf(&oracle, &path, &obj);
    }

    // tail_a -> gmul (global, .text) -> sadd (static, same-section call without relocation).
    let t = obj.program("tail_a").unwrap();
    assert_eq!(decode_program(&t.insns).unwrap().subprogs, vec![0, 3, 14]);
    assert_eq!(t.insns.len(), 3 + 11 + 7);
    let kinds: Vec<RelocKind> = obj
        .relocations()
        .iter()
        .filter(|r| r.program == "tail_a")
        .map(|r| r.kind)
        .collect();
    assert!(
        kinds.contains(&RelocKind::Call) && kinds.contains(&RelocKind::LocalCall),
        "{kinds:?}"
    );
    // main_b: bpf_loop callback by address, sadd by static call; its own copies.
    let m = obj.program("main_b").unwrap();
    assert_eq!(m.insns.len(), 46 + 5 + 7);
    let faddr = m
        .insns
        .iter()
        .position(|i| i.code == 0x18 && i.src == pseudo::FUNC)
        .unwrap();
    assert_eq!(
        faddr as i64 + 1 + i64::from(m.insns[faddr].imm),
        46,
        "cb placed right after main_b"
    );
    assert_eq!(
        m.func_info.iter().map(|f| f.insn_off).collect::<Vec<_>>(),
        vec![0, 46, 51]
    );
    assert!(obj
        .relocations()
        .iter()
        .any(|r| r.program == "main_b" && r.kind == RelocKind::FuncAddr));
    assert!(obj
        .relocations()
        .iter()
        .any(|r| r.program == "main_b" && r.kind == RelocKind::Kconfig));

    // Sections, types, flags, autoload.
    let meta = obj.program_meta("opt_c").unwrap();
    assert!(!meta.autoload);
    assert_eq!(obj.program("opt_c").unwrap().section, "tc");
    let fs = obj.program("fs").unwrap();
    assert_eq!(
        (fs.prog_flags, fs.attach_target.as_deref()),
        (1 << 4, Some("foo"))
    );
    assert_eq!(obj.program("frags").unwrap().prog_flags, 1 << 5);
    assert_eq!(
        obj.program("kp").unwrap().attach_target.as_deref(),
        Some("do_sys_open")
    );

    // Maps and initial data.
    let idx = |n: &str| obj.map_index(n).unwrap_or_else(|| panic!("map {n}"));
    let outer = &obj.maps()[idx("outer")];
    assert_eq!(outer.inner.as_ref().unwrap().map_type, MapType::Array);
    assert_eq!(
        obj.map_info(idx("outer")).unwrap().slots,
        vec![Some(MapSlot::Map(0)), None, Some(MapSlot::Map(1))]
    );
    assert_eq!(
        obj.map_info(idx("jmp")).unwrap().slots,
        vec![None, Some(MapSlot::Program("tail_a".into()))]
    );
    assert_eq!(obj.maps()[idx("rb")].max_entries, 8192);
    assert_eq!(
        obj.map_data(idx("main.data")),
        Some(&3i32.to_le_bytes()[..])
    );
    assert_eq!(
        obj.map_data(idx("main.rodata")),
        Some(&10i32.to_le_bytes()[..])
    );
    assert!(obj.map_info(idx("main.rodata")).unwrap().frozen);
    assert_eq!(&obj.map_data(idx(".data.custom")).unwrap()[..6], b"hello\0");
    assert_eq!(obj.map_data(idx("main.bss")), Some(&[0u8; 8][..]));
    let kc = obj.map_info(idx("main.kconfig")).unwrap();
    assert_eq!(kc.kind, MapKind::Kconfig);
    // Layout: 4-byte CONFIG_HZ (weak, unset: 0), LINUX_KERNEL_VERSION, then the bool.
    assert_eq!(
        kc.data.as_deref(),
        Some(&[0, 0, 0, 0, 0x00, 0x0c, 0x06, 0, 1][..])
    );
}

#[test]
fn kconfig_values_are_parsed_like_libbpf() {
    let Some(path) = compile("main", MAIN) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let obj = Object::parse_with(
        &bytes,
        &opts("m", &[("CONFIG_BPF_JIT", "n"), ("CONFIG_HZ", "0x3e8")]),
    )
    .unwrap();
    let d = obj.map_data(obj.map_index("m.kconfig").unwrap()).unwrap();
    assert_eq!(&d[..4], &1000u32.to_le_bytes());
    assert_eq!(d[8], 0);
    let e = Object::parse_with(&bytes, &opts("m", &[("CONFIG_BPF_JIT", "m")])).unwrap_err();
    assert!(matches!(e, LoadError::Extern { .. }), "{e}");
}

#[test]
fn legacy_maps_section() {
    let src = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") counts = { .type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 8, .max_entries = 64 };
struct bpf_map_def SEC("maps") arr = { .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 2, .map_flags = 1024 };
SEC("socket") int sock(void *ctx) { __u32 k = 1; return bpf_map_lookup_elem(&arr, &k) != 0 && bpf_map_lookup_elem(&counts, &k) != 0; }
char _license[] SEC("license") = "GPL";
"#;
    let Some(path) = compile("legacy", src) else {
        return;
    };
    let obj = Object::from_file(&path).unwrap();
    common::check_relocated(&obj);
    let names: Vec<&str> = (0..obj.maps().len())
        .map(|i| obj.map_info(i).unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["counts", "arr"]);
    assert_eq!(obj.maps()[0].map_type, MapType::Hash);
    assert_eq!(
        (
            obj.maps()[0].key_size,
            obj.maps()[0].value_size,
            obj.maps()[0].max_entries
        ),
        (4, 8, 64)
    );
    assert_eq!(obj.maps()[1].map_flags, 1024);
    let p = obj.program("sock").unwrap();
    let refs: Vec<i32> = p
        .insns
        .iter()
        .filter(|i| i.code == 0x18 && i.src == pseudo::MAP_IDX)
        .map(|i| i.imm)
        .collect();
    assert_eq!(refs, [1, 0]);
}

#[test]
fn ksyms_fail_only_their_program() {
    let src = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern const int bpf_prog_active __ksym;
SEC("kprobe/a") int uses_ksym(void *ctx) { return *(&bpf_prog_active) != 0; }
SEC("kprobe/b") int plain(void *ctx) { return 0; }
char _license[] SEC("license") = "GPL";
"#;
    let Some(path) = compile("ksym", src) else {
        return;
    };
    // Without a target BTF (`from_file` would resolve the ksym against the host's).
    let obj = Object::parse(&std::fs::read(&path).unwrap()).unwrap();
    assert!(obj.program("plain").is_some());
    assert!(obj.program("uses_ksym").is_none());
    match obj.program_errors() {
        [ProgramError::NeedsKsyms { program, symbols }] => {
            assert_eq!(program, "uses_ksym");
            assert_eq!(symbols, &["bpf_prog_active".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

const ARENA: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define __arena __attribute__((address_space(1)))
#ifndef NO_MAP
struct { __uint(type, 33 /* BPF_MAP_TYPE_ARENA */); __uint(map_flags, BPF_F_MMAPABLE); __uint(max_entries, 2); } arena SEC(".maps");
#endif
int __arena counter = 5;
int __arena other;
SEC("syscall") int use_arena(void *ctx) { other++; return counter; }
SEC("xdp") int plain(void *ctx) { return 2; }
char _license[] SEC("license") = "GPL";
"#;

/// `__arena` globals relocate as libbpf relocates them: into the arena map's memory at the
/// variable's offset in `.addr_space.1`.
#[test]
fn arena_globals_point_into_the_arena_map() {
    let Some(path) = compile("arena", ARENA) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let elf = bpfbox_loader::elf::ElfFile::parse(&bytes).unwrap();
    let arena_sec = elf
        .section_by_name(".addr_space.1")
        .expect("clang puts __arena globals here");
    let offset_of = |name: &str| {
        elf.symbols
            .iter()
            .find(|s| s.name == name && s.shndx == arena_sec.index)
            .map(|s| s.value as i32)
            .unwrap()
    };
    let obj = Object::from_file(&path).unwrap();
    assert!(
        obj.program_errors().is_empty(),
        "{:?}",
        obj.program_errors()
    );
    let arena = obj.map_index("arena").unwrap();
    assert_eq!(obj.maps()[arena].map_type, MapType::Arena);
    let p = obj.program("use_arena").unwrap();
    let mut seen = Vec::new();
    for w in p.insns.windows(2) {
        if w[0].code == 0x18 && w[0].src == pseudo::MAP_IDX_VALUE {
            assert_eq!(w[0].imm as usize, arena);
            seen.push(w[1].imm);
        }
    }
    seen.sort();
    let mut want = vec![offset_of("counter"), offset_of("other")];
    want.sort();
    assert_eq!(seen, want);
}

/// A relocation the loader cannot apply fails the program it is in; the object's other
/// programs load. Without an arena map, libbpf's reason for `__arena` globals.
#[test]
fn a_bad_relocation_fails_only_its_program() {
    let src = format!("#define NO_MAP\n{ARENA}");
    let Some(path) = compile("arena_no_map", &src) else {
        return;
    };
    let obj = Object::from_file(&path).unwrap();
    assert!(obj.program("plain").is_some());
    assert!(obj.program("use_arena").is_none());
    match obj.program_errors() {
        [e @ ProgramError::Relocation {
            program,
            function,
            msg,
        }] => {
            assert_eq!(program, "use_arena");
            assert_eq!(function, "use_arena");
            assert!(
                msg.contains("bad arena data relocation, no arena maps defined"),
                "{msg}"
            );
            assert!(
                e.to_string()
                    .starts_with("program 'use_arena': relocation #0"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A map the engine cannot create fails only the programs that use it: the table keeps its
/// indices, the map is listed with its error, and `maps_used` tells which programs use it.
#[test]
fn a_map_we_cannot_create_fails_only_its_programs() {
    let Some(path) = compile("arena_maps", ARENA) else {
        return;
    };
    let obj = Object::from_file(&path).unwrap();
    let arena = obj.map_index("arena").unwrap();
    let cfg = bpfbox_vm::maps::MapConfig { ncpus: 2 };
    let direct = bpfbox_vm::maps::Map::create(&obj.maps()[arena], &cfg);
    let (table, failed) = obj.create_maps_partial(&cfg);
    assert_eq!(table.len(), obj.maps().len());
    let used = |name: &str| bpfbox_loader::maps_used(obj.program(name).unwrap());
    assert!(used("use_arena").contains(&arena));
    assert!(used("plain").is_empty());
    match direct {
        Err(e) => {
            // The engine does not run arena maps: that map, and only it, is listed.
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert_eq!(failed[0].0, arena);
            assert!(
                failed[0].1.to_string().contains(&e.to_string()),
                "{}",
                failed[0].1
            );
            assert!(obj.create_maps(&cfg).is_err());
        }
        Ok(_) => assert!(failed.is_empty(), "{failed:?}"),
    }
}
