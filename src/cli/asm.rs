//! `bpfbox asm`: conformance-syntax assembly to bytecode.

use std::path::PathBuf;

use bpfbox_vm::asm::assemble;
use bpfbox_vm::conformance_file::ConformanceFile;
use bpfbox_vm::isa::slots_to_bytes;

use super::input::{self, Content};
use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox asm`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Without -o, prints one instruction word per line in the `-- raw` form \
(0x-prefixed little-endian 64-bit words).\n\nExample:\n  bpfbox asm prog.asm -o prog.bin"
)]
pub struct AsmArgs {
    /// Assembly text, or a conformance `.data` file (its `-- asm` section is used).
    file: PathBuf,
    /// Write raw bytecode here.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the instruction words as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox asm`.
pub fn run(a: AsmArgs) -> CliResult {
    let text = match input::classify(&a.file)? {
        Content::Text(t) => t,
        Content::Elf => {
            return Err(CliError::usage(format!(
                "{}: an ELF object, not assembly text",
                a.file.display()
            )))
        }
        Content::Binary(_) => {
            return Err(CliError::usage(format!(
                "{}: binary content, not assembly text",
                a.file.display()
            )))
        }
    };
    let slots = if input::is_conformance(&text) {
        let f = ConformanceFile::parse(&text)
            .map_err(|e| CliError::usage(format!("{}: {e}", a.file.display())))?;
        f.assemble_asm()
    } else {
        assemble(&text)
    }
    .map_err(|e| input::asm_error(&a.file, &text, &e))?;
    if slots.is_empty() {
        return Err(CliError::usage(format!(
            "{}: no instructions in the assembly text",
            a.file.display()
        )));
    }
    if let Some(out) = &a.output {
        std::fs::write(out, slots_to_bytes(&slots))
            .map_err(|e| CliError::usage(format!("{}: cannot write: {e}", out.display())))?;
    }
    if a.json {
        let words: Vec<String> = slots
            .iter()
            .map(|s| format!("{:#018x}", s.to_u64()))
            .collect();
        return print_json(&serde_json::json!({ "slots": slots.len(), "words": words }));
    }
    if a.output.is_none() {
        for s in &slots {
            crate::outln!("{:#018x}", s.to_u64())?;
        }
    }
    Ok(())
}
