//! Per-thread spare buffers: a compile takes its working vectors from here and gives them
//! back when it is done, so that a thread's compiles after its first allocate none of them.

use std::cell::Cell;
use std::thread::LocalKey;

/// Largest buffer kept (in elements): a huge program's would hold its memory for the life
/// of the thread.
const KEEP_MAX: usize = 1 << 16;

/// A thread's spare vector of `T`.
pub(crate) type Slot<T> = LocalKey<Cell<Vec<T>>>;

/// The spare vector in `key`, emptied, with room for `n` elements (a new one when the
/// thread has none).
pub(crate) fn take<T>(key: &'static Slot<T>, n: usize) -> Vec<T> {
    let mut v = key.take();
    v.clear();
    v.reserve(n);
    v
}

/// Keeps `v` as the spare vector in `key` (unless it is huge).
pub(crate) fn give<T>(key: &'static Slot<T>, mut v: Vec<T>) {
    if v.capacity() <= KEEP_MAX {
        v.clear();
        key.set(v);
    }
}
