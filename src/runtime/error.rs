//! [`Error`]: what went wrong loading, building or running, naming the object, program
//! and instruction.

use super::*;

/// What went wrong loading, building or running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object could not be parsed or its maps created.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The program exists but could not be loaded (needs CO-RE, ksyms, ...).
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// No program of that name.
    #[error("object '{object}' has no program '{name}' (programs: {available})")]
    NoProgram {
        /// The object's name.
        object: String,
        /// The name asked for.
        name: String,
        /// The names it has, comma-separated.
        available: String,
    },
    /// No map of that name.
    #[error("object '{object}' has no map '{name}'")]
    NoMap {
        /// The object's name.
        object: String,
        /// The name asked for.
        name: String,
    },
    /// A program failed validation.
    #[error("program '{program}': {source}")]
    Isa {
        /// The program.
        program: String,
        /// Why.
        source: IsaError,
    },
    /// A run failed: bad input, or a fault inside the program.
    #[error("program '{program}': {source}")]
    Run {
        /// The program.
        program: String,
        /// Why.
        source: TestRunError,
    },
    /// A map operation failed (or a typed view does not fit the map).
    #[error("map '{map}': {source}")]
    Map {
        /// The map.
        map: String,
        /// Why.
        source: MapError,
    },
    /// The JIT could not compile a program.
    #[error("program '{program}': {source}")]
    Jit {
        /// The program.
        program: String,
        /// Why.
        source: bpfbox_jit::JitError,
    },
    /// A helper override names no kernel helper.
    #[error("unknown helper '{0}'")]
    UnknownHelper(String),
    /// A map the program uses could not be created (only the programs using it are refused).
    #[error("program '{program}': {reason}")]
    MapUnavailable {
        /// The program.
        program: String,
        /// The map's creation error.
        reason: String,
    },
    /// The program calls a helper bpfbox does not implement (only that program is refused).
    #[error(
        "program '{program}': insn {insn}: helper {name} (id {id}) is not supported by bpfbox"
    )]
    UnsupportedHelper {
        /// The program.
        program: String,
        /// The call instruction.
        insn: usize,
        /// Helper id.
        id: u32,
        /// Its kernel name (or `helper_<id>`).
        name: String,
    },
    /// bpfbox's verifier refuses the program, as the kernel's would (build with
    /// `.verify(false)` to run it anyway).
    #[error("program '{program}': the verifier refuses it{}: {message}", insn.map(|i| format!(" at insn {i}")).unwrap_or_default())]
    Rejected {
        /// The program.
        program: String,
        /// The failing instruction.
        insn: Option<usize>,
        /// The error, in the kernel's words.
        message: String,
    },
    /// The context given is not the kind the program takes.
    #[error("program '{program}' is a {prog_type} program and takes {expected}; the context given is {given}")]
    WrongContext {
        /// The program.
        program: String,
        /// Its type.
        prog_type: &'static str,
        /// The context it takes.
        expected: &'static str,
        /// The context given.
        given: &'static str,
    },
}
