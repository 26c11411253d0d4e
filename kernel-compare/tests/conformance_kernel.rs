//! The bpf_conformance suite through the running kernel, loaded as the upstream kernel plugin
//! loads it. The kernel's known result on this suite: 300 pass, and the verifier refuses 13
//! programs (twelve shift-immediate tests with `invalid shift`, and `callx` with
//! `unknown opcode 8d`, an instruction Linux does not implement).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bpfbox_kernel_compare::conformance::{run_file, KernelEngine, KernelOutcome, KernelSummary};
use bpfbox_vm::conformance::test_files;

fn suite_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf_conformance/tests");
    dir.is_dir().then_some(dir)
}

/// The tests the 6.x verifier refuses, with its reason.
const REJECTED: [(&str, &str); 13] = [
    ("arsh32-imm-high", "invalid shift 48"),
    ("arsh32-imm-neg", "invalid shift -16"),
    ("arsh64-imm-high", "invalid shift 124"),
    ("arsh64-imm-neg", "invalid shift -4"),
    ("callx", "unknown opcode 8d"),
    ("lsh32-imm-high", "invalid shift 60"),
    ("lsh32-imm-neg", "invalid shift -4"),
    ("lsh64-imm-high", "invalid shift 68"),
    ("lsh64-imm-neg", "invalid shift -60"),
    ("rsh32-imm-high", "invalid shift 40"),
    ("rsh32-imm-neg", "invalid shift -24"),
    ("rsh64-imm-high", "invalid shift 68"),
    ("rsh64-imm-neg", "invalid shift -60"),
];

#[test]
fn conformance_suite_in_the_kernel_gives_the_known_result() {
    let Some(dir) = suite_dir() else {
        return common::skip("../shared/bpf_conformance/tests is not beside the checkout");
    };
    if common::kernel().is_none() {
        return;
    }
    let engine = KernelEngine::new().expect("create the result map");
    let files = test_files(&dir).expect("list conformance tests");
    let mut summary = KernelSummary::default();
    let mut rejected = BTreeMap::new();
    let mut other = Vec::new();
    for f in &files {
        let r = run_file(f, &engine);
        summary.add(&r);
        match &r.outcome {
            KernelOutcome::Pass => {}
            KernelOutcome::Rejected { message } => {
                rejected.insert(r.name.clone(), message.clone());
            }
            _ => other.push(r.to_string()),
        }
    }
    assert!(other.is_empty(), "{summary}\n{}", other.join("\n"));
    let expected: BTreeMap<String, String> = REJECTED
        .iter()
        .map(|(n, m)| (n.to_string(), m.to_string()))
        .collect();
    assert_eq!(rejected, expected, "{summary}");
    assert_eq!(summary.passed, 300, "{summary}");
    assert_eq!(summary.rejected, 13, "{summary}");
}
