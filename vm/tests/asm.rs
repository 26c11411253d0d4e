//! Assembler, disassembler and conformance-file tests: the 313 bpf_conformance files,
//! assembler error classes, and disassembly text checked against oracles (the kernel's
//! `disasm.c` format strings and `llvm-objdump-19`).

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfbox_vm::asm::{assemble, assemble_with, AsmErrorKind, AsmOptions};
use bpfbox_vm::conformance_file::{ConformanceFile, CpuVersion, Groups};
use bpfbox_vm::disasm::{
    disassemble, disassemble_conformance, format_lines, DisasmOptions, Symbolizer, Syntax,
};
use bpfbox_vm::isa::{decode_program, slots_from_bytes, LdImm64Kind, RawInsn};

fn require_all() -> bool {
    std::env::var("BPFBOX_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

fn skip(reason: &str) {
    assert!(!require_all(), "BPFBOX_REQUIRE_ALL=1 but {reason}");
    // Not `eprintln!`: the test harness captures that and shows it only for failures, so a
    // skip would be invisible in a plain `cargo test`. The stderr handle is not captured.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf_conformance/tests")
}

// ---------------------------------------------------------------------------------------
// The 313 conformance files.

#[test]
fn all_conformance_files() {
    let dir = conformance_dir();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return skip(&format!("{} not found", dir.display()));
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 313);
    let mut versions = [0usize; 5];
    for p in &paths {
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(p).unwrap();
        let f = ConformanceFile::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.skip_reason(), None, "{name}");
        let prog = f.program().unwrap_or_else(|e| panic!("{name}: {e}"));
        let asm = f.assemble_asm().unwrap_or_else(|e| panic!("{name}: {e}"));
        if !f.raw.is_empty() {
            assert_eq!(asm, prog, "{name}: asm differs from raw");
        }
        decode_program(&prog).unwrap_or_else(|e| panic!("{name}: {e}"));
        let opts = DisasmOptions::default();
        for syn in [Syntax::Kernel, Syntax::Llvm] {
            let lines = disassemble(&prog, syn, &opts);
            assert!(lines.iter().all(|l| l.error.is_none()), "{name}");
        }
        let text = disassemble_conformance(&prog).unwrap();
        assert_eq!(assemble(&text), Ok(prog.clone()), "{name}:\n{text}");
        let req = f.requirements().unwrap();
        versions[req.cpu as usize] += 1;
        assert_eq!(
            req.groups.contains(Groups::CALLX),
            name == "callx",
            "{name}"
        );
    }
    // FORMAT.md section 5: 163 v1, 9 v2, 82 v3, 59 v4.
    assert_eq!(versions[1..], [163, 9, 82, 59]);
}

#[test]
fn lddw_raw_matches_asm() {
    let p = conformance_dir().join("lddw.data");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return skip(&format!("{} not found", p.display()));
    };
    let f = ConformanceFile::parse(&text).unwrap();
    assert!(!f.raw.is_empty());
    let raw: Vec<RawInsn> = f.raw.iter().map(|&w| RawInsn::from_u64(w)).collect();
    assert_eq!(f.assemble_asm().unwrap(), raw);
}

#[test]
fn runnable_counts_per_cpu_version() {
    let dir = conformance_dir();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return skip(&format!("{} not found", dir.display()));
    };
    let reqs: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| {
            let t = std::fs::read_to_string(e.path()).unwrap();
            ConformanceFile::parse(&t).unwrap().requirements().unwrap()
        })
        .collect();
    let count = |cpu| {
        reqs.iter()
            .filter(|r| r.allowed(cpu, Groups::DEFAULT))
            .count()
    };
    // FORMAT.md section 5: v1 162, v2 171, v3 253, v4 312.
    assert_eq!(count(CpuVersion::V1), 162);
    assert_eq!(count(CpuVersion::V2), 171);
    assert_eq!(count(CpuVersion::V3), 253);
    assert_eq!(count(CpuVersion::V4), 312);
}

// ---------------------------------------------------------------------------------------
// Assembler errors, one per class.

fn err(text: &str) -> AsmErrorKind {
    match assemble(text) {
        Ok(p) => panic!("`{text}` assembled to {p:?}"),
        Err(e) => e.kind,
    }
}

