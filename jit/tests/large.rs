//! No size cap: a program of 1,000,000 instructions compiles and runs in both modes, with
//! the interpreter's result and instruction count.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::fuzzing::wild::long_program;
use bpfbox_vm::Vm;

#[test]
fn a_million_instructions_compile_and_run() {
    let n = 1_000_000;
    let slots = long_program(n);
    assert_eq!(slots.len(), n);
    let vm = Arc::new(Vm::new(&slots).expect("valid"));
    let want = vm.run_mem(&mut []).expect("interpreter");
    assert_eq!(want.r0, (n - 3) as u64);
    let checked = JitProgram::compile(Arc::clone(&vm)).expect("compile");
    assert_eq!(checked.run_mem(&mut []), Ok(want));
    // SAFETY: the program touches no memory and ends.
    let trusted = unsafe { JitProgram::compile_trusted(Arc::clone(&vm)) }.expect("compile");
    assert_eq!(trusted.run_mem(&mut []).expect("run").r0, want.r0);
}
