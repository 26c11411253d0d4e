//! Running one selftest object as the selftests' loader (`test_loader.c`) does: per test,
//! only the tested program and the auxiliaries of its mode are loaded, with the test's
//! flags and log level, against the test's BTF; the log is checked against the `__msg`
//! patterns; an accepted program with `__retval` is test-run on 64 zero bytes, in the
//! kernel and in bpfbox's interpreter.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bpfbox_btf::Btf;
use bpfbox_loader::Object;
use bpfbox_verifier::Privilege;
use bpfbox_vm::interp::ProgramTable;
use bpfbox_vm::maps::MapConfig;
use bpfbox_vm::testrun::{build_context, prepare, run_context, RunSetup, TestRun};
use bpfbox_vm::{Env, ProgType};

use super::annotations::{parse_spec, LoadMode, TestSpec, POINTER_VALUE, TEST_DATA_LEN};
use super::pattern::{match_in_order, MatchResult};
use crate::error::{Error, Result};
use crate::load::{KernelObject, LoadOptions, Verdict};
use crate::run::{bpfbox_can_test_run, kernel_can_test_run};
use crate::sys::{self, TestRunIn};
use crate::verifier_log::StateStats;

/// The selftests' loader's verifier log buffer (`TEST_LOADER_LOG_BUF_SZ`).
const LOG_BUF_SIZE: usize = 2 * 1024 * 1024;

/// Room for data out in the selftests' test run (`TEST_DATA_LEN << 2`).
const DATA_OUT_CAP: usize = (TEST_DATA_LEN as usize) << 2;

/// A map entry written on both sides before a test run.
struct Prefill {
    map: &'static str,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// What the selftests' per-object `pre_execution_cb` writes before each test run
/// (`prog_tests/verifier.c`): a `struct test_val` with `index = 28` and `foo[6] =
/// 0xabcdef12` at key 0 of one array.
fn prefills(object: &str) -> Vec<Prefill> {
    let map = match object {
        "verifier_array_access" => "map_array_ro",
        "verifier_value_ptr_arith" => "map_array_48b",
        _ => return Vec::new(),
    };
    // struct test_val { unsigned int index; int foo[11]; }
    let mut value = vec![0u8; 48];
    value[0..4].copy_from_slice(&28u32.to_ne_bytes());
    value[4 + 6 * 4..4 + 7 * 4].copy_from_slice(&0xabcd_ef12u32.to_ne_bytes());
    vec![Prefill {
        map,
        key: 0u32.to_ne_bytes().to_vec(),
        value,
    }]
}

/// What the annotation expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// `__success`.
    Success,
    /// `__failure`.
    Failure,
}

impl Expected {
    /// `success` / `failure`.
    pub fn label(self) -> &'static str {
        match self {
            Expected::Success => "success",
            Expected::Failure => "failure",
        }
    }
}

/// How one test came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The kernel did what the annotations say: verdict, every `__msg`, the `__retval`.
    Agree,
    /// The kernel did something else.
    Disagree,
    /// The kernel cannot say here (trampoline programs refused with `EPERM`, a missing
    /// attach target, a program bpfbox's loader cannot build yet).
    CannotSay,
    /// Not run here (unprivileged mode while unprivileged BPF is disabled, another
    /// architecture).
    NotRun,
}

impl Status {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Agree => "agree",
            Status::Disagree => "DISAGREE",
            Status::CannotSay => "cannot say",
            Status::NotRun => "not run",
        }
    }
}

/// What bpfbox's verifier verdict is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Oracle {
    /// The running kernel's verdict.
    Kernel,
    /// The kernel cannot say here (unprivileged BPF is disabled): the selftest's
    /// `__success_unpriv`/`__failure_unpriv` annotation (`__msg_unpriv` for the log).
    Annotation,
}

/// The `__msg` patterns of the expected mode matched against bpfbox's log, when bpfbox
/// rejected as the annotation expects (the selftests check messages only then).
fn annotation_msgs(expect: &super::annotations::Expect, out: &TestOutcome) -> Option<MatchResult> {
    if expect.msgs.is_empty() || out.bpfbox != Some(Verdict::Rejected) || !expect.failure {
        return None;
    }
    Some(match_in_order(&out.bpfbox_log, &expect.msgs))
}

