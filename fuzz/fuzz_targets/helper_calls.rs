//! Random helper calls and context stores patched into a carrier program of every program
//! type (`bpfbox_vm::fuzzing`), run in the checked interpreter: every run must end in a
//! result or a typed error with its output bounded. Run it under a memory limit
//! (`-rss_limit_mb=2048 -malloc_limit_mb=2048`) so an allocation sized by a program is
//! caught.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = bpfbox_vm::fuzzing::run_bytes(data) {
        panic!("{broken}");
    }
});
