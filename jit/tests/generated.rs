//! The JIT beside the interpreter on the kernel-compare generator's programs (maps,
//! helpers, BPF-to-BPF calls, atomics, every ALU and jump form), run as XDP test runs:
//! the whole test-run result (retval, r0, instruction count, packet, context) and every
//! map's contents afterwards must agree, in both modes.

use std::sync::Arc;

use bpfbox_jit::{JitProgram, Mode, Options};
use bpfbox_kernel_compare::gen::{from_seed, run_engine, GenConfig, GenProgram, Observed};
use bpfbox_vm::testrun::{RunResult, Runner};
use bpfbox_vm::{Env, RawInsn, Vm};

type Outcome = Result<(RunResult, Observed), String>;

/// Runs `insns` as the generator's harness does; `mode` None is the interpreter; `blind`
/// turns on constant blinding.
fn run(p: &GenProgram, insns: &[RawInsn], mode: Option<Mode>, blind: bool) -> Outcome {
    let compile = |vm: &Arc<Vm>| {
        mode.map(|mode| {
            let opts = Options {
                mode,
                blind_constants: blind,
            };
            // SAFETY: in trusted mode: the generator emits programs the kernel's verifier
            // accepts (the kernel-compare campaigns load them): every access is in bounds
            // and every loop ends.
            let jit = unsafe { JitProgram::compile_with(Arc::clone(vm), opts) }.expect("compile");
            assert_eq!(jit.image().blinded(), blind);
            Box::new(jit) as Box<dyn Runner>
        })
    };
    let (mut r, maps) =
        run_engine(p, insns, &mut Env::default(), &compile).map_err(|e| e.to_string())?;
    r.duration_ns = 0;
    if mode == Some(Mode::Trusted) {
        r.insns = 0;
    }
    Ok((r, maps))
}

fn campaign(mode: Mode, blind: bool, seeds: std::ops::Range<u64>) {
    let mut compared = 0;
    for seed in seeds {
        let p = from_seed(seed, GenConfig::default()).expect("generate");
        let Ok(insns) = p.insns() else { continue };
        let want = run(&p, &insns, None, false);
        let mut got = run(&p, &insns, Some(mode), blind);
        if mode == Mode::Trusted {
            if let (Ok((w, _)), Ok((g, _))) = (&want, &mut got) {
                g.insns = w.insns;
            }
        }
        assert_eq!(got, want, "seed {seed} ({mode:?}, blinding {blind})");
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
fn checked_jit_equals_the_interpreter_on_generated_programs() {
    campaign(Mode::Checked, false, 0..count(1500));
}

#[test]
fn blinded_checked_jit_equals_the_interpreter_on_generated_programs() {
    campaign(Mode::Checked, true, 2_000_000..2_000_000 + count(1000));
}

#[test]
fn blinded_trusted_jit_equals_the_interpreter_on_generated_programs() {
    campaign(Mode::Trusted, true, 3_000_000..3_000_000 + count(500));
}

#[test]
fn trusted_jit_equals_the_interpreter_on_generated_programs() {
    let n = count(1000);
    campaign(Mode::Trusted, false, 1_000_000..1_000_000 + n);
}
