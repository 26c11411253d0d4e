//! Native code size against the kernel's JIT: every fixture and xdp-tools program the
//! kernel accepts is compiled by our JIT in trusted mode (the mode that matches the kernel's:
//! no checks), and its image must be at most 1.2 times the kernel's `jited_prog_len` for the
//! same program (read with `BPF_OBJ_GET_INFO_BY_FD`). Needs root.
//!
//! A program whose translated image the kernel's verifier cut down (dead code behind a
//! branch on a frozen `.rodata` constant, as in libxdp's dispatcher) is not the same
//! program any more: it is listed, not compared.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use bpfbox::jit::JitProgram;
use bpfbox::kernel_compare::probe::Probe;
use bpfbox::kernel_compare::{compare_file, CompareOptions, Verdict};
use bpfbox::loader::Object;
use bpfbox::vm::maps::MapConfig;
use common::skip;

/// The bound the issue sets on our image over the kernel's.
const MAX_RATIO: f64 = 1.2;

fn objects() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let dirs = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/obj"),
        PathBuf::from("/usr/lib/x86_64-linux-gnu/bpf"),
        PathBuf::from("/usr/libexec/xdp-tools"),
    ];
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "o"))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

#[test]
fn trusted_images_are_at_most_1_2x_the_kernels() {
    let probe = Probe::run();
    if let Some(r) = probe.reason() {
        skip(&r);
        return;
    }
    let opts = CompareOptions {
        ncpus: probe.possible_cpus,
        ..CompareOptions::default()
    };
    let (mut ours_total, mut kernel_total, mut compared) = (0usize, 0usize, 0usize);
    let mut cut = 0;
    let mut over = Vec::new();
    for path in objects() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let report = compare_file(&path, &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        let obj = Object::from_file_relocated(&path, None).unwrap();
        let maps = obj
            .create_maps(&MapConfig {
                ncpus: probe.possible_cpus,
            })
            .ok();
        for row in &report.programs {
            let (Verdict::Accepted, Some(kernel)) = (&row.kernel_verdict, row.jited_len) else {
                continue;
            };
            if kernel == 0 {
                continue;
            }
            let Some(maps) = &maps else { continue };
            let prog = obj.program(&row.program).unwrap();
            // The kernel's instruction count after verification, against ours.
            let xlated = row.xlated_len.unwrap_or(0) / 8;
            if xlated * 10 < prog.insns.len() * 9 {
                eprintln!(
                    "{file:28} {:24} not compared: the verifier removed dead code ({} of {} \
                     instructions left)",
                    row.program,
                    xlated,
                    prog.insns.len()
                );
                cut += 1;
                continue;
            }
            let vm = bpfbox::vm::testrun::prepare(&prog.insns, prog.prog_type, maps)
                .unwrap_or_else(|e| panic!("{file} {}: {e}", row.program));
            // SAFETY: compiled to measure its size, never run.
            let jit = unsafe { JitProgram::compile_trusted(Arc::new(vm)) }.unwrap();
            let ours = jit.image().code().len();
            let ratio = ours as f64 / kernel as f64;
            eprintln!(
                "{file:28} {:24} ours {ours:6} B kernel {kernel:6} B {ratio:.2}x",
                row.program
            );
            ours_total += ours;
            kernel_total += kernel;
            compared += 1;
            if ratio > MAX_RATIO {
                over.push(format!(
                    "{file} {}: {ours} B against {kernel} B ({ratio:.2}x)",
                    row.program
                ));
            }
        }
    }
    eprintln!(
        "{compared} programs: ours {ours_total} B, kernel {kernel_total} B ({:.2}x); {cut} cut \
         down by the verifier",
        ours_total as f64 / kernel_total.max(1) as f64
    );
    assert!(cut <= 2, "{cut} programs cut down by the verifier");
    assert!(compared >= 40, "only {compared} programs compared");
    assert!(
        over.is_empty(),
        "images over {MAX_RATIO}x the kernel's:\n{}",
        over.join("\n")
    );
}
