//! Why a program is rejected: the kernel's message, the instruction it concerns, and whether
//! it is the kernel's own verdict or a feature this verifier does not handle yet.

/// A rejection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", insn.map(|i| format!("insn {i}: ")).unwrap_or_default())]
pub struct Reject {
    /// The instruction (slot index) the verifier was at, if it was at one.
    pub insn: Option<usize>,
    /// The message, in the kernel's words (without the trailing newline).
    pub message: String,
    /// `true` when the kernel may well accept the program: we reject only because the
    /// feature is not supported yet (fail closed).
    pub unsupported: bool,
}

impl Reject {
    /// The kernel's rejection `message` at `insn`.
    pub fn at(insn: usize, message: impl Into<String>) -> Self {
        Reject {
            insn: Some(insn),
            message: message.into(),
            unsupported: false,
        }
    }

    /// A rejection before the walk reaches any instruction.
    pub fn program(message: impl Into<String>) -> Self {
        Reject {
            insn: None,
            message: message.into(),
            unsupported: false,
        }
    }

    /// A feature this verifier does not support yet, at `insn`.
    pub fn unsupported(insn: usize, what: impl std::fmt::Display) -> Self {
        Reject {
            insn: Some(insn),
            message: format!("{what} is not supported yet by bpfbox's verifier"),
            unsupported: true,
        }
    }
}

/// Result of a verification step.
pub type Result<T> = std::result::Result<T, Reject>;
