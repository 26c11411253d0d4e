//! Dump a raw BTF file like `bpftool btf dump file FILE format raw|c`.
//!
//! `cargo run --release --example btf_dump -- FILE [raw|c|c-legacy]`; `c-legacy`
//! omits the enum `mode()` attributes, as bpftool on libbpf < 1.2 does.

use std::io::Write;

use bpfbox_btf::dump::CDumpOptions;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), format) = (args.next(), args.next()) else {
        eprintln!("usage: dump FILE [raw|c|c-legacy]");
        std::process::exit(2);
    };
    let btf = match bpfbox_btf::Btf::from_file(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let res = match format.as_deref().unwrap_or("raw") {
        "raw" => bpfbox_btf::dump_raw(&btf, &mut lock),
        "c" => bpfbox_btf::dump_c(&btf, &mut lock),
        "c-legacy" => {
            let opts = CDumpOptions {
                enum_mode_attributes: false,
                ..CDumpOptions::default()
            };
            bpfbox_btf::dump::dump_c_with(&btf, &mut lock, &opts)
        }
        other => {
            eprintln!("unknown format {other:?}; use raw, c or c-legacy");
            std::process::exit(2);
        }
    };
    if let Err(e) = res.and_then(|()| lock.flush().map_err(Into::into)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
