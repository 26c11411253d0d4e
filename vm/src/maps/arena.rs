//! Stable, zero-initialised host memory for map values.
//!
//! Programs get raw pointers into map values (`bpf_map_lookup_elem`, `bpf_ringbuf_reserve`)
//! and write through them while the map is shared, so value storage is one allocation made at
//! map creation (like the kernel's preallocated maps), never moved or freed while the map
//! lives, and only ever touched through raw pointers: no Rust reference to these bytes is
//! ever created, so program writes cannot invalidate a borrow.
//!
//! Concurrent programs racing on the same value behave as they do in the kernel: BPF atomic
//! instructions are atomic read-modify-writes ([`crate::interp::atomics`]), other accesses
//! get no synchronisation beyond what the program does itself; map-internal bookkeeping is
//! protected by each map's mutex.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use super::error::{err, Errno, MapResult};
use crate::memory::{Region, RegionKind};

/// Alignment of every arena; map values are 8-byte aligned as in the kernel.
const ALIGN: usize = 8;

/// A fixed-size, 8-byte aligned, zeroed allocation accessed only through raw pointers.
pub struct Arena {
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
}

// SAFETY (for the two impls below): the arena owns its allocation exclusively and the
// pointer is never reassigned; no Rust reference to its bytes is ever created, so moving or
// sharing the handle between threads cannot create aliasing references. What threads do to
// the bytes: BPF atomic instructions are real atomic read-modify-writes
// (`interp::atomics`), and map bookkeeping is under each map's mutex. Plain loads and stores
// of programs on different threads to the same bytes are the programs' own race, as in the
// kernel (the memory is plain bytes with no invariant a torn value could break).
unsafe impl Send for Arena {}
// SAFETY: see above; `&Arena` only exposes bounds-checked raw-pointer copies.
unsafe impl Sync for Arena {}

impl Arena {
    /// Allocates `len` zeroed bytes (at least 8, so the pointer is always real memory).
    pub fn new(len: u64) -> MapResult<Arena> {
        let Ok(len) = usize::try_from(len) else {
            return err(Errno::ENOMEM, "map storage larger than the address space");
        };
        let Ok(layout) = Layout::from_size_align(len.max(ALIGN), ALIGN) else {
            return err(Errno::ENOMEM, format!("cannot lay out {len} bytes"));
        };
        // SAFETY: the layout has a non-zero size (at least ALIGN bytes).
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            return err(Errno::ENOMEM, format!("cannot allocate {len} bytes"));
        };
        Ok(Arena { ptr, len, layout })
    }

    /// Usable length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the arena has no usable bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start address.
    pub fn base(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// A pointer to `[off, off + len)`, or `None` if that range is not inside the arena.
    pub fn ptr(&self, off: usize, len: usize) -> Option<*mut u8> {
        let end = off.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: `off <= end <= self.len`, so the result stays inside (or one past the end
        // of) the allocation.
        Some(unsafe { self.ptr.as_ptr().add(off) })
    }

    /// Copies `dst.len()` bytes starting at `off` into `dst`; false if out of bounds.
    pub fn read(&self, off: usize, dst: &mut [u8]) -> bool {
        let Some(src) = self.ptr(off, dst.len()) else {
            return false;
        };
        // SAFETY: `src..src+len` is inside the arena (checked by `ptr`), `dst` is a distinct
        // Rust buffer, and arena bytes are never borrowed, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
        true
    }

    /// Copies `src` into the arena at `off`; false if out of bounds.
    pub fn write(&self, off: usize, src: &[u8]) -> bool {
        let Some(dst) = self.ptr(off, src.len()) else {
            return false;
        };
        // SAFETY: `dst..dst+len` is inside the arena (checked by `ptr`); `src` is a Rust
        // buffer that cannot point into the arena because arena bytes are never borrowed.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        true
    }

    /// Zeroes `[off, off + len)`; false if out of bounds.
    pub fn zero(&self, off: usize, len: usize) -> bool {
        let Some(dst) = self.ptr(off, len) else {
            return false;
        };
        // SAFETY: the range is inside the arena (checked by `ptr`).
        unsafe { std::ptr::write_bytes(dst, 0, len) };
        true
    }

    /// Copies `len` bytes at `off` into a new vector (zero-filled if out of bounds, which
    /// callers rule out).
    pub fn to_vec(&self, off: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(off, &mut v);
        v
    }

    /// Reads a native-endian `u32` at `off` (0 if out of bounds).
    pub fn read_u32(&self, off: usize) -> u32 {
        let mut b = [0; 4];
        self.read(off, &mut b);
        u32::from_ne_bytes(b)
    }

    /// Writes a native-endian `u32` at `off`.
    pub fn write_u32(&self, off: usize, v: u32) -> bool {
        self.write(off, &v.to_ne_bytes())
    }

    /// The region a program may access: the whole arena.
    pub fn region(&self, writable: bool, kind: RegionKind) -> Region {
        // SAFETY: the arena's allocation lives as long as the arena, which the map (and so
        // the map table a run borrows) owns; its bytes are only ever accessed through raw
        // pointers.
        unsafe { Region::new(self.ptr.as_ptr(), self.len, writable, kind) }
    }

    /// The offset of `addr` inside the arena, if it points into it.
    pub fn offset_of(&self, addr: *const u8) -> Option<usize> {
        let a = addr as usize;
        let b = self.ptr.as_ptr() as usize;
        if a >= b && a - b < self.len {
            Some(a - b)
        } else {
            None
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `ptr` was returned by `alloc_zeroed(self.layout)` and is freed exactly once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("base", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_bounds_checked() {
        let a = Arena::new(20).unwrap();
        assert_eq!(a.base() as usize % 8, 0);
        assert_eq!(a.to_vec(0, 20), vec![0; 20]);
        assert!(a.write(16, &[1, 2, 3, 4]));
        assert!(!a.write(17, &[1, 2, 3, 4]));
        assert!(a.ptr(usize::MAX, 2).is_none());
        assert_eq!(a.read_u32(16), u32::from_ne_bytes([1, 2, 3, 4]));
        assert_eq!(a.offset_of(a.base().wrapping_add(19)), Some(19));
        assert_eq!(a.offset_of(a.base().wrapping_add(20)), None);
    }

    #[test]
    fn empty_arena_is_real_memory() {
        let a = Arena::new(0).unwrap();
        assert!(a.is_empty());
        assert!(a.ptr(0, 0).is_some());
        assert!(a.ptr(0, 1).is_none());
    }

    #[test]
    fn huge_allocation_is_enomem_not_abort() {
        let e = Arena::new(u64::MAX / 2).unwrap_err();
        assert_eq!(e.errno, Errno::ENOMEM);
    }
}
