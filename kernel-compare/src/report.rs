//! Comparing whole objects: load each into the kernel, optionally run inputs through the
//! kernel and bpfbox, and report one veristat-style row per program (table, CSV or JSON).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bpfbox_loader::Object;
use bpfbox_vm::ProgType;

use crate::error::{Error, Result};
use crate::load::{KernelObject, LoadOptions, Verdict};
use crate::packet;
use crate::repro;
use crate::run::{self, hex_bytes, Difference, RunComparison, RunInput, Session};

/// A map entry written on both sides before the runs (`MAP:KEYHEX:VALUEHEX`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prefill {
    /// Map name.
    pub map: String,
    /// Key bytes.
    #[serde(with = "hex_bytes")]
    pub key: Vec<u8>,
    /// Value bytes (one CPU's value for per-CPU maps is given to every CPU).
    #[serde(with = "hex_bytes")]
    pub value: Vec<u8>,
}

impl std::str::FromStr for Prefill {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut it = s.splitn(3, ':');
        let (Some(map), Some(key), Some(value)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("`{s}`: expected MAP:KEYHEX:VALUEHEX"));
        };
        if map.is_empty() || key.is_empty() || value.is_empty() {
            return Err(format!(
                "`{s}`: expected MAP:KEYHEX:VALUEHEX with a map name, a key and a value"
            ));
        }
        Ok(Prefill {
            map: map.to_string(),
            key: hex_bytes::parse(key)?,
            value: hex_bytes::parse(value)?,
        })
    }
}

/// What [`compare_file`] does.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// Only this program (by name).
    pub prog: Option<String>,
    /// Run inputs through both sides.
    pub run: bool,
    /// Inputs; when empty, [`default_inputs`] for each program's type.
    pub inputs: Vec<RunInput>,
    /// Map entries written on both sides before running.
    pub prefill: Vec<Prefill>,
    /// Verifier log level bits (1, 2); statistics are always collected.
    pub log_level: u32,
    /// Program flags OR-ed onto each program's own (`--flags`).
    pub prog_flags: u32,
    /// Where mismatch reproducers go (none written when `None`).
    pub repro_dir: Option<PathBuf>,
    /// Number of possible CPUs (per-CPU map values).
    pub ncpus: u32,
    /// Keep the full verifier log in the rows.
    pub keep_logs: bool,
    /// CO-RE target BTF; `None`: the running kernel's, when an object needs one.
    pub target_btf: Option<std::sync::Arc<bpfbox_btf::Btf>>,
    /// The engine of bpfbox's runs; `None`: the interpreter.
    pub engine: Option<run::Engine>,
}

/// One program's row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProgramRow {
    /// Object file name.
    pub file: String,
    /// Program name.
    pub program: String,
    /// Program type.
    pub prog_type: String,
    /// The kernel's verdict.
    pub kernel_verdict: Verdict,
    /// The kernel's errno when refused.
    pub kernel_errno: Option<i32>,
    /// Why the kernel could not say / why not loaded / the verifier's last line.
    pub reason: Option<String>,
    /// bpfbox's verifier verdict (none when the loader did not build the program).
    pub bpfbox_verdict: Option<Verdict>,
    /// Whether bpfbox rejects only because a feature is not supported yet (not a mismatch).
    pub bpfbox_unsupported: bool,
    /// bpfbox's verifier's error line, when it rejects.
    pub bpfbox_reason: Option<String>,
    /// bpfbox's verifier's `processed N insns`.
    pub bpfbox_insns: Option<u64>,
    /// `verification time` in microseconds.
    pub duration_us: Option<u64>,
    /// `processed N insns`.
    pub insns: Option<u64>,
    /// `total_states`.
    pub states: Option<u64>,
    /// `peak_states`.
    pub peak_states: Option<u64>,
    /// `max_states_per_insn`.
    pub max_states_per_insn: Option<u64>,
    /// `mark_read` (veristat's "max mark read length").
    pub mark_read: Option<u64>,
    /// Translated image size in bytes.
    pub xlated_len: Option<usize>,
    /// JIT image size in bytes.
    pub jited_len: Option<usize>,
    /// Runs compared.
    pub runs: usize,
    /// Runs that differed.
    pub run_mismatches: usize,
    /// Why the program was not run (with `--run`).
    pub not_run: Option<String>,
    /// The verifier log, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl ProgramRow {
    /// Whether the kernel's and bpfbox's verdicts disagree, or a run differed.
    pub fn mismatch(&self) -> bool {
        self.run_mismatches > 0 || self.verdict_mismatch()
    }

    /// Whether both verifiers judged the program and disagree (a rejection only because
    /// bpfbox does not support a feature yet is not a verdict).
    pub fn verdict_mismatch(&self) -> bool {
        matches!(self.kernel_verdict, Verdict::Accepted | Verdict::Rejected)
            && !self.bpfbox_unsupported
            && self
                .bpfbox_verdict
                .as_ref()
                .is_some_and(|b| *b != self.kernel_verdict)
    }

    /// The bpfbox verdict cell: `accepted`, `rejected`, `unsupported` or `-`.
    pub fn bpfbox_label(&self) -> &'static str {
        match &self.bpfbox_verdict {
            None => "-",
            Some(_) if self.bpfbox_unsupported => "unsupported",
            Some(v) => v.label(),
        }
    }
}

