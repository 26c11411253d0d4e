//! Arbitrary bytes as a program and its memory: the checked JIT never crashes and agrees
//! with the interpreter (r0 and instruction count, or the fault with its kind and pc, and
//! the memory afterwards).
#![no_main]

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::helpers::HelperRegistry;
use bpfbox_vm::isa::slots_from_bytes;
use bpfbox_vm::Vm;
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
    vm.set_helpers(HelperRegistry::kernel());
    let vm = Arc::new(vm);
    let jit = JitProgram::compile(Arc::clone(&vm)).expect("every valid program compiles");
    // One buffer for both, so pointers the program stores or returns are the same.
    let mut buf = mem.to_vec();
    let want = vm.run_mem(&mut buf);
    let after = buf.clone();
    buf.copy_from_slice(mem);
    let got = jit.run_mem(&mut buf);
    assert_eq!(without_stack_address(got), without_stack_address(want));
    assert_eq!(buf, after);
});

/// `r` with the address of an out-of-bounds fault cleared: an access relative to r10 faults
/// at an address inside each engine's own stack allocation, which differ.
fn without_stack_address(
    r: Result<bpfbox_vm::RunOutcome, bpfbox_vm::Fault>,
) -> Result<bpfbox_vm::RunOutcome, bpfbox_vm::Fault> {
    r.map_err(|mut f| {
        if let bpfbox_vm::FaultKind::OutOfBounds { addr, .. } = &mut f.kind {
            *addr = 0;
        }
        f
    })
}
