//! Verifier speed: bpfbox's verifier on the kernel's 6.12 verifier selftests (the corpus
//! `tests/selftests/build.sh` compiles into `target/selftests`), against the kernel's own
//! `verification time` for the same programs (loaded here with `BPF_LOG_STATS`; skipped
//! without root).
//!
//! Criterion times the whole corpus and the largest programs both verifiers accept; beside
//! it the bench prints the median time per program, ours and the kernel's, and the ratio.
//!
//! Run: `tests/selftests/build.sh && cargo bench --bench verifier -- --warm-up-time 1
//! --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict};
use bpfbox_kernel_compare::probe::Probe;
use bpfbox_kernel_compare::verify::{self, VerifyAs};
use bpfbox_loader::Object;
use criterion::{criterion_group, criterion_main, Criterion};

/// A program of the corpus, with what the kernel says about it.
struct Case {
    name: String,
    object: Arc<Object>,
    program: usize,
    /// The kernel's `verification time` in microseconds, when it accepted the program.
    kernel_us: Option<u64>,
    /// The kernel's processed-instruction count, when it accepted the program.
    kernel_insns: Option<u64>,
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/selftests");
    dir.is_dir().then_some(dir)
}

fn cases(dir: &Path, kernel: bool) -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let Ok(object) = Object::from_file_relocated(&path, None) else {
            continue;
        };
        let object = Arc::new(object);
        let loaded = kernel
            .then(|| std::fs::read(&path).ok())
            .flatten()
            .and_then(|bytes| {
                let opts = LoadOptions {
                    log_level: bpfbox_kernel_compare::sys::BPF_LOG_STATS,
                    ..LoadOptions::default()
                };
                KernelObject::load_named(&bytes, &object, &opts, &path.display().to_string()).ok()
            });
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        for (i, p) in object.programs().iter().enumerate() {
            let k = loaded
                .as_ref()
                .and_then(|k| k.program(&p.name))
                .filter(|l| l.verdict == Verdict::Accepted);
            out.push(Case {
                name: format!("{stem}/{}", p.name),
                object: Arc::clone(&object),
                program: i,
                kernel_us: k.and_then(|l| l.stats.verification_time_us),
                kernel_insns: k.and_then(|l| l.stats.processed_insns),
            });
        }
    }
    out
}

fn verify_case(c: &Case) -> bpfbox_verifier::Verdict {
    let p = &c.object.programs()[c.program];
    verify::verify(
        &c.object,
        p,
        &VerifyAs {
            log_level: 0,
            ..VerifyAs::default()
        },
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: no selftest corpus in target/selftests (run tests/selftests/build.sh)");
        return;
    };
    let kernel = Probe::run().reason().is_none();
    if !kernel {
        eprintln!("the kernel's verification times are not measured here (no bpf() access)");
    }
    let all = cases(&dir, kernel);
    // Median of a few timed runs per program, ours beside the kernel's on the programs
    // both accept.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut ours_all = Vec::new();
    let mut both: Vec<(&Case, u64)> = Vec::new();
    for case in &all {
        let mut t = Vec::new();
        let mut v = None;
        for _ in 0..5 {
            let start = Instant::now();
            v = Some(verify_case(case));
            t.push(start.elapsed().as_secs_f64() * 1e6);
        }
        let us = median(t);
        ours_all.push(us);
        if let (Some(k), Some(v)) = (case.kernel_us, v.filter(|v| v.accepted)) {
            ours.push(us);
            theirs.push(k as f64);
            both.push((case, v.stats.processed_insns));
        }
    }
    eprintln!(
        "selftest corpus: {} programs, median {:.1} us per program (bpfbox)",
        all.len(),
        median(ours_all)
    );
    if !theirs.is_empty() {
        let (o, k) = (median(ours), median(theirs));
        eprintln!(
            "programs both accept: {}, median verification time bpfbox {o:.1} us, kernel {k:.1} us, ratio {:.2}x",
            both.len(),
            o / k
        );
    }
    let mut group = c.benchmark_group("verifier");
    group.bench_function("selftest_corpus", |b| {
        b.iter(|| {
            for case in &all {
                black_box(verify_case(case));
            }
        })
    });
    // The largest programs both verifiers accept, by the kernel's processed count.
    both.sort_by_key(|(c, _)| std::cmp::Reverse(c.kernel_insns.unwrap_or(0)));
    for (case, _) in both.iter().take(5) {
        group.bench_function(&case.name, |b| b.iter(|| black_box(verify_case(case))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
