//! Arbitrary bytes as bytecode: decoding and program validation never panic, and whatever
//! decodes re-encodes to the same slots.
#![no_main]

use bpfbox_vm::isa::{decode_program, slots_from_bytes, Insn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(slots) = slots_from_bytes(&data[..data.len() - data.len() % 8]) else {
        return;
    };
    for pc in 0..slots.len() {
        if let Ok(insn) = Insn::decode(&slots, pc) {
            let (enc, n) = insn.encode();
            assert_eq!(&enc[..n], &slots[pc..pc + n]);
        }
    }
    let _ = decode_program(&slots);
});
