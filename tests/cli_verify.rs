//! `bpfbox verify` and verify-before-run, held against the running kernel's verifier: on
//! every fixture and every xdp-tools object, bpfbox never gives a verdict the kernel does not
//! give (a program it cannot judge yet is reported as such, never accepted), a shared
//! rejection has the kernel's error line, and `bpfbox run` refuses what the kernel refuses.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfbox_kernel_compare::probe::Probe;
use bpfbox_kernel_compare::report::{compare_file, CompareOptions, ProgramRow, CSV_HEADER};
use bpfbox_kernel_compare::Verdict;
use common::{fixture, skip};

fn bpfbox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bpfbox"))
        .args(args)
        .output()
        .expect("bpfbox runs")
}

fn kernel() -> bool {
    match Probe::run().reason() {
        Some(r) => {
            skip(&r);
            false
        }
        None => true,
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = fixture("x").parent().unwrap().to_path_buf();
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    v.sort();
    v
}

fn xdp_tools_objects() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["/usr/lib/x86_64-linux-gnu/bpf", "/usr/libexec/xdp-tools"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            v.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "o")),
            );
        }
    }
    v.sort();
    v
}

/// Every program of `paths` through the kernel and bpfbox's verifier.
fn rows(paths: &[PathBuf]) -> Vec<ProgramRow> {
    let opts = CompareOptions {
        log_level: 1,
        ncpus: Probe::run().possible_cpus,
        ..CompareOptions::default()
    };
    paths
        .iter()
        .flat_map(|p| {
            compare_file(p, &opts)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .programs
        })
        .collect()
}

/// No verdict differs from the kernel's; a shared rejection has the kernel's error line.
fn assert_agree(rows: &[ProgramRow]) -> (usize, usize) {
    let mut judged = 0;
    let mut unsupported = 0;
    for r in rows {
        let id = format!("{}/{}", r.file, r.program);
        assert!(
            !r.verdict_mismatch(),
            "{id}: kernel {:?} ({:?}), bpfbox {:?} ({:?})",
            r.kernel_verdict,
            r.reason,
            r.bpfbox_verdict,
            r.bpfbox_reason
        );
        if r.bpfbox_unsupported {
            unsupported += 1;
            continue;
        }
        if r.kernel_verdict == Verdict::Rejected {
            assert_eq!(r.bpfbox_reason, r.reason, "{id}: error line");
        }
        if matches!(r.kernel_verdict, Verdict::Accepted | Verdict::Rejected) {
            judged += 1;
        }
    }
    (judged, unsupported)
}

#[test]
fn fixtures_get_the_kernels_verdict() {
    if !kernel() {
        return;
    }
    let rows = rows(&fixtures());
    let (judged, unsupported) = assert_agree(&rows);
    eprintln!(
        "fixtures: {} programs, {judged} judged as the kernel judges them, {unsupported} not yet",
        rows.len()
    );
    assert!(judged >= 5, "{judged}");
}

#[test]
fn xdp_tools_objects_get_the_kernels_verdict() {
    let objects = xdp_tools_objects();
    if objects.is_empty() {
        return skip(
            "no xdp-tools BPF objects installed (apt install xdp-tools xdp-tests libxdp1)",
        );
    }
    if !kernel() {
        return;
    }
    let rows = rows(&objects);
    let (judged, unsupported) = assert_agree(&rows);
    eprintln!(
        "xdp-tools: {} programs, {judged} judged as the kernel judges them, {unsupported} not yet",
        rows.len()
    );
}

/// The kernel's verdict and reason for the only program of `path`.
fn kernel_verdict(path: &Path) -> (Verdict, Option<String>) {
    let r = rows(&[path.to_path_buf()]);
    (r[0].kernel_verdict.clone(), r[0].reason.clone())
}

#[test]
fn verify_reports_the_kernels_refusal() {
    if !kernel() {
        return;
    }
    let path = fixture("core_prog");
    let (verdict, reason) = kernel_verdict(&path);
    assert_eq!(verdict, Verdict::Rejected);
    let reason = reason.unwrap();
    let out = bpfbox(&["verify", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("rejected") && text.contains(&reason),
        "{text}"
    );
    // JSON carries the failing instruction and the error line.
    let out = bpfbox(&["verify", path.to_str().unwrap(), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["verdict"], "rejected");
    assert!(v[0]["error"].as_str().unwrap().ends_with(&reason));
    // `run` refuses it with the same words, and runs it with --no-verify.
    let out = bpfbox(&["run", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the verifier refuses it") && err.contains(&reason),
        "{err}"
    );
    let out = bpfbox(&["run", path.to_str().unwrap(), "--no-verify"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("the verifier refuses it"), "{err}");
}

#[test]
fn verify_accepts_what_the_kernel_accepts_in_veristat_form() {
    if !kernel() {
        return;
    }
    let path = fixture("example_xdp");
    assert_eq!(kernel_verdict(&path).0, Verdict::Accepted);
    let out = bpfbox(&["verify", path.to_str().unwrap(), "-o", "csv"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&fields[..3], ["example_xdp.o", "xdp_filter_dns", "success"]);
    let out = bpfbox(&["verify", path.to_str().unwrap(), "--log-level", "2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("processed ") && text.contains("accepted"),
        "{text}"
    );
    let out = bpfbox(&["verify", path.to_str().unwrap(), "--compare-kernel"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn verify_usage_errors_exit_2() {
    let path = fixture("example_xdp");
    let out = bpfbox(&["verify", path.to_str().unwrap(), "--prog", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bpfbox(&["verify", "Cargo.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bpfbox(&["verify", path.to_str().unwrap(), "--log-level", "3"]);
    assert_eq!(out.status.code(), Some(2));
}
