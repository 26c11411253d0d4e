//! The checked JIT beside the interpreter on random programs: r0, instruction count, fault
//! kind and pc, and memory after the run must all agree. The programs mix every instruction
//! class with wild offsets and small budgets, so loops, out-of-bounds accesses, helper
//! faults, call depth and budget exhaustion in the middle of a block all occur.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::fuzzing::wild::{mutate, program, Rng};
use bpfbox_vm::helpers::HelperRegistry;
use bpfbox_vm::{RawInsn, Vm};

/// Runs `vm` with `budget` in the interpreter and in the checked JIT on the same random
/// 64 bytes, asserts they return the same result and leave the same memory, and returns the
/// interpreter's result.
fn run_both(
    mut vm: Vm,
    budget: u64,
    slots: &[RawInsn],
    rng: &mut Rng,
    case: u64,
) -> Result<bpfbox_vm::RunOutcome, bpfbox_vm::Fault> {
    vm.set_helpers(HelperRegistry::kernel());
    vm.set_budget(budget);
    let vm = Arc::new(vm);
    let jit = JitProgram::compile(Arc::clone(&vm)).expect("compile");
    let init: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
    let mut mem = init.clone();
    let want = vm.run_mem(&mut mem);
    let after_interp = mem.clone();
    mem.copy_from_slice(&init);
    let got = jit.run_mem(&mut mem);
    // An access relative to r10 faults at an address inside each engine's own stack
    // allocation; the allocator usually, not always, gives both the same one.
    let unaddressed = |r: &Result<bpfbox_vm::RunOutcome, bpfbox_vm::Fault>| {
        r.clone().map_err(|mut f| {
            if let bpfbox_vm::FaultKind::OutOfBounds { addr, .. } = &mut f.kind {
                *addr = 0;
            }
            f
        })
    };
    assert_eq!(
        unaddressed(&got),
        unaddressed(&want),
        "case {case}: program {:?}",
        bpfbox_vm::isa::slots_to_bytes(slots)
    );
    assert_eq!(mem, after_interp, "case {case}: memory");
    want
}

#[test]
fn checked_jit_equals_the_interpreter_on_random_programs() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut ran = 0;
    let mut faults = 0;
    let mut budget_faults = 0;
    // `BPFBOX_JIT_CAMPAIGN=N` runs N programs instead of a few thousand.
    let cases = std::env::var("BPFBOX_JIT_CAMPAIGN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000u64);
    for case in 0..cases {
        let slots = program(&mut rng);
        let vm = match Vm::new(&slots) {
            Ok(vm) => vm,
            Err(e) => {
                if std::env::var_os("JIT_DIFF_DEBUG").is_some() {
                    eprintln!("invalid: {e}");
                }
                continue;
            }
        };
        let want = run_both(vm, 1 + rng.below(400), &slots, &mut rng, case);
        ran += 1;
        if let Err(f) = &want {
            faults += 1;
            if matches!(f.kind, bpfbox_vm::FaultKind::BudgetExhausted { .. }) {
                budget_faults += 1;
            }
        }
    }
    eprintln!("{ran} programs, {faults} faults, {budget_faults} budget faults");
    assert!(ran > 2000, "only {ran} programs were valid");
    assert!(
        faults > 200 && budget_faults > 50,
        "{faults} faults, {budget_faults} budget"
    );
}

/// What the `jit_diff` fuzz target checks, on random programs with random bits flipped:
/// odd encodings the structured generator never writes.
#[test]
fn checked_jit_equals_the_interpreter_on_mutated_programs() {
    let mut rng = Rng(0x0bad_cafe_f00d_0002);
    let mut ran = 0;
    for case in 0..12000 {
        let mut slots = program(&mut rng);
        mutate(&mut rng, &mut slots);
        let Ok(vm) = Vm::new(&slots) else {
            continue;
        };
        let _ = run_both(vm, 1 + rng.below(2000), &slots, &mut rng, case);
        ran += 1;
    }
    eprintln!("{ran} mutated programs");
    assert!(ran > 1000, "only {ran} mutated programs were valid");
}
