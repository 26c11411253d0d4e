//! `bpfbox compare`: load objects into the running kernel, and with `--run` run the same
//! inputs through the kernel and bpfbox, in a veristat-style table.

use std::path::PathBuf;

use bpfbox_kernel_compare::probe::Probe;
use bpfbox_kernel_compare::report::{self, CompareOptions, FileReport, Prefill, Summary};
use bpfbox_kernel_compare::{parse_prog_flags, Error as CompareError, RunInput};
use indicatif::{ProgressBar, ProgressStyle};

use super::{print_json, CliError, CliResult};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// An aligned table, one row per program, then mismatch details.
    #[default]
    Table,
    /// CSV with veristat's columns and field names (`veristat -C` reads it).
    Csv,
    /// Everything as JSON.
    Json,
}

/// Which engine runs bpfbox's side of `--run`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompareEngine {
    /// The interpreter (checked).
    #[default]
    Interp,
    /// The JIT in checked mode.
    Jit,
    /// The JIT in trusted mode (no checks, no meter): it runs the inputs the kernel's test
    /// run accepted for programs its verifier accepted, the interpreter the others.
    JitTrusted,
}

impl CompareEngine {
    /// The kernel-compare engine, `None` for the interpreter.
    fn engine(self) -> Option<bpfbox_kernel_compare::Engine> {
        use std::sync::Arc;
        let (name, mode) = match self {
            CompareEngine::Interp => return None,
            CompareEngine::Jit => ("jit", bpfbox_jit::Mode::Checked),
            CompareEngine::JitTrusted => ("jit-trusted", bpfbox_jit::Mode::Trusted),
        };
        Some(bpfbox_kernel_compare::Engine::new(
            name,
            mode == bpfbox_jit::Mode::Trusted,
            Arc::new(move |vm| {
                let vm = Arc::clone(vm);
                let jit = match mode {
                    bpfbox_jit::Mode::Checked => bpfbox_jit::JitProgram::compile(vm),
                    // SAFETY: an unchecked engine runs only programs the kernel's verifier
                    // accepted, on inputs the kernel's test run accepted (`Session::run`).
                    bpfbox_jit::Mode::Trusted => unsafe {
                        bpfbox_jit::JitProgram::compile_trusted(vm)
                    },
                };
                jit.map(|j| Box::new(j) as Box<dyn bpfbox_vm::testrun::Runner>)
                    .map_err(|e| e.to_string())
            }),
        ))
    }
}

