//! Generated programs (the same generator `cargo test` and `bpfbox fuzz-kernel` use, seeded
//! by the fuzzer's bytes) must run in the interpreter without faulting, and, where the kernel
//! can be used (root or CAP_BPF), leave exactly the state the kernel leaves, or a state a known
//! kernel behaviour accounts for exactly.
#![no_main]

use std::sync::OnceLock;

use bpfbox_kernel_compare::gen::{
    from_bytes, judge_explained, reproducer, run_interpreter, GenConfig, KernelRunner, Verdict,
};
use bpfbox_kernel_compare::probe::Probe;
use libfuzzer_sys::fuzz_target;

/// The kernel harness, if this machine lets us load programs.
fn kernel() -> Option<&'static KernelRunner> {
    static K: OnceLock<Option<KernelRunner>> = OnceLock::new();
    K.get_or_init(|| {
        let probe = Probe::run();
        if let Some(reason) = probe.reason() {
            eprintln!("kernel_gen: interpreter only: {reason}");
            return None;
        }
        KernelRunner::new().ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let p = from_bytes(data, GenConfig::default()).expect("generation never fails");
    let insns = p.insns().expect("emission never fails");
    let interp = run_interpreter(&p, &insns);
    let Some(k) = kernel() else {
        if let Err(e) = interp {
            panic!("interpreter fault on a generated program: {e}");
        }
        return;
    };
    let run = k.run(&p, &insns).expect("kernel syscalls");
    match judge_explained(k, &p, &insns, run, interp).expect("kernel syscalls") {
        // A known kernel behaviour reproduced exactly (docs/KERNEL-COMPARE.md).
        Verdict::Match | Verdict::Explained { .. } => {}
        Verdict::Rejected { log, .. } => panic!("the verifier refused a generated program:\n{log}"),
        Verdict::Mismatch {
            kernel,
            interpreter,
        } => panic!("{}", reproducer("fuzz", &p, &insns, &kernel, &interpreter)),
    }
});
