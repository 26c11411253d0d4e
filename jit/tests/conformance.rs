//! The bpf_conformance suite through the JIT in both modes, and the JIT beside the
//! interpreter on every test: r0 (or the fault, kind and pc), memory, instruction count.

use std::path::PathBuf;
use std::sync::Arc;

use bpfbox_jit::{BlindedJitEngine, JitEngine, JitProgram, Mode};
use bpfbox_vm::conformance::{prepare, run_file, test_files, Outcome, Summary};
use bpfbox_vm::Vm;

fn suite_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf_conformance/tests");
    dir.is_dir().then_some(dir)
}

fn skip(reason: &str) {
    if std::env::var_os("BPFBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("required test skipped: {reason}");
    }
    eprintln!("skipped: {reason}");
}

fn suite(mode: Mode) {
    suite_with(&JitEngine(mode));
}

fn suite_with(engine: &dyn bpfbox_vm::conformance::Engine) {
    let Some(dir) = suite_dir() else {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    };
    let files = test_files(&dir).expect("list conformance tests");
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for f in &files {
        let r = run_file(f, engine);
        summary.add(&r);
        if r.outcome != Outcome::Pass {
            failures.push(r.to_string());
        }
    }
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
    assert_eq!(summary.passed, 313, "{summary}");
}

#[test]
fn all_conformance_tests_pass_in_checked_mode() {
    suite(Mode::Checked);
}

#[test]
fn all_conformance_tests_pass_in_trusted_mode() {
    suite(Mode::Trusted);
}

#[test]
fn all_conformance_tests_pass_blinded_in_both_modes() {
    suite_with(&BlindedJitEngine(Mode::Checked));
    suite_with(&BlindedJitEngine(Mode::Trusted));
}

#[test]
fn blinded_checked_jit_equals_the_interpreter_on_every_conformance_test() {
    every_test(true);
}

#[test]
fn checked_jit_equals_the_interpreter_on_every_conformance_test() {
    every_test(false);
}

fn every_test(blind: bool) {
    let Some(dir) = suite_dir() else {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    };
    let mut compared = 0;
    for f in test_files(&dir).expect("list conformance tests") {
        let text = std::fs::read_to_string(&f).expect("read test");
        let Ok((file, prog)) = prepare(&text) else {
            continue;
        };
        let Ok(vm) = Vm::new(&prog) else { continue };
        let vm = Arc::new(vm);
        let jit = if blind {
            JitProgram::compile_blinded(Arc::clone(&vm))
        } else {
            JitProgram::compile(Arc::clone(&vm))
        }
        .expect("compile");
        let mut mem_i = file.mem.clone();
        let mut mem_j = file.mem.clone();
        let want = vm.run_mem(&mut mem_i);
        let got = jit.run_mem(&mut mem_j);
        assert_eq!(got, want, "{}", f.display());
        assert_eq!(mem_j, mem_i, "memory after {}", f.display());
        compared += 1;
    }
    assert!(compared > 300, "only {compared} tests compared");
}
