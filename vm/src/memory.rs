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

/// How a store into a writable region must be shaped. A context field is written the way
/// the kernel's `is_valid_access` rules let a program write it: most fields only whole, byte
/// arrays (`__sk_buff.cb`) by any naturally aligned store inside them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub enum StoreShape {
    /// Any store inside the region.
    #[default]
    Any,
    /// Only a store of exactly the region's length at its start.
    Whole,
    /// Only a store whose address is a multiple of its size (a context buffer starts 8-byte
    /// aligned, so this is the kernel's `off % size == 0`).
    Aligned,
}

/// A contiguous range of host memory a program may touch, with its permission.
///
/// Its fields are private: the engines dereference every address a region covers, so a
/// region can only be made from memory whose owner vouches for it — [`Region::new`] is
/// `unsafe`, and the safe constructors take memory that lives for the whole program
/// ([`Region::from_static`], [`Region::from_static_mut`], [`Region::leak`]).
///
/// Regions may overlap: a store needs one writable region holding all its bytes, shaped as
/// the region's [`StoreShape`] demands, a load any region holding them (a context is one
/// read-only region with writable fields over it).
///
/// ```compile_fail,E0451
/// // Safe code cannot point an engine at memory it does not own (issue 11): the fields
/// // are private and the raw constructor is `unsafe`.
/// use bpfbox_vm::memory::{Region, RegionKind};
/// let r = Region { start: 0x1000, len: 4096, writable: true, kind: RegionKind::User };
/// ```
///
/// ```compile_fail,E0133
/// use bpfbox_vm::memory::{Region, RegionKind};
/// let r = Region::new(0x1000 as *const u8, 4096, true, RegionKind::User);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    start: u64,
    len: u64,
    writable: bool,
    kind: RegionKind,
    store: StoreShape,
}

/// Whether `[addr, addr + size)` may be read (or written) under `regions`: some region holds
/// the whole range, and for a store one that is writable and admits its shape. Every engine
/// (the interpreter, the JITs' checked mode, helpers) decides with this rule.
pub fn check_access(
    regions: &[Region],
    addr: u64,
    size: u64,
    write: bool,
) -> Result<(), crate::interp::FaultKind> {
    if regions.iter().any(|r| r.allows(addr, size, write)) {
        Ok(())
    } else {
        Err(crate::interp::FaultKind::OutOfBounds { addr, size, write })
    }
}

/// [`check_access`] for memory a helper reads or writes on the program's behalf. Store
/// shapes describe the program's own store instructions; a helper writes the length its
/// arguments give into any writable region holding it.
pub fn check_helper_access(
    regions: &[Region],
    addr: u64,
    len: u64,
    write: bool,
) -> Result<(), crate::interp::FaultKind> {
    if regions
        .iter()
        .any(|r| r.contains(addr, len) && (!write || r.writable()))
    {
        Ok(())
    } else {
        Err(crate::interp::FaultKind::OutOfBounds {
            addr,
            size: len,
            write,
        })
    }
}

impl Region {
    /// A region covering `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// For as long as the region is given to any run, `[ptr, ptr + len)` must be memory
    /// that may be read (and, if `writable`, written) through raw pointers: allocated,
    /// not freed or moved, and not accessed through Rust references that the program's
    /// accesses would invalidate.
    pub unsafe fn new(ptr: *const u8, len: usize, writable: bool, kind: RegionKind) -> Self {
        Region {
            start: ptr as u64,
            len: len as u64,
            writable,
            kind,
            store: StoreShape::Any,
        }
    }

    /// The same region, admitting only stores of `shape` (a restriction: always safe).
    pub fn with_store_shape(self, shape: StoreShape) -> Self {
        Region {
            store: shape,
            ..self
        }
    }

    /// How a store into the region must be shaped.
    #[inline(always)]
    pub fn store_shape(&self) -> StoreShape {
        self.store
    }

    /// Whether this region alone admits an access of `size` bytes at `addr`: it holds them,
    /// and a store is allowed there with that shape.
    #[inline(always)]
    pub fn allows(&self, addr: u64, size: u64, write: bool) -> bool {
        self.contains(addr, size)
            && (!write
                || (self.writable
                    && match self.store {
                        StoreShape::Any => true,
                        StoreShape::Whole => size == self.len,
                        StoreShape::Aligned => size != 0 && addr.is_multiple_of(size),
                    }))
    }

    /// A read-only region over memory that lives for the rest of the program.
    pub fn from_static(buf: &'static [u8], kind: RegionKind) -> Self {
        // SAFETY: the buffer lives forever and the region never allows a store into it.
        unsafe { Region::new(buf.as_ptr(), buf.len(), false, kind) }
    }

    /// A writable region over memory handed over for the rest of the program (nothing else
    /// can reach it through the exclusive borrow given up here).
    pub fn from_static_mut(buf: &'static mut [u8], kind: RegionKind) -> Self {
        // SAFETY: the buffer lives forever and the `'static` exclusive borrow is consumed,
        // so no Rust reference observes the program's stores.
        unsafe { Region::new(buf.as_mut_ptr(), buf.len(), true, kind) }
    }

    /// A region over `bytes`, which are leaked (they stay allocated for the rest of the
    /// program): the safe way to give a run memory of its own without a lifetime to track.
    pub fn leak(bytes: Vec<u8>, writable: bool, kind: RegionKind) -> Self {
        let buf: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        if writable {
            Region::from_static_mut(buf, kind)
        } else {
            Region::from_static(buf, kind)
        }
    }

    /// First host address of the region.
    #[inline(always)]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Length in bytes.
    #[inline(always)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region covers no byte.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether stores are allowed.
    #[inline(always)]
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// What the region holds.
    #[inline(always)]
    pub fn kind(&self) -> RegionKind {
        self.kind
    }

    /// The `len` bytes at offset `off` of this region, with its permission and kind;
    /// `None` unless they lie inside it.
    pub fn sub_region(self, off: u64, len: u64) -> Option<Region> {
        let start = self.start.checked_add(off)?;
        self.contains(start, len)
            .then_some(Region { start, len, ..self })
    }

    /// The same memory without the right to store into it.
    pub fn read_only(self) -> Self {
        Region {
            writable: false,
            ..self
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
