//! `bpfbox selftest`: run the kernel's verifier selftests (objects built by
//! `tests/selftests/build.sh`) against the running kernel and bpfbox, one row per test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bpfbox_kernel_compare::probe::Probe;
use bpfbox_kernel_compare::selftest::runner::unsupported_kind;
use bpfbox_kernel_compare::selftest::{
    Environment, MatchResult, Parity, RetvalComparison, SelftestObject, Status, TestOutcome,
};
use indicatif::{ProgressBar, ProgressStyle};
use regex::Regex;

use super::{print_json, CliError, CliResult};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// An aligned table, one row per test, then a summary line.
    #[default]
    Table,
    /// CSV, one line per test.
    Csv,
    /// Everything as JSON.
    Json,
}

/// Arguments of `bpfbox selftest`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
tests/selftests/build.sh target/selftests-obj\n  \
sudo bpfbox selftest target/selftests-obj\n  \
sudo bpfbox selftest target/selftests-obj/verifier_and.o --filter 'invalid' -o csv\n  \
sudo bpfbox selftest target/selftests-obj --known tests/selftests/known.txt\n\n\
Columns: the annotation's verdict, the kernel's, bpfbox's verifier's, processed instructions,\n\
the first error line, the __msg and __xlated checks, and the __retval of the kernel and of\n\
bpfbox's interpreter. The line before the summary gives bpfbox's verifier against the kernel\n\
(same verdict, same error line, processed instructions); --parity-table adds them per file.\n\
Needs root (or CAP_BPF): without it, says why in one line and exits 3.\n\
Exit codes: 0 all agree, 1 a disagreement (not listed in --known) or a __retval where\n\
bpfbox and the kernel differ, 2 usage error, 3 internal or unsupported.")]
pub struct SelftestArgs {
    /// Selftest objects, or directories of them (every `*.o` inside).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Only tests whose `OBJECT/NAME` or program name matches this regular expression.
    #[arg(long)]
    filter: Option<String>,
    /// Tests known to disagree (`OBJECT/NAME<TAB>reason` per line): they do not fail the run.
    #[arg(long)]
    known: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: Output,
    /// Same as `-o json`.
    #[arg(long)]
    json: bool,
    /// Print the verifier log (and translated program) of each disagreeing test after the
    /// table.
    #[arg(long)]
    show_log: bool,
    /// After the rows, bpfbox's verifier against the kernel per object file, as a Markdown
    /// table.
    #[arg(long)]
    parity_table: bool,
    /// The capabilities of the privileged-mode loads, on both sides: `full`, or `bpf-only`
    /// (the kernel loads from a thread that keeps CAP_BPF and drops CAP_PERFMON and
    /// CAP_SYS_ADMIN; bpfbox verifies as such a load), which compares the unprivileged
    /// pointer, stack and speculation rules with the kernel's. The `@unpriv` tests are
    /// verified without any capability and judged against their annotations while the
    /// kernel refuses unprivileged loads.
    #[arg(long, value_enum, default_value_t = SelftestPrivilege::Full)]
    privilege: SelftestPrivilege,
}

/// `--privilege`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SelftestPrivilege {
    Full,
    BpfOnly,
}

/// The agreement counts printed after the rows.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Tests.
    pub tests: usize,
    /// Tests whose verdict, messages and return value were as annotated.
    pub agree: usize,
    /// Tests the kernel judged otherwise.
    pub disagree: usize,
    /// ... of which listed as known.
    pub known: usize,
    /// Tests the kernel cannot say about here.
    pub cannot_say: usize,
    /// Tests not run here.
    pub not_run: usize,
    /// Tests whose load verdict alone equals the annotation.
    pub verdict_agree: usize,
    /// `__retval` tests both the kernel and bpfbox ran, with the same value.
    pub retval_same: usize,
    /// ... with different values (or bpfbox failed where the kernel ran).
    pub retval_differ: usize,
    /// ... of which listed as known (`retval:OBJECT/NAME` in `--known`).
    pub retval_known: usize,
    /// `__retval(POINTER_VALUE)` tests: a pointer, not compared.
    pub retval_pointer: usize,
    /// `__retval` tests of accepted programs bpfbox could not run.
    pub retval_not_run: usize,
    /// ... by reason.
    pub retval_not_run_by_reason: std::collections::BTreeMap<String, usize>,
}

