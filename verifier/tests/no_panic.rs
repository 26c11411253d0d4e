//! Arbitrary programs, flags and options: the verifier never panics and always answers
//! (the walk is bounded by the instruction limit).

use bpfbox_verifier::{verify, Options};
use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};
use proptest::prelude::*;

/// Opcodes of every class, valid and not, weighted towards valid ones.
const CODES: [u8; 24] = [
    0x07, 0x0f, 0x04, 0xb7, 0xbf, 0xbc, 0x87, 0xd4, 0x61, 0x69, 0x71, 0x79, 0x62, 0x7a, 0x63, 0x7b,
    0xdb, 0x15, 0x5d, 0x2e, 0x05, 0x85, 0x95, 0x18,
];

fn slot() -> impl Strategy<Value = RawInsn> {
    (
        prop_oneof![3 => proptest::sample::select(&CODES[..]), 1 => any::<u8>()],
        0u8..12,
        0u8..7,
        -12i16..12,
        prop_oneof![-16i32..64, any::<i32>()],
    )
        .prop_map(|(c, d, s, o, i)| RawInsn::new(c, d, s, o, i))
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    // 2,000 cases by default; `PROPTEST_CASES` raises it.
    #![proptest_config(ProptestConfig::with_cases(cases()))]
    #[test]
    fn never_panics(
        insns in proptest::collection::vec(slot(), 0..24),
        t in 0u32..33,
        privileged in any::<bool>(),
        flags in 0u32..4,
        level in 0u32..3,
    ) {
        let prog = Program {
            name: "p".into(),
            section: String::new(),
            prog_type: ProgType::from_id(t).unwrap_or(ProgType::SocketFilter),
            expected_attach_type: None,
            attach_target: None,
            prog_flags: flags,
            insns,
            license: "GPL".into(),
            kern_version: 0,
            func_info: Vec::new(),
            line_info: Vec::new(),
        };
        let opts = Options {
            maps: vec![
                MapSpec::new("a", MapType::Array, 4, 16, 1),
                MapSpec::new("h", MapType::Hash, 8, 8, 4),
            ],
            privileged,
            log_level: level,
            flags,
            ..Options::default()
        };
        let v = verify(&prog, &opts);
        prop_assert!(v.accepted || v.error.is_some());
        prop_assert!(v.stats.processed_insns <= bpfbox_verifier::explore::INSN_LIMIT + 1);
    }
}
