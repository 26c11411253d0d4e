//! The `bpfbox` command as users and the upstream conformance runner drive it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bpfbox::vm::conformance::test_files;
use bpfbox::vm::conformance_file::ConformanceFile;

fn bpfbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bpfbox"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/asm")
        .join(name)
}

fn skip(reason: &str) {
    if std::env::var_os("BPFBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("required test skipped: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// Bytes as the upstream runner writes them: two hex digits and two spaces each.
fn runner_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}  ")).collect()
}

/// Runs the plugin as the upstream runner does: memory as the first argument (when there is
/// any), then `extra` options, the payload as hex on stdin. Returns r0 parsed from stdout.
fn run_plugin(mut cmd: Command, mem: &[u8], extra: &[&str], payload: &[u8], what: &str) -> u64 {
    if !mem.is_empty() {
        cmd.arg(runner_hex(mem));
    }
    let mut child = cmd
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", runner_hex(payload)).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    u64::from_str_radix(String::from_utf8(out.stdout).unwrap().trim_end(), 16).unwrap()
}

/// RFC 1071 one's-complement sum of an IPv4 header, computed independently of the program.
fn ipv4_fold(header: &[u8]) -> u64 {
    let mut sum: u64 = header
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]) as u64)
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !sum & 0xffff
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = bpfbox().args(args).output().expect("run bpfbox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[test]
fn plugin_answers_the_upstream_protocol_for_every_test() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bpf_conformance/tests");
    if !dir.is_dir() {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    let mut checked = 0;
    for path in test_files(&dir).unwrap() {
        let file = ConformanceFile::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let prog = file.program().unwrap();
        let bytes: Vec<u8> = prog.iter().flat_map(|s| s.to_bytes()).collect();
        // Alternate between the runner's form (a binary of its own, memory first) and the
        // subcommand.
        let cmd = if checked % 2 == 0 {
            Command::new(env!("CARGO_BIN_EXE_bpfbox-conformance-plugin"))
        } else {
            let mut c = bpfbox();
            c.arg("conformance-plugin");
            c
        };
        let got = run_plugin(cmd, &file.mem, &[], &bytes, &path.display().to_string());
        assert_eq!(got, file.expected(), "{}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 313);
}

#[test]
fn bundled_example_verifies_ipv4_checksums() {
    let prog = fixture("ipv4_checksum.asm");
    let packet = std::fs::read(fixture("ipv4_packet.bin")).unwrap();
    assert_eq!(
        ipv4_fold(&packet[..20]),
        0,
        "the bundled packet has a valid checksum"
    );
    let v = run_json(&[
        "run",
        prog.to_str().unwrap(),
        "--mem-file",
        fixture("ipv4_packet.bin").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["retval"], 0);
    // Corrupt the TTL: the program must report the same folded sum as RFC 1071 arithmetic.
    let mut bad = packet.clone();
    bad[8] ^= 0x21;
    let hex: String = bad.iter().map(|b| format!("{b:02x}")).collect();
    let v = run_json(&["run", prog.to_str().unwrap(), "--mem", &hex, "--json"]);
    assert_eq!(v["retval"].as_u64().unwrap(), ipv4_fold(&bad[..20]));
    assert_ne!(v["retval"], 0);
    // Too short for a header.
    let v = run_json(&["run", prog.to_str().unwrap(), "--mem", "4500", "--json"]);
    assert_eq!(v["retval"].as_u64().unwrap(), u64::MAX);
}

#[test]
fn assembled_bytecode_runs_the_same_as_the_text() {
    let dir = std::env::temp_dir().join(format!("bpfbox-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("prog.bin");
    let prog = fixture("ipv4_checksum.asm");
    let st = bpfbox()
        .args(["asm", prog.to_str().unwrap(), "-o", bin.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let mem = fixture("ipv4_packet.bin");
    let a = run_json(&[
        "run",
        prog.to_str().unwrap(),
        "--mem-file",
        mem.to_str().unwrap(),
        "--json",
    ]);
    let b = run_json(&[
        "run",
        bin.to_str().unwrap(),
        "--mem-file",
        mem.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(a["retval"], b["retval"]);
    assert_eq!(a["insns"], b["insns"]);
    // The disassembly in conformance syntax assembles back to the same bytes.
    let text = bpfbox()
        .args(["disasm", bin.to_str().unwrap(), "--syntax", "conformance"])
        .output()
        .unwrap();
    assert!(text.status.success());
    let asm2 = dir.join("again.asm");
    std::fs::write(&asm2, &text.stdout).unwrap();
    let bin2 = dir.join("again.bin");
    let st = bpfbox()
        .args(["asm", asm2.to_str().unwrap(), "-o", bin2.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&bin2).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes_follow_the_design() {
    // Usage error: missing file, bad hex.
    let st = bpfbox()
        .args(["run", "/nonexistent/prog.bin"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));
    let st = bpfbox()
        .args([
            "run",
            fixture("ipv4_checksum.asm").to_str().unwrap(),
            "--mem",
            "zz",
        ])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));
    let st = bpfbox().args(["no-such-command"]).status().unwrap();
    assert_eq!(st.code(), Some(2));
    // An ELF object is not bytecode: refused as unsupported rather than misread.
    let obj = self_elf();
    let st = bpfbox()
        .args(["disasm", obj.to_str().unwrap()])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(3));
    // A fault is a rejection: reading past the memory.
    let dir = std::env::temp_dir().join(format!("bpfbox-exit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("oob.asm");
    std::fs::write(&p, "ldxdw %r0, [%r1+8]\nexit\n").unwrap();
    let out = bpfbox()
        .args(["run", p.to_str().unwrap(), "--mem", "0102"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("insn 0: invalid load of 8 bytes"));
    // A program the kernel's structural rules reject: writing r10.
    std::fs::write(&p, "mov %r10, 1\nexit\n").unwrap();
    let out = bpfbox()
        .args(["run", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    // The budget stops an endless loop.
    std::fs::write(&p, "ja -1\nexit\n").unwrap();
    let out = bpfbox()
        .args(["run", p.to_str().unwrap(), "--budget", "1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("budget of 1000 exhausted"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn conformance_command_prints_the_summary() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bpf_conformance/tests");
    if !dir.is_dir() {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    let out = bpfbox()
        .args(["conformance", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("PASS ")).count(), 313);
    assert_eq!(text.lines().last(), Some("313 passed, 0 failed, 0 skipped"));
}

/// `--elf`: the runner's ELF form, an object with `.text` holding the global function `main`,
/// produced here by LLVM's assembler for every conformance test.
#[test]
fn plugin_runs_the_runners_elf_form() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bpf_conformance/tests");
    if !dir.is_dir() {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    if Command::new("llvm-mc-19")
        .arg("--version")
        .output()
        .is_err()
    {
        return skip("llvm-mc-19 is not installed (Debian package llvm-19)");
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-elf");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut checked = 0;
    for path in test_files(&dir).unwrap() {
        let file = ConformanceFile::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let bytes: Vec<u8> = file
            .program()
            .unwrap()
            .iter()
            .flat_map(|s| s.to_bytes())
            .collect();
        let listing: String = bytes.iter().map(|b| format!("  .byte {b}\n")).collect();
        let src = tmp.join("p.s");
        let obj = tmp.join("p.o");
        std::fs::write(
            &src,
            format!("  .text\n  .globl main\n  .type main,@function\nmain:\n{listing}  .size main, {}\n", bytes.len()),
        )
        .unwrap();
        let st = Command::new("llvm-mc-19")
            .args(["-triple=bpfel", "-filetype=obj", "-o"])
            .arg(&obj)
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success());
        let cmd = Command::new(env!("CARGO_BIN_EXE_bpfbox-conformance-plugin"));
        let elf = std::fs::read(&obj).unwrap();
        let got = run_plugin(
            cmd,
            &file.mem,
            &["--elf"],
            &elf,
            &path.display().to_string(),
        );
        assert_eq!(got, file.expected(), "{}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 313);
}

/// `bpfbox btf dump` prints exactly what `bpftool btf dump ... format raw` prints.
#[test]
fn btf_dump_matches_bpftool() {
    let vmlinux = "/sys/kernel/btf/vmlinux";
    if !std::path::Path::new(vmlinux).exists() {
        return skip("/sys/kernel/btf/vmlinux is absent");
    }
    let Ok(theirs) = Command::new("bpftool")
        .args(["btf", "dump", "file", vmlinux, "format", "raw"])
        .output()
    else {
        return skip("bpftool is not installed");
    };
    let ours = bpfbox().args(["btf", "dump", vmlinux]).output().unwrap();
    assert!(ours.status.success());
    assert!(theirs.status.success());
    assert!(ours.stdout == theirs.stdout, "raw dumps differ");
    let obj = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_tcp.o";
    if std::path::Path::new(obj).exists() {
        let ours = bpfbox()
            .args(["btf", "dump", obj, "--format", "c", "--no-enum-modes"])
            .output()
            .unwrap();
        let theirs = Command::new("bpftool")
            .args(["btf", "dump", "file", obj, "format", "c"])
            .output()
            .unwrap();
        assert!(ours.stdout == theirs.stdout, "C dumps differ");
    } else {
        skip("xdp-tools objects are not installed");
    }
}

/// Any ELF file at hand: the test binary itself.
fn self_elf() -> PathBuf {
    std::env::current_exe().unwrap()
}
