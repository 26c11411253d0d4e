//! The bpf_conformance runner: every `.data` file through an engine, scored as the upstream
//! runner scores it (full 64-bit r0 against `-- result`, or the error text against `-- error`).

use std::path::{Path, PathBuf};

use crate::conformance_file::{ConformanceFile, SkipReason};
use crate::isa::RawInsn;
use crate::Vm;

/// Something that can run a conformance program: r1 = memory, r2 = its length.
pub trait Engine {
    /// Runs `prog` on a private copy of `mem` and returns the full 64-bit r0, or an error
    /// message (a verifier rejection, a fault).
    fn run(&self, prog: &[RawInsn], mem: &mut [u8]) -> Result<u64, String>;
}

/// The interpreter, in checked mode.
#[derive(Clone, Copy, Debug, Default)]
pub struct InterpreterEngine;

impl Engine for InterpreterEngine {
    fn run(&self, prog: &[RawInsn], mem: &mut [u8]) -> Result<u64, String> {
        let vm = Vm::new(prog).map_err(|e| e.to_string())?;
        vm.run_mem(mem).map(|o| o.r0).map_err(|f| f.to_string())
    }
}

/// How one test ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// r0 (or the error text) matched.
    Pass,
    /// It did not.
    Fail {
        /// What the file expects, as printed.
        expected: String,
        /// What the engine gave.
        got: String,
    },
    /// The file could not be run.
    Skip {
        /// Why.
        reason: String,
    },
}

/// One scored test.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TestResult {
    /// File name without `.data`.
    pub name: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl std::fmt::Display for TestResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Outcome::Pass => write!(f, "PASS {}", self.name),
            Outcome::Fail { expected, got } => {
                write!(f, "FAIL {}: expected {expected}, got {got}", self.name)
            }
            Outcome::Skip { reason } => write!(f, "SKIP {}: {reason}", self.name),
        }
    }
}

/// Totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests that were skipped.
    pub skipped: usize,
}

impl Summary {
    /// Adds one result.
    pub fn add(&mut self, r: &TestResult) {
        match r.outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail { .. } => self.failed += 1,
            Outcome::Skip { .. } => self.skipped += 1,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Why a conformance file gives no program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrunnable {
    /// The file says to skip it, or is not a conformance file.
    Skip(String),
    /// Its assembly does not assemble: a failure of ours, not a reason to skip.
    AssemblyError(String),
}

/// Parses a conformance file and assembles its program, for any engine.
pub fn prepare(text: &str) -> Result<(ConformanceFile, Vec<RawInsn>), Unrunnable> {
    let file = ConformanceFile::parse(text).map_err(|e| Unrunnable::Skip(e.to_string()))?;
    if let Some(reason) = file.skip_reason() {
        if reason != SkipReason::NoInstructions || file.program().is_ok() {
            return Err(Unrunnable::Skip(reason.to_string()));
        }
    }
    let prog = file
        .program()
        .map_err(|e| Unrunnable::AssemblyError(format!("assembly error: {e}")))?;
    Ok((file, prog))
}

/// Scores one file's text with `engine`.
pub fn run_text(name: &str, text: &str, engine: &dyn Engine) -> TestResult {
    let result = |outcome| TestResult {
        name: name.to_string(),
        outcome,
    };
    let (file, prog) = match prepare(text) {
        Ok(p) => p,
        Err(Unrunnable::Skip(reason)) => return result(Outcome::Skip { reason }),
        Err(Unrunnable::AssemblyError(got)) => {
            let expected = ConformanceFile::parse(text)
                .map(|f| expected_text(&f))
                .unwrap_or_default();
            return result(Outcome::Fail { expected, got });
        }
    };
    let mut mem = file.mem.clone();
    let got = engine.run(&prog, &mut mem);
    let outcome = match (&file.error, got) {
        (Some(err), Err(msg)) if msg.trim_end() == err.trim_end() => Outcome::Pass,
        (Some(err), Err(msg)) => Outcome::Fail {
            expected: format!("error `{err}`"),
            got: format!("error `{msg}`"),
        },
        (Some(err), Ok(v)) => Outcome::Fail {
            expected: format!("error `{err}`"),
            got: format!("{v:#x}"),
        },
        (None, Ok(v)) if v == file.expected() => Outcome::Pass,
        (None, Ok(v)) => Outcome::Fail {
            expected: format!("{:#x}", file.expected()),
            got: format!("{v:#x}"),
        },
        (None, Err(msg)) => Outcome::Fail {
            expected: format!("{:#x}", file.expected()),
            got: format!("error `{msg}`"),
        },
    };
    result(outcome)
}

fn expected_text(file: &ConformanceFile) -> String {
    match &file.error {
        Some(e) => format!("error `{e}`"),
        None => format!("{:#x}", file.expected()),
    }
}

/// The `.data` files of `dir`, sorted by name as the upstream runner orders them.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    Ok(files)
}

/// Scores one file on disk.
pub fn run_file(path: &Path, engine: &dyn Engine) -> TestResult {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read(path) {
        Ok(bytes) => run_text(&name, &String::from_utf8_lossy(&bytes), engine),
        Err(e) => TestResult {
            name,
            outcome: Outcome::Skip {
                reason: format!("cannot read: {e}"),
            },
        },
    }
}
