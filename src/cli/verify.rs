//! `bpfbox verify`: bpfbox's verifier on every program of some objects, in veristat's
//! columns; `--compare-kernel` puts the running kernel's verdict beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bpfbox_kernel_compare::probe::Probe;
use bpfbox_kernel_compare::report::{self, CompareOptions, CSV_HEADER};
use bpfbox_kernel_compare::verify::{self, VerifyAs};
use bpfbox_loader::Object;
use serde::Serialize;

use super::{print_json, CliError, CliResult};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// A table with veristat's columns.
    #[default]
    Table,
    /// CSV with veristat's field names (`veristat -C` reads it).
    Csv,
    /// JSON, with the error line and (with `--log-level`) the log of every program.
    Json,
}

/// Arguments of `bpfbox verify`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Verifies every program of each object as Linux 6.18's verifier \
would for a privileged load, and says why a program is refused, in the kernel's words. A \
program using a feature bpfbox's verifier does not handle yet is refused with a message \
saying so (verdict `unsupported`), never accepted.\n\n\
Examples:\n  bpfbox verify tests/fixtures/obj/example_xdp.o\n  \
bpfbox verify prog.o --prog xdp_main --log-level 2\n  \
bpfbox verify *.o -o csv > a.csv   # veristat -C a.csv b.csv\n  \
sudo bpfbox verify prog.o --compare-kernel\n\n\
Exit status: 0 every program accepted (or the verdicts agree with --compare-kernel), 1 a \
program rejected (or a verdict differs from the kernel's), 3 a program bpfbox cannot judge yet."
)]
pub struct VerifyArgs {
    /// BPF ELF objects.
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    /// Only the program with this function name.
    #[arg(long)]
    prog: Option<String>,
    /// Verifier log level: 0 none, 1 instructions and errors, 2 the state after every
    /// instruction (printed before the table, one block per program).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=2))]
    log_level: u32,
    /// Extra `prog_flags`, by name (`BPF_F_STRICT_ALIGNMENT|BPF_F_ANY_ALIGNMENT`) or number.
    #[arg(long, value_parser = parse_flags)]
    flags: Option<u32>,
    /// Verify as an unprivileged load (no CAP_BPF).
    #[arg(long)]
    unprivileged: bool,
    /// CO-RE target BTF; default: the running kernel's, when an object needs one.
    #[arg(long)]
    btf: Option<PathBuf>,
    /// Load each object into the running kernel too, and show both verdicts, error lines
    /// and processed-instruction counts (needs root or CAP_BPF).
    #[arg(long)]
    compare_kernel: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

fn parse_flags(s: &str) -> Result<u32, String> {
    bpfbox_kernel_compare::parse_prog_flags(s).map_err(|e| e.to_string())
}

/// One program's verdict.
#[derive(Debug, Serialize)]
struct Row {
    file: String,
    program: String,
    prog_type: String,
    /// `accepted`, `rejected`, `unsupported` (bpfbox cannot judge it yet) or `not loaded`.
    verdict: &'static str,
    /// The failing instruction.
    insn: Option<usize>,
    /// The error, in the kernel's words.
    error: Option<String>,
    duration_us: u64,
    insns: u64,
    states: u64,
    peak_states: u64,
    max_states_per_insn: u64,
    mark_read: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
}

/// Runs `bpfbox verify`.
pub fn run(a: VerifyArgs) -> CliResult {
    for o in &a.objects {
        super::input::check_object(o)?;
    }
    if a.compare_kernel {
        return compare_kernel(&a);
    }
    let how = VerifyAs {
        privileged: !a.unprivileged,
        flags: a.flags.unwrap_or(0),
        log_level: a.log_level,
        without_btf: false,
    };
    let mut rows = Vec::new();
    for path in &a.objects {
        let obj = super::object::open(path, a.btf.as_deref())?;
        rows.extend(verify_object(&obj, path, a.prog.as_deref(), &how));
    }
    if let Some(p) = &a.prog {
        if rows.is_empty() {
            return Err(CliError::usage(format!(
                "no object has a program named '{p}'"
            )));
        }
    }
    match a.output {
        Output::Json => print_json(&rows)?,
        Output::Csv => crate::out!("{}", csv(&rows))?,
        Output::Table => {
            if a.log_level > 0 {
                for r in &rows {
                    crate::outln!("Processing '{}'/'{}'...", r.file, r.program)?;
                    crate::out!("{}\n", r.log.as_deref().unwrap_or(""))?;
                }
            }
            crate::out!("{}", table(&rows))?;
        }
    }
    if rows.iter().any(|r| r.verdict == "rejected") {
        Err(CliError {
            code: 1,
            message: String::new(),
        })
    } else if rows.iter().any(|r| r.verdict != "accepted") {
        Err(CliError {
            code: 3,
            message: String::new(),
        })
    } else {
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn verify_object(obj: &Object, path: &Path, only: Option<&str>, how: &VerifyAs) -> Vec<Row> {
    let file = file_name(path);
    let wanted = |name: &str| only.is_none_or(|p| p == name);
    let mut rows = Vec::new();
    for p in obj.programs().iter().filter(|p| wanted(&p.name)) {
        let start = Instant::now();
        let v = verify::verify(obj, p, how);
        let duration_us = start.elapsed().as_micros() as u64;
        rows.push(Row {
            file: file.clone(),
            program: p.name.clone(),
            prog_type: p.prog_type.name().to_string(),
            verdict: match (v.accepted, v.unsupported) {
                (true, _) => "accepted",
                (false, true) => "unsupported",
                (false, false) => "rejected",
            },
            insn: v.insn,
            error: v.error.clone(),
            duration_us,
            insns: v.stats.processed_insns,
            states: v.stats.total_states,
            peak_states: v.stats.peak_states,
            max_states_per_insn: v.stats.max_states_per_insn,
            mark_read: v.stats.mark_read,
            log: (how.log_level > 0).then_some(v.log),
        });
    }
    for e in obj.program_errors().iter().filter(|e| wanted(e.program())) {
        rows.push(Row {
            file: file.clone(),
            program: e.program().to_string(),
            prog_type: String::new(),
            verdict: "not loaded",
            insn: None,
            error: Some(e.to_string()),
            duration_us: 0,
            insns: 0,
            states: 0,
            peak_states: 0,
            max_states_per_insn: 0,
            mark_read: 0,
            log: None,
        });
    }
    rows
}

fn aligned(rows: &[Vec<String>]) -> String {
    let mut width = vec![0; rows.first().map_or(0, Vec::len)];
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(rule.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}

fn table(rows: &[Row]) -> String {
    let mut cells = vec![[
        "File",
        "Program",
        "Type",
        "Verdict",
        "Duration (us)",
        "Insns",
        "States",
        "Peak states",
    ]
    .map(String::from)
    .to_vec()];
    for r in rows {
        cells.push(vec![
            r.file.clone(),
            r.program.clone(),
            r.prog_type.clone(),
            r.verdict.to_string(),
            r.duration_us.to_string(),
            r.insns.to_string(),
            r.states.to_string(),
            r.peak_states.to_string(),
        ]);
    }
    let mut out = aligned(&cells);
    let errors: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let e = r.error.as_deref()?.replace('\n', " / ");
            let at = r.insn.map(|i| format!("insn {i}: ")).unwrap_or_default();
            Some(format!("{}/{}: {at}{e}", r.file, r.program))
        })
        .collect();
    if !errors.is_empty() {
        out.push('\n');
        for e in errors {
            out.push_str(&e);
            out.push('\n');
        }
    }
    let count = |v: &str| rows.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "\n{} programs: {} accepted, {} rejected, {} bpfbox cannot judge yet, {} not loaded\n",
        rows.len(),
        count("accepted"),
        count("rejected"),
        count("unsupported"),
        count("not loaded")
    ));
    out
}