impl Summary {
    fn of(rows: &[TestOutcome], known: &HashMap<String, String>) -> Summary {
        let mut s = Summary {
            tests: rows.len(),
            ..Summary::default()
        };
        for r in rows {
            match r.status {
                Status::Agree => s.agree += 1,
                Status::Disagree => {
                    s.disagree += 1;
                    if known.contains_key(&key(r)) {
                        s.known += 1;
                    }
                }
                Status::CannotSay => s.cannot_say += 1,
                Status::NotRun => s.not_run += 1,
            }
            if r.verdict_agrees() {
                s.verdict_agree += 1;
            }
            match r.retval_comparison() {
                RetvalComparison::Same => s.retval_same += 1,
                RetvalComparison::Differ => {
                    s.retval_differ += 1;
                    if known.contains_key(&format!("retval:{}", key(r))) {
                        s.retval_known += 1;
                    }
                }
                RetvalComparison::PointerValue => s.retval_pointer += 1,
                RetvalComparison::BpfboxCannotRun(why) => {
                    s.retval_not_run += 1;
                    *s.retval_not_run_by_reason
                        .entry(unsupported_kind(&why))
                        .or_default() += 1;
                }
                RetvalComparison::NotCompared => {}
            }
        }
        s
    }

    fn line(&self) -> String {
        format!(
            "{} tests: {} agree, {} disagree ({} known), {} cannot say, {} not run; \
             verdict as annotated: {}; __retval bpfbox = kernel: {}, differ: {} ({} known), \
             pointer: {}, bpfbox cannot run: {}",
            self.tests,
            self.agree,
            self.disagree,
            self.known,
            self.cannot_say,
            self.not_run,
            self.verdict_agree,
            self.retval_same,
            self.retval_differ,
            self.retval_known,
            self.retval_pointer,
            self.retval_not_run
        )
    }
}

/// `OBJECT/NAME`: how a test is named in `--known` and `--filter`.
fn key(r: &TestOutcome) -> String {
    r.id.clone()
}

/// Reads a known list: `OBJECT/NAME<TAB>reason` lines, `#` comments.
pub fn read_known(path: &Path) -> Result<HashMap<String, String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, reason) = line.split_once('\t').ok_or_else(|| {
            CliError::usage(format!(
                "{}:{}: expected `OBJECT/NAME<TAB>reason`",
                path.display(),
                i + 1
            ))
        })?;
        out.insert(name.to_string(), reason.trim().to_string());
    }
    Ok(out)
}

fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", p.display())))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "o"))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            super::input::check_object(p)?;
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Columns of a row.
const COLUMNS: usize = 11;

fn match_cell(m: Option<&MatchResult>) -> String {
    match m {
        None => "-".into(),
        Some(m) if m.ok() => format!("ok {}/{}", m.matched, m.total),
        Some(m) => format!("FAIL {}/{}", m.matched, m.total),
    }
}

fn cells(r: &TestOutcome) -> [String; COLUMNS] {
    [
        key(r),
        r.expected.label().into(),
        r.kernel.as_ref().map_or("-", |v| v.label()).into(),
        r.bpfbox.as_ref().map_or("-", |v| v.label()).into(),
        dash(r.processed_insns),
        match_cell(r.msgs.as_ref()),
        match_cell(r.xlated.as_ref()),
        dash(r.retval),
        r.kernel_retval
            .as_ref()
            .map_or_else(|| "-".into(), |v| v.label()),
        r.bpfbox_retval
            .as_ref()
            .map_or_else(|| "-".into(), |v| v.label()),
        r.status.label().into(),
    ]
}

const HEADERS: [&str; COLUMNS] = [
    "test",
    "expected",
    "kernel",
    "bpfbox",
    "insns",
    "__msg",
    "__xlated",
    "__retval",
    "kernel rv",
    "bpfbox rv",
    "status",
];