/// A test run's result on one side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunValue {
    /// The program ran and returned this (`retval` as an `int`).
    Ran(i32),
    /// It could not run or faulted; why.
    Error(String),
    /// bpfbox lacks what the program needs (a helper, kfunc, map or program type).
    Unsupported(String),
}

impl RunValue {
    /// The value for tables: the number, or `error`.
    pub fn label(&self) -> String {
        match self {
            RunValue::Ran(v) => v.to_string(),
            RunValue::Error(_) => "error".into(),
            RunValue::Unsupported(_) => "unsupported".into(),
        }
    }
}

/// One test (one program in one mode) and what happened to it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestOutcome {
    /// `OBJECT/NAME` (the object's file stem): how lists and filters name the test; where
    /// two programs of an object share a name, ` [PROGRAM]` is appended.
    pub id: String,
    /// The object's file name.
    pub object: String,
    /// The test's name (`__description`, else the program name; `@unpriv` appended).
    pub name: String,
    /// The tested program.
    pub program: String,
    /// Whether this is the unprivileged variant.
    pub unprivileged: bool,
    /// What bpfbox's verdict is judged against.
    pub oracle: Oracle,
    /// For a test judged against its annotation: the verdict of this kernel on the same
    /// program loaded with CAP_BPF alone (no CAP_PERFMON), the nearest load it judges; it
    /// differs from a load without any capability only in what CAP_BPF allows.
    pub kernel_bpf_only: Option<Verdict>,
    /// The annotation's verdict.
    pub expected: Expected,
    /// The kernel's verdict (`None` when not loaded at all).
    pub kernel: Option<Verdict>,
    /// The errno of a refused load.
    pub errno: Option<i32>,
    /// bpfbox's verifier verdict (`None` when the loader did not build the program).
    pub bpfbox: Option<Verdict>,
    /// bpfbox's verifier's error line, when it rejects.
    pub bpfbox_error: Option<String>,
    /// Whether bpfbox rejects only because a feature is not supported yet.
    pub bpfbox_unsupported: bool,
    /// bpfbox's verifier's `processed N insns`.
    pub bpfbox_processed_insns: Option<u64>,
    /// `processed N insns`.
    pub processed_insns: Option<u64>,
    /// The kernel's state statistics, when it printed its statistics line (every judged
    /// load: a silent one is asked for the statistics alone).
    pub states: Option<StateStats>,
    /// bpfbox's verifier's state statistics.
    pub bpfbox_states: Option<StateStats>,
    /// The first line of the log that says what is wrong (the last non-statistics line of
    /// a refusal), or why the kernel cannot say / why not run.
    pub first_error: Option<String>,
    /// The `__msg` check, when the test has patterns and the verdict was as expected.
    pub msgs: Option<MatchResult>,
    /// The `__xlated` check, when the test has patterns and the kernel accepted it.
    pub xlated: Option<MatchResult>,
    /// The `__retval` expected, when the test has one.
    pub retval: Option<i32>,
    /// The kernel's test-run result.
    pub kernel_retval: Option<RunValue>,
    /// bpfbox's interpreter's test-run result.
    pub bpfbox_retval: Option<RunValue>,
    /// The overall status.
    pub status: Status,
    /// Why the status is what it is, in one line (for disagreements and not-run tests).
    pub reason: Option<String>,
    /// Why the kernel refused the object's BTF (the programs then load without it).
    pub btf_error: Option<String>,
    /// The translated program as `__xlated` patterns see it, when the test has some.
    #[serde(skip)]
    pub xlated_text: String,
    /// The verifier log (not serialized: large).
    #[serde(skip)]
    pub log: String,
    /// bpfbox's verifier log at the level the kernel's was asked for (not serialized).
    #[serde(skip)]
    pub bpfbox_log: String,
    /// Whether bpfbox's log is the kernel's line for line (time and map addresses masked);
    /// `None` when the kernel gave no log.
    pub bpfbox_log_same: Option<bool>,
    /// Where bpfbox's log first differs from the kernel's.
    pub bpfbox_log_difference: Option<bpfbox_verifier::log::compare::Difference>,
}

