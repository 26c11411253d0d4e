//! Arbitrary bytes as a program and its memory: the aarch64 backend's checked code, run
//! under the Unicorn emulator, never crashes and agrees with the interpreter (r0 and
//! instruction count, or the fault with its kind, pc and address, and the memory and stack
//! afterwards), with LSE or LL/SC atomics as the input's first bit says. Both engines run on
//! the same stack buffer, so results that hold stack addresses compare exactly. Needs
//! libunicorn (libunicorn-dev).
#![no_main]

use std::sync::Arc;

use bpfbox_jit::aarch64::{A64Program, Options};
use bpfbox_jit_a64emu::{interp_mem_on_stack, run_mem_on_stack};
use bpfbox_vm::helpers::HelperRegistry;
use bpfbox_vm::interp::STACK_WORDS;
use bpfbox_vm::isa::slots_from_bytes;
use bpfbox_vm::Vm;
use libfuzzer_sys::fuzz_target;

const BUDGET: u64 = 10_000;

fuzz_target!(|data: &[u8]| {
    // First byte: LSE (low bit) and how much of the input is memory; the rest is the
    // program.
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let lse = head & 1 == 1;
    let split = ((head >> 1) as usize).min(rest.len());
    let (mem, code) = rest.split_at(split);
    let code = &code[..code.len() - code.len() % 8];
    let Ok(slots) = slots_from_bytes(code) else {
        return;
    };
    let Ok(mut vm) = Vm::new(&slots) else {
        return;
    };
    vm.set_budget(BUDGET);
    vm.set_helpers(HelperRegistry::kernel());
    let vm = Arc::new(vm);
    let prog = A64Program::compile(Arc::clone(&vm), Options { lse })
        .expect("every valid program compiles");
    let mut buf = mem.to_vec();
    let mut stack = Box::new([0u64; STACK_WORDS]);
    let want = interp_mem_on_stack(&vm, &mut buf, &mut stack);
    let after = buf.clone();
    let stack_after = stack.clone();
    buf.copy_from_slice(mem);
    stack.fill(0);
    let got = run_mem_on_stack(&prog, &mut buf, &mut stack);
    assert_eq!(got, want);
    assert_eq!(buf, after);
    assert!(stack[..] == stack_after[..], "stack differs");
});