fn csv(rows: &[Row]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in rows {
        let verdict = if r.verdict == "accepted" {
            "success"
        } else {
            "failure"
        };
        out.push_str(&format!(
            "{},{},{verdict},{},{},{},{},{},{}\n",
            r.file.replace(',', "_"),
            r.program,
            r.duration_us,
            r.insns,
            r.states,
            r.peak_states,
            r.max_states_per_insn,
            r.mark_read
        ));
    }
    out
}

/// `--compare-kernel`: both verdicts, error lines and counts, side by side.
fn compare_kernel(a: &VerifyArgs) -> CliResult {
    if a.unprivileged {
        return Err(CliError::usage(
            "--compare-kernel loads privileged; this kernel refuses unprivileged BPF",
        ));
    }
    let probe = Probe::run();
    if let Some(reason) = probe.reason() {
        return Err(CliError::internal(reason));
    }
    let opts = CompareOptions {
        prog: a.prog.clone(),
        log_level: a.log_level.max(1),
        prog_flags: a.flags.unwrap_or(0),
        ncpus: probe.possible_cpus,
        keep_logs: a.log_level > 0 || a.output == Output::Json,
        target_btf: a
            .btf
            .as_ref()
            .map(|b| {
                bpfbox_loader::load_btf_file(b)
                    .map_err(|e| CliError::usage(format!("--btf {}: {e}", b.display())))
            })
            .transpose()?,
        ..CompareOptions::default()
    };
    let mut reports = Vec::new();
    for path in &a.objects {
        let r = report::compare_file(path, &opts)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
        reports.push(r);
    }
    let rows: Vec<&report::ProgramRow> = reports.iter().flat_map(|r| &r.programs).collect();
    match a.output {
        Output::Json => print_json(&rows)?,
        Output::Csv => crate::out!("{}", report::csv(&reports))?,
        Output::Table => {
            let mut cells = vec![[
                "File",
                "Program",
                "Verdict (bpfbox)",
                "Verdict (kernel)",
                "Insns (bpfbox)",
                "Insns (kernel)",
                "",
            ]
            .map(String::from)
            .to_vec()];
            let opt = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
            for r in &rows {
                cells.push(vec![
                    r.file.clone(),
                    r.program.clone(),
                    r.bpfbox_label().to_string(),
                    r.kernel_verdict.label().to_string(),
                    opt(r.bpfbox_insns),
                    opt(r.insns),
                    if r.verdict_mismatch() {
                        "MISMATCH".into()
                    } else {
                        String::new()
                    },
                ]);
            }
            let mut out = aligned(&cells);
            for r in &rows {
                let kernel = (r.kernel_verdict != bpfbox_kernel_compare::Verdict::Accepted)
                    .then_some(r.reason.as_deref())
                    .flatten();
                if r.bpfbox_reason.is_none() && kernel.is_none() {
                    continue;
                }
                out.push_str(&format!("\n{}/{}:\n", r.file, r.program));
                if let Some(e) = &r.bpfbox_reason {
                    out.push_str(&format!("  bpfbox: {e}\n"));
                }
                if let Some(e) = kernel {
                    out.push_str(&format!("  kernel: {e}\n"));
                }
                if a.log_level > 0 {
                    if let Some(log) = &r.log {
                        out.push_str("  kernel log:\n");
                        for l in log.lines() {
                            out.push_str(&format!("    {l}\n"));
                        }
                    }
                }
            }
            let s = report::Summary::of(&reports);
            out.push_str(&format!(
                "\n{} programs: {} verdicts differ, bpfbox cannot judge {} yet\n",
                s.programs, s.verdict_mismatches, s.bpfbox_unsupported
            ));
            crate::out!("{out}")?;
        }
    }
    if rows.iter().any(|r| r.verdict_mismatch()) {
        Err(CliError {
            code: 1,
            message: String::new(),
        })
    } else {
        Ok(())
    }
}
