//! JIT compile time on the benchmark programs, measured as `benches/jit.rs` measures it (the
//! mean of 20 compiles after one to warm up, the image dropped each time), ours in both
//! modes beside rbpf's JIT, without the run-time benchmarks.
//!
//! `cargo run --release --example jit_compile` prints the table;
//! `cargo run --release --example jit_compile -- checked|trusted|rbpf|rbpf-jit N [PROGRAM]`
//! only compiles N times (for a profiler such as `valgrind --tool=callgrind`).
//!
//! rbpf's column builds its VM for each compile (`EbpfVmRaw::new`, which runs rbpf's
//! verifier), as a user of rbpf must; "rbpf JIT only" recompiles a VM built once, which is
//! the work ours does (it starts from a decoded `Vm`).

#[path = "../benches/programs/inputs.rs"]
#[allow(dead_code)]
mod inputs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bpfbox_jit::JitProgram;
use bpfbox_vm::{asm, isa, Vm};

fn compile_checked(vm: &Arc<Vm>) {
    drop(JitProgram::compile(Arc::clone(vm)).expect("compile"));
}

fn compile_trusted(vm: &Arc<Vm>) {
    // SAFETY: compiled and dropped, never run.
    drop(unsafe { JitProgram::compile_trusted(Arc::clone(vm)) }.expect("compile"));
}

fn compile_rbpf(bytes: &[u8]) {
    let mut v = rbpf::EbpfVmRaw::new(Some(bytes)).expect("rbpf accepts the program");
    v.jit_compile().expect("rbpf jit");
}

fn compile_rbpf_jit_only(v: &mut rbpf::EbpfVmRaw<'_>) {
    v.jit_compile().expect("rbpf jit");
}

fn mean(f: &mut dyn FnMut()) -> Duration {
    f();
    let t = Instant::now();
    for _ in 0..20 {
        f();
    }
    t.elapsed() / 20
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let programs = inputs::PROGRAMS.iter().map(|p| {
        let slots = asm::assemble(p.asm).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        let bytes = isa::slots_to_bytes(&slots);
        let vm = Arc::new(Vm::new(&slots).expect("valid program"));
        (p.name, slots.len(), bytes, vm)
    });
    if let Some(what) = args.first() {
        let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
        let only = args.get(2);
        for (name, _, bytes, vm) in programs {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let mut rbpf_vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf accepts it");
            for _ in 0..n {
                match what.as_str() {
                    "checked" => compile_checked(&vm),
                    "trusted" => compile_trusted(&vm),
                    "rbpf" => compile_rbpf(&bytes),
                    "rbpf-jit" => compile_rbpf_jit_only(&mut rbpf_vm),
                    other => panic!("unknown engine {other}"),
                }
            }
        }
        return;
    }
    println!(
        "| program | slots | ours trusted µs | ours checked µs | rbpf µs | rbpf JIT only µs \
         | image B trusted / checked |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, len, bytes, vm) in programs {
        let trusted = mean(&mut || compile_trusted(&vm));
        let checked = mean(&mut || compile_checked(&vm));
        let rbpf = mean(&mut || compile_rbpf(&bytes));
        let mut rbpf_vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf accepts it");
        let rbpf_jit = mean(&mut || compile_rbpf_jit_only(&mut rbpf_vm));
        // SAFETY: compiled to measure its size, never run.
        let trusted_image = unsafe { JitProgram::compile_trusted(Arc::clone(&vm)) }
            .expect("compile")
            .image()
            .code()
            .len();
        let checked_image = JitProgram::compile(Arc::clone(&vm))
            .expect("compile")
            .image()
            .code()
            .len();
        println!(
            "| {name} | {len} | {:.2} | {:.2} | {:.2} | {:.2} | {trusted_image} / {checked_image} |",
            trusted.as_secs_f64() * 1e6,
            checked.as_secs_f64() * 1e6,
            rbpf.as_secs_f64() * 1e6,
            rbpf_jit.as_secs_f64() * 1e6,
        );
    }
}
