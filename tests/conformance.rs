//! The bpf_conformance suite through the interpreter: every one of the 313 tests must pass,
//! including the shift and callx tests the kernel rejects.

use std::path::PathBuf;

use bpfbox::vm::conformance::{run_file, test_files, InterpreterEngine, Outcome, Summary};

fn suite_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bpf_conformance/tests");
    dir.is_dir().then_some(dir)
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

#[test]
fn all_conformance_tests_pass_in_the_interpreter() {
    let Some(dir) = suite_dir() else {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    };
    let files = test_files(&dir).expect("list conformance tests");
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for f in &files {
        let r = run_file(f, &InterpreterEngine);
        summary.add(&r);
        if r.outcome != Outcome::Pass {
            failures.push(r.to_string());
        }
    }
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
    assert_eq!(summary.passed, 313, "{summary}");
}
