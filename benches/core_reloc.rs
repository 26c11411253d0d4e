//! CO-RE relocation speed: libxdp's `xdpdump_bpf.o` relocated against the host's
//! `/sys/kernel/btf/vmlinux`, cold (parse vmlinux, build its name index, relocate; what
//! `bpfbox reloc` and `bpftool gen min_core_btf` each do per run) and warm (the target already
//! parsed and indexed, as when one target serves many objects).
//!
//! Run: `cargo bench --bench core_reloc -- --warm-up-time 1 --measurement-time 3`.
//! The comparison with bpftool is in docs/PERFORMANCE.md ("CO-RE relocation").

use std::hint::black_box;
use std::sync::Arc;

use bpfbox_btf::Btf;
use bpfbox_loader::{LoadOptions, Object};
use criterion::{criterion_group, criterion_main, Criterion};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const XDPDUMP: &str = "/usr/lib/x86_64-linux-gnu/bpf/xdpdump_bpf.o";

fn relocate(obj: &[u8], target: Arc<Btf>) -> usize {
    let opts = LoadOptions {
        target_btf: Some(target),
        ..LoadOptions::default()
    };
    let o = Object::parse_with(obj, &opts).expect("object parses");
    o.core_relocations().len()
}

fn core_reloc(c: &mut Criterion) {
    let (Ok(vmlinux), Ok(obj)) = (std::fs::read(VMLINUX), std::fs::read(XDPDUMP)) else {
        eprintln!("skipped: needs {VMLINUX} and {XDPDUMP}");
        return;
    };
    let mut g = c.benchmark_group("core_reloc");
    g.sample_size(20);
    g.bench_function("xdpdump_vs_vmlinux_cold", |b| {
        b.iter(|| {
            let t = Arc::new(Btf::parse(black_box(&vmlinux)).expect("vmlinux parses"));
            let n = relocate(&obj, Arc::clone(&t));
            // Not timing the teardown of 126k types: the CLI skips it too.
            std::mem::forget(t);
            n
        })
    });
    let target = Arc::new(Btf::parse(&vmlinux).expect("vmlinux parses"));
    let _ = target.ids_by_name("int").count();
    g.bench_function("xdpdump_vs_vmlinux_warm", |b| {
        b.iter(|| relocate(black_box(&obj), Arc::clone(&target)))
    });
    g.finish();
}

criterion_group!(benches, core_reloc);
criterion_main!(benches);
