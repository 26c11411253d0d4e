//! Executable memory under W^X: the code is copied into an anonymous mapping while it is
//! read-write, then the mapping is turned read-execute before anything can call it. It is
//! never writable and executable at once.

use memmap2::{Mmap, MmapMut};

/// Native code in a read-execute mapping.
#[derive(Debug)]
pub struct Code {
    map: Mmap,
}

impl Code {
    /// Maps `bytes` read-write, copies them in, and flips the mapping to read-execute.
    pub fn new(bytes: &[u8]) -> std::io::Result<Code> {
        let mut rw = MmapMut::map_anon(bytes.len().max(1))?;
        rw[..bytes.len()].copy_from_slice(bytes);
        let map = rw.make_exec()?;
        Ok(Code { map })
    }

    /// Start address.
    pub fn addr(&self) -> usize {
        self.map.as_ptr() as usize
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