#[test]
fn assembler_errors() {
    assert!(matches!(err("frob %r0"), AsmErrorKind::UnknownMnemonic(_)));
    assert!(matches!(
        err("add64 %r0, 1"),
        AsmErrorKind::UnknownMnemonic(_)
    ));
    assert!(matches!(err("mov %r0"), AsmErrorKind::OperandCount { .. }));
    assert!(matches!(err("exit %r0"), AsmErrorKind::OperandCount { .. }));
    assert!(matches!(
        err("jeq %r0, 1"),
        AsmErrorKind::OperandCount { .. }
    ));
    assert!(matches!(
        err("lock add [%r1+0]"),
        AsmErrorKind::OperandCount { .. }
    ));
    assert!(matches!(err("lock"), AsmErrorKind::InvalidLock(_)));
    assert!(matches!(
        err("lock sub [%r1+0], %r2"),
        AsmErrorKind::InvalidLock(_)
    ));
    assert!(matches!(
        err("mov %r11, 1"),
        AsmErrorKind::InvalidRegister(_)
    ));
    assert!(matches!(
        err("mov %r50, 1"),
        AsmErrorKind::InvalidRegister(_)
    ));
    assert!(matches!(err("mov r1, 1"), AsmErrorKind::InvalidRegister(_)));
    assert!(matches!(
        err("mov %r1, x"),
        AsmErrorKind::InvalidImmediate(_)
    ));
    assert!(matches!(
        err("mov %r1, 0x100000000"),
        AsmErrorKind::ImmediateOutOfRange(_)
    ));
    assert!(matches!(
        err("mov %r1, 2147483648"),
        AsmErrorKind::ImmediateOutOfRange(_)
    ));
    assert!(matches!(
        err("lddw %r1, 0x10000000000000000"),
        AsmErrorKind::ImmediateOutOfRange(_)
    ));
    assert!(matches!(
        err("ldxw %r1, %r2"),
        AsmErrorKind::InvalidMemoryOperand(_)
    ));
    assert!(matches!(
        err("ldxw %r1, [%r2+32768]"),
        AsmErrorKind::OffsetOutOfRange(_)
    ));
    assert!(matches!(
        err("stw [%r2+0x10000], 1"),
        AsmErrorKind::OffsetOutOfRange(_)
    ));
    assert!(matches!(
        err("ja nowhere\nexit"),
        AsmErrorKind::UnknownLabel(_)
    ));
    assert!(matches!(
        err("jeq %r0, 0, exit"),
        AsmErrorKind::UnknownLabel(_)
    ));
    assert!(matches!(
        err("a:\na:\nexit"),
        AsmErrorKind::DuplicateLabel(_)
    ));
    assert!(matches!(
        err("ja +32768"),
        AsmErrorKind::TargetOutOfRange { field: "off", .. }
    ));
    assert!(matches!(
        err("ja32 +2147483648"),
        AsmErrorKind::TargetOutOfRange { field: "imm", .. }
    ));
    assert!(matches!(err("mov %r10, 1"), AsmErrorKind::InvalidInsn(_)));
    assert!(matches!(
        err("lddw %r1, map_fd 3 +1"),
        AsmErrorKind::InvalidInsn(_)
    ));
    assert!(matches!(err("may_goto +0"), AsmErrorKind::InvalidInsn(_)));
    assert!(matches!(
        err("call local %r1"),
        AsmErrorKind::InvalidOperand(_)
    ));
    assert!(matches!(
        err("lddw %r1, map_bogus 3"),
        AsmErrorKind::InvalidOperand(_)
    ));
    // Line numbers are 1-based and count blank and comment lines.
    let e = assemble("# c\n\nmov %r0, 1\nbogus\n").unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(e.to_string(), "line 4: unknown mnemonic `bogus`");
}

#[test]
fn invalid_registers_behind_option() {
    let opts = AsmOptions {
        allow_invalid_regs: true,
    };
    let p = assemble_with("mov %r11, 1\nexit", &opts).unwrap();
    assert_eq!(p[0], RawInsn::new(0xb7, 11, 0, 0, 1));
    assert!(assemble_with("mov %r16, 1", &opts).is_err());
}

