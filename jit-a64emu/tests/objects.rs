//! The emulated aarch64 backend beside the interpreter on real objects: every program of the
//! project's fixtures and of Debian's xdp-tools objects, on crafted frames (packet programs)
//! or empty input (the rest), as test runs with fresh maps for each engine. The whole
//! test-run result and every map's contents afterwards must be the interpreter's.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{available, compile, skip, EmuRunner};
use bpfbox_loader::Object;
use bpfbox_vm::maps::{MapConfig, MapType};
use bpfbox_vm::testrun::{self, RunResult, RunSetup, TestRun};
use bpfbox_vm::Env;
use common::engines::*;

type Outcome = Result<(RunResult, Vec<Vec<(Vec<u8>, Vec<u8>)>>), String>;

/// One test run of program `idx` of `obj` on `input` with fresh maps: the interpreter
/// (`mode` None) or the emulated aarch64 code.
fn run(obj: &Object, idx: usize, input: &TestRun, mode: Option<Mode>) -> Option<Outcome> {
    let prog = &obj.programs()[idx];
    let (maps, _) = obj.create_maps_partial(&MapConfig { ncpus: 2 });
    let vm = testrun::prepare(&prog.insns, prog.prog_type, &maps).ok()?;
    let vm = Arc::new(vm);
    let ctx = match testrun::build_context(prog.prog_type, input) {
        Ok(c) => c,
        Err(e) => return Some(Err(e.to_string())),
    };
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let runner = mode.map(|m| {
        EmuRunner(compile(
            &vm,
            m,
            Options {
                lse: idx.is_multiple_of(2),
            },
        ))
    });
    let setup = RunSetup {
        repeat: 1,
        runner: runner
            .as_ref()
            .map(|r| r as &dyn bpfbox_vm::testrun::Runner),
        ..RunSetup::default()
    };
    let r = testrun::run_context(&vm, prog.prog_type, ctx, &mut env, &setup)
        .map_err(|e| e.to_string())
        .map(|mut r| {
            r.duration_ns = 0;
            r
        });
    let state = maps
        .iter()
        .map(|m| {
            let mut e = m.iter();
            if matches!(
                m.map_type(),
                MapType::ArrayOfMaps | MapType::HashOfMaps | MapType::ProgArray
            ) {
                e.iter_mut().for_each(|kv| kv.1.clear());
            }
            e
        })
        .collect();
    Some(r.map(|r| (r, state)))
}

fn compare(path: &Path, mode: Mode) -> usize {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let Ok(obj) = Object::from_file(path) else {
        return 0;
    };
    let mut n = 0;
    for idx in 0..obj.programs().len() {
        for input in inputs(obj.programs()[idx].prog_type) {
            let Some(want) = run(&obj, idx, &input, None) else {
                continue;
            };
            if mode == Mode::Trusted && want.is_err() {
                // Trusted code only runs where every access is in bounds.
                continue;
            }
            let got = run(&obj, idx, &input, Some(mode)).expect("prepared once");
            let prog = &obj.programs()[idx].name;
            match (want, got) {
                (Ok((w, ws)), Ok((mut g, gs))) => {
                    if mode == Mode::Trusted {
                        g.insns = w.insns;
                    }
                    assert_eq!(g, w, "{name}/{prog} ({mode:?})");
                    assert_eq!(gs, ws, "{name}/{prog} ({mode:?}): maps");
                }
                (w, g) => assert_eq!(
                    g.map(|_| ()).map_err(|e| without_addresses(&e)),
                    w.map(|_| ()).map_err(|e| without_addresses(&e)),
                    "{name}/{prog} ({mode:?})"
                ),
            }
            n += 1;
        }
    }
    n
}

#[test]
fn emulated_aarch64_equals_the_interpreter_on_every_fixture() {
    if let Err(e) = available() {
        return skip(&e);
    }
    for mode in [Mode::Checked, Mode::Trusted] {
        let n: usize = fixture_objects().iter().map(|p| compare(p, mode)).sum();
        assert!(n > 50, "only {n} runs ({mode:?})");
    }
}

#[test]
fn emulated_aarch64_equals_the_interpreter_on_xdp_tools_objects() {
    if let Err(e) = available() {
        return skip(&e);
    }
    let found = xdp_tools_objects();
    if found.is_empty() {
        return skip(NO_XDP_TOOLS);
    }
    let n: usize = found.iter().map(|p| compare(p, Mode::Checked)).sum();
    assert!(n > 50, "only {n} runs");
}
