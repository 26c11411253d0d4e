//! `bpfbox conformance-plugin`: the upstream bpf_conformance runner's plugin protocol.
//!
//! The runner starts the plugin once per test with the memory as one hex argument (omitted
//! when empty), then plugin options; the program arrives on stdin as hex text. We print r0 in
//! hex and exit 0, or print the error and exit 1. With `--elf` the program arrives as an ELF
//! object instead of raw instructions.

use std::io::Read;

use bpfbox_loader::elf::ElfFile;
use bpfbox_vm::isa::slots_from_bytes;
use bpfbox_vm::Vm;

use super::input::parse_hex;
use super::{CliError, CliResult};

/// Arguments of `bpfbox conformance-plugin`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example (as the upstream runner calls it):\n  \
echo 'b7  00  00  00  2a  00  00  00  95  00  00  00  00  00  00  00' | bpfbox conformance-plugin")]
pub struct PluginArgs {
    /// Memory hex, then any runner options (`--debug`, `--program HEX`, `--elf`,
    /// `--engine interp|jit`).
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// Runs `bpfbox conformance-plugin`.
pub fn run(a: PluginArgs) -> CliResult {
    let mut mem = Vec::new();
    let mut program_hex = None;
    let mut debug = false;
    let mut elf = false;
    let mut engine = super::engine::RunEngine::Interp;
    let mut args = a.args.iter().peekable();
    if let Some(first) = args.peek() {
        if !first.starts_with("--") {
            mem = parse_hex(first)?;
            args.next();
        }
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--debug" => debug = true,
            "--program" => {
                program_hex = Some(
                    args.next()
                        .ok_or_else(|| CliError::usage("--program needs a value"))?
                        .clone(),
                )
            }
            "--elf" => elf = true,
            "--engine" => {
                engine = match args.next().map(String::as_str) {
                    Some("interp") => super::engine::RunEngine::Interp,
                    Some("jit") => super::engine::RunEngine::Jit,
                    other => {
                        return Err(CliError::usage(format!(
                            "--engine takes interp or jit, not {}",
                            other.unwrap_or("nothing")
                        )))
                    }
                }
            }
            // The runner forwards options meant for other plugins; ignore them like upstream.
            _ => {}
        }
    }
    let hex = match program_hex {
        Some(h) => h,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            s
        }
    };
    let bytes = parse_hex(&hex)?;
    let code = if elf { elf_main(&bytes)? } else { bytes };
    let slots = slots_from_bytes(&code).map_err(|e| CliError::rejected(e.to_string()))?;
    if debug {
        crate::errln!(
            "memory: {} bytes, program: {} slots",
            mem.len(),
            slots.len()
        );
    }
    let vm = Vm::new(&slots).map_err(|e| CliError::rejected(e.to_string()))?;
    let (out, _) = super::engine::run_raw(vm, engine, &mut mem, 1)?
        .map_err(|f| CliError::rejected(f.to_string()))?;
    crate::outln!("{:x}", out.r0)?;
    Ok(())
}

/// The instructions of the runner's ELF form: the executable section (`.text`, or `xdp` with
/// the runner's XDP prologue) that holds the global function `main`.
fn elf_main(bytes: &[u8]) -> Result<Vec<u8>, CliError> {
    let elf = ElfFile::parse(bytes).map_err(|e| CliError::rejected(format!("ELF: {e}")))?;
    let section = elf
        .symbols
        .iter()
        .find(|s| s.name == "main")
        .and_then(|s| elf.section(s.shndx))
        .or_else(|| elf.sections.iter().find(|s| s.is_exec()))
        .filter(|s| s.is_exec())
        .ok_or_else(|| CliError::rejected("ELF: no executable section holds `main`"))?;
    Ok(section.data.to_vec())
}