#[test]
fn syntax_extensions() {
    let p = assemble(
        "ldabsb 23\nldindh %r1, 4\nlock load_acquire8 %r0, [%r1+2]\n\
         lock store_release [%r1-8], %r2\nmay_goto +1\nlddw %r1, map_fd 3\n\
         lddw %r1, map_value 3 +8\nlddw %r1, map_idx 0\nlddw %r2, func f\n\
         call kfunc 7 2\ncall bpf_map_lookup_elem\naddr_space_cast %r1, %r2, 1, 0\nf:\nexit",
    )
    .unwrap();
    assert_eq!(p[0], RawInsn::new(0x30, 0, 0, 0, 23));
    assert_eq!(p[1], RawInsn::new(0x48, 0, 1, 0, 4));
    assert_eq!(p[2], RawInsn::new(0xd3, 0, 1, 2, 0x100));
    assert_eq!(p[3], RawInsn::new(0xdb, 1, 2, -8, 0x110));
    assert_eq!(p[4], RawInsn::new(0xe5, 0, 0, 1, 0));
    assert_eq!(p[5], RawInsn::new(0x18, 1, 1, 0, 3));
    assert_eq!(p[8], RawInsn::new(0, 0, 0, 0, 8));
    assert_eq!(p[9], RawInsn::new(0x18, 1, 5, 0, 0));
    assert_eq!(p[11], RawInsn::new(0x18, 2, 4, 0, 4));
    assert_eq!(p[13], RawInsn::new(0x85, 0, 2, 2, 7));
    assert_eq!(p[14], RawInsn::new(0x85, 0, 0, 0, 1));
    assert_eq!(p[15], RawInsn::new(0xbf, 1, 2, 1, 1 << 16));
    assert_eq!(assemble(&disassemble_conformance(&p).unwrap()), Ok(p));
}

// ---------------------------------------------------------------------------------------
// Kernel syntax. The expected strings follow the format strings of the kernel's
// kernel/bpf/disasm.c (print_bpf_insn) as of Linux 6.12, with bpftool's ld_imm64 pseudo
// forms; load_acquire/store_release follow the 6.15 additions.

fn kernel_lines(asm: &str) -> Vec<String> {
    let p = assemble(asm).unwrap();
    disassemble(&p, Syntax::Kernel, &DisasmOptions::default())
        .into_iter()
        .map(|l| l.text)
        .collect()
}

