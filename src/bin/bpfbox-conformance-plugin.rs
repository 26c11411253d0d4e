//! The bpf_conformance plugin as a binary of its own, for the upstream runner's
//! `--plugin_path`: it passes the memory argument before any plugin options, so a subcommand
//! cannot come first.

use std::process::ExitCode;

fn main() -> ExitCode {
    bpfbox::cli::plugin_main()
}
