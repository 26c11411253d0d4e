//! The aarch64 backend under emulation beside the interpreter on random programs
//! (`bpfbox_vm::fuzzing::wild`, the x86-64 JIT's generator too): r0, instruction count,
//! fault kind and pc, and memory after the run must all agree, with LSE and with LL/SC
//! atomics.

use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{available, compile, disasm, interp_mem_on_stack, run_mem_on_stack, skip};
use bpfbox_vm::fuzzing::wild::{mutate, program, Rng};
use bpfbox_vm::helpers::HelperRegistry;
use bpfbox_vm::interp::STACK_WORDS;
use bpfbox_vm::{RawInsn, Vm};

/// Runs `vm` with `budget` in the interpreter and the emulated checked aarch64 code on the
/// same random 64 bytes and the same (zeroed) stack buffer, so that both see the same
/// addresses; asserts they agree exactly (r0 and the fault with its address included) and
/// leave the same memory and stack. Returns the interpreter's result and whether it holds
/// an address near the stack (r0, or a fault's address): a result that compares only
/// because the stack is shared.
fn run_both(
    mut vm: Vm,
    budget: u64,
    slots: &[RawInsn],
    rng: &mut Rng,
    case: u64,
) -> (Result<bpfbox_vm::RunOutcome, bpfbox_vm::Fault>, bool) {
    vm.set_helpers(HelperRegistry::kernel());
    vm.set_budget(budget);
    let vm = Arc::new(vm);
    let lse = case.is_multiple_of(2);
    let p = compile(&vm, Mode::Checked, Options { lse });
    let init: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
    let mut mem = init.clone();
    let mut stack = Box::new([0u64; STACK_WORDS]);
    let want = interp_mem_on_stack(&vm, &mut mem, &mut stack);
    let after_interp = mem.clone();
    let stack_interp = stack.clone();
    mem.copy_from_slice(&init);
    stack.fill(0);
    let got = run_mem_on_stack(&p, &mut mem, &mut stack);
    let what = || {
        format!(
            "case {case} (lse {lse}): program {:?}\n{}",
            bpfbox_vm::isa::slots_to_bytes(slots),
            disasm(p.image().code())
        )
    };
    assert_eq!(got, want, "{}", what());
    assert_eq!(mem, after_interp, "memory: {}", what());
    assert!(stack[..] == stack_interp[..], "stack: {}", what());
    // r0 or a faulting address near the stack: what compares only with a shared stack.
    let start = stack.as_ptr() as u64;
    let near = |a: u64| (start.wrapping_sub(1 << 16)..start + (1 << 16)).contains(&a);
    let on_stack = match &want {
        Ok(o) => near(o.r0),
        Err(f) => matches!(f.kind, bpfbox_vm::FaultKind::OutOfBounds { addr, .. } if near(addr)),
    };
    (want, on_stack)
}

fn cases(default: u64) -> u64 {
    std::env::var("BPFBOX_JIT_CAMPAIGN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn emulated_aarch64_equals_the_interpreter_on_random_programs() {
    if let Err(e) = available() {
        return skip(&e);
    }
    let mut rng = Rng(0x5eed_1234_abcd_a064);
    let (mut ran, mut faults, mut budget_faults, mut addresses) = (0, 0, 0, 0);
    let n = cases(3000);
    for case in 0..n {
        let slots = program(&mut rng);
        let Ok(vm) = Vm::new(&slots) else { continue };
        let (want, on_stack) = run_both(vm, 1 + rng.below(400), &slots, &mut rng, case);
        ran += 1;
        addresses += on_stack as u64;
        if let Err(f) = &want {
            faults += 1;
            if matches!(f.kind, bpfbox_vm::FaultKind::BudgetExhausted { .. }) {
                budget_faults += 1;
            }
        }
    }
    eprintln!(
        "{ran} programs, {faults} faults, {budget_faults} budget faults, \
         {addresses} holding an address near the stack"
    );
    assert!(ran > n / 3, "only {ran} programs were valid");
    // The results that hold host addresses are among those compared exactly.
    assert!(
        addresses > ran / 100,
        "{addresses} results hold a stack address"
    );
    assert!(
        faults > ran / 30 && budget_faults > ran / 100,
        "{faults} faults, {budget_faults} budget"
    );
}

/// Random programs with random bits flipped: odd encodings the generator never writes.
#[test]
fn emulated_aarch64_equals_the_interpreter_on_mutated_programs() {
    if let Err(e) = available() {
        return skip(&e);
    }
    let mut rng = Rng(0x0bad_cafe_f00d_a064);
    let mut ran = 0;
    let n = cases(3000);
    for case in 0..n {
        let mut slots = program(&mut rng);
        mutate(&mut rng, &mut slots);
        let Ok(vm) = Vm::new(&slots) else { continue };
        let _ = run_both(vm, 1 + rng.below(2000), &slots, &mut rng, case);
        ran += 1;
    }
    eprintln!("{ran} mutated programs");
    assert!(ran > n / 6, "only {ran} mutated programs were valid");
}
