//! Shared test helpers: skipping that fails under `BPFBOX_REQUIRE_ALL=1`, the kernel probe,
//! loading the same program into the running kernel to learn its verdict, and a small
//! deterministic random number generator.
#![allow(dead_code)]

pub mod walk_cases;

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

/// What the kernel says: accepted, or rejected with its full log.
#[derive(Debug, PartialEq, Eq)]
pub enum Said {
    /// Accepted.
    Accepted,
    /// Rejected; the log (kernel) or the error message (ours).
    Rejected(String),
}

/// The kernel's verdict on `prog` with `maps`.
pub fn kernel_says(prog: &Program, maps: &[MapSpec]) -> Said {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(prog),
        maps,
        &LoadOptions {
            log_level: 1,
            ..LoadOptions::default()
        },
    );
    let p = &ko.programs[0];
    match p.verdict {
        KVerdict::Accepted => Said::Accepted,
        KVerdict::Rejected => Said::Rejected(p.log.clone()),
        ref v => panic!("kernel could not judge: {v:?} {:?}\n{}", p.reason, p.log),
    }
}

/// Our verdict on `prog` with `maps`.
pub fn we_say(prog: &Program, maps: &[MapSpec]) -> Verdict {
    verify(
        prog,
        &Options {
            maps: maps.to_vec(),
            ..Options::default()
        },
    )
}

/// How our verdict relates to the kernel's.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Same verdict; on a rejection every line of our error is a line of the kernel's log.
    Same,
    /// Both reject, with different words.
    OtherWords,
    /// We reject as not supported yet; the kernel may accept.
    Unsupported,
    /// We reject a program the kernel accepts (imprecision: sound, but a miss).
    FalseReject,
    /// We accept a program the kernel rejects: never allowed.
    FalseAccept,
}

/// Compares our verdict on one program with the kernel's.
pub fn compare(prog: &Program, maps: &[MapSpec]) -> (Outcome, String) {
    let k = kernel_says(prog, maps);
    let v = we_say(prog, maps);
    let ours = v.error.clone().unwrap_or_default();
    let outcome = match (&k, v.accepted) {
        (Said::Accepted, true) => Outcome::Same,
        (Said::Rejected(_), true) => Outcome::FalseAccept,
        _ if v.unsupported => Outcome::Unsupported,
        (Said::Accepted, false) => Outcome::FalseReject,
        (Said::Rejected(log), false) => {
            let lines: Vec<&str> = log.lines().collect();
            if ours.lines().all(|l| lines.contains(&l)) {
                Outcome::Same
            } else {
                Outcome::OtherWords
            }
        }
    };
    let kernel = match k {
        Said::Accepted => "accepted".to_string(),
        Said::Rejected(log) if outcome == Outcome::OtherWords => {
            format!("rejected:\n{}\n", tail(&log, 4))
        }
        Said::Rejected(log) => format!("rejected: {}", error_line(&log)),
    };
    (outcome, format!("kernel {kernel}; ours {:?}", v.error))
}

/// The error line of a kernel log: the last line before `processed N insns`.
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

/// The last `n` lines of a kernel log before the statistics.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .take_while(|l| !l.starts_with("processed ") && !l.starts_with("verification time"))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Compares every case, prints every difference, fails on any false acceptance, and
/// returns how many cases were [`Outcome::Same`].
pub fn assert_cases(cases: &[(&str, Program)], maps: &[MapSpec]) -> usize {
    let mut same = 0;
    let mut false_accepts = Vec::new();
    for (name, p) in cases {
        let (o, detail) = compare(p, maps);
        match o {
            Outcome::Same => same += 1,
            Outcome::FalseAccept => false_accepts.push(format!("{name}: {detail}")),
            _ => eprintln!("{name}: {o:?}: {detail}"),
        }
    }
    assert!(
        false_accepts.is_empty(),
        "accepted where the kernel rejects:\n{}",
        false_accepts.join("\n")
    );
    same
}

/// `true` when `bpf()` works here; otherwise reports a skip.
pub fn kernel_available() -> bool {
    let p = Probe::run();
    match p.reason() {
        Some(r) => {
            skip(&r);
            false
        }
        None => true,
    }
}

/// SplitMix64: reproducible from a seed, no dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// `true` with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// The last non-empty line of an error: the one the kernel's refusal and ours are compared
/// by.
pub fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

/// Compiles `source` with `clang-19 -O2 -g -target bpf` into a temporary object and loads it
/// into the kernel at log level 1; `None` (after a skip) when clang is missing. `tag` names
/// the temporary directory.
pub fn load_c(
    tag: &str,
    source: &str,
) -> Option<(
    bpfbox_loader::Object,
    bpfbox_kernel_compare::load::KernelObject,
)> {
    use std::process::Command;
    if Command::new("clang-19").arg("--version").output().is_err() {
        skip("clang-19 not found: cannot build the test object");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("bpfbox-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, obj) = (
        dir.join(format!("{tag}.bpf.c")),
        dir.join(format!("{tag}.o")),
    );
    std::fs::write(&src, source).unwrap();
    let arch_inc = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let st = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-I", &arch_inc, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap();
    assert!(st.success(), "clang failed");
    let opts = bpfbox_kernel_compare::load::LoadOptions {
        log_level: 1,
        ..Default::default()
    };
    let loaded = bpfbox_kernel_compare::load::KernelObject::load_file(&obj, &opts).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    Some(loaded)
}

/// The kernel's `processed N insns` for `prog` with `maps` (at log level 4).
pub fn kernel_processed(prog: &Program, maps: &[MapSpec]) -> Option<u64> {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(prog),
        maps,
        &LoadOptions {
            log_level: 4,
            ..LoadOptions::default()
        },
    );
    bpfbox_kernel_compare::verifier_log::VerifierStats::parse(&ko.programs[0].log).processed_insns
}

/// One program of an object the kernel loaded, judged by both verifiers.
pub struct Judged<'a> {
    /// The kernel's load of it (name, verdict, log, statistics).
    pub kernel: &'a bpfbox_kernel_compare::load::ProgramLoad,
    /// Our verdict.
    pub ours: Verdict,
    /// Our error line (the last line of our error), `None` when we accept.
    pub our_line: Option<String>,
    /// The kernel's error line, `None` when it accepts.
    pub kernel_line: Option<String>,
}

/// Every program of `object` that the kernel judged in `k`, verified by us with the object's
/// maps and BTF. Panics when the kernel could not judge one: these tests load objects the
/// kernel can verify.
pub fn judge_each<'a>(object: &bpfbox_loader::Object, k: &'a KernelObject) -> Vec<Judged<'a>> {
    k.programs
        .iter()
        .filter_map(|p| {
            let prog = object.program(&p.name)?;
            let ours = verify(
                prog,
                &Options {
                    maps: object.maps().to_vec(),
                    btf: object.btf_shared(),
                    ..Options::default()
                },
            );
            let kernel_line = match p.verdict {
                KVerdict::Accepted => None,
                KVerdict::Rejected => Some(error_line(&p.log)),
                ref other => panic!("{}: the kernel could not judge: {other:?}", p.name),
            };
            Some(Judged {
                kernel: p,
                our_line: ours.error.as_deref().map(last_line),
                ours,
                kernel_line,
            })
        })
        .collect()
}
