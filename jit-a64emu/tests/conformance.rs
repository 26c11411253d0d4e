//! The bpf_conformance suite through the aarch64 backend under emulation, in both modes
//! and with both atomic forms, and the emulated code beside the interpreter on every test:
//! r0 (or the fault, kind and pc), memory and instruction count.

use std::path::PathBuf;
use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{
    available, compile, disasm, interp_mem_on_stack, run_mem_on_stack, skip, EmuEngine,
};
use bpfbox_vm::conformance::{prepare, run_file, test_files, Outcome, Summary};
use bpfbox_vm::interp::STACK_WORDS;
use bpfbox_vm::Vm;

fn suite_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf_conformance/tests");
    dir.is_dir().then_some(dir)
}

fn ready() -> Option<PathBuf> {
    if let Err(e) = available() {
        skip(&e);
        return None;
    }
    let dir = suite_dir();
    if dir.is_none() {
        skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    dir
}

fn suite(mode: Mode, lse: bool) {
    let Some(dir) = ready() else { return };
    let files = test_files(&dir).expect("list conformance tests");
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for f in &files {
        let r = run_file(f, &EmuEngine(mode, Options { lse }));
        summary.add(&r);
        if r.outcome != Outcome::Pass {
            failures.push(r.to_string());
        }
    }
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
    assert_eq!(summary.passed, 313, "{summary}");
}

#[test]
fn all_conformance_tests_pass_checked_lse() {
    suite(Mode::Checked, true);
}

#[test]
fn all_conformance_tests_pass_trusted_lse() {
    suite(Mode::Trusted, true);
}

#[test]
fn all_conformance_tests_pass_checked_llsc() {
    suite(Mode::Checked, false);
}

#[test]
fn all_conformance_tests_pass_trusted_llsc() {
    suite(Mode::Trusted, false);
}

#[test]
fn emulated_aarch64_equals_the_interpreter_on_every_conformance_test() {
    let Some(dir) = ready() else { return };
    let mut compared = 0;
    for f in test_files(&dir).expect("list conformance tests") {
        let text = std::fs::read_to_string(&f).expect("read test");
        let Ok((file, prog)) = prepare(&text) else {
            continue;
        };
        let Ok(vm) = Vm::new(&prog) else { continue };
        let vm = Arc::new(vm);
        for lse in [true, false] {
            let p = compile(&vm, Mode::Checked, Options { lse });
            let mut mem_i = file.mem.clone();
            let mut mem_j = file.mem.clone();
            // One stack buffer for both, so both engines see the same addresses.
            let mut stack = Box::new([0u64; STACK_WORDS]);
            let want = interp_mem_on_stack(&vm, &mut mem_i, &mut stack);
            stack.fill(0);
            let got = run_mem_on_stack(&p, &mut mem_j, &mut stack);
            assert_eq!(
                got,
                want,
                "{} (lse {lse})\n{}",
                f.display(),
                disasm(p.image().code())
            );
            assert_eq!(mem_j, mem_i, "memory after {}", f.display());
        }
        compared += 1;
    }
    assert!(compared > 300, "only {compared} tests compared");
}