#[test]
fn kernel_syntax() {
    let cases: &[(&str, &str)] = &[
        ("ldxw %r0, [%r1+4]", "r0 = *(u32 *)(r1 +4)"),
        ("ldxdw %r0, [%r1]", "r0 = *(u64 *)(r1 +0)"),
        ("ldxsb %r0, [%r1-2]", "r0 = *(s8 *)(r1 -2)"),
        ("stxdw [%r10-8], %r1", "*(u64 *)(r10 -8) = r1"),
        ("stw [%r10-4], -5", "*(u32 *)(r10 -4) = -5"),
        ("jgt %r1, 5, +3", "if r1 > 0x5 goto pc+3"),
        ("jslt32 %r1, %r2, -4", "if w1 s< w2 goto pc-4"),
        ("jne %r1, -1, +0", "if r1 != 0xffffffff goto pc+0"),
        ("jset %r1, %r2, +1", "if r1 & r2 goto pc+1"),
        ("add32 %r0, %r1", "w0 += w1"),
        ("mov %r0, -1", "r0 = -1"),
        ("arsh %r0, 3", "r0 s>>= 3"),
        ("sdiv %r0, %r1", "r0 s/= r1"),
        ("smod32 %r0, 3", "w0 s%= 3"),
        ("movsx864 %r0, %r1", "r0 = (s8)r1"),
        ("movsx1632 %r0, %r1", "w0 = (s16)w1"),
        ("neg %r3", "r3 = -r3"),
        ("neg32 %r3", "w3 = -w3"),
        ("be16 %r0", "r0 = be16 r0"),
        ("le64 %r0", "r0 = le64 r0"),
        ("bswap32 %r0", "r0 = bswap32 r0"),
        ("lddw %r1, 0x1234", "r1 = 0x1234"),
        ("lddw %r1, -1", "r1 = 0xffffffffffffffff"),
        ("lddw %r1, map_fd 3", "r1 = map[fd:3]"),
        ("lddw %r1, map_value 3 +8", "r1 = map[fd:3][0]+8"),
        ("lddw %r1, map_idx 0", "r1 = map[idx:0]"),
        ("lddw %r1, map_idx_value 1 +4", "r1 = map[idx:1][0]+4"),
        ("call 1", "call bpf_map_lookup_elem#1"),
        ("call 5", "call bpf_ktime_get_ns#5"),
        ("call 100000", "call unknown#100000"),
        ("call local +3", "call pc+3"),
        ("call runtime 77", "call kernel-function#77"),
        ("call %r2", "callx r2"),
        ("ja +3", "goto pc+3"),
        ("ja32 -7", "gotol pc-7"),
        ("may_goto +2", "may_goto pc+2"),
        ("exit", "exit"),
        ("lock add [%r10-8], %r1", "lock *(u64 *)(r10 -8) += r1"),
        ("lock xor32 [%r1+0], %r2", "lock *(u32 *)(r1 +0) ^= r2"),
        (
            "lock fetch add [%r10-8], %r1",
            "r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)",
        ),
        (
            "lock fetch and32 [%r10-8], %r1",
            "r1 = atomic_fetch_and((u32 *)(r10 -8), r1)",
        ),
        (
            "lock xchg [%r1+8], %r2",
            "r2 = atomic64_xchg((u64 *)(r1 +8), r2)",
        ),
        (
            "lock cmpxchg32 [%r1+8], %r2",
            "r0 = atomic_cmpxchg((u32 *)(r1 +8), r0, r2)",
        ),
        (
            "lock load_acquire16 %r0, [%r1+2]",
            "r0 = load_acquire((u16 *)(r1 +2))",
        ),
        (
            "lock store_release [%r1-8], %r2",
            "store_release((u64 *)(r1 -8), r2)",
        ),
        ("ldabsb 23", "r0 = *(u8 *)skb[23]"),
        ("ldindw %r1, 4", "r0 = *(u32 *)skb[r1 + 4]"),
        (
            "addr_space_cast %r1, %r2, 1, 0",
            "r1 = addr_space_cast(r2, 1, 0)",
        ),
    ];
    for (asm, want) in cases {
        assert_eq!(kernel_lines(asm), vec![want.to_string()], "{asm}");
    }
}

struct Names;

impl Symbolizer for Names {
    fn helper_name(&self, id: i32) -> Option<String> {
        (id == 5).then(|| "my_helper".to_string())
    }
    fn map_name(&self, _kind: LdImm64Kind, imm: i32) -> Option<String> {
        Some(format!("map[id:{}]", imm + 100))
    }
    fn call_target(&self, _pc: usize, target: i64) -> Option<String> {
        Some(format!("sub_{target}"))
    }
}

#[test]
fn kernel_listing_and_symbolizer() {
    let p = assemble("lddw %r1, map_value 3 +8\ncall 5\ncall local -4\nexit").unwrap();
    let opts = DisasmOptions {
        opcodes: true,
        symbolizer: Some(&Names),
    };
    let lines = disassemble(&p, Syntax::Kernel, &opts);
    let out = format_lines(&lines, Syntax::Kernel, &opts);
    let want = "   0: (18) r1 = map[id:103][0]+8\n\
                \x20      18 21 00 00 03 00 00 00 00 00 00 00 08 00 00 00\n\
                \x20  2: (85) call my_helper#5\n\
                \x20      85 00 00 00 05 00 00 00\n\
                \x20  3: (85) call pc-4#sub_0\n\
                \x20      85 10 00 00 fc ff ff ff\n\
                \x20  4: (95) exit\n\
                \x20      95 00 00 00 00 00 00 00\n";
    assert_eq!(out, want);
}

