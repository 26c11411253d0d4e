//! The JIT from the command line: `run --engine jit` prints what the interpreter prints,
//! `conformance --engine jit` passes the suite, `jit-dump` shows each BPF instruction above
//! its native code.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn bpfbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bpfbox"))
}

fn root(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn output(args: &[&str]) -> (i32, String) {
    let out = bpfbox().args(args).output().expect("run bpfbox");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn run_with_the_jit_prints_what_the_interpreter_prints() {
    let asm = root("benches/programs/sum_loop.asm");
    let asm = asm.to_str().unwrap();
    let mem = "e8 03 00 00 00 00 00 00";
    let interp = output(&["run", asm, "--mem", mem, "--json"]);
    let jit = output(&["run", asm, "--mem", mem, "--json", "--engine", "jit"]);
    assert_eq!(interp.0, 0);
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).expect("json");
        v.as_object_mut().unwrap().remove("duration");
        v
    };
    assert_eq!(strip(&jit.1), strip(&interp.1));
    assert_eq!(strip(&jit.1)["retval"], 500_500);

    let obj = fixture("example_xdp");
    let obj = obj.to_str().unwrap();
    let data = root("tests/fixtures/inputs/dns_query.bin");
    let data = data.to_str().unwrap();
    let interp = output(&["run", obj, "--data", data, "--json"]);
    let jit = output(&["run", obj, "--data", data, "--json", "--engine", "jit"]);
    assert_eq!(strip(&jit.1), strip(&interp.1));
    assert_eq!(strip(&jit.1)["action"], "XDP_DROP");
}

#[test]
fn repeat_times_raw_programs() {
    let asm = root("benches/programs/sum_loop.asm");
    let (code, out) = output(&[
        "run",
        asm.to_str().unwrap(),
        "--mem",
        "0a 00 00 00 00 00 00 00",
        "--engine",
        "jit",
        "--repeat",
        "5",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Return value: 55 (0x37)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("duration: ") && l.ends_with("ns")),
        "{out}"
    );
}

#[test]
fn conformance_passes_through_the_jit() {
    let dir = root("../shared/bpf_conformance/tests");
    if !dir.is_dir() {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    for engine in ["jit", "jit-trusted"] {
        let (code, out) = output(&["conformance", dir.to_str().unwrap(), "--engine", engine]);
        assert_eq!(code, 0, "{out}");
        assert!(out.ends_with("313 passed, 0 failed, 0 skipped\n"), "{out}");
    }
}

#[test]
fn jit_dump_shows_each_instruction_above_its_code() {
    let asm = root("benches/programs/sum_loop.asm");
    let (code, out) = output(&["jit-dump", asm.to_str().unwrap(), "--opcodes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bytes of x86-64 code"), "{out}");
    assert!(out.contains("; 4: r0 += r3"), "{out}");
    // The add of r3 to r0 is an add of rdx to rax, right below it.
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("; 4: r0 += r3"))
        .skip(1)
        .take_while(|l| !l.starts_with(';'))
        .collect();
    assert!(
        after.iter().any(|l| l.contains("addq %rdx, %rax")),
        "{after:?}"
    );

    let (code, out) = output(&["jit-dump", asm.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["insns"].as_array().map(|a| a.len()), Some(8));
    assert!(v["image_size"].as_u64().unwrap() > 0);
}

#[test]
fn jit_dump_shows_aarch64_code_on_any_host() {
    let asm = root("benches/programs/sum_loop.asm");
    let (code, out) = output(&["jit-dump", asm.to_str().unwrap(), "--arch", "aarch64"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bytes of aarch64 code"), "{out}");
    // r0 is x7 and r3 is x2 in the kernel's arm64 register map.
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("; 4: r0 += r3"))
        .skip(1)
        .take_while(|l| !l.starts_with(';'))
        .collect();
    assert!(
        after.iter().any(|l| l.contains("add x7, x7, x2")),
        "{after:?}"
    );
    let (code, out) = output(&[
        "jit-dump",
        asm.to_str().unwrap(),
        "--arch",
        "aarch64",
        "--mode",
        "trusted",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["arch"], "aarch64");
    assert_eq!(v["insns"].as_array().map(|a| a.len()), Some(8));
}
