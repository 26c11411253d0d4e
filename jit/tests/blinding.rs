//! Constant blinding: no immediate of the program appears in the blinded image, while the
//! plain image holds them (so the check can fail), and the blinded program computes the
//! interpreter's results. The conformance suite and the generated-program campaigns run
//! blinded too (tests/conformance.rs, tests/generated.rs).

use std::sync::Arc;

use bpfbox_jit::{JitProgram, Mode, Options};
use bpfbox_vm::{asm, Vm};

/// Immediates of 4 bytes or more, each chosen to be unlikely in code by chance.
const IMMS: [u32; 6] = [
    0x1234_5678,
    0x0bad_f00d,
    0x7eed_beef,
    0x3c3c_a5a5,
    0x6d6d_1919,
    0x5150_4f4e,
];

const PROGRAM: &str = "
    mov %r0, 0x12345678
    add %r0, 0x0badf00d
    lddw %r2, 0x7eedbeef3c3ca5a5
    xor %r0, %r2
    stw [%r10-8], 0x6d6d1919
    ldxw %r3, [%r10-8]
    add %r0, %r3
    jeq %r0, 0x51504f4e, skip
    mul32 %r0, 0x0badf00d
    and %r0, 0x7eedbeef
skip:
    exit
";

fn contains(code: &[u8], imm: u32) -> bool {
    code.windows(4).any(|w| w == imm.to_le_bytes())
}

fn compile(vm: &Arc<Vm>, mode: Mode, blind: bool) -> JitProgram {
    let opts = Options {
        mode,
        blind_constants: blind,
    };
    // SAFETY: the program touches only its own stack frame and ends.
    unsafe { JitProgram::compile_with(Arc::clone(vm), opts) }.expect("compile")
}

#[test]
fn blinded_images_hold_no_immediate_of_the_program() {
    let slots = asm::assemble(PROGRAM).expect("assemble");
    let vm = Arc::new(Vm::new(&slots).expect("valid"));
    let want = vm.run_mem(&mut []).expect("run");
    for mode in [Mode::Checked, Mode::Trusted] {
        let plain = compile(&vm, mode, false);
        let found: Vec<u32> = IMMS
            .into_iter()
            .filter(|&i| contains(plain.image().code(), i))
            .collect();
        assert!(
            found.len() >= 5,
            "{mode:?}: plain image holds only {found:x?}"
        );
        for round in 0..20 {
            let blinded = compile(&vm, mode, true);
            assert!(blinded.image().blinded());
            for i in IMMS {
                assert!(
                    !contains(blinded.image().code(), i),
                    "{mode:?} round {round}: {i:#x} in the blinded image"
                );
            }
            let got = blinded.run_mem(&mut []).expect("run");
            assert_eq!(got.r0, want.r0, "{mode:?}");
            if mode == Mode::Checked {
                assert_eq!(got.insns, want.insns);
            }
        }
    }
}

/// Two blinded compiles of one program use different keys.
#[test]
fn keys_differ_between_compiles() {
    let slots = asm::assemble(PROGRAM).expect("assemble");
    let vm = Arc::new(Vm::new(&slots).expect("valid"));
    let a = compile(&vm, Mode::Trusted, true);
    let b = compile(&vm, Mode::Trusted, true);
    assert_ne!(a.image().code(), b.image().code());
}
