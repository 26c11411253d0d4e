//! Errors returned by map operations, carrying the errno the kernel would return.

use std::fmt;

/// The errno values map operations can produce (Linux numbering).
///
/// Helpers return these negated (`-errno`), as the kernel's helpers do; the user-side API
/// reports them the way `bpf(2)` would set `errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted (`BPF_F_RDONLY`/`BPF_F_WRONLY` access, frozen maps).
    EPERM = 1,
    /// No such element (missing key, empty queue, last key reached).
    ENOENT = 2,
    /// Too big: full hash map, array index out of range, full queue.
    E2BIG = 7,
    /// Resource temporarily unavailable (ring buffer full in `bpf_ringbuf_output`).
    EAGAIN = 11,
    /// Out of memory (allocation failed, LPM/LRU node allocation failed).
    ENOMEM = 12,
    /// Device or resource busy (a user ring buffer already being drained).
    EBUSY = 16,
    /// The element already exists (`BPF_NOEXIST`).
    EEXIST = 17,
    /// No such device (a cpumap entry for a CPU that is not possible).
    ENODEV = 19,
    /// Invalid argument (bad flags, bad sizes, unsupported operation for this map type).
    EINVAL = 22,
    /// No space left (LPM trie full, user ring buffer full).
    ENOSPC = 28,
    /// Value too large for its type (cpumap queue size).
    EOVERFLOW = 75,
    /// Operation not supported (user-visible `EOPNOTSUPP`).
    EOPNOTSUPP = 95,
    /// The kernel-internal `ENOTSUPP` (524) that leaks to user space from some map ops.
    ENOTSUPP = 524,
}

impl Errno {
    /// The positive errno number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The conventional symbolic name, e.g. `"ENOENT"`.
    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::E2BIG => "E2BIG",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::ENOTSUPP => "ENOTSUPP",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed map operation: the errno the kernel would report plus a human-readable reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{errno}: {msg}")]
pub struct MapError {
    /// The errno the kernel would return for the same operation.
    pub errno: Errno,
    /// Why the operation failed (for people, not for matching).
    pub msg: String,
}

impl MapError {
    /// An error with the given errno and message.
    pub fn new(errno: Errno, msg: impl Into<String>) -> Self {
        MapError {
            errno,
            msg: msg.into(),
        }
    }

    /// The positive errno number.
    pub fn code(&self) -> i32 {
        self.errno.code()
    }

    /// The value a helper returns to the program for this error (`-errno`).
    pub fn helper_ret(&self) -> i64 {
        -(self.errno.code() as i64)
    }
}

/// Shorthand for results of map operations.
pub type MapResult<T> = Result<T, MapError>;

/// Builds an error; used as `err(Errno::EINVAL, "...")`.
pub(crate) fn err<T>(errno: Errno, msg: impl Into<String>) -> MapResult<T> {
    Err(MapError::new(errno, msg))
}

/// Checks that a buffer has exactly the length the map expects (a typed error, never a panic).
pub(crate) fn check_len(what: &str, got: usize, want: usize) -> MapResult<()> {
    if got != want {
        return err(
            Errno::EINVAL,
            format!("{what} is {got} bytes, the map expects {want}"),
        );
    }
    Ok(())
}
