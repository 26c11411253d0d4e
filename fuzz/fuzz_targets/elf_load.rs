//! Arbitrary bytes as a BPF ELF object: parsing, relocation, linking and creating the maps
//! never panic; every failure is a typed error.
#![no_main]

use bpfbox_loader::Object;
use bpfbox_vm::maps::MapConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = Object::parse(data) else {
        return;
    };
    for p in obj.programs() {
        let _ = bpfbox_vm::isa::decode_program(&p.insns);
    }
    // Map specs come straight from the input: creation must refuse absurd sizes, not abort.
    let _ = obj.create_maps(&MapConfig::default());
});
