//! The fuzz targets' properties on a few thousand generated cases, so `cargo test` checks
//! them without nightly: decoding never panics, and the checked interpreter never panics and
//! always stops within its budget, whatever the program and memory.

use bpfbox_vm::isa::{decode_program, slots_from_bytes, Insn, RawInsn};
use bpfbox_vm::{FaultKind, Vm};
use proptest::prelude::*;

const BUDGET: u64 = 5_000;

/// Slots biased towards valid opcodes and small registers and offsets, so that many programs
/// get past validation and actually run.
fn slot() -> impl Strategy<Value = RawInsn> {
    let code = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0x07u8, 0x0f, 0x17, 0x1f, 0x27, 0x37, 0x3f, 0x47, 0x57, 0x67, 0x6f, 0x77, 0x87, 0x97,
            0x9f, 0xa7, 0xb7, 0xbf, 0xc7, 0xcf, 0x04, 0x0c, 0x34, 0x3c, 0x94, 0x9c, 0xb4, 0xbc,
            0xd4, 0xdc, 0xd7, 0x05, 0x06, 0x15, 0x1d, 0x25, 0x2d, 0x55, 0x5d, 0x65, 0xa5, 0xad,
            0xc5, 0x16, 0x56, 0x85, 0x8d, 0x95, 0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91,
            0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0xe5, 0x20, 0x28, 0x30,
            0x40, 0x48, 0x50,
        ]),
    ];
    (
        code,
        0u8..12,
        0u8..12,
        -20i16..20,
        prop_oneof![-70i32..70, any::<i32>()],
    )
        .prop_map(|(code, dst, src, off, imm)| RawInsn::new(code, dst, src, off, imm))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000), ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let cut = bytes.len() - bytes.len() % 8;
        let slots = slots_from_bytes(&bytes[..cut]).unwrap();
        for pc in 0..slots.len() {
            if let Ok(insn) = Insn::decode(&slots, pc) {
                let (enc, n) = insn.encode();
                prop_assert_eq!(&enc[..n], &slots[pc..pc + n]);
            }
        }
        let _ = decode_program(&slots);
    }

    #[test]
    fn interpreter_never_panics_and_always_stops(
        slots in prop::collection::vec(slot(), 1..40),
        mem in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(mut vm) = Vm::new(&slots) {
            vm.set_budget(BUDGET);
            let mut mem = mem;
            match vm.run_mem(&mut mem) {
                Ok(out) => prop_assert!(out.insns <= BUDGET),
                Err(f) => {
                    if let FaultKind::BudgetExhausted { budget } = f.kind {
                        prop_assert_eq!(budget, BUDGET);
                    }
                }
            }
        }
    }
}
