//! `bpfbox btf dump`: BTF in the style of `bpftool btf dump`.

use std::io::Write;
use std::path::PathBuf;

use bpfbox_btf::dump::CDumpOptions;
use bpfbox_btf::Btf;
use bpfbox_loader::elf::ElfFile;

use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox btf`.
#[derive(clap::Args, Debug)]
pub struct BtfArgs {
    #[command(subcommand)]
    command: BtfCommand,
}

#[derive(clap::Subcommand, Debug)]
enum BtfCommand {
    /// Print every type, as `bpftool btf dump file FILE format raw|c` does.
    #[command(
        after_help = "Examples:\n  bpfbox btf dump /sys/kernel/btf/vmlinux\n  \
bpfbox btf dump /sys/kernel/btf/vmlinux --format c > vmlinux.h\n  bpfbox btf dump prog.o"
    )]
    Dump(DumpArgs),
}

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
enum Format {
    /// One record per type with its fields, byte for byte as bpftool prints it.
    #[default]
    Raw,
    /// A compilable C header (`vmlinux.h`).
    C,
}

#[derive(clap::Args, Debug)]
struct DumpArgs {
    /// Raw BTF (such as /sys/kernel/btf/vmlinux) or an ELF object with a `.BTF` section.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// In C output, omit the `mode(byte)`/`mode(word)` attributes on enums, as bpftool
    /// built on libbpf older than 1.2 does.
    #[arg(long)]
    no_enum_modes: bool,
    /// Print JSON: one object per type with its id, kind, name and raw record.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox btf`.
pub fn run(a: BtfArgs) -> CliResult {
    match a.command {
        BtfCommand::Dump(d) => dump(d),
    }
}

fn load(path: &std::path::Path) -> Result<Btf, CliError> {
    let bytes = super::input::read(path)?;
    // A file that holds no valid BTF is a wrong input file.
    let what = |e: &dyn std::fmt::Display| CliError::usage(format!("{}: {e}", path.display()));
    if bytes.starts_with(b"\x7fELF") {
        let elf = ElfFile::parse(&bytes).map_err(|e| what(&e))?;
        let sec = elf
            .section_by_name(".BTF")
            .ok_or_else(|| what(&"no .BTF section"))?;
        Btf::parse(sec.data).map_err(|e| what(&e))
    } else if bytes.starts_with(&[0x9f, 0xeb]) || bytes.starts_with(&[0xeb, 0x9f]) {
        Btf::parse(&bytes).map_err(|e| what(&e))
    } else {
        Err(what(
            &"neither raw BTF nor an ELF object (no BTF or ELF magic)",
        ))
    }
}

fn dump(a: DumpArgs) -> CliResult {
    let btf = load(&a.file)?;
    if a.json {
        let mut types = Vec::with_capacity(btf.len());
        for (id, t) in btf.types() {
            let mut raw = Vec::new();
            bpfbox_btf::dump::dump_raw_type(&btf, id, &mut raw)
                .map_err(|e| CliError::rejected(e.to_string()))?;
            types.push(serde_json::json!({
                "id": id,
                "kind": t.kind().name(),
                "name": btf.type_name(t),
                "raw": String::from_utf8_lossy(&raw).trim_end(),
            }));
        }
        return print_json(&types);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let res = match a.format {
        Format::Raw => bpfbox_btf::dump_raw(&btf, &mut out),
        Format::C => {
            let opts = CDumpOptions {
                enum_mode_attributes: !a.no_enum_modes,
                ..CDumpOptions::default()
            };
            bpfbox_btf::dump::dump_c_with(&btf, &mut out, &opts)
        }
    };
    res.map_err(|e| match e {
        bpfbox_btf::BtfError::Io(io) => super::out::write_error(&io),
        e => CliError::rejected(format!("{}: {e}", a.file.display())),
    })?;
    out.flush().map_err(|e| super::out::write_error(&e))
}
