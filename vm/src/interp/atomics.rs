//! BPF atomic instructions as real atomic operations on host memory.
//!
//! A map may be shared by programs running on several threads (the kernel runs them on
//! several CPUs), so `lock xadd`, `cmpxchg` and the rest must be atomic read-modify-writes,
//! not a load and a store another thread can interleave with. Each operation is a
//! compare-and-swap loop around [`crate::semantics::atomic`], so the values are exactly the
//! semantics core's; sequentially consistent ordering is at least as strong as the kernel's
//! fully ordered atomics.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};

use crate::isa::{AtomicOp, Size};
use crate::semantics::{self, AtomicResult};

/// Whether the operation may store (and so needs writable memory).
pub fn may_store(op: AtomicOp) -> bool {
    op != AtomicOp::LoadAcquire
}

/// Bytes of an access of `size`.
pub fn bytes(size: Size) -> u64 {
    match size {
        Size::B => 1,
        Size::H => 2,
        Size::W => 4,
        Size::DW => 8,
    }
}

macro_rules! cas_loop {
    ($atomic:ty, $int:ty, $addr:expr, $op:expr, $size:expr, $src:expr, $r0:expr) => {{
        // SAFETY: the caller guarantees `$addr` is valid and aligned for this width.
        let a = unsafe { <$atomic>::from_ptr($addr as usize as *mut $int) };
        loop {
            let old = a.load(SeqCst);
            let res = semantics::atomic($op, $size, old as u64, $src, $r0);
            match res.store {
                None => return res,
                Some(v) => {
                    if a.compare_exchange(old, v as $int, SeqCst, SeqCst).is_ok() {
                        return res;
                    }
                }
            }
        }
    }};
}

/// Performs `op` of `size` at `addr` with operand `src` (and `r0` for cmpxchg), atomically
/// when `addr` is aligned to the size. A misaligned address (the kernel's verifier refuses
/// those; unverified programs may try) gets a plain load and store.
///
/// # Safety
///
/// `[addr, addr + size)` must be valid for reads, and for writes unless the operation is a
/// load-acquire, and any other thread accessing it concurrently must do so atomically or
/// through raw pointers (program memory is never borrowed by Rust code).
pub unsafe fn atomic_at(addr: u64, op: AtomicOp, size: Size, src: u64, r0: u64) -> AtomicResult {
    if addr.is_multiple_of(bytes(size)) {
        match size {
            Size::B => cas_loop!(AtomicU8, u8, addr, op, size, src, r0),
            Size::H => cas_loop!(AtomicU16, u16, addr, op, size, src, r0),
            Size::W => cas_loop!(AtomicU32, u32, addr, op, size, src, r0),
            Size::DW => cas_loop!(AtomicU64, u64, addr, op, size, src, r0),
        }
    }
    let n = bytes(size) as usize;
    let mut b = [0u8; 8];
    // SAFETY: the caller guarantees the range is readable.
    unsafe { std::ptr::copy_nonoverlapping(addr as usize as *const u8, b.as_mut_ptr(), n) };
    let res = semantics::atomic(op, size, u64::from_le_bytes(b), src, r0);
    if let Some(v) = res.store {
        // SAFETY: a store happens only for operations the caller made writable memory for.
        unsafe {
            std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), addr as usize as *mut u8, n)
        };
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four threads each add 1 a hundred thousand times to one counter: every increment
    /// lands (a load and a store would lose some).
    #[test]
    fn concurrent_adds_are_not_lost() {
        let cell = Box::new(AtomicU64::new(0));
        let addr = cell.as_ptr() as u64;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(move || {
                    for _ in 0..100_000 {
                        // SAFETY: the counter outlives the scope and is only touched
                        // atomically.
                        unsafe { atomic_at(addr, AtomicOp::Add { fetch: false }, Size::DW, 1, 0) };
                    }
                });
            }
        });
        assert_eq!(cell.load(SeqCst), 400_000);
    }

    #[test]
    fn results_are_the_semantics_cores() {
        let mut v = 5u32;
        let p = &mut v as *mut u32 as u64;
        // SAFETY: `v` is a live local.
        let r = unsafe { atomic_at(p, AtomicOp::Cmpxchg, Size::W, 9, 5) };
        assert_eq!(r, semantics::atomic(AtomicOp::Cmpxchg, Size::W, 5, 9, 5));
        assert_eq!(v, 9);
        // SAFETY: as above.
        let r = unsafe { atomic_at(p, AtomicOp::Cmpxchg, Size::W, 1, 5) };
        assert_eq!(r.store, None);
        assert_eq!(v, 9);
    }
}
