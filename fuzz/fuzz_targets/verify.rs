//! Arbitrary programs, program types, flags and privilege through the verifier: it never
//! panics, always answers, and stays within the kernel's instruction limit.
#![no_main]

use bpfbox_verifier::{verify, Options};
use bpfbox_vm::isa::slots_from_bytes;
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Ok(insns) = slots_from_bytes(&body[..body.len() - body.len() % 8]) else {
        return;
    };
    let prog = Program {
        name: "fuzz".into(),
        section: String::new(),
        prog_type: ProgType::from_id(u32::from(head[0] % 40)).unwrap_or(ProgType::SocketFilter),
        expected_attach_type: None,
        attach_target: None,
        prog_flags: u32::from(head[1] & 3),
        insns,
        license: if head[1] & 4 != 0 { "GPL" } else { "MIT" }.into(),
        kern_version: 0,
        func_info: Vec::new(),
        line_info: Vec::new(),
    };
    let opts = Options {
        maps: vec![
            MapSpec::new("a", MapType::Array, 4, 16, 1),
            MapSpec::new("h", MapType::Hash, 8, 8, 4),
            MapSpec::new("r", MapType::Ringbuf, 0, 0, 4096),
        ],
        privileged: head[2] & 1 == 0,
        bpf_capable: head[3] & 4 == 0,
        log_level: u32::from(head[2] >> 1) % 3,
        flags: u32::from(head[3] & 3),
        ..Options::default()
    };
    let v = verify(&prog, &opts);
    assert!(v.accepted || v.error.is_some());
    assert!(v.stats.processed_insns <= bpfbox_verifier::explore::INSN_LIMIT + 1);
});