fn table(rows: &[TestOutcome]) -> String {
    let all: Vec<[String; COLUMNS]> = rows.iter().map(cells).collect();
    let mut w = HEADERS.map(str::len);
    for c in &all {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let mut out = String::new();
    let fmt_row = |cols: &[String], out: &mut String, extra: Option<&str>| {
        let mut line = String::new();
        for (i, s) in cols.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&format!("{s:<width$}", width = w[i]));
        }
        if let Some(e) = extra {
            line.push_str("  ");
            line.push_str(e);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    let head: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    fmt_row(&head, &mut out, Some("first error / reason"));
    for (r, c) in rows.iter().zip(&all) {
        let extra = r
            .reason
            .as_deref()
            .or(r.first_error.as_deref())
            .unwrap_or("");
        fmt_row(c, &mut out, Some(extra));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(rows: &[TestOutcome]) -> String {
    let mut out = HEADERS.join(",");
    out.push_str(",first error,reason\n");
    for r in rows {
        let mut c: Vec<String> = cells(r).iter().map(|s| csv_field(s)).collect();
        c.push(csv_field(r.first_error.as_deref().unwrap_or("")));
        c.push(csv_field(r.reason.as_deref().unwrap_or("")));
        out.push_str(&c.join(","));
        out.push('\n');
    }
    out
}

/// Runs `bpfbox selftest`.
pub fn run(a: SelftestArgs) -> CliResult {
    let filter = a
        .filter
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| CliError::usage(format!("--filter: {e}")))?;
    let known = match &a.known {
        Some(p) => read_known(p)?,
        None => HashMap::new(),
    };
    let files = expand(&a.paths)?;
    let probe = Probe::run();
    if let Some(reason) = probe.reason() {
        return Err(CliError::internal(reason));
    }
    let mut env = Environment::probe();
    if a.privilege == SelftestPrivilege::BpfOnly {
        env.privilege = bpfbox_verifier::Privilege::BpfOnly;
    }
    let bar = ProgressBar::new(files.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    // Objects that are not readable BPF objects: a wrong input (status 2), as in every command.
    let mut bad_inputs = 0;
    for path in &files {
        bar.set_message(path.display().to_string());
        match SelftestObject::open(path, &env) {
            Ok(obj) => {
                for e in obj.specs.iter().filter_map(|s| s.as_ref().err()) {
                    errors.push(format!("{}: {e}", path.display()));
                }
                for (spec, unpriv) in obj.tests() {
                    if let Some(re) = &filter {
                        let k = obj.test_id(spec, unpriv);
                        if !re.is_match(&k) && !re.is_match(&spec.program) {
                            continue;
                        }
                    }
                    rows.push(obj.run(spec, unpriv, &env));
                }
            }
            Err(e) => {
                bad_inputs += 1;
                errors.push(format!("{}: {e}", path.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = Summary::of(&rows, &known);
    let parity = Parity::of(&rows);
    let output = if a.json { Output::Json } else { a.output };
    match output {
        Output::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                kernel: &'a Probe,
                tests: &'a [TestOutcome],
                errors: &'a [String],
                summary: &'a Summary,
                verifier: &'a Parity,
            }
            print_json(&Out {
                kernel: &probe,
                tests: &rows,
                errors: &errors,
                summary: &summary,
                verifier: &parity,
            })?;
        }
        Output::Csv => crate::out!("{}", csv(&rows))?,
        Output::Table => {
            crate::out!("{}", table(&rows))?;
            if a.show_log {
                for r in rows.iter().filter(|r| r.status == Status::Disagree) {
                    crate::outln!("\n--- {} ---\n{}", key(r), r.log.trim_end())?;
                    if !r.xlated_text.is_empty() {
                        crate::outln!(
                            "--- {} (translated) ---\n{}",
                            key(r),
                            r.xlated_text.trim_end()
                        )?;
                    }
                }
            }
            if a.parity_table {
                crate::out!("{}\n", parity.markdown())?;
            }
            // The summary stays the last line.
            if parity.annotation.judged > 0 {
                crate::outln!(
                    "{} ({} of the accepted-but-annotated-failure tests are accepted by this \
                     kernel with CAP_BPF alone)",
                    parity.annotation.annotation_line(),
                    parity.annotation_false_accepts_kernel_accepts.len()
                )?;
            }
            crate::outln!("{}", parity.total.states_line())?;
            crate::outln!("{}", parity.total.line())?;
            crate::outln!("{}", summary.line())?;
        }
    }
    if bad_inputs > 0 {
        return Err(CliError::usage(errors.join("\n")));
    }
    if output != Output::Json {
        for e in &errors {
            crate::errln!("bpfbox: {e}");
        }
    }
    let unexpected = rows
        .iter()
        .any(|r| r.status == Status::Disagree && !known.contains_key(&key(r)));
    if unexpected || summary.retval_differ > summary.retval_known {
        return Err(CliError::rejected(""));
    }
    if !errors.is_empty() {
        return Err(CliError::internal(format!(
            "{} object(s) or annotation(s) could not be read",
            errors.len()
        )));
    }
    Ok(())
}
