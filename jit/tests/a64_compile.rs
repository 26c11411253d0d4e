//! The aarch64 backend on this host without running anything: every conformance program
//! compiles in both modes with both atomic forms (no immediate the assembler cannot encode,
//! no branch out of range), and slot 0's body, where the entry stub and tail calls enter,
//! is where slot 0's code starts.

use std::path::PathBuf;
use std::sync::Arc;

use bpfbox_jit::aarch64::{A64Image, Options};
use bpfbox_jit::Mode;
use bpfbox_vm::conformance::{prepare, test_files};
use bpfbox_vm::Vm;

fn skip(reason: &str) {
    if std::env::var_os("BPFBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("required test skipped: {reason}");
    }
    eprintln!("skipped: {reason}");
}

#[test]
fn every_conformance_program_compiles_for_aarch64() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf_conformance/tests");
    if !dir.is_dir() {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    let mut compiled = 0;
    for f in test_files(&dir).expect("list conformance tests") {
        let text = std::fs::read_to_string(&f).expect("read test");
        let Ok((_, prog)) = prepare(&text) else {
            continue;
        };
        let Ok(vm) = Vm::new(&prog) else { continue };
        let vm = Arc::new(vm);
        for mode in [Mode::Checked, Mode::Trusted] {
            for lse in [true, false] {
                let img = A64Image::compile(Arc::clone(&vm), mode, Options { lse })
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                assert_eq!(img.code().len() % 4, 0);
                assert_eq!(img.offsets()[0] as usize, img.body0(), "{}", f.display());
            }
        }
        compiled += 1;
    }
    assert!(compiled > 300, "only {compiled} programs");
}