impl TestOutcome {
    /// Whether the kernel's load verdict alone equals the annotation's.
    pub fn verdict_agrees(&self) -> bool {
        matches!(
            (self.expected, &self.kernel),
            (Expected::Success, Some(Verdict::Accepted))
                | (Expected::Failure, Some(Verdict::Rejected))
        )
    }

    /// How bpfbox's interpreter's return value compares with the kernel's.
    pub fn retval_comparison(&self) -> RetvalComparison {
        match (&self.kernel_retval, &self.bpfbox_retval) {
            (Some(RunValue::Ran(_)), _) if self.retval == Some(POINTER_VALUE) => {
                RetvalComparison::PointerValue
            }
            (Some(RunValue::Ran(k)), Some(RunValue::Ran(b))) if k == b => RetvalComparison::Same,
            (Some(RunValue::Ran(_)), Some(RunValue::Unsupported(why))) => {
                RetvalComparison::BpfboxCannotRun(why.clone())
            }
            (Some(RunValue::Ran(_)), Some(_)) => RetvalComparison::Differ,
            _ => RetvalComparison::NotCompared,
        }
    }
}

/// bpfbox's `__retval` against the kernel's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetvalComparison {
    /// Both ran and returned the same value.
    Same,
    /// Both ran and returned different values, or bpfbox faulted where the kernel ran.
    Differ,
    /// The test returns a pointer (`__retval(POINTER_VALUE)`): values are not compared.
    PointerValue,
    /// bpfbox lacks something the program needs.
    BpfboxCannotRun(String),
    /// No comparison (no `__retval`, the kernel did not run it).
    NotCompared,
}

/// What the runner needs from the machine, probed once.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `kernel.unprivileged_bpf_disabled`.
    pub unprivileged_bpf_disabled: Option<u32>,
    /// Possible CPUs (per-CPU map value copies).
    pub ncpus: u32,
    /// The host's BTF, the default CO-RE target.
    pub host_btf: Option<Arc<Btf>>,
    /// `net.core.bpf_jit_enable` is on.
    pub jit_enabled: Option<bool>,
    /// The capabilities the privileged-mode tests load with, on both sides
    /// ([`Privilege::Full`], or [`Privilege::BpfOnly`] to compare the unprivileged rules
    /// with the kernel).
    pub privilege: Privilege,
}

impl Environment {
    /// Probes this machine.
    pub fn probe() -> Environment {
        Environment {
            unprivileged_bpf_disabled: std::fs::read_to_string(
                "/proc/sys/kernel/unprivileged_bpf_disabled",
            )
            .ok()
            .and_then(|s| s.trim().parse().ok()),
            // Sizes bpfbox's own per-CPU maps only (the kernel side sizes its buffers from
            // each map's info, and fails where the count is unknown).
            ncpus: crate::probe::possible_cpus().unwrap_or(1),
            host_btf: bpfbox_loader::core::load_host_btf().ok(),
            jit_enabled: std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable")
                .ok()
                .map(|s| s.trim() != "0"),
            privilege: Privilege::Full,
        }
    }

    /// The capabilities bpfbox verifies a test with: the `@unpriv` variant without any.
    pub fn privilege_of(&self, unprivileged: bool) -> Privilege {
        if unprivileged {
            Privilege::None
        } else {
            self.privilege
        }
    }

    fn unprivileged_reason(&self) -> Option<String> {
        match self.unprivileged_bpf_disabled {
            Some(0) => None,
            Some(v) => Some(format!(
                "unprivileged mode: kernel.unprivileged_bpf_disabled is {v}"
            )),
            None => Some("unprivileged mode: kernel.unprivileged_bpf_disabled unknown".into()),
        }
    }
}

