//! The emulated aarch64 backend beside the interpreter on the kernel-compare generator's
//! programs (maps, helpers, BPF-to-BPF calls, atomics, every ALU and jump form), run as XDP
//! test runs: the whole test-run result (retval, r0, instruction count, packet, context)
//! and every map's contents afterwards must agree, in both modes.

use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{available, compile, skip, EmuRunner};
use bpfbox_kernel_compare::gen::{
    from_seed, map_specs, GenConfig, GenProgram, MAP_ARRAY, MAP_ENTRIES, MAP_HASH, MAP_IN, MAP_OUT,
    PACKET_LEN,
};
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::maps::{Map, MapConfig, MapRef};
use bpfbox_vm::testrun::{self, RunResult, RunSetup, TestRun};
use bpfbox_vm::{Env, ProgType, RawInsn};

type Outcome = Result<(RunResult, Vec<Vec<u8>>), String>;

/// Runs `insns` as the generator's harness does; `mode` None is the interpreter.
fn run(p: &GenProgram, insns: &[RawInsn], mode: Option<Mode>, lse: bool) -> Outcome {
    let cfg = MapConfig::default();
    let maps: Vec<MapRef> = map_specs()
        .iter()
        .map(|s| Map::create(s, &cfg).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let set =
        |m: &MapRef, k: u32, v: &[u8]| m.update(&k.to_le_bytes(), v, 0).map_err(|e| e.to_string());
    set(&maps[MAP_IN as usize], 0, &p.input_value())?;
    for (i, v) in p.array_values().iter().enumerate() {
        set(&maps[MAP_ARRAY as usize], i as u32, v)?;
    }
    for (k, v) in p.hash_entries() {
        set(&maps[MAP_HASH as usize], k, &v)?;
    }
    let table = MapTable::new(maps.clone());
    let input = TestRun {
        data_in: vec![0; PACKET_LEN],
        repeat: 1,
        kernel_compat: true,
        ..TestRun::default()
    };
    let vm = testrun::prepare(insns, ProgType::Xdp, &table).map_err(|e| e.to_string())?;
    let ctx = testrun::build_context(ProgType::Xdp, &input).map_err(|e| e.to_string())?;
    let mut env = Env {
        maps: table.clone(),
        ..Env::default()
    };
    let vm = Arc::new(vm);
    // The generator emits programs the kernel's verifier accepts, so trusted code is fit.
    let jit = mode.map(|m| EmuRunner(compile(&vm, m, Options { lse })));
    let setup = RunSetup {
        repeat: 1,
        runner: jit.as_ref().map(|j| j as &dyn testrun::Runner),
        ..RunSetup::default()
    };
    let mut r = testrun::run_context(&vm, ProgType::Xdp, ctx, &mut env, &setup)
        .map_err(|e| e.to_string())?;
    r.duration_ns = 0;
    if mode == Some(Mode::Trusted) {
        r.insns = 0;
    }
    let mut contents = Vec::new();
    for m in [MAP_OUT, MAP_ARRAY] {
        for k in 0..MAP_ENTRIES.min(maps[m as usize].max_entries()) {
            contents.push(
                maps[m as usize]
                    .lookup(&k.to_le_bytes())
                    .unwrap_or_default(),
            );
        }
    }
    let mut hash: Vec<(Vec<u8>, Vec<u8>)> = maps[MAP_HASH as usize].iter().into_iter().collect();
    hash.sort();
    for (k, v) in hash {
        contents.push(k);
        contents.push(v);
    }
    Ok((r, contents))
}

fn campaign(mode: Mode, seeds: std::ops::Range<u64>) {
    if let Err(e) = available() {
        return skip(&e);
    }
    let mut compared = 0;
    for seed in seeds {
        let p = from_seed(seed, GenConfig::default()).expect("generate");
        let Ok(insns) = p.insns() else { continue };
        let lse = seed.is_multiple_of(2);
        let want = run(&p, &insns, None, lse);
        let mut got = run(&p, &insns, Some(mode), lse);
        if mode == Mode::Trusted {
            if let (Ok((w, _)), Ok((g, _))) = (&want, &mut got) {
                g.insns = w.insns;
            }
        }
        assert_eq!(got, want, "seed {seed} ({mode:?})");
        compared += 1;
    }
    assert!(compared > 0);
}

/// Programs per campaign: a few thousand by default, `BPFBOX_JIT_CAMPAIGN=N` for more.
fn count(default: u64) -> u64 {
    std::env::var("BPFBOX_JIT_CAMPAIGN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn checked_aarch64_equals_the_interpreter_on_generated_programs() {
    campaign(Mode::Checked, 0..count(1000));
}

#[test]
fn trusted_aarch64_equals_the_interpreter_on_generated_programs() {
    let n = count(1000);
    campaign(Mode::Trusted, 1_000_000..1_000_000 + n);
}
