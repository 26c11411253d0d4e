//! `bpfbox fuzz-kernel`: generated programs (see `bpfbox_kernel_compare::gen`) run in the
//! kernel and in our interpreter; any difference is written down as a reproducer.

use std::path::{Path, PathBuf};

use bpfbox_kernel_compare::gen::{
    from_seed, judge_explained, reproducer, run_interpreter, shrink_seed, GenConfig, GenProgram,
    KernelRunner, Verdict,
};
use bpfbox_kernel_compare::probe::Probe;
use indicatif::{ProgressBar, ProgressStyle};

use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox fuzz-kernel`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Program i of a campaign is generated from seed S+i, so \
`--seed S+i --count 1` regenerates it. For each mismatch (or program the verifier refuses, \
which is a generator bug) it writes DIR/<kind>-<seed>.asm, the program in `bpfbox asm` \
syntax with its input and both results in comments, and DIR/<kind>-<seed>.json; a mismatch \
is also shrunk to DIR/shrunk-<seed>.asm. A difference that a known kernel behaviour accounts \
for exactly (reproduced on our side and confirmed by the verifier log or translated image; \
see docs/KERNEL-COMPARE.md) is counted as explained and written as explained-<seed>.asm. \
Exits 1 if any program mismatched or was refused, 3 if the kernel cannot be used here.\n\n\
Examples:\n  bpfbox fuzz-kernel --count 100000\n  bpfbox fuzz-kernel --seed 42 --count 1 --out repro")]
pub struct FuzzKernelArgs {
    /// Number of programs to generate and compare.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// First seed (default: derived from the clock, and printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Where reproducers go (created when the first one is written).
    #[arg(long, default_value = "fuzz-kernel-out")]
    out: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Do not shrink mismatches.
    #[arg(long)]
    no_shrink: bool,
}

/// Candidates tried when shrinking one mismatch (each is a kernel load and two runs).
const SHRINK_BUDGET: usize = 4000;

/// Totals of a campaign.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
struct Totals {
    programs: u64,
    matched: u64,
    explained: u64,
    mismatched: u64,
    rejected: u64,
}

fn write_case(
    dir: &Path,
    name: &str,
    asm: &str,
    json: &serde_json::Value,
) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{name}.asm"));
    let text = serde_json::to_string_pretty(json)
        .map_err(|e| CliError::internal(format!("cannot encode JSON: {e}")))?;
    std::fs::write(&path, asm)
        .and_then(|()| std::fs::write(dir.join(format!("{name}.json")), text))
        .map_err(|e| CliError::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Runs `p` in the kernel and here and judges the two, explaining what a known kernel
/// behaviour accounts for.
fn compare(
    kernel: &KernelRunner,
    p: &GenProgram,
) -> Result<Verdict, bpfbox_kernel_compare::sys::SysError> {
    let Ok(insns) = p.insns() else {
        // Shrinking can only remove code; a tree that no longer emits is not a case.
        return Ok(Verdict::Match);
    };
    let interp = run_interpreter(p, &insns);
    let k = kernel.run(p, &insns)?;
    judge_explained(kernel, p, &insns, k, interp)
}

/// Shrinks the mismatch of `seed` and writes the smallest program that still mismatches
/// (without a known explanation) to DIR/shrunk-<seed>.asm.
fn shrink(kernel: &KernelRunner, seed: u64, dir: &Path) -> Result<Option<PathBuf>, CliError> {
    let still = |p: &GenProgram| matches!(compare(kernel, p), Ok(Verdict::Mismatch { .. }));
    let p = shrink_seed(seed, GenConfig::default(), SHRINK_BUDGET, still)
        .map_err(|e| CliError::internal(e.to_string()))?;
    let Ok(insns) = p.insns() else {
        return Ok(None);
    };
    let kernel_err = |e| CliError::internal(format!("seed {seed}: kernel: {e}"));
    let Verdict::Mismatch {
        kernel: kout,
        interpreter,
    } = compare(kernel, &p).map_err(kernel_err)?
    else {
        return Ok(None);
    };
    let label = format!("mismatch of seed {seed}, shrunk");
    let asm = reproducer(&label, &p, &insns, &kout, &interpreter);
    let json = serde_json::json!({
        "seed": seed, "shrunk": true, "program": p, "kernel": kout,
        "interpreter": interpreter,
    });
    write_case(dir, &format!("shrunk-{seed}"), &asm, &json).map(Some)
}

/// Runs `bpfbox fuzz-kernel`.
pub fn run(a: FuzzKernelArgs) -> CliResult {
    let probe = Probe::run();
    if let Some(reason) = probe.reason() {
        return Err(CliError::internal(format!(
            "cannot compare with the kernel: {reason}"
        )));
    }
    let kernel = KernelRunner::new()
        .map_err(|e| CliError::internal(format!("cannot create the kernel maps: {e}")))?;
    let first = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    if !a.json {
        eprintln!(
            "kernel {}: seeds {first}..{}",
            probe.kernel_release,
            first.wrapping_add(a.count)
        );
    }
    let bar = ProgressBar::new(a.count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut t = Totals::default();
    let mut cases = Vec::new();
    for i in 0..a.count {
        let seed = first.wrapping_add(i);
        let p =
            from_seed(seed, GenConfig::default()).map_err(|e| CliError::internal(e.to_string()))?;
        let insns = p
            .insns()
            .map_err(|e| CliError::internal(format!("seed {seed}: {e}")))?;
        t.programs += 1;
        let kernel_err = |e| CliError::internal(format!("seed {seed}: kernel: {e}"));
        match compare(&kernel, &p).map_err(kernel_err)? {
            Verdict::Match => t.matched += 1,
            Verdict::Explained {
                known,
                kernel,
                interpreter,
            } => {
                t.explained += 1;
                let label = format!("explained, seed {seed}: {known}");
                let interp = Ok(interpreter);
                let asm = reproducer(&label, &p, &insns, &kernel, &interp);
                let json = serde_json::json!({
                    "seed": seed, "known": known, "program": p, "kernel": kernel,
                    "interpreter": interp,
                });
                let path = write_case(&a.out, &format!("explained-{seed}"), &asm, &json)?;
                bar.suspend(|| eprintln!("explained seed {seed} ({known}): {}", path.display()));
            }
            Verdict::Mismatch {
                kernel: kout,
                interpreter,
            } => {
                t.mismatched += 1;
                let label = format!("mismatch, seed {seed}");
                let asm = reproducer(&label, &p, &insns, &kout, &interpreter);
                let json = serde_json::json!({
                    "seed": seed, "program": p, "kernel": kout,
                    "interpreter": interpreter,
                });
                let path = write_case(&a.out, &format!("mismatch-{seed}"), &asm, &json)?;
                bar.suspend(|| eprintln!("MISMATCH seed {seed}: {}", path.display()));
                cases.push(path);
                if !a.no_shrink {
                    bar.set_message(format!("shrinking seed {seed}"));
                    if let Some(path) = shrink(&kernel, seed, &a.out)? {
                        bar.suspend(|| eprintln!("  shrunk: {}", path.display()));
                        cases.push(path);
                    }
                }
            }
            Verdict::Rejected { errno, log } => {
                t.rejected += 1;
                let text = bpfbox_vm::disasm::disassemble_conformance(&insns).unwrap_or_default();
                let comment: String = log.lines().map(|l| format!("# {l}\n")).collect();
                let asm = format!(
                    "# bpfbox fuzz-kernel: the verifier refused seed {seed} (errno {errno})\n{comment}{text}"
                );
                let json =
                    serde_json::json!({ "seed": seed, "program": p, "errno": errno, "log": log });
                let path = write_case(&a.out, &format!("rejected-{seed}"), &asm, &json)?;
                bar.suspend(|| eprintln!("REJECTED seed {seed}: {}", path.display()));
                cases.push(path);
            }
        }
        bar.set_message(format!(
            "{} mismatches, {} explained, {} rejected",
            t.mismatched, t.explained, t.rejected
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if a.json {
        print_json(&serde_json::json!({
            "kernel": probe.kernel_release,
            "first_seed": first,
            "totals": t,
            "reproducers": cases,
        }))?;
    } else {
        crate::outln!(
            "{} programs: {} matched, {} explained by known kernel behaviours, {} mismatched, \
             {} rejected by the verifier",
            t.programs,
            t.matched,
            t.explained,
            t.mismatched,
            t.rejected
        )?;
    }
    if t.mismatched > 0 || t.rejected > 0 {
        return Err(CliError::rejected(""));
    }
    Ok(())
}
