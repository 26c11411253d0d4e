//! Jumps are sized in one pass: rel8 exactly where the displacement fits, rel32 elsewhere,
//! including forward jumps whose first guess misses (dense code before, wide code after)
//! and backward jumps across the limit. Each program runs in both modes beside the
//! interpreter, and the image sizes show where each jump switched form.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::isa::{AluOp, Insn, JmpCond, LdImm64Kind, Src, Width};
use bpfbox_vm::{RawInsn, Vm};

fn alu(op: AluOp, dst: u8, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    }
}

fn encode(insns: &[Insn]) -> Vec<RawInsn> {
    let mut slots = Vec::new();
    for i in insns {
        i.encode_into(&mut slots);
    }
    slots
}

/// `dense` short adds, then a jump over `wide` long adds when r1 != 0.
fn forward(dense: usize, wide: usize) -> Vec<RawInsn> {
    forward_over(dense, wide, alu(AluOp::Add, 2, Src::Imm(0x10000)))
}

/// `dense` short adds, then a jump over `wide` copies of `insn` when r1 != 0.
fn forward_over(dense: usize, wide: usize, insn: Insn) -> Vec<RawInsn> {
    let mut p = vec![alu(AluOp::Mov, 2, Src::Imm(0))];
    p.extend((0..dense).map(|_| alu(AluOp::Add, 2, Src::Imm(1))));
    p.push(Insn::Jmp {
        width: Width::W64,
        cond: JmpCond::Ne,
        dst: 1,
        src: Src::Imm(0),
        off: (wide * insn.slots()) as i16,
    });
    p.extend((0..wide).map(|_| insn));
    p.push(alu(AluOp::Mov, 0, Src::Reg(2)));
    p.push(Insn::EXIT);
    encode(&p)
}

/// A loop of three rounds over `wide` long adds, closed by a backward jump.
fn backward(wide: usize) -> Vec<RawInsn> {
    let mut p = vec![
        alu(AluOp::Mov, 2, Src::Imm(0)),
        alu(AluOp::Mov, 3, Src::Imm(3)),
    ];
    p.extend((0..wide).map(|_| alu(AluOp::Add, 2, Src::Imm(0x10000))));
    p.push(alu(AluOp::Sub, 3, Src::Imm(1)));
    p.push(Insn::Jmp {
        width: Width::W64,
        cond: JmpCond::Ne,
        dst: 3,
        src: Src::Imm(0),
        off: -(wide as i16) - 2,
    });
    p.push(alu(AluOp::Mov, 0, Src::Reg(2)));
    p.push(Insn::EXIT);
    encode(&p)
}

/// Runs `slots` in both modes with r1 = 0 and r1 != 0 beside the interpreter; returns the
/// trusted image's size.
fn check(slots: &[RawInsn]) -> usize {
    let vm = Arc::new(Vm::new(slots).expect("valid"));
    let checked = JitProgram::compile(Arc::clone(&vm)).expect("compile checked");
    // SAFETY: the program touches no memory and ends.
    let trusted = unsafe { JitProgram::compile_trusted(Arc::clone(&vm)) }.expect("compile");
    for mem in [&mut [][..], &mut [0u8; 8][..]] {
        let want = vm.run_mem(&mut mem.to_vec()).expect("interpreter");
        assert_eq!(checked.run_mem(&mut mem.to_vec()), Ok(want));
        assert_eq!(trusted.run_mem(&mut mem.to_vec()).expect("run").r0, want.r0);
    }
    trusted.image().code().len()
}

/// Given the image sizes for 1, 2, ... wide instructions under one jump, asserts that each
/// instruction adds the same bytes except at exactly one count, where the jump grows from
/// rel8 to rel32 (4 more bytes), and that this is the first count whose span passes the
/// reach of rel8 (`fixed` bytes besides the wide instructions are inside the span).
fn assert_switches_at_limit(sizes: &[usize], fixed: usize) {
    let deltas: Vec<usize> = sizes.windows(2).map(|w| w[1] - w[0]).collect();
    let step = *deltas.iter().min().expect("sizes");
    let grown: Vec<usize> = (0..deltas.len()).filter(|&i| deltas[i] != step).collect();
    assert_eq!(grown.len(), 1, "one switch to rel32, deltas {deltas:?}");
    assert_eq!(deltas[grown[0]], step + 4, "rel8 to rel32 adds 4 bytes");
    // sizes[i] has i + 1 wide instructions; the switch is between i + 1 and i + 2.
    let last_short = grown[0] + 1;
    assert!(last_short * step + fixed <= 128, "rel8 while it fits");
    assert!(
        (last_short + 1) * step + fixed > 128,
        "rel32 only past the limit"
    );
}

#[test]
fn forward_jumps_whose_guess_misses_are_redone_and_stay_exact() {
    // The guess sums each instruction's usual code size. For these long adds it is exact,
    // with or without dense code before.
    // The span is the wide instructions only (the target is the `mov` after them).
    for dense in [40, 0] {
        let sizes: Vec<usize> = (1..=40).map(|wide| check(&forward(dense, wide))).collect();
        assert_switches_at_limit(&sizes, 1);
    }
    // A division by a register takes more code than its estimate: the guess says rel8 past
    // the limit, misses, and the pass is redone with rel32.
    let div = alu(AluOp::Div, 2, Src::Reg(3));
    let sizes: Vec<usize> = (1..=12)
        .map(|wide| check(&forward_over(0, wide, div)))
        .collect();
    assert_switches_at_limit(&sizes, 1);
    // A small `ld_imm64` takes less: the guess says rel32 while rel8 still fits, and the
    // pass is redone with the jump shrunk.
    let small = Insn::LdImm64 {
        dst: 2,
        kind: LdImm64Kind::Imm,
        imm: 5,
    };
    let sizes: Vec<usize> = (1..=40)
        .map(|wide| check(&forward_over(0, wide, small)))
        .collect();
    assert_switches_at_limit(&sizes, 1);
}

#[test]
fn backward_jumps_switch_to_rel32_exactly_past_the_limit() {
    let sizes: Vec<usize> = (1..=40).map(|wide| check(&backward(wide))).collect();
    // The span also holds the `sub` (4 bytes), the `cmp` (4 bytes) and the jump (2).
    assert_switches_at_limit(&sizes, 10);
}
