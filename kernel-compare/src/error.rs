//! Errors of the kernel-compare harness.

use std::path::PathBuf;

/// What can go wrong outside the kernel's verdicts (which are data, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a file (reproducer, report) failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The object does not load in bpfbox's loader.
    #[error(transparent)]
    Loader(#[from] bpfbox_loader::LoadError),
    /// A `bpf(2)` command failed where it should not.
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    /// The kernel cannot be used here (not root, no CAP_BPF, no bpf()).
    #[error("{0}")]
    Unavailable(String),
    /// Program flags given by name or number are not valid.
    #[error("program flags `{input}`: {msg}")]
    Flags {
        /// What was given.
        input: String,
        /// What is wrong.
        msg: String,
    },
    /// A program asked for by name is not in the object.
    #[error("{object}: no program named `{name}`; its programs: {}", .available.join(", "))]
    UnknownProgram {
        /// The object.
        object: String,
        /// The name asked for.
        name: String,
        /// The object's programs.
        available: Vec<String>,
    },
    /// A run input is unusable.
    #[error("input {input}: {msg}")]
    Input {
        /// The input's name.
        input: String,
        /// What is wrong.
        msg: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
