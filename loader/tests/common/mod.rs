//! Shared helpers: the real objects, and skipping that fails under `BPFBOX_REQUIRE_ALL=1`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfbox_loader::{classify, Object};
use bpfbox_vm::isa::{decode_program, Insn, LdImm64Kind};

/// Directories holding Debian's xdp-tools / libxdp objects.
const OBJECT_DIRS: [&str; 2] = ["/usr/lib/x86_64-linux-gnu/bpf", "/usr/libexec/xdp-tools"];

/// Skips the current test with a one-line reason, or fails it under `BPFBOX_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var("BPFBOX_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required test cannot run: {reason}");
    }
    // Not `eprintln!`: the test harness captures that and shows it only for failures, so a
    // skip would be invisible in a plain `cargo test`. The stderr handle is not captured.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
}

/// Every real BPF object found (sorted), or `None` after reporting a skip.
pub fn real_objects() -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in OBJECT_DIRS {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        skip("no xdp-tools BPF objects installed (apt install xdp-tools libxdp1)");
        return None;
    }
    Some(out)
}

/// Whether `tool` runs.
pub fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// A scratch directory for this test binary.
pub fn scratch(name: &str) -> PathBuf {
    // Under the target directory, per process: test binaries run in parallel.
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("loader-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Compiles BPF C `src` with clang into an object; `None` after reporting a skip.
pub fn compile_bpf(name: &str, src: &str) -> Option<PathBuf> {
    let clang = ["clang-19", "clang"].into_iter().find(|c| have(c));
    let Some(clang) = clang else {
        skip("clang not found");
        return None;
    };
    let dir = scratch("bpf");
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&c, src).expect("write C source");
    let out = Command::new(clang)
        .args([
            "-g",
            "-O2",
            "--target=bpf",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
        ])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .output()
        .expect("run clang");
    assert!(
        out.status.success(),
        "clang failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(o)
}

/// Output of a command, panicking with its stderr if it fails.
pub fn run(cmd: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(cmd)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks every program decodes and refers to maps only by valid index.
pub fn check_relocated(obj: &Object) {
    for p in obj.programs() {
        let d = decode_program(&p.insns).unwrap_or_else(|e| panic!("{}: {e:?}", p.name));
        for (pc, insn) in &d.insns {
            if let Insn::LdImm64 { kind, imm, .. } = insn {
                match kind {
                    LdImm64Kind::MapIdx | LdImm64Kind::MapIdxValue => {
                        let idx = (*imm & 0xffff_ffff) as u32 as usize;
                        assert!(
                            idx < obj.maps().len(),
                            "{} insn {pc}: map index {idx}",
                            p.name
                        );
                    }
                    LdImm64Kind::MapFd | LdImm64Kind::MapValue => {
                        panic!("{} insn {pc}: fd-based map reference left", p.name)
                    }
                    _ => {}
                }
            }
        }
        // Every subprogram start carries func_info when the program has any.
        if !p.func_info.is_empty() {
            let starts: Vec<usize> = p.func_info.iter().map(|f| f.insn_off as usize).collect();
            assert_eq!(starts, d.subprogs, "{}: func_info vs subprograms", p.name);
        }
        assert!(
            p.line_info
                .windows(2)
                .all(|w| w[0].insn_off <= w[1].insn_off),
            "{}",
            p.name
        );
        assert!(p
            .line_info
            .iter()
            .all(|l| (l.insn_off as usize) < p.insns.len()));
    }
}

/// Builds the libbpf oracle, or reports why not.
pub fn libbpf_oracle() -> Option<std::path::PathBuf> {
    if !Path::new("/usr/include/bpf/libbpf.h").exists() {
        skip("libbpf-dev not installed");
        return None;
    }
    let dir = scratch("oracle");
    let exe = dir.join("libbpf_oracle");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libbpf_oracle.c");
    let out = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .arg("-lbpf")
        .output();
    match out {
        Ok(o) if o.status.success() => Some(exe),
        Ok(o) => {
            skip(&format!(
                "cannot build the libbpf oracle: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
            None
        }
        Err(e) => {
            skip(&format!("cc not available: {e}"));
            None
        }
    }
}

/// Compares `obj` with libbpf's view of `path`.
pub fn compare_with_libbpf(oracle: &Path, path: &Path, obj: &Object) {
    let out = run(oracle.to_str().unwrap(), &[], path);
    let mut progs = 0;
    let mut maps = 0;
    for line in out.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "prog" => {
                let (name, sec, ty, eat, cnt, autoload) = (f[1], f[2], f[3], f[4], f[5], f[6]);
                progs += 1;
                let ours = match obj.program(name) {
                    Some(p) => p,
                    None => {
                        let err = obj.program_errors().iter().find(|e| e.program() == name);
                        assert!(
                            err.is_some(),
                            "{}: libbpf program '{name}' missing",
                            path.display()
                        );
                        let c = classify(sec);
                        assert_eq!(c.prog_type.id().to_string(), ty, "{name}");
                        assert_eq!(
                            c.expected_attach_type.unwrap_or(0).to_string(),
                            eat,
                            "{name}"
                        );
                        continue;
                    }
                };
                let meta = obj.program_meta(name).unwrap();
                assert_eq!(ours.section, sec, "{name}");
                assert_eq!(ours.prog_type.id().to_string(), ty, "{name}: prog type");
                assert_eq!(
                    ours.expected_attach_type.unwrap_or(0).to_string(),
                    eat,
                    "{name}: attach type"
                );
                assert_eq!(meta.entry_insns.to_string(), cnt, "{name}: insn count");
                assert_eq!(
                    u8::from(meta.autoload).to_string(),
                    autoload,
                    "{name}: autoload"
                );
            }
            "map" => {
                let (name, ty, k, v, max, flags) = (f[1], f[2], f[3], f[4], f[5], f[6]);
                let idx = obj
                    .map_index(name)
                    .unwrap_or_else(|| panic!("{}: map '{name}' missing", path.display()));
                assert_eq!(idx, maps, "{name}: map order");
                maps += 1;
                let m = &obj.maps()[idx];
                assert_eq!(m.map_type.id().to_string(), ty, "{name}");
                assert_eq!(m.key_size.to_string(), k, "{name}");
                assert_eq!(m.value_size.to_string(), v, "{name}");
                assert_eq!(m.max_entries.to_string(), max, "{name}");
                let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
                assert_eq!(m.map_flags, flags, "{name}");
            }
            other => panic!("oracle said {other}"),
        }
    }
    assert_eq!(
        progs,
        obj.programs().len() + obj.program_errors().len(),
        "{}",
        path.display()
    );
    assert_eq!(maps, obj.maps().len(), "{}", path.display());
}