/// Arguments of `bpfbox compare`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
sudo bpfbox compare /usr/lib/x86_64-linux-gnu/bpf/*.o\n  \
sudo bpfbox compare xdp_pass.o --run\n  \
sudo bpfbox compare xdpfilt_dny_tcp.o --run --prefill filter_ports:50000000:0600000000000000\n  \
sudo bpfbox compare prog.o --prog my_prog --run --data packet.bin --json\n  \
sudo bpfbox compare /usr/lib/x86_64-linux-gnu/bpf/*.o --run --engine jit\n  \
sudo bpfbox compare verifier_and.o --flags 'BPF_F_TEST_RND_HI32|BPF_F_TEST_REG_INVARIANTS'\n  \
sudo bpfbox compare *.o -o csv > a.csv   # veristat -C a.csv b.csv compares two runs\n\n\
Needs root (or CAP_BPF): without it, says why in one line and exits 3.\n\
Exit codes: 0 all agree, 1 a mismatch, 2 usage error, 3 internal or unsupported.")]
pub struct CompareArgs {
    /// BPF ELF objects.
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    /// Only this program, with the programs it needs (those a program-array initialiser
    /// names); the others of the object are not loaded.
    #[arg(long)]
    prog: Option<String>,
    /// Program flags OR-ed onto each program's own: names (`BPF_F_TEST_RND_HI32`,
    /// `BPF_F_STRICT_ALIGNMENT`, ..., `BPF_F_` optional) or numbers (`0x84`), joined by
    /// `|` or `,`.
    #[arg(long, value_parser = parse_flags_arg)]
    flags: Option<u32>,
    /// Run inputs through the kernel (BPF_PROG_TEST_RUN) and bpfbox, and compare.
    #[arg(long)]
    run: bool,
    /// The engine of bpfbox's runs: the interpreter, or the JIT beside the kernel's.
    #[arg(long, value_enum, default_value_t, requires = "run")]
    engine: CompareEngine,
    /// Input data files (packets); default: crafted packets for packet programs.
    #[arg(long, requires = "run")]
    data: Vec<PathBuf>,
    /// Context file (xdp_md, __sk_buff, raw tracepoint arguments) used with every input.
    #[arg(long, requires = "run")]
    ctx: Option<PathBuf>,
    /// Write a map entry on both sides before running: MAP:KEYHEX:VALUEHEX (per-CPU maps
    /// take one CPU's value for every CPU).
    #[arg(long, requires = "run")]
    prefill: Vec<Prefill>,
    /// Verifier log level: 0 statistics only (veristat's timing), 1 log, 2 verbose;
    /// `--show-log` and `-o json` raise 0 to 1.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=2))]
    log_level: u32,
    /// Print each program's verifier log after the table.
    #[arg(long)]
    show_log: bool,
    /// Where reproducers of mismatching runs are written.
    #[arg(long, default_value = "bpfbox-repro")]
    repro_dir: PathBuf,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: Output,
    /// Print JSON (the same as `-o json`).
    #[arg(long)]
    json: bool,
    /// CO-RE target BTF (raw BTF or an ELF file with .BTF); default: the running kernel's,
    /// when an object needs one.
    #[arg(long)]
    btf: Option<PathBuf>,
}

fn parse_flags_arg(s: &str) -> Result<u32, String> {
    parse_prog_flags(s).map_err(|e| e.to_string())
}

/// Runs `bpfbox compare`.
pub fn run(mut a: CompareArgs) -> CliResult {
    if a.json {
        a.output = Output::Json;
    }
    // Input files first, under the one error scheme, before asking the kernel anything.
    for o in &a.objects {
        super::input::check_object(o)?;
    }
    let probe = Probe::run();
    if let Some(reason) = probe.reason() {
        return Err(CliError::internal(reason));
    }
    let ctx = a.ctx.as_ref().map(|p| super::input::read(p)).transpose()?;
    let mut inputs = Vec::new();
    for d in &a.data {
        inputs.push(RunInput {
            name: d.file_name().map_or_else(
                || d.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            data: super::input::read(d)?,
            ctx: ctx.clone(),
        });
    }
    if inputs.is_empty() {
        if let Some(c) = &ctx {
            inputs.push(RunInput {
                name: "ctx".into(),
                data: Vec::new(),
                ctx: Some(c.clone()),
            });
        }
    }
    let opts = CompareOptions {
        prog: a.prog.clone(),
        run: a.run,
        inputs,
        prefill: a.prefill.clone(),
        log_level: if a.log_level == 0 && (a.show_log || a.output == Output::Json) {
            1
        } else {
            a.log_level
        },
        prog_flags: a.flags.unwrap_or(0),
        repro_dir: Some(a.repro_dir.clone()),
        ncpus: probe.possible_cpus,
        keep_logs: a.show_log || a.output == Output::Json,
        target_btf: a
            .btf
            .as_ref()
            .map(|b| {
                bpfbox_loader::load_btf_file(b)
                    .map_err(|e| CliError::usage(format!("--btf {}: {e}", b.display())))
            })
            .transpose()?,
        engine: a.engine.engine(),
    };
    let bar = if a.objects.len() > 1 {
        let b = ProgressBar::new(a.objects.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
            b.set_style(style);
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let mut reports: Vec<FileReport> = Vec::new();
    let mut failures = Vec::new();
    // Files that cannot be read or are not BPF objects: a wrong input (status 2).
    let mut bad_inputs = 0;
    let mut unknown = Vec::new();
    for path in &a.objects {
        bar.set_message(path.display().to_string());
        match report::compare_file(path, &opts) {
            Ok(r) => reports.push(r),
            // `--prog` over several objects picks the objects that have it.
            Err(e @ CompareError::UnknownProgram { .. }) => unknown.push(e.to_string()),
            Err(e) => {
                if matches!(
                    e,
                    CompareError::Io { .. } | CompareError::Loader(_) | CompareError::Input { .. }
                ) {
                    bad_inputs += 1;
                }
                failures.push(format!("{}: {e}", path.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if reports.is_empty() && failures.is_empty() && !unknown.is_empty() {
        return Err(CliError::usage(unknown.join("\n")));
    }
    let summary = Summary::of(&reports);
    match a.output {
        Output::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                kernel: &'a Probe,
                files: &'a [FileReport],
                errors: &'a [String],
                summary: &'a Summary,
            }
            print_json(&Out {
                kernel: &probe,
                files: &reports,
                errors: &failures,
                summary: &summary,
            })?;
        }
        Output::Csv => crate::out!("{}", report::csv(&reports))?,
        Output::Table => {
            crate::out!("{}", report::table(&reports, a.run))?;
            if a.show_log {
                for r in reports.iter().flat_map(|r| &r.programs) {
                    if let Some(log) = &r.log {
                        crate::outln!("\n--- {}/{} ---\n{}", r.file, r.program, log.trim_end())?;
                    }
                }
            }
        }
    }
    if summary.any_mismatch() {
        return Err(CliError::rejected(""));
    }
    if bad_inputs > 0 {
        return Err(CliError::usage(failures.join("\n")));
    }
    if !failures.is_empty() {
        return Err(CliError::internal(failures.join("\n")));
    }
    Ok(())
}
