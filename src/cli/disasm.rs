//! `bpfbox disasm`: bytecode to text in the kernel's or llvm-objdump's syntax.

use std::path::PathBuf;

use bpfbox_vm::disasm::{disassemble, format_lines, DisasmOptions, Syntax};

use super::input::load_program;
use super::{print_json, CliResult};

/// Output syntax choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum SyntaxArg {
    /// The kernel's / bpftool's syntax: `r0 = *(u32 *)(r1 +4)`.
    #[default]
    Kernel,
    /// llvm-objdump's syntax: `r0 = *(u32 *)(r1 + 0x4)`.
    Llvm,
    /// The bpf_conformance assembly syntax (re-assemblable).
    Conformance,
}

/// Arguments of `bpfbox disasm`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  bpfbox disasm prog.bin --syntax llvm --opcodes")]
pub struct DisasmArgs {
    /// Raw bytecode, assembly text or a conformance `.data` file.
    file: PathBuf,
    /// Output syntax.
    #[arg(long, value_enum, default_value_t)]
    syntax: SyntaxArg,
    /// Also print each instruction's bytes.
    #[arg(long)]
    opcodes: bool,
    /// Print JSON: one object per instruction.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox disasm`.
pub fn run(a: DisasmArgs) -> CliResult {
    let prog = load_program(&a.file)?;
    let syntax = match a.syntax {
        SyntaxArg::Kernel => Syntax::Kernel,
        SyntaxArg::Llvm => Syntax::Llvm,
        SyntaxArg::Conformance => Syntax::Conformance,
    };
    let opts = DisasmOptions {
        opcodes: a.opcodes,
        symbolizer: None,
    };
    let lines = disassemble(&prog.slots, syntax, &opts);
    if a.json {
        let v: Vec<_> = lines
            .iter()
            .map(|l| {
                serde_json::json!({
                    "pc": l.pc,
                    "text": l.text,
                    "bytes": l.raw.iter().map(|r| format!("{:016x}", u64::from_be_bytes(r.to_bytes()))).collect::<Vec<_>>(),
                    "error": l.error.as_ref().map(|e| e.kind.to_string()),
                })
            })
            .collect();
        return print_json(&v);
    }
    print!("{}", format_lines(&lines, syntax, &opts));
    Ok(())
}
