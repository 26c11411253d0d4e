//! The real xdp-tools / libxdp objects through the kernel and through bpfbox.

mod common;

use bpfbox_kernel_compare::{KernelObject, LoadOptions, Verdict};

/// Every program gets a kernel verdict; all but xdpdump_bpf.o's (CO-RE, attach target) load.
#[test]
fn every_program_gets_a_kernel_verdict() {
    if common::kernel().is_none() {
        return;
    }
    let Some(objs) = common::real_objects() else {
        return;
    };
    let mut loaded_objects = 0;
    for path in &objs {
        let (_, k) = KernelObject::load_file(path, &LoadOptions::default()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for p in &k.programs {
            eprintln!(
                "{name:28} {:24} {:10} errno={:?} insns={:?} states={:?} {}",
                p.name,
                p.verdict.label(),
                p.errno,
                p.stats.processed_insns,
                p.stats.total_states,
                p.reason.as_deref().unwrap_or("")
            );
            if name != "xdpdump_bpf.o" {
                assert_eq!(p.verdict, Verdict::Accepted, "{name} {}: {}", p.name, p.log);
                assert!(p.stats.processed_insns.is_some());
            }
        }
        if k.programs.iter().all(|p| p.verdict == Verdict::Accepted) {
            loaded_objects += 1;
        }
        if let Some(e) = &k.btf_error {
            eprintln!("{name}: BTF: {e}");
        }
    }
    eprintln!("{loaded_objects}/{} objects load", objs.len());
}
