//! `bpfbox conformance`: the bpf_conformance suite through the interpreter, the JIT or the
//! kernel.

use std::path::{Path, PathBuf};

use bpfbox_kernel_compare::conformance::{self as kconf, KernelEngine, KernelSummary};
use bpfbox_kernel_compare::probe::Probe;
use bpfbox_vm::conformance::{run_file, test_files, InterpreterEngine, Summary};
use indicatif::{ProgressBar, ProgressStyle};

use super::{print_json, CliError, CliResult};

/// Which engine runs the suite.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineArg {
    /// Our interpreter (checked mode).
    #[default]
    Interpreter,
    /// The JIT in checked mode.
    Jit,
    /// The JIT in trusted mode (no checks, no meter).
    JitTrusted,
    /// The running kernel: each program wrapped as XDP and run with `BPF_PROG_TEST_RUN`, as
    /// the upstream kernel plugin does (needs root or CAP_BPF).
    Kernel,
}

/// Arguments of `bpfbox conformance`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Prints `PASS name` or `FAIL name: expected X, got Y` per test and a \
closing `N passed, N failed, N skipped` line; exits 1 if any test failed.\n\
With `--engine kernel` a program the verifier refuses prints `REJECTED name: reason`. On Linux \
6.x the known result is 300 passed and 13 rejected (twelve `invalid shift`, and `unknown \
opcode 8d` for callx); rejections are the kernel's documented behaviour, so only failures \
and errors exit 1.\n\nExamples:\n  bpfbox conformance\n  bpfbox conformance --engine kernel \
--filter lsh"
)]
pub struct ConformanceArgs {
    /// Folder of `.data` files.
    #[arg(default_value = "../shared/bpf_conformance/tests")]
    dir: PathBuf,
    /// Only run tests whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// The engine to run the programs in.
    #[arg(long, value_enum, default_value_t = EngineArg::Interpreter)]
    engine: EngineArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn files(dir: &Path, filter: Option<&str>) -> Result<Vec<PathBuf>, CliError> {
    let files = test_files(dir)
        .map_err(|e| CliError::usage(format!("cannot list {}: {e}", dir.display())))?;
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| {
            filter.is_none_or(|flt| {
                f.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains(flt))
            })
        })
        .collect();
    if files.is_empty() {
        return Err(CliError::usage(format!(
            "no .data files in {}",
            dir.display()
        )));
    }
    Ok(files)
}

/// Runs `bpfbox conformance`.
pub fn run(a: ConformanceArgs) -> CliResult {
    let files = files(&a.dir, a.filter.as_deref())?;
    match a.engine {
        EngineArg::Interpreter => run_engine(&files, &InterpreterEngine, "interpreter", a.json),
        EngineArg::Jit => run_engine(
            &files,
            &bpfbox_jit::JitEngine(bpfbox_jit::Mode::Checked),
            "jit",
            a.json,
        ),
        EngineArg::JitTrusted => run_engine(
            &files,
            &bpfbox_jit::JitEngine(bpfbox_jit::Mode::Trusted),
            "jit-trusted",
            a.json,
        ),
        EngineArg::Kernel => run_kernel(&files, a.json),
    }
}

fn run_engine(
    files: &[PathBuf],
    engine: &dyn bpfbox_vm::conformance::Engine,
    name: &str,
    json: bool,
) -> CliResult {
    let bar = bar(files.len());
    let mut summary = Summary::default();
    let mut results = Vec::with_capacity(files.len());
    for f in files {
        let r = run_file(f, engine);
        summary.add(&r);
        if !json {
            bar.suspend(|| crate::outln!("{r}"))?;
        }
        bar.inc(1);
        results.push(r);
    }
    bar.finish_and_clear();
    if json {
        print_json(&serde_json::json!({ "engine": name, "results": results, "summary": summary }))?;
    } else {
        crate::outln!("{summary}")?;
    }
    if summary.failed > 0 {
        return Err(CliError::rejected(""));
    }
    Ok(())
}

fn run_kernel(files: &[PathBuf], json: bool) -> CliResult {
    let probe = Probe::run();
    if let Some(reason) = probe.reason() {
        return Err(CliError::internal(format!(
            "cannot run the suite in the kernel: {reason}"
        )));
    }
    let engine = KernelEngine::new()
        .map_err(|e| CliError::internal(format!("cannot create the result map: {e}")))?;
    let bar = bar(files.len());
    let mut summary = KernelSummary::default();
    let mut results = Vec::with_capacity(files.len());
    for f in files {
        let r = kconf::run_file(f, &engine);
        summary.add(&r);
        if !json {
            bar.suspend(|| crate::outln!("{r}"))?;
        }
        bar.inc(1);
        results.push(r);
    }
    bar.finish_and_clear();
    if json {
        print_json(&serde_json::json!({
            "engine": "kernel",
            "kernel": probe.kernel_release,
            "results": results,
            "summary": summary,
        }))?;
    } else {
        crate::outln!("kernel {}: {summary}", probe.kernel_release)?;
    }
    if summary.failed > 0 || summary.errors > 0 {
        return Err(CliError::rejected(""));
    }
    Ok(())
}
