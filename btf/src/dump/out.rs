//! A small output buffer with fast integer formatting.

use std::io::Write;

/// Flush to the underlying writer once this many bytes are buffered.
const FLUSH_AT: usize = 64 * 1024;

/// Accumulates output in memory and hands it to the writer in big chunks.
pub(crate) struct Out<'w, W: Write + ?Sized> {
    buf: Vec<u8>,
    w: &'w mut W,
    flushed: u64,
}

impl<'w, W: Write + ?Sized> Out<'w, W> {
    pub(crate) fn new(w: &'w mut W) -> Self {
        Out {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            w,
            flushed: 0,
        }
    }

    #[inline]
    pub(crate) fn s(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub(crate) fn b(&mut self, b: u8) {
        self.buf.push(b);
    }

    #[inline]
    pub(crate) fn u(&mut self, v: impl itoa::Integer) {
        let mut f = itoa::Buffer::new();
        self.buf.extend_from_slice(f.format(v).as_bytes());
    }

    /// Flush if the buffer is big enough; call between records.
    #[inline]
    pub(crate) fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.w.write_all(&self.buf)?;
            self.flushed += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Bytes produced so far (flushed or not).
    #[inline]
    pub(crate) fn written(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.w.flush()
    }
}
