//! Interpreter speed: bpfbox (checked and unchecked) against rbpf's interpreter on the
//! programs in `benches/programs/`. `tests/bench_programs.rs` checks that every engine
//! computes the right result on these inputs, so the numbers time correct runs.
//!
//! Each group's throughput is the number of eBPF instructions a run executes, so criterion's
//! `thrpt` (elements/s) converts directly to ns per instruction.
//!
//! Run: `cargo bench --bench interpreter -- --warm-up-time 1 --measurement-time 3`

#[path = "programs/inputs.rs"]
mod inputs;

use std::hint::black_box;

use bpfbox_vm::{asm, isa, Vm};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use inputs::PROGRAMS;

/// Runs rbpf's interpreter on `mem` (r1 = mem).
fn rbpf_run(vm: &rbpf::EbpfVmRaw<'_>, mem: &mut [u8]) -> u64 {
    // SAFETY: `EbpfVmRaw::execute_program` ties the memory's lifetime to the program's, which
    // would forbid a fresh buffer per iteration. The reborrow only lives for this call and
    // `execute_program` takes `&self`, so it cannot keep the slice beyond it.
    let mem = unsafe { std::slice::from_raw_parts_mut(mem.as_mut_ptr(), mem.len()) };
    vm.execute_program(mem).expect("rbpf run")
}

fn interpreter(c: &mut Criterion) {
    for p in PROGRAMS {
        let slots = asm::assemble(p.asm).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        let bytes = isa::slots_to_bytes(&slots);
        let input = (p.input)();

        let checked = Vm::new(&slots).expect("valid program");
        let mut unchecked = Vm::new(&slots).expect("valid program");
        // SAFETY: these programs only load and store within their stack frame and the input
        // buffer they are given; tests/bench_programs.rs runs each one checked, without a
        // fault, on this same deterministic input.
        unsafe { unchecked.set_unchecked() };
        let rbpf_vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf accepts the program");

        let insns = checked.run_mem(&mut input.clone()).expect("run").insns;
        println!("{}: {insns} instructions per run", p.name);

        let mut group = c.benchmark_group(p.name);
        group.throughput(Throughput::Elements(insns));
        let mut mem = input.clone();
        if p.mutates {
            // A fresh copy per run, made outside the timed section.
            group.bench_function("bpfbox/checked", |b| {
                b.iter_batched_ref(
                    || input.clone(),
                    |m| checked.run_mem(black_box(m)).unwrap().r0,
                    BatchSize::SmallInput,
                )
            });
            group.bench_function("bpfbox/unchecked", |b| {
                b.iter_batched_ref(
                    || input.clone(),
                    |m| unchecked.run_mem(black_box(m)).unwrap().r0,
                    BatchSize::SmallInput,
                )
            });
            group.bench_function("rbpf/interp", |b| {
                b.iter_batched_ref(
                    || input.clone(),
                    |m| rbpf_run(&rbpf_vm, black_box(m)),
                    BatchSize::SmallInput,
                )
            });
        } else {
            group.bench_function("bpfbox/checked", |b| {
                b.iter(|| checked.run_mem(black_box(&mut mem)).unwrap().r0)
            });
            group.bench_function("bpfbox/unchecked", |b| {
                b.iter(|| unchecked.run_mem(black_box(&mut mem)).unwrap().r0)
            });
            group.bench_function("rbpf/interp", |b| {
                b.iter(|| rbpf_run(&rbpf_vm, black_box(&mut mem)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, interpreter);
criterion_main!(benches);