/// One object's parsed specs.
#[derive(Debug)]
pub struct SelftestObject {
    /// The file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The object relocated against the host's BTF.
    pub object: Object,
    /// Every program's spec (auxiliaries included), or why it does not parse.
    pub specs: Vec<std::result::Result<TestSpec, super::annotations::AnnotationError>>,
}

impl SelftestObject {
    /// Reads and parses `path`.
    pub fn open(path: &Path, env: &Environment) -> Result<SelftestObject> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let object = Object::from_file_relocated(path, env.host_btf.clone())?;
        let btf = object.btf().ok_or_else(|| {
            Error::Unavailable(format!("{}: the object has no BTF", path.display()))
        })?;
        // Programs in section order, as libbpf lists them; then those the loader refused.
        let mut names: Vec<String> = object.programs().iter().map(|p| p.name.clone()).collect();
        for e in object.program_errors() {
            if !names.iter().any(|n| n == e.program()) {
                names.push(e.program().to_string());
            }
        }
        let specs = names.iter().map(|n| parse_spec(btf, n)).collect();
        Ok(SelftestObject {
            path: path.to_path_buf(),
            bytes,
            object,
            specs,
        })
    }

    /// The tests (non-auxiliary programs, each in its modes): (spec, unprivileged).
    pub fn tests(&self) -> Vec<(&TestSpec, bool)> {
        let mut out = Vec::new();
        for s in self.specs.iter().flatten() {
            if s.auxiliary {
                continue;
            }
            if s.run_privileged {
                out.push((s, false));
            }
            if s.run_unprivileged {
                out.push((s, true));
            }
        }
        out
    }

    /// The test's `OBJECT/NAME`, with ` [PROGRAM]` when the name is not unique in the object.
    pub fn test_id(&self, spec: &TestSpec, unprivileged: bool) -> String {
        let stem = self
            .path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let name = spec.name(unprivileged);
        let shared = self
            .specs
            .iter()
            .flatten()
            .filter(|s| !s.auxiliary && s.description == spec.description)
            .count()
            > 1;
        if shared {
            format!("{stem}/{name} [{}]", spec.program)
        } else {
            format!("{stem}/{name}")
        }
    }

    /// The kernel's verdict on the test's program loaded from a thread with CAP_BPF alone.
    fn kernel_with_cap_bpf_alone(&self, spec: &TestSpec) -> Option<Verdict> {
        let _caps = super::caps::WithoutSysAdmin::new();
        let reduced = super::caps::BpfOnly::new();
        if !reduced.active() {
            return None;
        }
        let mut programs: BTreeSet<String> = BTreeSet::new();
        programs.insert(spec.program.clone());
        for aux in self.specs.iter().flatten() {
            if aux.auxiliary && aux.run_unprivileged {
                programs.insert(aux.program.clone());
            }
        }
        let opts = LoadOptions {
            log_level: 0,
            log_size: None,
            log_on_failure: false,
            stats_when_silent: false,
            prog_flags: spec.prog_flags,
            programs: Some(programs),
        };
        let k = KernelObject::load_named(&self.bytes, &self.object, &opts, &file_name(&self.path))
            .ok()?;
        let v = k.program(&spec.program)?.verdict.clone();
        matches!(v, Verdict::Accepted | Verdict::Rejected).then_some(v)
    }

    /// Runs one test.
    pub fn run(&self, spec: &TestSpec, unprivileged: bool, env: &Environment) -> TestOutcome {
        let expect = spec.expect(unprivileged);
        let mut out = TestOutcome {
            id: self.test_id(spec, unprivileged),
            object: file_name(&self.path),
            name: spec.name(unprivileged),
            program: spec.program.clone(),
            unprivileged,
            oracle: Oracle::Kernel,
            kernel_bpf_only: None,
            expected: if expect.failure {
                Expected::Failure
            } else {
                Expected::Success
            },
            kernel: None,
            errno: None,
            bpfbox: None,
            bpfbox_error: None,
            bpfbox_unsupported: false,
            bpfbox_processed_insns: None,
            processed_insns: None,
            states: None,
            bpfbox_states: None,
            first_error: None,
            msgs: None,
            xlated: None,
            retval: expect.retval,
            kernel_retval: None,
            bpfbox_retval: None,
            status: Status::NotRun,
            reason: None,
            btf_error: None,
            xlated_text: String::new(),
            log: String::new(),
            bpfbox_log: String::new(),
            bpfbox_log_same: None,
            bpfbox_log_difference: None,
        };
        if !spec.runs_on_this_arch() {
            out.reason = Some(format!("architecture: only {:?}", spec.arch));
            return out;
        }
        match (spec.load_mode, env.jit_enabled) {
            (Some(LoadMode::Jited), Some(false)) => {
                out.reason = Some("load mode: only with the JIT on".into());
                return out;
            }
            (Some(LoadMode::NoJited), Some(true)) => {
                out.reason = Some("load mode: only with the JIT off".into());
                return out;
            }
            _ => {}
        }
        if unprivileged {
            if let Some(r) = env.unprivileged_reason() {
                // The kernel cannot say here; the selftest's annotation is the oracle.
                bpfbox_verify(&self.object, false, spec, Privilege::None, &mut out);
                out.oracle = Oracle::Annotation;
                if let Some(m) = annotation_msgs(expect, &out) {
                    out.msgs = Some(m);
                }
                out.reason = Some(format!(
                    "{r}: kernel cannot say here; expected by the selftest's annotation"
                ));
                out.kernel_bpf_only = self.kernel_with_cap_bpf_alone(spec);
                return out;
            }
        }
        // As the selftests run: without CAP_SYS_ADMIN, for the load and the test run; or
        // with CAP_BPF alone when comparing reduced-capability loads.
        let _caps = super::caps::WithoutSysAdmin::new();
        let reduced =
            (env.privilege == Privilege::BpfOnly && !unprivileged).then(super::caps::BpfOnly::new);
        if reduced.as_ref().is_some_and(|g| !g.active()) {
            out.status = Status::CannotSay;
            out.reason = Some("cannot run with CAP_BPF alone here".into());
            return out;
        }
        // A test with its own BTF is relocated against it.
        let custom;
        let object = match &spec.btf_path {
            None => &self.object,
            Some(p) => match self.relocated_against(p) {
                Ok(o) => {
                    custom = o;
                    &custom
                }
                Err(e) => {
                    out.status = Status::CannotSay;
                    out.reason = Some(e.to_string());
                    return out;
                }
            },
        };
        let mut programs: BTreeSet<String> = BTreeSet::new();
        programs.insert(spec.program.clone());
        for aux in self.specs.iter().flatten() {
            let in_mode = if unprivileged {
                aux.run_unprivileged
            } else {
                aux.run_privileged
            };
            if aux.auxiliary && in_mode {
                programs.insert(aux.program.clone());
            }
        }
        // The selftests' loader: the test's log level exactly, a 2 MiB log buffer, libbpf's
        // retry at level 1 when a load without a log fails, the test's flags.
        let privilege = env.privilege_of(unprivileged);
        bpfbox_verify(object, false, spec, privilege, &mut out);
        let opts = LoadOptions {
            log_level: spec.log_level,
            log_size: Some(LOG_BUF_SIZE),
            log_on_failure: true,
            stats_when_silent: true,
            prog_flags: spec.prog_flags,
            programs: Some(programs),
        };
        let kernel = match KernelObject::load_named(&self.bytes, object, &opts, &out.object) {
            Ok(k) => k,
            Err(e) => {
                out.status = Status::CannotSay;
                out.reason = Some(e.to_string());
                return out;
            }
        };
        out.btf_error = kernel.btf_error.clone();
        if out.btf_error.is_some() {
            // libbpf loads the programs without their BTF records once the kernel refuses
            // the object's BTF: verify what the kernel was given.
            bpfbox_verify(object, true, spec, privilege, &mut out);
        }
        let Some(load) = kernel.program(&spec.program) else {
            out.status = Status::CannotSay;
            out.reason = Some("the program was not loaded".into());
            return out;
        };
        out.kernel = Some(load.verdict.clone());
        out.errno = load.errno;
        out.processed_insns = load
            .stats
            .processed_insns
            .or(load.verified_insns.map(u64::from));
        out.states = StateStats::of(&load.stats);
        out.first_error = load.reason.clone();
        out.log = load.log.clone();
        if !out.log.is_empty() && out.bpfbox.is_some() {
            let same =
                bpfbox_verifier::log::compare::first_difference(&out.log, &out.bpfbox_log, false);
            out.bpfbox_log_same = Some(same.is_none());
            out.bpfbox_log_difference = same;
        }
        // An auxiliary program the kernel refused fails the whole object load in libbpf.
        let aux_refused = kernel
            .programs
            .iter()
            .find(|p| p.name != spec.program && p.verdict != Verdict::Accepted);
        // Attach-target programs this kernel refuses with EPERM before verifying a single
        // instruction (iterators, beside the trampolines the loader already recognises).
        if load.verdict == Verdict::Rejected
            && load.errno == Some(libc::EPERM)
            && load.stats.processed_insns.unwrap_or(0) == 0
        {
            out.status = Status::CannotSay;
            out.reason = Some(format!(
                "this kernel refuses {} programs (EPERM) before verifying",
                load.prog_type
            ));
            return out;
        }
        // A map libbpf would have failed to create: the kernel never judged the program.
        let map_errors: Vec<String> = kernel
            .maps
            .iter()
            .filter_map(|m| {
                m.error
                    .as_ref()
                    .map(|e| format!("map `{}`: {e}", m.spec.name))
            })
            .collect();
        if load.verdict == Verdict::Rejected
            && !map_errors.is_empty()
            && load.log.contains("is not pointing to valid bpf_map")
        {
            out.status = Status::CannotSay;
            out.reason = Some(map_errors.join("; "));
            return out;
        }
        match load.verdict {
            Verdict::CannotSay | Verdict::NotLoaded => {
                out.status = Status::CannotSay;
                out.reason = load.reason.clone();
                return out;
            }
            Verdict::Accepted | Verdict::Rejected => {}
        }
        if let Some(a) = aux_refused {
            if a.verdict != Verdict::Rejected {
                out.status = Status::CannotSay;
                out.reason = Some(format!(
                    "auxiliary program `{}`: {}",
                    a.name,
                    a.reason.as_deref().unwrap_or(a.verdict.label())
                ));
                return out;
            }
        }
        let accepted = load.verdict == Verdict::Accepted && aux_refused.is_none();
        if accepted == expect.failure {
            out.status = Status::Disagree;
            out.reason = Some(if accepted {
                "the kernel accepted it".into()
            } else if let Some(a) = aux_refused.filter(|_| load.verdict == Verdict::Accepted) {
                format!("auxiliary program `{}` refused", a.name)
            } else {
                format!(
                    "the kernel refused it: {}",
                    load.reason.as_deref().unwrap_or("")
                )
            });
            return out;
        }
        let mut ok = true;
        if !expect.msgs.is_empty() {
            let m = match_in_order(&load.log, &expect.msgs);
            if let Some((p, wrong_line)) = &m.failed {
                ok = false;
                out.reason = Some(format!(
                    "__msg {}: '{p}'",
                    if *wrong_line {
                        "on the wrong line"
                    } else {
                        "not found"
                    }
                ));
            }
            out.msgs = Some(m);
        }
        if let (false, true, Some(fd)) = (expect.xlated.is_empty(), accepted, load.fd.as_ref()) {
            match sys::prog_info(fd) {
                Ok(info) => {
                    let text = super::xlated::xlated_text(&info.xlated);
                    let m = match_in_order(&text, &expect.xlated);
                    if ok {
                        if let Some((p, wrong_line)) = &m.failed {
                            ok = false;
                            out.reason = Some(format!(
                                "__xlated {}: '{p}'",
                                if *wrong_line {
                                    "on the wrong line"
                                } else {
                                    "not found"
                                }
                            ));
                        }
                    }
                    out.xlated = Some(m);
                    out.xlated_text = text;
                }
                Err(e) if ok => {
                    ok = false;
                    out.reason = Some(format!("__xlated: cannot read the program: {e}"));
                }
                Err(_) => {}
            }
        }
        if let (Some(want), true) = (expect.retval, accepted) {
            let prog_type = object
                .program(&spec.program)
                .map_or(ProgType::Unspec, |p| p.prog_type);
            let stem = out.object.strip_suffix(".o").unwrap_or(&out.object);
            let pre = prefills(stem);
            let k = match kernel_prefill(&kernel, &pre) {
                Ok(()) => kernel_test_run(load.fd.as_ref(), prog_type),
                Err(e) => RunValue::Error(e),
            };
            let loaded: HashSet<String> = kernel
                .programs
                .iter()
                .filter(|p| p.verdict == Verdict::Accepted)
                .map(|p| p.name.clone())
                .collect();
            out.bpfbox_retval = Some(bpfbox_test_run(object, &spec.program, &loaded, env, &pre));
            if let RunValue::Ran(got) = k {
                if got != want && want != POINTER_VALUE && ok {
                    ok = false;
                    out.reason = Some(format!("Unexpected retval: {got} != {want}"));
                }
            } else if ok {
                ok = false;
                out.reason = Some("the kernel's test run failed".into());
            }
            out.kernel_retval = Some(k);
        }
        out.status = if ok { Status::Agree } else { Status::Disagree };
        out
    }

    fn relocated_against(&self, btf_path: &str) -> Result<Object> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let target = bpfbox_loader::core::load_btf_file(dir.join(btf_path))?;
        let opts = bpfbox_loader::LoadOptions {
            name: Some(
                file_name(&self.path)
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ),
            target_btf: Some(target),
            ..Default::default()
        };
        Ok(Object::parse_with(&self.bytes, &opts)?)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// The kernel's test run as the selftests do it: 64 zero bytes in, room for 256 out,
