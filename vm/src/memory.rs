//! The memory model shared by the interpreter and the JITs.
//!
//! Programs see host addresses. Every engine knows the live regions (start, length,
//! permissions); in checked mode each access is validated against them with overflow-safe
//! arithmetic, and a bad access becomes a typed fault rather than a crash of the host.

/// What a region holds; reported in faults and used by the verifier later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum RegionKind {
    /// The program's stack (all frames).
    Stack,
    /// The context object passed in r1.
    Context,
    /// Generic input memory (the conformance `-- mem` block).
    Memory,
    /// Packet data (between `data` and `data_end`, including headroom and metadata).
    Packet,
    /// The value storage of a map.
    MapValue,
    /// Ring buffer data area.
    RingBuf,
    /// Memory registered by the embedder (e.g. for `probe_read`).
    User,
}

/// A contiguous range of host memory a program may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// First host address of the region.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether stores are allowed.
    pub writable: bool,
    /// What the region holds.
    pub kind: RegionKind,
}

impl Region {
    /// A region covering `len` bytes at `ptr`.
    pub fn new(ptr: *const u8, len: usize, writable: bool, kind: RegionKind) -> Self {
        Region {
            start: ptr as u64,
            len: len as u64,
            writable,
            kind,
        }
    }

    /// Whether `[addr, addr + size)` lies entirely inside this region (overflow-safe).
    #[inline(always)]
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        // `addr - start` cannot underflow once `addr >= start`; comparing the offset against
        // `len - size` avoids computing `addr + size`, which could wrap.
        addr >= self.start && size <= self.len && addr - self.start <= self.len - size
    }
}
