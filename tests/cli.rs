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
    // Not `eprintln!`: the test harness captures that and shows it only for failures, so a
    // skip would be invisible in a plain `cargo test`. The stderr handle is not captured.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
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
    // An ELF file that is not a BPF object is a wrong input, not bytecode to misread.
    let obj = self_elf();
    let out = bpfbox()
        .args(["disasm", obj.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a BPF object"));
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

fn object(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/obj")
        .join(name)
}

fn input(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inputs")
        .join(name)
}

/// Ethernet + IPv4 + UDP frame to `port` with an 8-byte payload.
fn udp_frame(port: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 8];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&(20u16 + 16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&port.to_be_bytes());
    f
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn run_object_reports_like_bpftool_prog_run() {
    let obj = object("example_xdp.o");
    let dns = std::fs::read(input("dns_query.bin")).unwrap();
    // The bundled frame is a UDP datagram to port 53 (checked here, not assumed).
    assert_eq!(&dns[12..14], &[0x08, 0x00]);
    assert_eq!(dns[23], 17);
    assert_eq!(u16::from_be_bytes([dns[36], dns[37]]), 53);
    let out = bpfbox()
        .args(["run", obj.to_str().unwrap(), "--data"])
        .arg(input("dns_query.bin"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Return value: 1 (XDP_DROP), duration: "),
        "{text}"
    );
    // The hexdump is bpftool's: offset, tab, 16 bytes in pairs, `| ` and the characters.
    let first = text.lines().find(|l| l.starts_with("0000000\t")).unwrap();
    let pairs: String = dns[..16]
        .chunks(2)
        .map(|p| format!("{} ", hex(p)))
        .collect();
    assert!(first.starts_with(&format!("0000000\t{pairs}| ")), "{first}");

    // JSON, a prefilled map, and a frame that passes.
    let v = run_json(&[
        "run",
        obj.to_str().unwrap(),
        "--data-hex",
        &hex(&udp_frame(54)),
        "--map",
        "proto_count",
        "17=41",
        "--dump-maps",
        "--json",
    ]);
    assert_eq!(v["retval"], 2);
    assert_eq!(v["action"], "XDP_PASS");
    assert_eq!(v["data_out"], hex(&udp_frame(54)));
    // Elements as `bpftool -j map dump` gives them: raw bytes and, from BTF, "formatted".
    let elements = v["maps"][0]["elements"].as_array().unwrap();
    let e17 = elements
        .iter()
        .find(|e| e["formatted"]["key"] == 17)
        .unwrap();
    assert_eq!(e17["formatted"]["value"], 42);
    let raw: Vec<String> = 42u64
        .to_ne_bytes()
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect();
    assert_eq!(e17["value"], serde_json::json!(raw));

    // The kernel refuses XDP test runs on frames shorter than an Ethernet header.
    let out = bpfbox()
        .args(["run", obj.to_str().unwrap(), "--data-hex", "0102"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Unknown program and map names are usage errors naming what exists.
    let out = bpfbox()
        .args(["run", obj.to_str().unwrap(), "--prog", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xdp_filter_dns"));
    let out = bpfbox()
        .args(["run", obj.to_str().unwrap(), "--map", "nope", "1=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Our llvm-syntax disassembly of an object agrees with llvm-objdump's on every
/// instruction the loader did not relocate, and the source lines are the C file's lines.
#[test]
fn disasm_object_matches_llvm_objdump_and_the_source() {
    let obj = object("example_xdp.o");
    let ours = bpfbox()
        .args([
            "disasm",
            obj.to_str().unwrap(),
            "--syntax",
            "llvm",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    let insns = v[0]["insns"].as_array().unwrap();
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/src/example_xdp.bpf.c"),
    )
    .unwrap();
    let src_lines: Vec<&str> = src.lines().collect();
    let mut with_source = 0;
    for i in insns {
        if let Some(s) = i["source"].as_object() {
            let n = s["line"].as_u64().unwrap() as usize;
            assert_eq!(s["text"].as_str().unwrap().trim(), src_lines[n - 1].trim());
            with_source += 1;
        }
    }
    assert!(with_source > 10);
    assert_eq!(
        insns[0]["function"],
        "int xdp_filter_dns(struct xdp_md *ctx)"
    );
    // Kernel syntax names the helper and the map.
    let kernel = bpfbox()
        .args(["disasm", obj.to_str().unwrap()])
        .output()
        .unwrap();
    let kernel = String::from_utf8(kernel.stdout).unwrap();
    assert!(kernel.contains("call bpf_map_lookup_elem#1"), "{kernel}");
    assert!(kernel.contains("= map[proto_count]"), "{kernel}");

    let Ok(theirs) = Command::new("llvm-objdump-19")
        .args(["-d", "--no-show-raw-insn", "--no-leading-addr"])
        .arg(&obj)
        .output()
    else {
        skip("llvm-objdump-19 not installed");
        return;
    };
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    let theirs: Vec<&str> = theirs
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.ends_with(':') && !l.contains("file format"))
        .collect();
    assert_eq!(theirs.len(), insns.len());
    for (t, o) in theirs.iter().zip(insns) {
        let o = o["text"].as_str().unwrap();
        // The map load is relocated: llvm-objdump shows the unrelocated `ll` form.
        if t.ends_with(" ll") {
            continue;
        }
        // llvm-objdump adds the symbolised jump target (`<prog+0x120>`).
        let t = match t.rsplit_once(" <") {
            Some((head, _)) if t.ends_with('>') => head,
            _ => t,
        };
        assert_eq!(t, o);
    }
}

#[test]
fn show_lists_what_llvm_readelf_sees() {
    let obj = object("example_xdp.o");
    let v = run_json(&["show", obj.to_str().unwrap(), "--json"]);
    assert_eq!(v["programs"][0]["name"], "xdp_filter_dns");
    assert_eq!(v["maps"][0]["name"], "proto_count");
    let Ok(syms) = Command::new("llvm-readelf-19")
        .args(["-s", "--wide"])
        .arg(&obj)
        .output()
    else {
        skip("llvm-readelf-19 not installed");
        return;
    };
    // Every global FUNC symbol is a program, every OBJECT in .maps a map.
    let syms = String::from_utf8(syms.stdout).unwrap();
    let funcs: Vec<&str> = syms
        .lines()
        .filter(|l| l.contains(" FUNC ") && l.contains(" GLOBAL "))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let progs: Vec<&str> = v["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(funcs, progs);
    assert_eq!(v["relocations"].as_array().unwrap().len(), 1);
}

/// Objects that need CO-RE are relocated against the running kernel's BTF by default, or
/// against `--btf FILE`; without either they name the programs that cannot load.
#[test]
fn object_commands_relocate_core_by_default() {
    let xdpdump = PathBuf::from("/usr/lib/x86_64-linux-gnu/bpf/xdpdump_bpf.o");
    if !xdpdump.exists() {
        skip("xdpdump_bpf.o (libxdp1) not installed");
        return;
    }
    if !PathBuf::from("/sys/kernel/btf/vmlinux").exists() {
        skip("no /sys/kernel/btf/vmlinux");
        return;
    }
    let v = run_json(&["show", xdpdump.to_str().unwrap(), "--json"]);
    let names: Vec<&str> = v["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["trace_on_entry", "trace_on_exit"]);
    assert!(v["program_errors"].as_array().unwrap().is_empty());
    // The same with the target named explicitly.
    let v = run_json(&[
        "show",
        xdpdump.to_str().unwrap(),
        "--btf",
        "/sys/kernel/btf/vmlinux",
        "--json",
    ]);
    assert_eq!(v["programs"].as_array().unwrap().len(), 2);
    // A target without the types the object needs: as libbpf does, the relocated
    // instructions are poisoned with `call 0xbad2310` (which the kernel's verifier reports
    // as `unknown#195896080`), and the program still loads.
    let out = bpfbox()
        .args([
            "disasm",
            xdpdump.to_str().unwrap(),
            "--prog",
            "trace_on_entry",
            "--btf",
        ])
        .arg(object("example_xdp.o"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("call unknown#195896080"));
    let out = bpfbox()
        .args([
            "show",
            xdpdump.to_str().unwrap(),
            "--btf",
            "/nonexistent.btf",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README's command table names every subcommand `bpfbox --help` lists.
#[test]
fn readme_command_table_is_complete() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let out = bpfbox().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 8, "{help}");
    for c in commands {
        assert!(
            readme.contains(&format!("| `bpfbox {c} ")),
            "README's command table lacks `bpfbox {c}`"
        );
    }
}