/// A run that differed, with where its reproducer went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mismatch {
    /// Object file name.
    pub file: String,
    /// The comparison.
    pub comparison: RunComparison,
    /// The reproducer directory, if one was written.
    pub reproducer: Option<PathBuf>,
}

/// The report for one object file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    /// The path given.
    pub path: PathBuf,
    /// One row per program.
    pub programs: Vec<ProgramRow>,
    /// Runs that differed.
    pub mismatches: Vec<Mismatch>,
    /// Why the BTF did not load, if it did not.
    pub btf_error: Option<String>,
    /// Maps the kernel refused.
    pub map_errors: Vec<String>,
}

/// The inputs `--run` uses by default for a program type.
pub fn default_inputs(t: ProgType) -> Vec<RunInput> {
    if run::takes_packet(t) {
        return packet::crafted()
            .into_iter()
            .map(|(name, data)| RunInput {
                name,
                data,
                ctx: None,
            })
            .collect();
    }
    let words = |ws: &[u64]| ws.iter().flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>();
    match t {
        ProgType::RawTracepoint | ProgType::RawTracepointWritable => vec![
            RunInput {
                name: "args_zero".into(),
                data: Vec::new(),
                ctx: Some(words(&[0; 4])),
            },
            RunInput {
                name: "args_1_to_6".into(),
                data: Vec::new(),
                ctx: Some(words(&[1, 2, 3, 4, 5, 6])),
            },
        ],
        ProgType::Syscall => vec![
            RunInput {
                name: "no_ctx".into(),
                data: Vec::new(),
                ctx: None,
            },
            RunInput {
                name: "ctx_64".into(),
                data: Vec::new(),
                ctx: Some((0..64).collect()),
            },
        ],
        _ => Vec::new(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Loads one object into the kernel, runs inputs if asked, and reports.
pub fn compare_file(path: &Path, opts: &CompareOptions) -> Result<FileReport> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let obj = Object::from_file_relocated(path, opts.target_btf.clone())?;
    let k = KernelObject::load_named(
        &bytes,
        &obj,
        &LoadOptions {
            log_level: opts.log_level | crate::sys::BPF_LOG_STATS,
            prog_flags: opts.prog_flags,
            programs: opts.prog.clone().map(|p| [p].into()),
            ..LoadOptions::default()
        },
        &path.display().to_string(),
    )?;
    let file = file_name(path);
    let selected = |name: &str| opts.prog.as_deref().is_none_or(|p| p == name);
    let mut programs: Vec<ProgramRow> = k
        .programs
        .iter()
        .filter(|p| selected(&p.name))
        .map(|p| ProgramRow {
            file: file.clone(),
            program: p.name.clone(),
            prog_type: p.prog_type.clone(),
            kernel_verdict: p.verdict.clone(),
            kernel_errno: p.errno,
            reason: p.reason.clone(),
            bpfbox_verdict: None,
            bpfbox_unsupported: false,
            bpfbox_reason: None,
            bpfbox_insns: None,
            duration_us: p.stats.verification_time_us,
            insns: p.stats.processed_insns,
            states: p.stats.total_states,
            peak_states: p.stats.peak_states,
            max_states_per_insn: p.stats.max_states_per_insn,
            mark_read: p.stats.mark_read,
            xlated_len: p.xlated_len,
            jited_len: p.jited_len,
            runs: 0,
            run_mismatches: 0,
            not_run: None,
            log: opts.keep_logs.then(|| p.log.clone()),
        })
        .collect();
    for row in &mut programs {
        let Some(p) = obj.program(&row.program) else {
            continue;
        };
        let how = crate::verify::VerifyAs {
            flags: opts.prog_flags,
            // libbpf loads the programs without BTF once the kernel refused the object's.
            without_btf: k.btf_error.is_some(),
            ..crate::verify::VerifyAs::default()
        };
        let v = crate::verify::verify(&obj, p, &how);
        row.bpfbox_verdict = Some(crate::verify::label(&v));
        row.bpfbox_unsupported = v.unsupported;
        row.bpfbox_reason = crate::verify::error_line(&v);
        row.bpfbox_insns = Some(v.stats.processed_insns);
    }
    let mut mismatches = Vec::new();
    if opts.run {
        let mut s = Session::new(&obj, &k, opts.ncpus.max(1));
        if let Some(e) = &opts.engine {
            s.set_engine(e);
        }
        for pf in &opts.prefill {
            s.prefill(&pf.map, &pf.key, &pf.value)
                .map_err(|msg| Error::Input {
                    input: format!("--prefill {}", pf.map),
                    msg,
                })?;
        }
        for row in &mut programs {
            let Some(p) = obj.program(&row.program) else {
                row.not_run = row.reason.clone().or_else(|| Some("not loaded".into()));
                continue;
            };
            let inputs = if opts.inputs.is_empty() {
                default_inputs(p.prog_type)
            } else {
                opts.inputs.clone()
            };
            if inputs.is_empty() {
                row.not_run = Some(format!(
                    "no default input for {} programs",
                    p.prog_type.name()
                ));
                continue;
            }
            for input in &inputs {
                match s.run(&row.program, input) {
                    Ok(c) => {
                        row.runs += 1;
                        if !c.matches() {
                            row.run_mismatches += 1;
                            let reproducer = match &opts.repro_dir {
                                Some(dir) => {
                                    Some(repro::write(dir, path, &c, input, &opts.prefill)?)
                                }
                                None => None,
                            };
                            mismatches.push(Mismatch {
                                file: file.clone(),
                                comparison: c,
                                reproducer,
                            });
                        }
                    }
                    Err(e) => {
                        row.not_run = Some(e.reason);
                        break;
                    }
                }
            }
        }
    }
    Ok(FileReport {
        path: path.to_path_buf(),
        programs,
        mismatches,
        btf_error: k.btf_error.clone(),
        map_errors: k
            .maps
            .iter()
            .filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.spec.name)))
            .collect(),
    })
}

