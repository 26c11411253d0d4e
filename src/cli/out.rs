//! The one way the CLI writes to stdout. A reader that goes away (`bpfbox show x.o | head`)
//! closes the pipe; the command then ends quietly with status 0, as `cat` and `bpftool` do,
//! instead of the panic `println!` raises on `EPIPE`.

use std::fmt;
use std::io::{self, Write};

use super::{CliError, CliResult};

/// Maps a write error on stdout: a closed pipe is a quiet success, anything else an error.
pub fn write_error(e: &io::Error) -> CliError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CliError::quiet()
    } else {
        CliError::internal(format!("cannot write output: {e}"))
    }
}

/// Writes formatted text to stdout (use the [`out!`](crate::out) and
/// [`outln!`](crate::outln) macros).
pub fn write_fmt(args: fmt::Arguments<'_>) -> CliResult {
    io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(|e| write_error(&e))
}

/// Writes bytes to stdout and flushes them.
pub fn write_bytes(bytes: &[u8]) -> CliResult {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| write_error(&e))
}

/// `print!` for the CLI: evaluates to a [`CliResult`].
#[macro_export]
#[doc(hidden)]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` for the CLI: evaluates to a [`CliResult`].
#[macro_export]
#[doc(hidden)]
macro_rules! outln {
    () => {
        $crate::cli::out::write_bytes(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}
