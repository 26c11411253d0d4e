//! The JIT beside the interpreter on real objects: every program of the project's fixtures
//! and of Debian's xdp-tools objects, on crafted frames (packet programs) or empty input
//! (the rest), through the facade with `Engine::Jit` in both modes. The whole test-run result
//! and every map's contents afterwards must be the same as the interpreter's.

mod common;

use std::path::Path;

use bpfbox::vm::maps::MapType;
use bpfbox::vm::ProgType;
use bpfbox::{Engine, Object, Vm, VmBuilder};
use common::engines::*;
use common::*;

/// A map's `(key, value)` pairs.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every map's entries, in name order (map-in-map values are map handles, which differ
/// between two builds of one object, so only their keys count).
fn map_state(vm: &Vm) -> Vec<(String, Entries)> {
    vm.map_names()
        .iter()
        .filter_map(|n| {
            let m = vm.map(n).ok()?;
            let mut entries = m.iter();
            if matches!(
                m.map_type(),
                MapType::ArrayOfMaps | MapType::HashOfMaps | MapType::ProgArray
            ) {
                for e in &mut entries {
                    e.1.clear();
                }
            }
            Some((n.clone(), entries))
        })
        .collect()
}

/// Runs every program of `path` on its inputs in the interpreter and in the JIT built with
/// `jit`; returns how many runs were compared.
fn compare(path: &Path, jit: VmBuilder, trusted: bool) -> usize {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let obj = Object::from_file(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (Ok(mut a), Ok(mut b)) = (Vm::builder().ncpus(2).build(&obj), jit.ncpus(2).build(&obj))
    else {
        return 0;
    };
    let progs: Vec<(String, ProgType)> = a
        .programs()
        .iter()
        .map(|p| (p.name.clone(), p.prog_type))
        .collect();
    let mut n = 0;
    for (prog, t) in &progs {
        for input in inputs(*t) {
            let want = a.test_run(prog, &input).map(|mut r| {
                r.duration_ns = 0;
                r
            });
            if trusted && want.is_err() {
                // Trusted code may only run where every access is in bounds: an input the
                // interpreter faults on breaks that promise.
                continue;
            }
            let got = b.test_run(prog, &input).map(|mut r| {
                r.duration_ns = 0;
                r
            });
            match (&want, &got) {
                (Ok(w), Ok(g)) => {
                    let mut g = g.clone();
                    if g.insns == 0 {
                        // Trusted code does not count instructions.
                        g.insns = w.insns;
                    }
                    assert_eq!(&g, w, "{name}/{prog}");
                }
                _ => assert_eq!(
                    got.as_ref().map_err(|e| without_addresses(&e.to_string())),
                    want.as_ref().map_err(|e| without_addresses(&e.to_string())),
                    "{name}/{prog}"
                ),
            }
            n += 1;
        }
        assert_eq!(map_state(&b), map_state(&a), "{name}/{prog}: maps");
    }
    n
}

#[test]
fn checked_jit_equals_the_interpreter_on_every_fixture() {
    let n: usize = fixture_objects()
        .iter()
        .map(|p| compare(p, Vm::builder().engine(Engine::Jit), false))
        .sum();
    assert!(n > 50, "only {n} runs");
}

#[test]
fn trusted_jit_equals_the_interpreter_on_every_fixture() {
    // SAFETY: the fixtures are programs the kernel's verifier accepts (the kernel-compare
    // tests load them), run on well-formed test-run input.
    let b = || unsafe { Vm::builder().engine(Engine::Jit).unchecked() };
    let n: usize = fixture_objects()
        .iter()
        .map(|p| compare(p, b(), true))
        .sum();
    assert!(n > 50, "only {n} runs");
}

#[test]
fn checked_jit_equals_the_interpreter_on_xdp_tools_objects() {
    let found = xdp_tools_objects();
    if found.is_empty() {
        return skip(NO_XDP_TOOLS);
    }
    let n: usize = found
        .iter()
        .map(|p| compare(p, Vm::builder().engine(Engine::Jit), false))
        .sum();
    assert!(n > 50, "only {n} runs");
}
