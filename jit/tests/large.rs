//! No size cap: a program of 1,000,000 instructions compiles and runs in both modes, with
//! the interpreter's result and instruction count.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::isa::{AluOp, Insn, JmpCond, Src, Width};
use bpfbox_vm::Vm;

#[test]
fn a_million_instructions_compile_and_run() {
    let n = 1_000_000;
    let mut insns = vec![Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: 0,
        src: Src::Imm(0),
    }];
    // A forward jump over almost everything, so rel32 jumps and far labels are exercised.
    insns.push(Insn::Jmp {
        width: Width::W64,
        cond: JmpCond::Eq,
        dst: 1,
        src: Src::Imm(12345),
        off: i16::MAX,
    });
    while insns.len() < n - 1 {
        insns.push(Insn::Alu {
            width: if insns.len() % 2 == 0 {
                Width::W64
            } else {
                Width::W32
            },
            op: AluOp::Add,
            dst: 0,
            src: Src::Imm(1),
        });
    }
    insns.push(Insn::EXIT);
    let mut slots = Vec::new();
    for i in &insns {
        i.encode_into(&mut slots);
    }
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