#[test]
fn undecodable_slots_are_reported_not_panicked() {
    let p = vec![
        RawInsn::new(0xff, 0, 0, 0, 0),
        RawInsn::new(0x18, 1, 0, 0, 1),
        RawInsn::new(0x95, 0, 0, 0, 0),
    ];
    let lines = disassemble(&p, Syntax::Kernel, &DisasmOptions::default());
    assert_eq!(lines.len(), 3);
    assert!(lines[0].error.is_some());
    assert!(lines[0].text.starts_with(".word 0x00000000000000ff"));
    assert!(lines[1].error.is_some());
    assert_eq!(lines[2].text, "exit");
    assert!(disassemble_conformance(&p).is_err());
}

// ---------------------------------------------------------------------------------------
// llvm-objdump-19 oracle.

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bpfbox-asm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `(slot, text)` lines of `llvm-objdump-19 -d` (label suffixes removed).
fn objdump(obj: &Path, extra: &[&str]) -> Vec<(usize, String)> {
    let out = Command::new("llvm-objdump-19")
        .arg("-d")
        .args(extra)
        .arg(obj)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut v = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(_bytes), Some(ins)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(slot) = a.trim().trim_end_matches(':').parse::<usize>() else {
            continue;
        };
        let ins = match ins.rfind(" <") {
            Some(p) if ins.ends_with('>') => &ins[..p],
            _ => ins,
        };
        v.push((slot, ins.to_string()));
    }
    v
}

fn text_section(obj: &Path, dir: &Path) -> Vec<RawInsn> {
    let bin = dir.join("text.bin");
    let st = Command::new("llvm-objcopy-19")
        .args(["-O", "binary", "--only-section=.text"])
        .arg(obj)
        .arg(&bin)
        .status()
        .unwrap();
    assert!(st.success());
    slots_from_bytes(&std::fs::read(&bin).unwrap()).unwrap()
}

fn compare_with_objdump(obj: &Path, dir: &Path) -> usize {
    let slots = text_section(obj, dir);
    let default = objdump(obj, &[]);
    let alu32 = objdump(obj, &["--mattr=+alu32"]);
    let ours = disassemble(&slots, Syntax::Llvm, &DisasmOptions::default());
    assert_eq!(ours.len(), default.len());
    for ((l, (slot, want)), (_, want32)) in ours.iter().zip(&default).zip(&alu32) {
        assert_eq!(l.pc, *slot);
        // 32-bit atomics are `<unknown>` without +alu32.
        let want = if want == "<unknown>" { want32 } else { want };
        assert_eq!(&l.text, want, "slot {slot}");
    }
    ours.len()
}

const LLVM_ASM: &str = "\t.text\n\t.globl f\nf:\n\
\tr0 = *(u32 *)(r1 + 4)\n\tr0 = *(s8 *)(r1 - 8)\n\tr2 = *(u64 *)(r3 - 32768)\n\
\t*(u64 *)(r10 - 8) = r1\n\t*(u32 *)(r10 - 4) = 5\n\t*(u64 *)(r10 - 4) = -5\n\
\t*(u8 *)(r1 + 0) = r2\n\tr1 = *(u16 *)(r2 + 0)\n\
\tif r1 > 5 goto +3\n\tif w1 s< w2 goto -4\n\tif r1 == -1 goto +0\n\
\tif w1 & 0x80000000 goto +1\n\tif r3 s>= r4 goto +1\n\tif w3 <= 7 goto +1\n\
\tr1 = 0x1234 ll\n\tr1 = -1 ll\n\tcall 1\n\tcall -3\n\tcallx r2\n\
\tw0 += w1\n\tw0 += 7\n\tw0 += -7\n\tr0 *= 0x7fffffff\n\tr0 = -r0\n\tw0 = -w0\n\
\tr0 = be16 r0\n\tr0 = le32 r0\n\tr0 = bswap64 r0\n\tr0 s/= r1\n\tw0 s%= -3\n\
\tr0 = (s8)r1\n\tw0 = (s16)w1\n\tr0 = (s32)r1\n\
\tlock *(u64 *)(r10 - 8) += r1\n\tlock *(u32 *)(r10 - 8) &= w1\n\
\tr1 = atomic_fetch_add((u64 *)(r10 - 8), r1)\n\tw1 = atomic_fetch_xor((u32 *)(r10 - 8), w1)\n\
\tr1 = xchg_64(r10 - 8, r1)\n\tw1 = xchg32_32(r10 - 8, w1)\n\
\tr0 = cmpxchg_64(r10 - 8, r0, r1)\n\tw0 = cmpxchg32_32(r10 - 8, w0, w1)\n\
\tr0 = *(u8 *)skb[23]\n\tr0 = *(u16 *)skb[r1]\n\tgoto +3\n\tgotol +7\n\tmay_goto +2\n\
\tr0 s>>= 3\n\tw0 >>= w1\n\tr0 = 0\n\tr0 = 0xffffffff\n\tw0 = -1\n\
\tr0 = addr_space_cast(r1, 0, 1)\n\texit\n";

