//! The `bpfbox` command line: argument parsing, dispatch and exit codes.
//!
//! Exit status: 0 success (or stdout closed by its reader), 1 rejected, faulted or mismatch,
//! 2 usage error or a wrong input file, 3 unsupported or internal (see `EXIT_STATUS`).

mod asm;
mod btf;
mod compare;
mod conformance;
mod disasm;
mod engine;
mod fuzz_kernel;
mod helpers;
mod input;
mod jit_dump;
mod jsonw;
mod map_dump;
mod object;
pub mod out;
mod plugin;
mod reloc;
mod run;
mod selftest;
mod show;
mod verify;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct CliError {
    /// Exit status.
    pub code: u8,
    /// Message for stderr.
    pub message: String,
}

impl CliError {
    /// Exit 1: the program was rejected, faulted, or a comparison mismatched.
    pub fn rejected(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }

    /// Exit 2: the arguments or input files are wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// Exit 0 without a message: stdout's reader went away (a closed pipe).
    pub fn quiet() -> Self {
        CliError {
            code: 0,
            message: String::new(),
        }
    }

    /// Exit 3: something we do not support, or an internal failure.
    pub fn internal(message: impl Into<String>) -> Self {
        CliError {
            code: 3,
            message: message.into(),
        }
    }
}

/// Result of a subcommand.
pub type CliResult = Result<(), CliError>;

const AFTER_HELP: &str = "\
Examples:
  bpfbox run tests/fixtures/asm/ipv4_checksum.asm --mem-file tests/fixtures/asm/ipv4_packet.bin
  bpfbox asm prog.asm -o prog.bin
  bpfbox disasm prog.bin --syntax llvm --opcodes
  bpfbox conformance
  bpfbox conformance-plugin '01  02  ' < program.hex
  bpfbox btf dump /sys/kernel/btf/vmlinux --format c > vmlinux.h
  bpfbox reloc prog.o --btf /sys/kernel/btf/vmlinux
";

/// The error scheme every command follows, shown in every `--help`.
const EXIT_STATUS: &str = "\
Exit status (every command; messages go to stderr as `bpfbox: FILE: what`):
  0  success, also when the reader closes stdout early (`| head`)
  1  the program was rejected (decoder errors in the kernel's words) or faulted, or a
     comparison mismatched
  2  usage error: bad arguments, or an input file that is missing, unreadable, a directory,
     empty, or not what the command reads (not an ELF object, a truncated or malformed ELF,
     text that does not assemble: FILE:LINE:COLUMN: error)
  3  an unsupported feature, or an internal failure

Input kind is decided from content: the ELF magic makes an object; UTF-8 text without NUL
bytes is assembly (or a conformance .data file with `-- ` sections); anything else is raw
bytecode. A file named *.o must be an ELF object.";

/// The command with [`EXIT_STATUS`] after every subcommand's help.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let add = |c: clap::Command| {
        let text = match c.get_after_help() {
            Some(h) => format!("{h}\n\n{EXIT_STATUS}"),
            None => EXIT_STATUS.to_string(),
        };
        c.after_help(text)
    };
    add(Cli::command().mut_subcommands(|c| add(c.mut_subcommands(add))))
}

/// Run, check and compile eBPF programs in user space.
#[derive(Parser, Debug)]
#[command(name = "bpfbox", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Assemble bpf_conformance-syntax text into bytecode.
    Asm(asm::AsmArgs),
    /// Disassemble an ELF object's programs or bytecode (raw, assembly, conformance `.data`).
    Disasm(disasm::DisasmArgs),
    /// Run a program in the interpreter (an ELF object's program as BPF_PROG_TEST_RUN would).
    Run(Box<run::RunArgs>),
    /// Show an object's programs, maps, data sections, BTF types and relocations.
    Show(show::ShowArgs),
    /// Run the bpf_conformance suite.
    Conformance(conformance::ConformanceArgs),
    /// Act as a plugin of the upstream bpf_conformance runner.
    ConformancePlugin(plugin::PluginArgs),
    /// Inspect BTF.
    Btf(btf::BtfArgs),
    /// Show every CO-RE relocation of an object and its decision against a target BTF.
    Reloc(reloc::RelocArgs),
    /// Load objects into the running kernel and compare verdicts and runs with bpfbox.
    Compare(compare::CompareArgs),
    /// Compare generated programs between the kernel and the interpreter.
    FuzzKernel(fuzz_kernel::FuzzKernelArgs),
    /// Run the kernel's verifier selftests against the kernel and bpfbox.
    Selftest(selftest::SelftestArgs),
    /// Verify an object's programs as the kernel's verifier would (veristat's columns).
    Verify(verify::VerifyArgs),
    /// List the helpers, map types and program types the interpreter supports.
    Helpers(helpers::HelpersArgs),
    /// Show the native code the JIT makes of a program.
    JitDump(jit_dump::JitDumpArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let cli = match command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap uses 2 for usage errors and 0 for --help/--version.
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let result = match cli.command {
        Command::Asm(a) => asm::run(a),
        Command::Disasm(a) => disasm::run(a),
        Command::Run(a) => run::run(*a),
        Command::Show(a) => show::run(a),
        Command::Conformance(a) => conformance::run(a),
        Command::ConformancePlugin(a) => plugin::run(a),
        Command::Btf(a) => btf::run(a),
        Command::Reloc(a) => reloc::run(a),
        Command::Compare(a) => compare::run(a),
        Command::FuzzKernel(a) => fuzz_kernel::run(a),
        Command::Selftest(a) => selftest::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Helpers(a) => helpers::run(a),
        Command::JitDump(a) => jit_dump::run(a),
    };
    finish(result)
}

/// Entry point of the `bpfbox-conformance-plugin` binary: every argument goes to the plugin.
pub fn plugin_main() -> ExitCode {
    let args = std::env::args().skip(1).collect();
    finish(plugin::run(plugin::PluginArgs { args }))
}

fn finish(result: CliResult) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                // Not `eprintln!`: a closed stderr must not panic either.
                let _ = writeln!(std::io::stderr(), "bpfbox: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(v: &T) -> CliResult {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::internal(format!("cannot encode JSON: {e}")))?;
    crate::outln!("{s}")
}