/// Totals over reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Programs seen.
    pub programs: usize,
    /// Accepted by the kernel.
    pub accepted: usize,
    /// Refused by the kernel.
    pub rejected: usize,
    /// The kernel could not say.
    pub cannot_say: usize,
    /// We could not build them.
    pub not_loaded: usize,
    /// Runs compared.
    pub runs: usize,
    /// Runs that differed.
    pub run_mismatches: usize,
    /// Programs with a verdict mismatch.
    pub verdict_mismatches: usize,
    /// Programs bpfbox's verifier cannot judge yet.
    pub bpfbox_unsupported: usize,
}

impl Summary {
    /// Totals of `reports`.
    pub fn of(reports: &[FileReport]) -> Summary {
        let mut s = Summary::default();
        for r in reports.iter().flat_map(|r| &r.programs) {
            s.programs += 1;
            match r.kernel_verdict {
                Verdict::Accepted => s.accepted += 1,
                Verdict::Rejected => s.rejected += 1,
                Verdict::CannotSay => s.cannot_say += 1,
                Verdict::NotLoaded => s.not_loaded += 1,
            }
            s.runs += r.runs;
            s.run_mismatches += r.run_mismatches;
            if r.verdict_mismatch() {
                s.verdict_mismatches += 1;
            }
            if r.bpfbox_unsupported {
                s.bpfbox_unsupported += 1;
            }
        }
        s
    }

    /// Whether anything differed.
    pub fn any_mismatch(&self) -> bool {
        self.run_mismatches > 0 || self.verdict_mismatches > 0
    }

    /// One line (`21 programs: 19 accepted, ...`).
    pub fn line(&self) -> String {
        format!(
            "{} programs: {} accepted, {} rejected, {} kernel cannot say, {} not loaded; \
             {} runs compared, {} mismatches ({} verdicts, {} runs); \
             bpfbox's verifier cannot judge {} yet",
            self.programs,
            self.accepted,
            self.rejected,
            self.cannot_say,
            self.not_loaded,
            self.runs,
            self.run_mismatches + self.verdict_mismatches,
            self.verdict_mismatches,
            self.run_mismatches,
            self.bpfbox_unsupported
        )
    }
}