/// one repetition; a syscall program gets no input at all.
fn kernel_test_run(fd: Option<&sys::Fd>, prog_type: ProgType) -> RunValue {
    let Some(fd) = fd else {
        return RunValue::Error("not loaded".into());
    };
    if !kernel_can_test_run(prog_type) {
        return RunValue::Error(format!(
            "the kernel cannot test-run {} programs",
            prog_type.name()
        ));
    }
    let data = [0u8; TEST_DATA_LEN as usize];
    let req = if prog_type == ProgType::Syscall {
        TestRunIn::default()
    } else {
        TestRunIn {
            data_in: &data,
            data_out_cap: Some(DATA_OUT_CAP),
            repeat: 1,
            ..TestRunIn::default()
        }
    };
    match sys::prog_test_run(fd, &req) {
        Ok(o) => RunValue::Ran(o.retval as i32),
        Err(e) => RunValue::Error(format!("test run: {}", sys::errno_name(e.errno))),
    }
}

fn kernel_prefill(kernel: &KernelObject, pre: &[Prefill]) -> std::result::Result<(), String> {
    for p in pre {
        let fd = kernel
            .maps
            .iter()
            .find(|m| m.spec.name == p.map)
            .and_then(|m| m.fd.as_ref())
            .ok_or_else(|| format!("no map `{}` in the kernel", p.map))?;
        sys::map_update(fd, &p.key, &p.value, 0).map_err(|e| format!("map `{}`: {e}", p.map))?;
    }
    Ok(())
}

