//! Endian-aware, bounds-checked reading of little integers from a byte slice.

use crate::error::BtfError;

/// Byte order of a BTF blob, detected from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Endian {
    /// Least significant byte first (x86, arm64, bpfel).
    Little,
    /// Most significant byte first (s390x, bpfeb).
    Big,
}

impl Endian {
    /// The byte order of the machine running this code.
    pub const fn native() -> Self {
        if cfg!(target_endian = "big") {
            Endian::Big
        } else {
            Endian::Little
        }
    }

    /// Decode a `u16` from two bytes.
    #[inline]
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    /// Decode a `u32` from four bytes.
    #[inline]
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
}

/// A cursor over a byte slice that never reads out of bounds.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Added to `pos` in error messages so offsets are blob-relative.
    base: usize,
    endian: Endian,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], base: usize, endian: Endian) -> Self {
        Reader {
            data,
            pos: 0,
            base,
            endian,
        }
    }

    /// Bytes left to read.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Blob-relative offset of the next byte.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// True when everything has been read.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Fail unless `n` more bytes are available.
    #[inline]
    pub(crate) fn need(&self, n: usize, what: &'static str) -> Result<(), BtfError> {
        if self.remaining() < n {
            return Err(BtfError::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            });
        }
        Ok(())
    }

    /// Read the next `n` bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BtfError> {
        self.need(n, what)?;
        let end = self.pos + n;
        // Lazily built: this runs for every field of every type.
        let out = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| BtfError::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            })?;
        self.pos = end;
        Ok(out)
    }

    /// Read one `u32`.
    #[inline]
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, BtfError> {
        let b = self.bytes(4, what)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(self.endian.u32(a))
    }
}