const HEADERS: [&str; 12] = [
    "File",
    "Program",
    "Type",
    "Verdict (kernel)",
    "Verdict (bpfbox)",
    "Duration (us)",
    "Insns",
    "States",
    "Xlated",
    "Jited",
    "Runs",
    "Diff",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn cells(r: &ProgramRow, with_runs: bool) -> [String; 12] {
    let runs = if !with_runs {
        "-".to_string()
    } else if r.runs == 0 && r.not_run.is_some() {
        "not run".to_string()
    } else {
        format!("{}/{}", r.runs - r.run_mismatches, r.runs)
    };
    [
        r.file.clone(),
        r.program.clone(),
        r.prog_type.clone(),
        r.kernel_verdict.label().to_string(),
        r.bpfbox_label().to_string(),
        opt(r.duration_us),
        opt(r.insns),
        opt(r.states),
        opt(r.xlated_len),
        opt(r.jited_len),
        runs,
        if r.mismatch() {
            "MISMATCH".into()
        } else {
            String::new()
        },
    ]
}

/// The veristat-style table, then mismatch details, notes and the summary line.
pub fn table(reports: &[FileReport], with_runs: bool) -> String {
    let rows: Vec<[String; 12]> = reports
        .iter()
        .flat_map(|r| &r.programs)
        .map(|r| cells(r, with_runs))
        .collect();
    let mut width = HEADERS.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let s: Vec<String> = cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", s.join("  ").trim_end());
    };
    line(&mut out, &HEADERS.map(String::from));
    line(&mut out, &width.map(|w| "-".repeat(w)));
    for r in &rows {
        line(&mut out, r);
    }
    let notes: Vec<String> = reports
        .iter()
        .flat_map(|r| &r.programs)
        .filter_map(|r| {
            let why = match r.kernel_verdict {
                Verdict::Accepted => r
                    .not_run
                    .clone()
                    .filter(|_| with_runs)
                    .map(|n| format!("not run: {n}")),
                _ => r.reason.clone(),
            }?;
            Some(format!("{}/{}: {why}", r.file, r.program))
        })
        .chain(reports.iter().flat_map(|r| &r.programs).filter_map(|r| {
            let why = r.bpfbox_reason.as_ref()?;
            Some(format!("{}/{}: bpfbox: {why}", r.file, r.program))
        }))
        .chain(reports.iter().filter_map(|r| {
            r.btf_error
                .as_ref()
                .map(|e| format!("{}: BTF not loaded: {e}", file_name(&r.path)))
        }))
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    for m in reports.iter().flat_map(|r| &r.mismatches) {
        let c = &m.comparison;
        let _ = writeln!(out, "\nMISMATCH {} {} input {}", m.file, c.program, c.input);
        out.push_str(&differences(&c.differences));
        if let Some(dir) = &m.reproducer {
            let _ = writeln!(out, "  reproducer: {}", dir.display());
        }
    }
    let _ = writeln!(out, "\n{}", Summary::of(reports).line());
    out
}

/// Differences as aligned `what  kernel  bpfbox` lines.
pub fn differences(d: &[Difference]) -> String {
    let mut out = String::new();
    for x in d {
        let _ = writeln!(
            out,
            "  {}:\n    kernel: {}\n    bpfbox: {}",
            x.what, x.kernel, x.bpfbox
        );
    }
    out
}

/// veristat's CSV columns (`veristat -o csv`), by their field names.
pub const CSV_HEADER: &str = "file_name,prog_name,verdict,duration,total_insns,total_states,\
peak_states,max_states_per_insn,mark_read";

/// One CSV line per program with veristat's columns and values, so that `veristat -C`
/// and `veristat -R` read it: every field is present (a missing number is 0, as veristat
/// prints it), the verdict is `success` or `failure` (a program the kernel did not judge
/// is a `failure`, as for veristat any program that did not load), and fields are not
/// quoted (veristat splits on commas).
pub fn csv(reports: &[FileReport]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in reports.iter().flat_map(|r| &r.programs) {
        let n = |v: Option<u64>| v.unwrap_or(0).to_string();
        let verdict = if r.kernel_verdict == Verdict::Accepted {
            "success"
        } else {
            "failure"
        };
        let fields = [
            r.file.replace(',', "_"),
            r.program.clone(),
            verdict.to_string(),
            n(r.duration_us),
            n(r.insns),
            n(r.states),
            n(r.peak_states),
            n(r.max_states_per_insn),
            n(r.mark_read),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefill_parses() {
        let p: Prefill = "filter_ports:50000000:0600000000000000".parse().unwrap();
        assert_eq!(p.map, "filter_ports");
        assert_eq!(p.key, vec![0x50, 0, 0, 0]);
        assert_eq!(p.value.len(), 8);
        assert!("x:1".parse::<Prefill>().is_err());
        assert!("x:1:22".parse::<Prefill>().is_err());
        // Empty parts name nothing (they once reached the kernel as an empty map name).
        for bad in ["::", "m::00", "m:00:", ":00:00"] {
            assert!(bad.parse::<Prefill>().is_err(), "{bad}");
        }
    }
}
