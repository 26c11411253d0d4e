//! Every command ends quietly (status 0, nothing on stderr) when its reader closes stdout,
//! as `bpfbox show x.o | head` does.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn bpfbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bpfbox"))
}

fn obj(name: &str) -> String {
    format!("{}/tests/fixtures/obj/{name}.o", env!("CARGO_MANIFEST_DIR"))
}

/// An assembly file long enough that its bytecode, listing and disassembly overflow a pipe.
fn big_asm() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pipes_big.asm");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("mov %r0, {i}\n"));
    }
    text.push_str("exit\n");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `args` with a stdout pipe whose reader is already gone: the first write fails with
/// `EPIPE`, whatever the size of the output.
fn closed_before_start(args: &[&str]) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bpfbox()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_closed_quietly(args, out.status, &out.stderr);
}

/// Runs `args`, reads one line of its output and closes the pipe, as `| head -1` does.
fn one_line_then_close(args: &[&str]) {
    let mut child = bpfbox()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "{args:?} printed nothing");
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_closed_quietly(args, status, &stderr);
}

fn assert_closed_quietly(args: &[&str], status: std::process::ExitStatus, stderr: &[u8]) {
    assert_eq!(
        status.code(),
        Some(0),
        "{args:?} on a closed pipe: {status}, stderr: {}",
        String::from_utf8_lossy(stderr)
    );
    assert!(
        stderr.is_empty(),
        "{args:?} on a closed pipe wrote to stderr: {}",
        String::from_utf8_lossy(stderr)
    );
}

#[test]
fn show_ends_quietly_on_a_closed_pipe() {
    closed_before_start(&["show", &obj("example_xdp")]);
    closed_before_start(&["show", &obj("example_xdp"), "--json"]);
    one_line_then_close(&["show", &obj("maps_basic")]);
}

#[test]
fn run_ends_quietly_on_a_closed_pipe() {
    let data = format!(
        "{}/tests/fixtures/inputs/dns_query.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    closed_before_start(&["run", &obj("example_xdp"), "--data", &data]);
    closed_before_start(&["run", &obj("example_xdp"), "--data", &data, "--json"]);
    let asm = big_asm();
    let asm = asm.to_str().unwrap();
    closed_before_start(&["run", asm]);
    closed_before_start(&["run", asm, "--json"]);
    one_line_then_close(&["run", &obj("example_xdp"), "--data", &data, "--dump-maps"]);
}

#[test]
fn disasm_ends_quietly_on_a_closed_pipe() {
    let asm = big_asm();
    let asm = asm.to_str().unwrap();
    closed_before_start(&["disasm", &obj("example_xdp")]);
    closed_before_start(&["disasm", &obj("example_xdp"), "--json"]);
    closed_before_start(&["disasm", asm, "--opcodes"]);
    one_line_then_close(&["disasm", asm]);
    one_line_then_close(&["disasm", asm, "--json"]);
}

#[test]
fn asm_ends_quietly_on_a_closed_pipe() {
    let asm = big_asm();
    let asm = asm.to_str().unwrap();
    closed_before_start(&["asm", asm]);
    closed_before_start(&["asm", asm, "--json"]);
    one_line_then_close(&["asm", asm]);
}

#[test]
fn btf_dump_ends_quietly_on_a_closed_pipe() {
    closed_before_start(&["btf", "dump", &obj("kprobe")]);
    closed_before_start(&["btf", "dump", &obj("kprobe"), "--format", "c"]);
    closed_before_start(&["btf", "dump", &obj("kprobe"), "--json"]);
    let vmlinux = "/sys/kernel/btf/vmlinux";
    if !std::path::Path::new(vmlinux).exists() {
        return common::skip("this kernel publishes no /sys/kernel/btf/vmlinux");
    }
    one_line_then_close(&["btf", "dump", vmlinux]);
    one_line_then_close(&["btf", "dump", vmlinux, "--format", "c"]);
}

#[test]
fn reloc_ends_quietly_on_a_closed_pipe() {
    let target = obj("core_target_same");
    closed_before_start(&["reloc", &obj("core_prog"), "--btf", &target]);
    closed_before_start(&["reloc", &obj("core_prog"), "--btf", &target, "--json"]);
}

#[test]
fn conformance_ends_quietly_on_a_closed_pipe() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bpf_conformance/tests");
    if !dir.is_dir() {
        return common::skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    closed_before_start(&["conformance", dir.to_str().unwrap()]);
    one_line_then_close(&["conformance", dir.to_str().unwrap()]);
}
