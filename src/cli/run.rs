//! `bpfbox run`: run a program in the interpreter, printing r0 as `bpftool prog run` does.

use std::path::PathBuf;

use bpfbox_vm::{FaultKind, Vm};

use super::input::{load_program, parse_hex};
use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox run`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The program gets r1 = a pointer to the memory and r2 = its length.\n\n\
Examples:\n  bpfbox run prog.asm --mem '01 02 03 04'\n  bpfbox run test.data --json"
)]
pub struct RunArgs {
    /// Raw bytecode, assembly text or a conformance `.data` file.
    file: PathBuf,
    /// Input memory as hex bytes (default: the file's `-- mem`, or none).
    #[arg(long, conflicts_with = "mem_file")]
    mem: Option<String>,
    /// Input memory from a file.
    #[arg(long)]
    mem_file: Option<PathBuf>,
    /// Instruction budget.
    #[arg(long, default_value_t = bpfbox_vm::interp::DEFAULT_BUDGET)]
    budget: u64,
    /// Skip memory checks (only for programs known to stay in bounds).
    #[arg(long)]
    unchecked: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox run`.
pub fn run(a: RunArgs) -> CliResult {
    let prog = load_program(&a.file)?;
    let mut mem = match (&a.mem, &a.mem_file) {
        (Some(h), _) => parse_hex(h)?,
        (None, Some(f)) => std::fs::read(f)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", f.display())))?,
        (None, None) => prog.mem.clone().unwrap_or_default(),
    };
    let mut vm = Vm::new(&prog.slots)
        .map_err(|e| CliError::rejected(format!("{}: {e}", a.file.display())))?;
    vm.set_budget(a.budget);
    if a.unchecked {
        // SAFETY: the user asked for unchecked execution with --unchecked, whose help says it
        // is only for programs that stay in bounds.
        unsafe { vm.set_unchecked() };
    }
    match vm.run_mem(&mut mem) {
        Ok(out) => {
            if a.json {
                print_json(&serde_json::json!({
                    "retval": out.r0,
                    "insns": out.insns,
                    "mem": hex(&mem),
                }))
            } else {
                println!("Return value: {} ({:#x})", out.r0, out.r0);
                println!("Instructions: {}", out.insns);
                Ok(())
            }
        }
        Err(fault) => {
            let code = match fault.kind {
                FaultKind::Unsupported(_) => 3,
                _ => 1,
            };
            if a.json {
                print_json(&serde_json::json!({ "fault": fault }))?;
            }
            Err(CliError {
                code,
                message: format!("{}: {fault}", a.file.display()),
            })
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
