//! Executable memory under W^X: the code is copied into an anonymous mapping while it is
//! read-write, then the mapping is turned read-execute before anything can call it. It is
//! never writable and executable at once.
//!
//! Mappings of dropped images go to a small pool and are reused (flipped back to
//! read-write, overwritten, zero-filled where the old code went past the new, flipped to
//! read-execute): that spares the `mmap`, `munmap` and page faults that otherwise dominate
//! compiling a small program. The two `mprotect`s remain, one each way.

use std::sync::Mutex;

use memmap2::{Mmap, MmapMut};

/// Retired mappings, kept for reuse, with the length of the code they last held (zero
/// beyond it).
static POOL: Mutex<Vec<(Mmap, usize)>> = Mutex::new(Vec::new());
/// Most mappings the pool keeps.
const POOL_MAX: usize = 32;
const PAGE: usize = 4096;

/// Native code in a read-execute mapping.
#[derive(Debug)]
pub struct Code {
    map: Option<Mmap>,
    len: usize,
}

impl Code {
    /// Maps `bytes` read-write, copies them in, and flips the mapping to read-execute.
    pub fn new(bytes: &[u8]) -> std::io::Result<Code> {
        let size = bytes.len().max(1).div_ceil(PAGE) * PAGE;
        let reused = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter()
                .position(|(m, _)| m.len() == size)
                .map(|i| pool.swap_remove(i))
        };
        // A fresh mapping is zero already.
        let (mut rw, dirty) = match reused {
            Some((m, used)) => match m.make_mut() {
                Ok(rw) => (rw, used),
                Err(_) => (MmapMut::map_anon(size)?, 0),
            },
            None => (MmapMut::map_anon(size)?, 0),
        };
        rw[..bytes.len()].copy_from_slice(bytes);
        if dirty > bytes.len() {
            rw[bytes.len()..dirty].fill(0);
        }
        let map = rw.make_exec()?;
        Ok(Code {
            map: Some(map),
            len: bytes.len(),
        })
    }

    fn map(&self) -> &Mmap {
        self.map.as_ref().expect("present until drop")
    }

    /// Start address.
    pub fn addr(&self) -> usize {
        self.map().as_ptr() as usize
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map()[..self.len]
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(m) = self.map.take() {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < POOL_MAX {
                pool.push((m, self.len));
            }
        }
    }
}
