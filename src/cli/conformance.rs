//! `bpfbox conformance`: the bpf_conformance suite through the interpreter.

use std::path::PathBuf;

use bpfbox_vm::conformance::{run_file, test_files, InterpreterEngine, Summary};
use indicatif::{ProgressBar, ProgressStyle};

use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox conformance`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Prints `PASS name` or `FAIL name: expected X, got Y` per test and a \
closing `N passed, N failed, N skipped` line; exits 1 if any test failed."
)]
pub struct ConformanceArgs {
    /// Folder of `.data` files.
    #[arg(default_value = "../shared/bpf_conformance/tests")]
    dir: PathBuf,
    /// Only run tests whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox conformance`.
pub fn run(a: ConformanceArgs) -> CliResult {
    let files = test_files(&a.dir)
        .map_err(|e| CliError::usage(format!("cannot list {}: {e}", a.dir.display())))?;
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| {
            a.filter.as_deref().is_none_or(|flt| {
                f.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains(flt))
            })
        })
        .collect();
    if files.is_empty() {
        return Err(CliError::usage(format!(
            "no .data files in {}",
            a.dir.display()
        )));
    }
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary::default();
    let mut results = Vec::with_capacity(files.len());
    for f in &files {
        let r = run_file(f, &InterpreterEngine);
        summary.add(&r);
        if !a.json {
            bar.suspend(|| println!("{r}"));
        }
        bar.inc(1);
        results.push(r);
    }
    bar.finish_and_clear();
    if a.json {
        print_json(&serde_json::json!({ "results": results, "summary": summary }))?;
    } else {
        println!("{summary}");
    }
    if summary.failed > 0 {
        return Err(CliError::rejected(""));
    }
    Ok(())
}
