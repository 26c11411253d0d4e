//! The `bpfbox` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    bpfbox::cli::main()
}
