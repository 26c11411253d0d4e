//! `bpfbox jit-dump`: a program's native code, each BPF instruction above the code the JIT
//! made of it, in the style of `bpftool prog dump jited`, with the image size and the
//! compile time.

use std::path::PathBuf;
use std::sync::Arc;

use bpfbox_jit::aarch64::A64Image;
use bpfbox_jit::{JitProgram, Mode};
use bpfbox_vm::disasm::{insn_text, DisasmOptions, Syntax};
use bpfbox_vm::maps::MapConfig;
use bpfbox_vm::Vm;
use capstone::prelude::*;

use super::input::{self, load_program, Content};
use super::{object, print_json, CliError, CliResult};

/// Target architecture of the dump.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arch {
    /// x86-64.
    #[default]
    #[value(name = "x86_64")]
    X86_64,
    /// AArch64 (any host: the code is only disassembled; LSE atomics).
    Aarch64,
}

/// The JIT mode to compile for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DumpMode {
    /// Checked: memory checks and the instruction meter.
    #[default]
    Checked,
    /// Trusted: neither (the code is only dumped, never run).
    Trusted,
}

/// Arguments of `bpfbox jit-dump`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  bpfbox jit-dump tests/fixtures/obj/example_xdp.o\n  \
bpfbox jit-dump benches/programs/sum_loop.asm --mode trusted --opcodes\n  \
bpfbox jit-dump prog.o --prog xdp_main --json"
)]
pub struct JitDumpArgs {
    /// A BPF ELF object, raw bytecode, assembly text or a conformance `.data` file.
    file: PathBuf,
    /// Object: the program with this function name.
    #[arg(long)]
    prog: Option<String>,
    /// Target architecture.
    #[arg(long, value_enum, default_value_t)]
    arch: Arch,
    /// Checked or trusted code.
    #[arg(long, value_enum, default_value_t)]
    mode: DumpMode,
    /// Print each native instruction's bytes.
    #[arg(long)]
    opcodes: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One disassembled native instruction.
#[derive(serde::Serialize)]
struct Native {
    offset: u64,
    bytes: String,
    asm: String,
}

/// Runs `bpfbox jit-dump`.
pub fn run(a: JitDumpArgs) -> CliResult {
    let content = input::classify(&a.file)?;
    let (name, vm) = if let Content::Elf = content {
        let obj = object::open(&a.file, None)?;
        let prog = object::select(&obj, &a.file, a.prog.as_deref(), None)?;
        let maps = obj
            .create_maps(&MapConfig::default())
            .map_err(|e| CliError::rejected(format!("{}: {e}", a.file.display())))?;
        let vm = bpfbox_vm::testrun::prepare(&prog.insns, prog.prog_type, &maps)
            .map_err(|e| CliError::rejected(format!("{}: {}: {e}", a.file.display(), prog.name)))?;
        (prog.name.clone(), vm)
    } else {
        let p = load_program(&a.file, content)?;
        let vm = Vm::new(&p.slots)
            .map_err(|e| CliError::rejected(format!("{}: {e}", a.file.display())))?;
        (a.file.display().to_string(), vm)
    };
    let vm = Arc::new(vm);
    let mode = match a.mode {
        DumpMode::Checked => Mode::Checked,
        DumpMode::Trusted => Mode::Trusted,
    };
    let fail = |e: bpfbox_jit::JitError| CliError::internal(format!("{name}: {e}"));
    // Either backend's image: code, slot offsets, body bounds, compile time.
    let (code, offsets, body_start, body_end, compile_time): (Vec<u8>, Vec<u32>, usize, usize, _) =
        match a.arch {
            Arch::X86_64 => {
                let jit = match mode {
                    Mode::Checked => JitProgram::compile(Arc::clone(&vm)),
                    // SAFETY: the trusted code is disassembled here, never run.
                    Mode::Trusted => unsafe { JitProgram::compile_trusted(Arc::clone(&vm)) },
                }
                .map_err(fail)?;
                let i = jit.image();
                (
                    i.code().to_vec(),
                    i.offsets().to_vec(),
                    i.body_start(),
                    i.body_end(),
                    i.compile_time(),
                )
            }
            Arch::Aarch64 => {
                let opts = bpfbox_jit::aarch64::Options { lse: true };
                let i = A64Image::compile(Arc::clone(&vm), mode, opts).map_err(fail)?;
                let start = i.offsets().first().copied().unwrap_or(0) as usize;
                (
                    i.code().to_vec(),
                    i.offsets().to_vec(),
                    start,
                    i.body_end(),
                    i.compile_time(),
                )
            }
        };
    let cs = match a.arch {
        Arch::X86_64 => Capstone::new()
            .x86()
            .mode(arch::x86::ArchMode::Mode64)
            .syntax(arch::x86::ArchSyntax::Att)
            .build(),
        Arch::Aarch64 => Capstone::new()
            .arm64()
            .mode(arch::arm64::ArchMode::Arm)
            .build(),
    }
    .map_err(|e| CliError::internal(format!("capstone: {e}")))?;
    let code = &code[..];
    let disasm = |from: usize, to: usize| -> Vec<Native> {
        let Some(bytes) = code.get(from..to) else {
            return Vec::new();
        };
        match cs.disasm_all(bytes, from as u64) {
            Ok(insns) => insns
                .iter()
                .map(|i| Native {
                    offset: i.address(),
                    bytes: i
                        .bytes()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    asm: format!(
                        "{} {}",
                        i.mnemonic().unwrap_or(""),
                        i.op_str().unwrap_or("")
                    )
                    .trim_end()
                    .to_string(),
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    // Each slot's code runs from its offset to the next slot's that has code.
    let offsets = &offsets[..];
    let decoded = vm.decoded();
    let opts = DisasmOptions::default();
    let mut rows = Vec::new();
    for (k, &(pc, insn)) in decoded.insns.iter().enumerate() {
        let start = offsets[pc] as usize;
        let end = decoded.insns[k + 1..]
            .iter()
            .map(|&(p, _)| offsets[p] as usize)
            .find(|&o| o != u32::MAX as usize)
            .unwrap_or(body_end);
        rows.push((
            pc,
            insn_text(&insn, pc, Syntax::Kernel, &opts),
            disasm(start, end),
        ));
    }
    let entry = disasm(0, body_start);
    let tail = disasm(body_end, code.len());
    let mode = match a.mode {
        DumpMode::Checked => "checked",
        DumpMode::Trusted => "trusted",
    };
    let (arch_id, arch_name) = match a.arch {
        Arch::X86_64 => ("x86_64", "x86-64"),
        Arch::Aarch64 => ("aarch64", "aarch64"),
    };
    let compile_ns = compile_time.as_nanos() as u64;
    if a.json {
        return print_json(&serde_json::json!({
            "program": name,
            "arch": arch_id,
            "mode": mode,
            "image_size": code.len(),
            "body_size": body_end - body_start,
            "compile_ns": compile_ns,
            "entry": entry,
            "insns": rows.iter().map(|(pc, text, native)| serde_json::json!({
                "pc": pc, "bpf": text, "native": native,
            })).collect::<Vec<_>>(),
            "out_of_line": tail,
        }));
    }
    // Built whole, then written once: a closed pipe (`| head`) ends the output quietly.
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{name}: {} bytes of {arch_name} code ({} in the body), {mode}, compiled in {:.1} µs",
        code.len(),
        body_end - body_start,
        compile_ns as f64 / 1000.0
    );
    let print = |out: &mut String, n: &Native| {
        let _ = if a.opcodes {
            writeln!(out, "{:5x}:\t{:<30}\t{}", n.offset, n.bytes, n.asm)
        } else {
            writeln!(out, "{:5x}:\t{}", n.offset, n.asm)
        };
    };
    out.push_str("; prologue\n");
    entry.iter().for_each(|n| print(&mut out, n));
    for (pc, text, native) in &rows {
        let _ = writeln!(out, "; {pc}: {text}");
        native.iter().for_each(|n| print(&mut out, n));
    }
    out.push_str("; epilogue and out-of-line paths\n");
    tail.iter().for_each(|n| print(&mut out, n));
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::internal(format!("cannot write: {e}")))
        }
        _ => Ok(()),
    }
}
