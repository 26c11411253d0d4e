//! `bpfbox disasm`: bytecode to text in the kernel's or llvm-objdump's syntax.

use std::path::PathBuf;

use bpfbox_vm::disasm::{disassemble, format_lines, DisasmOptions, Syntax};
use bpfbox_vm::Program;

use super::input::{self, load_program, Content};
use super::object::{self, ObjectSymbols};
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
#[command(
    after_help = "For an ELF object, every program is shown (or the one --prog or \
--section names) after linking and relocation, with helper, map and function names and the \
BTF source lines.\n\n\
Examples:\n  bpfbox disasm prog.bin --syntax llvm --opcodes\n  bpfbox disasm xdp_filter.o --prog xdp_filter_dns --linum"
)]
pub struct DisasmArgs {
    /// A BPF ELF object, raw bytecode, assembly text or a conformance `.data` file.
    file: PathBuf,
    /// With an object: only the program with this function name.
    #[arg(long, conflicts_with = "section")]
    prog: Option<String>,
    /// With an object: only the program in this ELF section.
    #[arg(long)]
    section: Option<String>,
    /// With an object: CO-RE target BTF (raw BTF or an ELF file with .BTF); default: the
    /// running kernel's, when the object needs one.
    #[arg(long)]
    btf: Option<PathBuf>,
    /// With an object: add the source file and line to each source line (bpftool's `linum`).
    #[arg(long)]
    linum: bool,
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

fn syntax_of(a: &DisasmArgs) -> Syntax {
    match a.syntax {
        SyntaxArg::Kernel => Syntax::Kernel,
        SyntaxArg::Llvm => Syntax::Llvm,
        SyntaxArg::Conformance => Syntax::Conformance,
    }
}

/// Runs `bpfbox disasm`.
pub fn run(a: DisasmArgs) -> CliResult {
    let content = input::classify(&a.file)?;
    if let Content::Elf = content {
        return run_object(&a);
    }
    if a.prog.is_some() || a.section.is_some() {
        return Err(super::CliError::usage(
            "--prog and --section apply to ELF objects only",
        ));
    }
    let prog = load_program(&a.file, content)?;
    // Bytes the kernel would refuse before looking at any path (unknown opcodes, a broken
    // ld_imm64, jumps out of the program) are not a program: say so instead of listing them.
    if let Err(e) = bpfbox_vm::isa::decode_program(&prog.slots) {
        return Err(super::CliError::rejected(format!(
            "{}: not a valid BPF program: {e}",
            a.file.display()
        )));
    }
    let syntax = syntax_of(&a);
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
    crate::out!("{}", format_lines(&lines, syntax, &opts))?;
    Ok(())
}

/// Disassembles the programs of an object, in the style of `bpftool prog dump xlated`.
fn run_object(a: &DisasmArgs) -> CliResult {
    let obj = object::open(&a.file, a.btf.as_deref())?;
    let progs: Vec<&Program> = if a.prog.is_some() || a.section.is_some() {
        vec![object::select(
            &obj,
            &a.file,
            a.prog.as_deref(),
            a.section.as_deref(),
        )?]
    } else {
        obj.programs().iter().collect()
    };
    let syntax = syntax_of(a);
    let mut json = Vec::new();
    let mut out = String::new();
    for (n, prog) in progs.iter().enumerate() {
        let syms = ObjectSymbols::new(&obj, prog);
        let opts = DisasmOptions {
            opcodes: a.opcodes,
            symbolizer: Some(&syms),
        };
        let lines = disassemble(&prog.insns, syntax, &opts);
        if a.json {
            let insns: Vec<_> = lines
                .iter()
                .map(|l| {
                    let src = prog
                        .line_info
                        .iter()
                        .find(|li| li.insn_off as usize == l.pc);
                    serde_json::json!({
                        "pc": l.pc,
                        "text": l.text,
                        "function": prog.func_info.iter().find(|f| f.insn_off as usize == l.pc)
                            .and_then(|f| syms.signature(prog, f.insn_off)),
                        "source": src.map(|s| serde_json::json!({
                            "file": s.file, "line": s.line_num, "column": s.col, "text": s.line,
                        })),
                    })
                })
                .collect();
            json.push(serde_json::json!({
                "name": prog.name,
                "section": prog.section,
                "type": prog.prog_type.name(),
                "insns": insns,
            }));
            continue;
        }
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: section {}, type {}, {} insns\n",
            prog.name,
            prog.section,
            prog.prog_type.name(),
            prog.insns.len()
        ));
        for l in &lines {
            if let Some(sig) = syms.signature(prog, l.pc as u32) {
                out.push_str(&format!("{sig}:\n"));
            }
            if let Some(src) = prog
                .line_info
                .iter()
                .find(|li| li.insn_off as usize == l.pc)
                .filter(|li| !li.line.trim().is_empty() || a.linum)
            {
                if a.linum {
                    out.push_str(&format!(
                        "; {} @ {}:{}:{}\n",
                        src.line.trim(),
                        src.file,
                        src.line_num,
                        src.col
                    ));
                } else {
                    out.push_str(&format!("; {}\n", src.line.trim()));
                }
            }
            out.push_str(&format_lines(std::slice::from_ref(l), syntax, &opts));
        }
    }
    if a.json {
        return print_json(&json);
    }
    crate::out!("{out}")?;
    Ok(())
}
