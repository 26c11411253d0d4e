//! `bpfbox reloc`: every CO-RE relocation of an object with its decision, in the style of
//! libbpf's debug log, against the host's BTF or a given target.

use std::path::PathBuf;

use bpfbox_loader::{CoreOutcome, LoadOptions, Object, ProgramError};
use bpfbox_vm::disasm::{disassemble, DisasmOptions, Syntax};
use bpfbox_vm::isa::RawInsn;

use std::fmt::Write as _;

use super::{CliError, CliResult};

/// Arguments of `bpfbox reloc`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  bpfbox reloc prog.o\n  \
bpfbox reloc prog.o --btf /sys/kernel/btf/vmlinux\n  bpfbox reloc prog.o --btf other-kernel.btf --json\n\n\
Exit codes: 0 every relocation applied (patched or poisoned), 1 a relocation failed where \
libbpf fails the load, 2 usage error or a missing, unreadable or malformed object or target \
BTF, 3 no target BTF on this host.")]
pub struct RelocArgs {
    /// The BPF object file.
    object: PathBuf,
    /// Target BTF: raw BTF or an ELF file with a `.BTF` section (default: the running
    /// kernel's /sys/kernel/btf/vmlinux).
    #[arg(long)]
    btf: Option<PathBuf>,
    /// Print JSON: the target, every relocation with its decision and instructions, and the
    /// programs that cannot load.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    object: String,
    target: String,
    relocations: &'a [bpfbox_loader::CoreRelocation],
    program_errors: Vec<String>,
}

fn insn_text(slots: &[RawInsn]) -> String {
    let lines = disassemble(slots, Syntax::Kernel, &DisasmOptions::default());
    lines.first().map_or_else(String::new, |l| l.text.clone())
}

/// Runs `bpfbox reloc`.
pub fn run(a: RelocArgs) -> CliResult {
    super::input::check_object(&a.object)?;
    let (target, target_name) = match &a.btf {
        Some(p) => (
            bpfbox_loader::load_btf_file(p)
                .map_err(|e| CliError::usage(format!("--btf {}: {e}", p.display())))?,
            p.display().to_string(),
        ),
        None => (
            bpfbox_loader::load_host_btf()
                .map_err(|e| CliError::internal(format!("{e} (give a target with --btf FILE)")))?,
            bpfbox_loader::VMLINUX_BTF_PATH.to_string(),
        ),
    };
    let bytes = super::input::read(&a.object)?;
    let name = a
        .object
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .map(str::to_string);
    let opts = LoadOptions {
        name,
        target_btf: Some(target),
        ..LoadOptions::default()
    };
    let obj = Object::parse_with(&bytes, &opts)
        .map_err(|e| CliError::usage(format!("{}: {e}", a.object.display())))?;
    let relocs = obj.core_relocations();
    let failed = obj
        .program_errors()
        .iter()
        .filter(|e| matches!(e, ProgramError::Core { .. } | ProgramError::Ksym { .. }))
        .count();
    // Built first and written once: a closed pipe (`| head`) is not an error worth a panic.
    let mut out = String::new();
    if a.json {
        let report = Report {
            object: a.object.display().to_string(),
            target: target_name,
            relocations: relocs,
            program_errors: obj.program_errors().iter().map(|e| e.to_string()).collect(),
        };
        out = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::internal(format!("cannot encode JSON: {e}")))?;
        out.push('\n');
    } else {
        let _ = writeln!(
            out,
            "{}: {} CO-RE relocations against {target_name}",
            a.object.display(),
            relocs.len()
        );
        for r in relocs {
            for l in r.log_lines() {
                let _ = writeln!(out, "{l}");
            }
            if !r.old_insns.is_empty() && r.old_insns != r.new_insns {
                let _ = writeln!(
                    out,
                    "    insn #{}: {}  ->  {}",
                    r.insn,
                    insn_text(&r.old_insns),
                    insn_text(&r.new_insns)
                );
            }
            if let CoreOutcome::Poisoned { reason } = &r.outcome {
                let _ = writeln!(out, "    poisoned: {reason}");
            }
        }
        for e in obj.program_errors() {
            let _ = writeln!(out, "error: {e}");
        }
    }
    let written = super::out::write_bytes(out.as_bytes());
    // The process ends here: freeing a vmlinux-sized BTF one type at a time would take longer
    // than relocating.
    std::mem::forget(obj);
    std::mem::forget(opts);
    written?;
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::rejected(format!(
            "{failed} program(s) cannot be relocated"
        )))
    }
}
