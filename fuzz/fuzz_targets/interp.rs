//! Arbitrary bytes as a program and its memory: the checked interpreter never panics and
//! always stops within its instruction budget.
#![no_main]

use bpfbox_vm::isa::slots_from_bytes;
use bpfbox_vm::{FaultKind, Vm};
use libfuzzer_sys::fuzz_target;

const BUDGET: u64 = 10_000;

fuzz_target!(|data: &[u8]| {
    // First byte: how much of the input is memory; the rest is the program.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = (split as usize).min(rest.len());
    let (mem, code) = rest.split_at(split);
    let code = &code[..code.len() - code.len() % 8];
    let Ok(slots) = slots_from_bytes(code) else {
        return;
    };
    let Ok(mut vm) = Vm::new(&slots) else {
        return;
    };
    vm.set_budget(BUDGET);
    let mut mem = mem.to_vec();
    match vm.run_mem(&mut mem) {
        Ok(out) => assert!(out.insns <= BUDGET),
        Err(f) => {
            if let FaultKind::BudgetExhausted { budget } = f.kind {
                assert_eq!(budget, BUDGET);
            }
        }
    }
});
