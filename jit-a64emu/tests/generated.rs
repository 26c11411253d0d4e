//! The emulated aarch64 backend beside the interpreter on the kernel-compare generator's
//! programs (maps, helpers, BPF-to-BPF calls, atomics, every ALU and jump form), run as XDP
//! test runs: the whole test-run result (retval, r0, instruction count, packet, context)
//! and every map's contents afterwards must agree, in both modes.

use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{available, compile, skip, EmuRunner};
use bpfbox_kernel_compare::gen::{from_seed, run_engine, GenConfig, GenProgram, Observed};
use bpfbox_vm::testrun::{RunResult, Runner};
use bpfbox_vm::{Env, RawInsn, Vm};

type Outcome = Result<(RunResult, Observed), String>;

/// Runs `insns` as the generator's harness does; `mode` None is the interpreter.
fn run(p: &GenProgram, insns: &[RawInsn], mode: Option<Mode>, lse: bool) -> Outcome {
    // The generator emits programs the kernel's verifier accepts, so trusted code is fit.
    let build = |vm: &Arc<Vm>| {
        mode.map(|m| Box::new(EmuRunner(compile(vm, m, Options { lse }))) as Box<dyn Runner>)
    };
    let (mut r, maps) =
        run_engine(p, insns, &mut Env::default(), &build).map_err(|e| e.to_string())?;
    r.duration_ns = 0;
    if mode == Some(Mode::Trusted) {
        r.insns = 0;
    }
    Ok((r, maps))
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
