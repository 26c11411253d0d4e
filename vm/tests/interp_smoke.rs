use bpfbox_vm::isa::{AluOp, CallTarget, Insn, JmpCond, Size, Src, Width};
use bpfbox_vm::{FaultKind, Vm};

fn prog(insns: &[Insn]) -> Vec<bpfbox_vm::RawInsn> {
    let mut v = Vec::new();
    for i in insns {
        i.encode_into(&mut v);
    }
    v
}

#[test]
fn sum_loop_and_call() {
    // r0 = sum(1..=10) via loop; then call local fn doubling r1.
    let p = prog(&[
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 0,
            src: Src::Imm(0),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 1,
            src: Src::Imm(10),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: 0,
            src: Src::Reg(1),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Sub,
            dst: 1,
            src: Src::Imm(1),
        },
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Ne,
            dst: 1,
            src: Src::Imm(0),
            off: -3,
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 1,
            src: Src::Reg(0),
        },
        Insn::Call(CallTarget::Local(1)),
        Insn::EXIT,
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 0,
            src: Src::Reg(1),
        },
        Insn::Stx {
            size: Size::DW,
            dst: 10,
            src: 0,
            off: -8,
        },
        Insn::Ldx {
            size: Size::DW,
            dst: 2,
            src: 10,
            off: -8,
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: 0,
            src: Src::Reg(2),
        },
        Insn::EXIT,
    ]);
    let vm = Vm::new(&p).unwrap();
    let out = vm.run_mem(&mut []).unwrap();
    assert_eq!(out.r0, 110);
}

#[test]
fn out_of_bounds_faults_and_budget_stops() {
    let p = prog(&[
        Insn::Ldx {
            size: Size::DW,
            dst: 0,
            src: 10,
            off: 0,
        },
        Insn::EXIT,
    ]);
    let err = Vm::new(&p).unwrap().run_mem(&mut []).unwrap_err();
    assert_eq!(err.pc, 0);
    assert!(matches!(err.kind, FaultKind::OutOfBounds { .. }));
    let p = prog(&[Insn::Ja {
        off: -1,
        long: false,
    }]);
    let mut vm = Vm::new(&p).unwrap();
    vm.set_budget(1000);
    let err = vm.run_mem(&mut []).unwrap_err();
    assert_eq!(err.kind, FaultKind::BudgetExhausted { budget: 1000 });
}
