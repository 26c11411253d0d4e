//! The project's own fixtures, loaded into the kernel and run on both sides: every run
//! agrees except the kinds docs/KERNEL-COMPARE.md explains.

mod common;

use std::path::PathBuf;

use bpfbox_kernel_compare::{compare_file, CompareOptions, Outcome, RunComparison};

/// Why a mismatch is expected, if it is one of the documented kinds.
fn explained(file: &str, c: &RunComparison) -> Option<&'static str> {
    // max_ctx_offset: the kernel refuses a context smaller than the program reads.
    if matches!(c.kernel, Outcome::Refused { errno: 22, .. }) {
        return Some("max_ctx_offset");
    }
    match (file, c.program.as_str()) {
        // The kernel's clock, random numbers and task ids against our deterministic ones,
        // which `env_probe` stores in `env_result`; every other value must agree.
        ("helpers_misc.o", _)
            if c.differences
                .iter()
                .all(|d| d.what.starts_with("map env_result ")) =>
        {
            Some("environment values")
        }
        _ => None,
    }
}

#[test]
fn fixtures_agree_with_the_kernel() {
    let Some(probe) = common::kernel() else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/obj");
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture objects")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    objects.sort();
    assert!(objects.len() >= 17, "fixtures missing in {}", dir.display());
    let opts = CompareOptions {
        prog: None,
        run: true,
        inputs: Vec::new(),
        prefill: Vec::new(),
        log_level: 0,
        prog_flags: 0,
        repro_dir: None,
        ncpus: probe.possible_cpus,
        keep_logs: false,
        target_btf: None,
        engine: None,
    };
    let (mut runs, mut agreed, mut accepted) = (0, 0, 0);
    let mut unexplained = Vec::new();
    for path in &objects {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let report = compare_file(path, &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        for row in &report.programs {
            if row.kernel_verdict == bpfbox_kernel_compare::Verdict::Accepted {
                accepted += 1;
            }
            runs += row.runs;
        }
        agreed += report.programs.iter().map(|r| r.runs).sum::<usize>() - report.mismatches.len();
        for m in &report.mismatches {
            let c = &m.comparison;
            if explained(&file, c).is_none() {
                unexplained.push(format!(
                    "{file} {} {}: {:?}",
                    c.program, c.input, c.differences
                ));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "unexplained mismatches:\n{}",
        unexplained.join("\n")
    );
    // Everything but core_prog.o (poisoned against vmlinux, as libbpf poisons it) loads.
    assert!(accepted >= 42, "{accepted} programs accepted");
    assert!(runs >= 400 && agreed >= 367, "{runs} runs, {agreed} agreed");
}
