//! The error type shared by every part of the crate.

use crate::types::TypeId;

/// Everything that can go wrong while parsing, validating or dumping BTF.
///
/// Messages carry the byte offset or the type id involved. Validation
/// failures ([`BtfError::Invalid`]) reproduce the Linux kernel verifier's
/// wording so that a message can be compared with what `bpf(BTF_LOAD)` logs.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The input ended before a structure that had to be there.
    #[error("truncated {what} at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset (relative to the start of the blob) of the read.
        offset: usize,
        /// Bytes required.
        needed: usize,
        /// Bytes available from `offset` on.
        available: usize,
    },
    /// The header is unusable (bad magic, version, lengths, ...). The message
    /// uses the kernel's wording, e.g. `Invalid magic`.
    #[error("{msg} (header)")]
    Header {
        /// Kernel-style message.
        msg: &'static str,
    },
    /// A section (types or strings) lies outside the blob.
    #[error("{section} section [{offset}, +{len}) is outside the {total}-byte blob")]
    SectionBounds {
        /// Section name.
        section: &'static str,
        /// Offset of the section from the start of the blob.
        offset: u64,
        /// Declared length of the section.
        len: u64,
        /// Size of the whole blob.
        total: usize,
    },
    /// A type record has a kind outside 1..=19.
    #[error("[{type_id}] Invalid kind:{kind} at offset {offset}")]
    InvalidKind {
        /// Id the type would have had.
        type_id: TypeId,
        /// Kind number found.
        kind: u32,
        /// Byte offset of the type record in the blob.
        offset: usize,
    },
    /// The type section declares more types than BTF allows.
    #[error("Exceeded max num of types at offset {offset}")]
    TooManyTypes {
        /// Byte offset of the first type past the limit.
        offset: usize,
    },
    /// A string offset does not point into the string section, or the string
    /// is not terminated or not UTF-8.
    #[error("invalid string offset {offset}")]
    InvalidString {
        /// The offending string offset.
        offset: u32,
    },
    /// A type id refers to nothing.
    #[error("invalid type id {0}")]
    InvalidTypeId(TypeId),
    /// A type failed the kernel's validation rules; `msg` is the kernel's
    /// message (e.g. `Member exceeds struct_size`).
    #[error("[{type_id}] {msg}")]
    Invalid {
        /// Id of the offending type (0 for header/section level problems).
        type_id: TypeId,
        /// The kernel verifier's message.
        msg: String,
    },
    /// A `.BTF.ext` blob is malformed.
    #[error("BTF.ext: {msg} at offset {offset}")]
    Ext {
        /// What is wrong.
        msg: String,
        /// Byte offset in the `.BTF.ext` blob.
        offset: usize,
    },
    /// Resolving a type chain went in circles or too deep.
    #[error("[{type_id}] Loop detected")]
    Loop {
        /// Type where the loop was noticed.
        type_id: TypeId,
    },
    /// Reading a file or writing output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl BtfError {
    /// Build an [`BtfError::Invalid`] for type `type_id` with kernel message `msg`.
    pub fn invalid(type_id: TypeId, msg: impl Into<String>) -> Self {
        BtfError::Invalid {
            type_id,
            msg: msg.into(),
        }
    }

    /// The kernel-style message of a validation error, if this is one.
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            BtfError::Invalid { msg, .. } => Some(msg),
            BtfError::Header { msg } => Some(msg),
            _ => None,
        }
    }
}
