//! The kernel beside our JIT: every fixture and xdp-tools object is loaded into the running
//! kernel and run on the crafted packets (`bpfbox compare --engine jit --run`), with the JIT
//! in both modes running bpfbox's side. Every run must agree with the kernel (return value,
//! data and context out, every map) except the kinds docs/KERNEL-COMPARE.md explains for the
//! interpreter, and bpfbox's outcome must be the interpreter's, run by run. Needs root.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use bpfbox::jit::{JitProgram, Mode};
use bpfbox::kernel_compare::probe::Probe;
use bpfbox::kernel_compare::{compare_file, CompareOptions, Engine, Outcome, RunComparison};
use bpfbox::vm::testrun::Runner;
use common::skip;

const OBJECT_DIRS: [&str; 2] = ["/usr/lib/x86_64-linux-gnu/bpf", "/usr/libexec/xdp-tools"];

/// Why a kernel/bpfbox mismatch is expected (the interpreter has it too), if it is one.
fn explained(file: &str, c: &RunComparison) -> Option<&'static str> {
    // max_ctx_offset: the kernel refuses a context smaller than the program reads.
    if matches!(c.kernel, Outcome::Refused { errno: 22, .. }) {
        return Some("max_ctx_offset");
    }
    // The kernel's clock, random numbers and task ids against our deterministic ones.
    if file == "helpers_misc.o"
        && c.differences
            .iter()
            .all(|d| d.what.starts_with("map env_result "))
    {
        return Some("environment values");
    }
    None
}

fn objects() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/obj")];
    dirs.extend(OBJECT_DIRS.iter().map(PathBuf::from));
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

fn jit_engine(mode: Mode) -> Engine {
    Engine::new(
        format!("{mode:?}"),
        mode == Mode::Trusted,
        Arc::new(move |vm| {
            let vm = Arc::clone(vm);
            let jit = match mode {
                Mode::Checked => JitProgram::compile(vm),
                // SAFETY: an unchecked engine runs only programs the kernel's verifier
                // accepted, on inputs the kernel's test run accepted.
                Mode::Trusted => unsafe { JitProgram::compile_trusted(vm) },
            };
            jit.map(|j| Box::new(j) as Box<dyn Runner>)
                .map_err(|e| e.to_string())
        }),
    )
}

/// What one pass over the objects saw: runs per `(file, program)`, bpfbox's outcome of
/// every run that differed from the kernel, and the mismatches nothing explains.
#[derive(Default)]
struct Pass {
    runs: Vec<(String, String, usize)>,
    differing: Vec<(String, String, String, Outcome)>,
    unexplained: Vec<String>,
}

impl Pass {
    fn total(&self) -> usize {
        self.runs.iter().map(|r| r.2).sum()
    }
}

fn compare_all(probe: &Probe, engine: Option<Engine>) -> Pass {
    let opts = CompareOptions {
        run: true,
        ncpus: probe.possible_cpus,
        engine,
        ..CompareOptions::default()
    };
    let mut pass = Pass::default();
    for path in objects() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let report = compare_file(&path, &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        for row in &report.programs {
            pass.runs
                .push((file.clone(), row.program.clone(), row.runs));
        }
        for m in &report.mismatches {
            let c = &m.comparison;
            pass.differing.push((
                file.clone(),
                c.program.clone(),
                c.input.clone(),
                without_addresses(&c.bpfbox),
            ));
            if explained(&file, c).is_none() {
                pass.unexplained.push(format!(
                    "{file} {} {}: {:?}",
                    c.program, c.input, c.differences
                ));
            }
        }
    }
    pass
}

/// `o` with the host addresses in fault messages masked (they differ from run to run).
fn without_addresses(o: &Outcome) -> Outcome {
    match o {
        Outcome::Failed { msg } => Outcome::Failed {
            msg: msg
                .split(' ')
                .map(|w| if w.starts_with("0x") { "0x_" } else { w })
                .collect::<Vec<_>>()
                .join(" "),
        },
        other => other.clone(),
    }
}

fn kernel() -> Option<Probe> {
    let probe = Probe::run();
    if let Some(r) = probe.reason() {
        skip(&r);
        return None;
    }
    Some(probe)
}

fn check(mode: Mode) {
    let Some(probe) = kernel() else {
        return;
    };
    let interp = compare_all(&probe, None);
    let jit = compare_all(&probe, Some(jit_engine(mode)));
    assert!(
        interp.unexplained.is_empty(),
        "interpreter: unexplained mismatches:\n{}",
        interp.unexplained.join("\n")
    );
    assert!(
        jit.unexplained.is_empty(),
        "{mode:?} JIT: unexplained mismatches with the kernel:\n{}",
        jit.unexplained.join("\n")
    );
    // The same runs happened, and where the kernel and bpfbox differed (the explained
    // kinds), the JIT produced exactly the interpreter's outcome.
    assert_eq!(
        interp.runs, jit.runs,
        "{mode:?} JIT: runs per program differ"
    );
    assert_eq!(
        interp.differing, jit.differing,
        "{mode:?} JIT: outcomes differ from the interpreter's"
    );
    let real = objects()
        .iter()
        .filter(|p| !p.starts_with(env!("CARGO_MANIFEST_DIR")))
        .count();
    if real == 0 {
        skip("no xdp-tools BPF objects installed (apt install xdp-tools libxdp1)");
    }
    eprintln!(
        "{mode:?} JIT: {} runs, {} explained differences",
        jit.total(),
        jit.differing.len()
    );
    assert!(jit.total() >= 400, "only {} runs", jit.total());
}

#[test]
fn checked_jit_agrees_with_the_kernel() {
    check(Mode::Checked);
}

#[test]
fn trusted_jit_agrees_with_the_kernel() {
    check(Mode::Trusted);
}

/// The command line: `bpfbox compare --engine jit --run` on xdp-tools objects reports no
/// mismatch and exits 0.
#[test]
fn cli_compare_engine_jit() {
    if kernel().is_none() {
        return;
    }
    let objs: Vec<PathBuf> = objects()
        .into_iter()
        .filter(|p| p.starts_with("/usr/libexec/xdp-tools"))
        .collect();
    if objs.is_empty() {
        skip("xdp-tools objects not installed (apt install xdp-tools)");
        return;
    }
    for engine in ["jit", "jit-trusted"] {
        let out = Command::new(env!("CARGO_BIN_EXE_bpfbox"))
            .arg("compare")
            .args(&objs)
            .args(["--run", "--engine", engine])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{engine}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" 0 mismatches"), "{engine}: {text}");
    }
}
