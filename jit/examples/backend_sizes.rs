//! Code size and compile time of both backends, side by side: for each program of
//! `benches/programs/` and summed over the bpf_conformance suite, the image and body bytes,
//! body bytes per BPF instruction, and the mean compile time of 20 compiles after a warm-up.
//!
//! `cargo run --release -p bpfbox-jit --example backend_sizes` (on an x86-64 host).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bpfbox_jit::aarch64::{A64Image, Options};
use bpfbox_jit::{JitProgram, Mode};
use bpfbox_vm::{asm, Vm};

/// (image bytes, body bytes, mean compile time) for one backend and mode.
fn measure(vm: &Arc<Vm>, a64: bool, mode: Mode) -> (usize, usize, Duration) {
    let once = || -> (usize, usize) {
        if a64 {
            let i = A64Image::compile(Arc::clone(vm), mode, Options { lse: true }).expect("a64");
            let start = i.offsets().first().copied().unwrap_or(0) as usize;
            (i.code().len(), i.body_end() - start)
        } else {
            let p = match mode {
                Mode::Checked => JitProgram::compile(Arc::clone(vm)),
                // SAFETY: compiled to be measured, never run.
                Mode::Trusted => unsafe { JitProgram::compile_trusted(Arc::clone(vm)) },
            }
            .expect("x86");
            let i = p.image();
            (i.code().len(), i.body_end() - i.body_start())
        }
    };
    let sizes = once();
    let start = Instant::now();
    for _ in 0..20 {
        once();
    }
    (sizes.0, sizes.1, start.elapsed() / 20)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut names: Vec<_> = std::fs::read_dir(root.join("benches/programs"))
        .expect("benches/programs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "asm"))
        .collect();
    names.sort();
    println!("| program | slots | mode | x86-64 image B | x86-64 body B/insn | x86-64 compile µs | aarch64 image B | aarch64 body B/insn | aarch64 compile µs |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for p in &names {
        let text = std::fs::read_to_string(p).expect("read");
        let slots = asm::assemble(&text).expect("assemble");
        let vm = Arc::new(Vm::new(&slots).expect("valid"));
        let n = vm.decoded().insns.len();
        for mode in [Mode::Trusted, Mode::Checked] {
            let x = measure(&vm, false, mode);
            let a = measure(&vm, true, mode);
            println!(
                "| {} | {} | {:?} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} |",
                p.file_stem().unwrap().to_string_lossy(),
                slots.len(),
                mode,
                x.0,
                x.1 as f64 / n as f64,
                x.2.as_secs_f64() * 1e6,
                a.0,
                a.1 as f64 / n as f64,
                a.2.as_secs_f64() * 1e6,
            );
        }
    }
    let suite = root.join("../shared/bpf_conformance/tests");
    let Ok(files) = bpfbox_vm::conformance::test_files(&suite) else {
        eprintln!("no conformance suite beside the checkout");
        return;
    };
    for mode in [Mode::Trusted, Mode::Checked] {
        let (mut insns, mut xb, mut ab) = (0usize, 0usize, 0usize);
        let (mut xt, mut at) = (Duration::ZERO, Duration::ZERO);
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read");
            let Ok((_, prog)) = bpfbox_vm::conformance::prepare(&text) else {
                continue;
            };
            let Ok(vm) = Vm::new(&prog) else { continue };
            let vm = Arc::new(vm);
            insns += vm.decoded().insns.len();
            let x = measure(&vm, false, mode);
            let a = measure(&vm, true, mode);
            xb += x.1;
            ab += a.1;
            xt += x.2;
            at += a.2;
        }
        println!(
            "conformance suite, {mode:?}: {insns} insns; body bytes per insn x86-64 {:.2}, aarch64 {:.2}; total compile x86-64 {:.0} µs, aarch64 {:.0} µs",
            xb as f64 / insns as f64,
            ab as f64 / insns as f64,
            xt.as_secs_f64() * 1e6,
            at.as_secs_f64() * 1e6
        );
    }
}
