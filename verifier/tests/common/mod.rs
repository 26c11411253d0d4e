//! Shared test helpers: skipping that fails under `BPFBOX_REQUIRE_ALL=1`, and loading the
//! same program into the running kernel to learn its verdict.
#![allow(dead_code)]

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict as KVerdict};
use bpfbox_kernel_compare::probe::Probe;
use bpfbox_verifier::{verify, Options, Verdict};
use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::{ProgType, Program};

/// Skips the current test with a one-line reason, or fails it under `BPFBOX_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var("BPFBOX_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required test cannot run: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// Whether `bpf()` works here; reports a skip when it does not.
pub fn kernel() -> bool {
    match Probe::run().reason() {
        Some(r) => {
            skip(&r);
            false
        }
        None => true,
    }
}

/// Assembles conformance-syntax text.
pub fn asm(text: &str) -> Vec<RawInsn> {
    bpfbox_vm::asm::assemble(text).expect("assembles")
}

/// A bare program of type `t`.
pub fn program(t: ProgType, insns: Vec<RawInsn>) -> Program {
    Program {
        name: "t".into(),
        section: String::new(),
        prog_type: t,
        expected_attach_type: None,
        attach_target: None,
        prog_flags: 0,
        insns,
        license: "GPL".into(),
        kern_version: 0,
        func_info: Vec::new(),
        line_info: Vec::new(),
    }
}

/// What the kernel says: accepted, or the error line (the log's last line before the
/// statistics).
#[derive(Debug, PartialEq, Eq)]
pub enum Said {
    /// Accepted.
    Accepted,
    /// Rejected with this error line.
    Rejected(String),
}

/// The kernel's verdict on `prog` with `maps`.
pub fn kernel_says(prog: &Program, maps: &[MapSpec]) -> Said {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(prog),
        maps,
        &LoadOptions { log_level: 1 },
    );
    let p = &ko.programs[0];
    match p.verdict {
        KVerdict::Accepted => Said::Accepted,
        KVerdict::Rejected => Said::Rejected(error_line(&p.log)),
        ref v => panic!("kernel could not judge: {v:?} {:?}\n{}", p.reason, p.log),
    }
}

/// The error line of a kernel log: the last line before `processed N insns`, or the last
/// non-empty line.
pub fn error_line(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("processed ") || l.starts_with("verification time"))
        .unwrap_or(lines.len());
    end.checked_sub(1)
        .and_then(|i| lines.get(i))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// What we say, in the same form.
pub fn we_say(prog: &Program, maps: &[MapSpec]) -> (Said, Verdict) {
    let v = verify(
        prog,
        &Options {
            maps: maps.to_vec(),
            ..Options::default()
        },
    );
    let s = if v.accepted {
        Said::Accepted
    } else {
        Said::Rejected(v.error.clone().unwrap_or_default())
    };
    (s, v)
}

/// Asserts our verdict and error line equal the kernel's on every case; with
/// `allow_unsupported`, a rejection as not supported yet is tolerated (fail closed, printed)
/// and counted. Returns how many cases matched exactly.
pub fn assert_cases(cases: &[(&str, Program)], maps: &[MapSpec], allow_unsupported: bool) -> usize {
    let mut bad = Vec::new();
    let mut matched = 0;
    for (name, p) in cases {
        let k = kernel_says(p, maps);
        let (ours, v) = we_say(p, maps);
        if k == ours {
            matched += 1;
            continue;
        }
        if v.unsupported && allow_unsupported {
            eprintln!("{name}: unsupported yet ({:?}); kernel: {k:?}", v.error);
            continue;
        }
        bad.push(format!("{name}: kernel {k:?}, ours {ours:?}"));
    }
    assert!(bad.is_empty(), "differences:\n{}", bad.join("\n"));
    matched
}
