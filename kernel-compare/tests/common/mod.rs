//! Shared helpers: skipping that fails under `BPFBOX_REQUIRE_ALL=1`, the kernel probe, and the
//! real objects.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod insn;

use bpfbox_kernel_compare::probe::Probe;

/// Directories holding Debian's xdp-tools / libxdp objects.
pub const OBJECT_DIRS: [&str; 2] = ["/usr/lib/x86_64-linux-gnu/bpf", "/usr/libexec/xdp-tools"];

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

/// The probe when `bpf()` works here; `None` after reporting a skip.
pub fn kernel() -> Option<Probe> {
    let p = Probe::run();
    match p.reason() {
        Some(r) => {
            skip(&r);
            None
        }
        None => Some(p),
    }
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

/// Compiles BPF C `src` with clang into an object under the target directory; `None` after
/// reporting a skip.
pub fn compile_bpf(name: &str, src: &str) -> Option<PathBuf> {
    use std::process::Command;
    if !std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        skip("libbpf-dev headers (bpf/bpf_helpers.h) not installed");
        return None;
    }
    let clang = ["clang-19", "clang"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let Some(clang) = clang else {
        skip("clang not found");
        return None;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
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
