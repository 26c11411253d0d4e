//! Branch ranges: a program of 1,000,000 instructions puts the meter's out-of-line stub and
//! a forward jump's target beyond `b.cond`'s ±1 MiB, so the backend falls back to inverted
//! short branches around `b`; under emulation it gives the interpreter's result, also when
//! the budget runs out and the far stub is taken.

use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{available, compile, run_mem, skip};
use bpfbox_vm::fuzzing::wild::long_program;
use bpfbox_vm::Vm;

#[test]
fn a_million_instructions_need_long_branches_and_run() {
    if let Err(e) = available() {
        return skip(&e);
    }
    let n = 1_000_000;
    let slots = long_program(n);
    let vm = Arc::new(Vm::new(&slots).expect("valid"));
    let want = vm.run_mem(&mut []).expect("interpreter");
    assert_eq!(want.r0, (n - 3) as u64);
    let checked = compile(&vm, Mode::Checked, Options { lse: true });
    assert!(checked.image().code().len() > 2 << 20);
    assert_eq!(run_mem(&checked, &mut []), Ok(want));
    let trusted = compile(&vm, Mode::Trusted, Options { lse: false });
    assert_eq!(run_mem(&trusted, &mut []).expect("run").r0, want.r0);

    // A budget that runs out in the big block: the far budget stub replays it.
    let mut small = Vm::new(&slots).expect("valid");
    small.set_budget(500_000);
    let small = Arc::new(small);
    let want = small.run_mem(&mut []);
    assert!(want.is_err());
    let checked = compile(&small, Mode::Checked, Options { lse: true });
    assert_eq!(run_mem(&checked, &mut []), want);
}