/// bpfbox's verifier on the test's program, loaded as the selftests load it.
fn bpfbox_verify(
    object: &Object,
    without_btf: bool,
    spec: &TestSpec,
    privilege: Privilege,
    out: &mut TestOutcome,
) {
    let Some(p) = object.program(&spec.program) else {
        return;
    };
    let how = crate::verify::VerifyAs {
        privilege,
        flags: spec.prog_flags,
        log_level: spec.log_level.max(1),
        without_btf,
    };
    let v = crate::verify::verify(object, p, &how);
    out.bpfbox = Some(crate::verify::label(&v));
    out.bpfbox_error = crate::verify::error_line(&v);
    out.bpfbox_unsupported = v.unsupported;
    out.bpfbox_processed_insns = Some(v.stats.processed_insns);
    out.bpfbox_states = Some(StateStats::of_verdict(&v.stats));
    out.bpfbox_log = v.log;
}

/// The same run in bpfbox's interpreter, on fresh maps of the object, with the loaded
/// programs in the table tail calls reach (as the kernel's program arrays hold them).
fn bpfbox_test_run(
    object: &Object,
    program: &str,
    loaded: &HashSet<String>,
    env: &Environment,
    pre: &[Prefill],
) -> RunValue {
    let Some(p) = object.program(program) else {
        return RunValue::Unsupported("bpfbox's loader did not build the program".into());
    };
    if !bpfbox_can_test_run(p.prog_type) {
        return RunValue::Unsupported(format!(
            "bpfbox cannot test-run {} programs yet",
            p.prog_type.name()
        ));
    }
    let maps = match object.create_maps(&MapConfig { ncpus: env.ncpus }) {
        Ok(m) => m,
        Err(e) => return RunValue::Unsupported(format!("maps: {e}")),
    };
    for f in pre {
        let map = object.map_index(f.map).and_then(|i| maps.get(i));
        let Some(map) = map else {
            return RunValue::Error(format!("no map `{}`", f.map));
        };
        if let Err(e) = map.update(&f.key, &f.value, 0) {
            return RunValue::Error(format!("map `{}`: {e}", f.map));
        }
    }
    let mut table = ProgramTable::new();
    for (i, q) in object.programs().iter().enumerate() {
        if !loaded.contains(&q.name) {
            continue;
        }
        if let Ok(vm) = prepare(&q.insns, q.prog_type, &maps) {
            table.insert(i as u32, Arc::new(vm));
        }
    }
    for slot in object.program_slots() {
        let handle = object
            .programs()
            .iter()
            .position(|q| q.name == slot.program && loaded.contains(&q.name));
        if let (Some(h), Some(m)) = (handle, maps.get(slot.map)) {
            let _ = m.update(&slot.key.to_ne_bytes(), &(h as u32).to_ne_bytes(), 0);
        }
    }
    let mut vm_env = Env {
        ncpus: env.ncpus,
        ..Env::default()
    };
    let run = TestRun {
        data_in: if p.prog_type == ProgType::Syscall {
            Vec::new()
        } else {
            vec![0u8; TEST_DATA_LEN as usize]
        },
        ctx_in: None,
        repeat: 1,
        kernel_compat: true,
        regions: Vec::new(),
    };
    let vm = match prepare(&p.insns, p.prog_type, &maps) {
        Ok(vm) => vm,
        Err(e) => return RunValue::Error(e.to_string()),
    };
    let result = build_context(p.prog_type, &run).and_then(|ctx| {
        vm_env.maps = maps.clone();
        let setup = RunSetup {
            repeat: 1,
            programs: Some(&table),
            expected_attach_type: p.expected_attach_type,
            ..RunSetup::default()
        };
        run_context(&vm, p.prog_type, ctx, &mut vm_env, &setup)
    });
    match result {
        Ok(r) => RunValue::Ran(r.retval as i32),
        Err(e) => {
            let msg = e.to_string();
            if is_unsupported(&msg) {
                RunValue::Unsupported(msg)
            } else {
                RunValue::Error(msg)
            }
        }
    }
}

/// Whether a run error says bpfbox lacks something (a helper, kfunc, map or program type)
/// rather than that the program misbehaved.
fn is_unsupported(msg: &str) -> bool {
    msg.contains("unknown helper") || msg.contains("unsupported") || msg.contains("not supported")
}

/// A run error reduced to its kind (`unknown helper 84 (bpf_sk_lookup_tcp)`, `map type
/// sk_storage`, `kfunc call`, ...), for counting.
pub fn unsupported_kind(why: &str) -> String {
    if let Some(i) = why.find("unknown helper") {
        return why[i..].to_string();
    }
    if let Some(i) = why.find("map type ") {
        let rest = &why[i..];
        let end = rest.find(" is").unwrap_or(rest.len());
        return rest[..end].to_string();
    }
    if why.contains("kfunc call") {
        return "kfunc call".into();
    }
    why.to_string()
}
