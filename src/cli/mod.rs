//! The `bpfbox` command line: argument parsing, dispatch and exit codes.
//!
//! Exit codes: 0 success, 1 rejected or mismatch, 2 usage error, 3 internal or unsupported.

mod asm;
mod btf;
mod compare;
mod conformance;
mod disasm;
mod engine;
mod fuzz_kernel;
mod input;
mod jit_dump;
mod object;
mod plugin;
mod reloc;
mod run;
mod show;

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

Exit codes: 0 success, 1 rejected or mismatch, 2 usage error, 3 internal or unsupported.";

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
    Run(run::RunArgs),
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
    /// Show the native code the JIT makes of a program.
    JitDump(jit_dump::JitDumpArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
        Command::Run(a) => run::run(a),
        Command::Show(a) => show::run(a),
        Command::Conformance(a) => conformance::run(a),
        Command::ConformancePlugin(a) => plugin::run(a),
        Command::Btf(a) => btf::run(a),
        Command::Reloc(a) => reloc::run(a),
        Command::Compare(a) => compare::run(a),
        Command::FuzzKernel(a) => fuzz_kernel::run(a),
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
                eprintln!("bpfbox: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(v: &T) -> CliResult {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::internal(format!("cannot encode JSON: {e}")))?;
    println!("{s}");
    Ok(())
}