#[test]
fn llvm_syntax_matches_objdump_on_mc_assembled_code() {
    if !have("llvm-mc-19") || !have("llvm-objdump-19") || !have("llvm-objcopy-19") {
        return skip("llvm-mc-19 / llvm-objdump-19 / llvm-objcopy-19 not installed");
    }
    let dir = tmpdir("mc");
    let s = dir.join("t.s");
    let o = dir.join("t.o");
    std::fs::write(&s, LLVM_ASM).unwrap();
    let st = Command::new("llvm-mc-19")
        .args(["-triple", "bpfel", "-mcpu=v4", "-filetype=obj"])
        .arg(&s)
        .arg("-o")
        .arg(&o)
        .status()
        .unwrap();
    assert!(st.success());
    let n = compare_with_objdump(&o, &dir);
    assert!(n > 40);
    let _ = std::fs::remove_dir_all(&dir);
}

const C_SRC: &str = r#"
typedef unsigned long long u64;
typedef unsigned int u32;
static long (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_trace_printk)(const char *fmt, u32 size, ...) = (void *)6;
struct ctx { u32 a; u32 b; u64 c; };
static __attribute__((noinline)) u64 sub(u64 x, u64 y) { return x * y + (x >> 3); }
__attribute__((section("xdp"))) int entry(struct ctx *c) {
    u64 sum = 0;
    volatile u64 cnt = 0;
    for (u32 i = 0; i < c->a && i < 64; i++) {
        if ((long)c->c < -5)
            sum += c->b / (i + 1);
        else
            sum ^= (u64)c->b << (i & 7);
    }
    __sync_fetch_and_add(&cnt, 3);
    long old = __sync_fetch_and_add(&cnt, 1);
    __sync_val_compare_and_swap(&cnt, 4, 9);
    char fmt[] = "x %d";
    bpf_trace_printk(fmt, sizeof(fmt), old);
    sum += bpf_ktime_get_ns();
    return (int)(sub(sum, c->c) + 0x123456789ULL + (signed char)c->a);
}
"#;

#[test]
fn llvm_syntax_matches_objdump_on_clang_code() {
    if !have("clang-19") || !have("llvm-objdump-19") || !have("llvm-objcopy-19") {
        return skip("clang-19 / llvm-objdump-19 / llvm-objcopy-19 not installed");
    }
    let dir = tmpdir("clang");
    let c = dir.join("p.c");
    std::fs::write(&c, C_SRC).unwrap();
    for cpu in ["v1", "v2", "v3", "v4"] {
        let o = dir.join(format!("p-{cpu}.o"));
        let st = Command::new("clang-19")
            .args(["-O2", "--target=bpf", "-fno-addrsig"])
            .arg(format!("-mcpu={cpu}"))
            .args(["-c"])
            .arg(&c)
            .arg("-o")
            .arg(&o)
            .status()
            .unwrap();
        assert!(st.success());
        // The object's `.text` holds `sub`, `entry` is in section "xdp": check both.
        for sec in [".text", "xdp"] {
            let so = dir.join(format!("p-{cpu}-{}.o", sec.trim_start_matches('.')));
            let st = Command::new("llvm-objcopy-19")
                .arg(format!("--only-section={sec}"))
                .arg(format!("--rename-section={sec}=.text"))
                .arg(&o)
                .arg(&so)
                .status()
                .unwrap();
            assert!(st.success());
            let n = compare_with_objdump(&so, &dir);
            assert!(n > 0, "{cpu} {sec}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
