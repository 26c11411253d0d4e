//! Executable memory under W^X, with one system call per compile and none per drop.
//!
//! Code lives in a process-wide arena of chunks. A chunk is a `memfd_create` file mapped
//! once, shared and read-execute; no mapping of it is ever writable. Installing an image
//! takes a range of a chunk (first fit over a free list, in [`GRAIN`]-byte units) and
//! writes the bytes into the file at that offset with one `pwrite`: the kernel writes the
//! page cache, which the read-execute mapping shows. Dropping an image gives its range back
//! to the free list (merged with free neighbours) without a system call. This is stricter
//! than flipping a mapping between read-write and read-execute: no user mapping is ever
//! writable, not even for a moment, and there is no writable alias.
//!
//! The code is position independent (it reaches the shared stubs and its metadata through
//! the run context, its own parts through relative branches), so it is assembled before
//! its range is chosen.
//!
//! Freed ranges keep their old bytes until a later image reuses them: overwriting them
//! with traps would cost a system call per drop, and they are reachable only through the
//! address of a dropped image, which nothing keeps. A range's bytes past its code, up to
//! the next [`GRAIN`], are written as traps (`int3`) with the code, so no stale fragment
//! lies inside a live image's range.
//!
//! The chunks are files shared with any child `fork`ed from the process: a child keeps
//! running the code it inherited but writes its own code only into chunks it makes itself
//! (a `pthread_atfork` handler tells it), so neither process writes a range the other
//! allocated.
//!
//! When the arena cannot be made (no `memfd_create`, a seccomp filter, `vm.memfd_noexec`
//! forbidding executable memfds, a mapping refused), each image falls back to its own
//! anonymous mapping, written while read-write and then made read-execute (one `mmap`,
//! one `mprotect`, one `munmap` on drop): the JIT never becomes unavailable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use memmap2::{Mmap, MmapMut};

/// Allocation unit in a chunk: a cache line, which also keeps every image 64-byte
/// aligned.
pub const GRAIN: usize = 64;
/// Size of an ordinary chunk; a larger image gets a chunk of its own, its size rounded
/// up to pages.
const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;
/// The padding written after an image, bytes of a trapping instruction: `int3` on x86-64,
/// `udf #0` (all zeros) on aarch64.
const PAD: u8 = if cfg!(target_arch = "aarch64") {
    0
} else {
    0xcc
};

/// Whether new images go into the arena (a switch for tests of the fallback path).
static USE_ARENA: AtomicBool = AtomicBool::new(true);

/// Where an image's code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A range of a read-execute `memfd` chunk.
    Arena,
    /// An anonymous mapping of its own, made read-execute after the copy.
    Own,
}

/// Chooses whether images compiled from now on go into the arena (`true`, the default) or
/// take the fallback path (`false`); images already made stay where they are. For tests
/// of the fallback path.
#[doc(hidden)]
pub fn set_use_arena(on: bool) {
    USE_ARENA.store(on, Ordering::Relaxed);
}

/// Native code in read-execute memory.
#[derive(Debug)]
pub struct Code {
    addr: usize,
    len: usize,
    home: Home,
}

#[derive(Debug)]
enum Home {
    /// `size` bytes at `start` of arena chunk `chunk`.
    Arena {
        chunk: usize,
        start: usize,
        size: usize,
    },
    Own(Mmap),
}

impl Code {
    /// Places `bytes` in read-execute memory: in the arena, or in a mapping of its own
    /// when the arena is unavailable.
    pub fn new(bytes: &[u8]) -> std::io::Result<Code> {
        Self::install(bytes.to_vec())
    }

    /// As [`Code::new`], taking the buffer (its spare capacity holds the padding, so that
    /// one plain `pwrite` writes it all).
    pub fn install(mut bytes: Vec<u8>) -> std::io::Result<Code> {
        if USE_ARENA.load(Ordering::Relaxed) {
            if let Some(code) = arena::install(&mut bytes) {
                return Ok(code);
            }
        }
        Self::own(&bytes)
    }

    /// The fallback: an anonymous mapping written while read-write, then made
    /// read-execute.
    fn own(bytes: &[u8]) -> std::io::Result<Code> {
        let size = bytes.len().max(1).div_ceil(PAGE) * PAGE;
        let mut rw = MmapMut::map_anon(size)?;
        rw[..bytes.len()].copy_from_slice(bytes);
        let map = rw.make_exec()?;
        Ok(Code {
            addr: map.as_ptr() as usize,
            len: bytes.len(),
            home: Home::Own(map),
        })
    }

    /// Start address.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.home {
            Home::Own(map) => &map[..self.len],
            // SAFETY: the range is in a chunk mapped readable for as long as a range of it
            // is allocated, and this one stays allocated until `self` is dropped; nothing
            // writes it meanwhile (a range is written once, before its `Code` exists).
            Home::Arena { .. } => unsafe {
                std::slice::from_raw_parts(self.addr as *const u8, self.len)
            },
        }
    }

    /// Where the code lives.
    pub fn backing(&self) -> Backing {
        match self.home {
            Home::Arena { .. } => Backing::Arena,
            Home::Own(_) => Backing::Own,
        }
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Home::Arena { chunk, start, size } = self.home {
            arena::free(chunk, start, size);
        }
    }
}

#[cfg(target_os = "linux")]
mod arena {
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd};

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Once;

    use memmap2::{Mmap, MmapOptions};

    use super::{Code, Home, Mutex, CHUNK, GRAIN, PAD, PAGE};

    // A poisoned lock is taken anyway: the arena's invariants hold between statements.

    /// The process's arena.
    static ARENA: Mutex<Arena> = Mutex::new(Arena {
        chunks: Vec::new(),
        broken: false,
    });

    struct Arena {
        /// Chunks by index (an index stays valid while the chunk has a live range; a
        /// released chunk leaves `None`).
        chunks: Vec<Option<Chunk>>,
        /// Whether making a chunk failed: the arena is not tried again.
        broken: bool,
    }

    struct Chunk {
        file: File,
        map: Mmap,
        /// Free ranges `(start, len)`, sorted by start, never adjacent.
        free: Vec<(usize, usize)>,
        /// The [`FORKS`] count when it was made: a chunk made before a `fork` shares its
        /// file with the other process, so it takes no new code.
        generation: usize,
    }

    /// Forks this process has taken part in, as the parent or as the child, counted by
    /// `pthread_atfork` handlers. After a `fork` the chunks are files both processes map:
    /// a range one side frees or never used may hold code the other side still runs, so
    /// neither writes a chunk made before the fork again; new code goes to new chunks.
    static FORKS: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn forked() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }

    /// Registers [`forked`] once, before the first chunk is made.
    fn watch_forks() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // SAFETY: the handler only increments an atomic, which is async-signal-safe
            // as a child handler must be; it stays valid for the life of the process.
            unsafe { libc::pthread_atfork(None, Some(forked), Some(forked)) };
        });
    }

    impl Chunk {
        /// A chunk of `size` bytes (a multiple of the page), or `None` when the system
        /// refuses one.
        fn new(size: usize) -> Option<Chunk> {
            let name = c"bpfbox-jit";
            // SAFETY: `name` is a NUL-terminated string; the call has no other input.
            let mut fd =
                unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_EXEC) };
            if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                // Kernels before 6.3 know no MFD_EXEC (their memfds are executable).
                // SAFETY: as above.
                fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
            }
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` was just opened and nothing else owns it.
            let file = unsafe { File::from_raw_fd(fd) };
            file.set_len(size as u64).ok()?;
            // SAFETY: the file is ours alone (a memfd nobody else has a descriptor of),
            // never truncated while mapped, and written only through `pwrite` at ranges
            // no live image holds; the mapping is read-execute, never writable.
            let map = unsafe { MmapOptions::new().len(size).map_exec(&file) }.ok()?;
            Some(Chunk {
                file,
                map,
                free: vec![(0, size)],
                generation: FORKS.load(Ordering::Relaxed),
            })
        }

        /// The start of a free range of `size` bytes, taken from the free list.
        fn take(&mut self, size: usize) -> Option<usize> {
            let i = self.free.iter().position(|&(_, len)| len >= size)?;
            let (start, len) = self.free[i];
            if len == size {
                self.free.remove(i);
            } else {
                self.free[i] = (start + size, len - size);
            }
            Some(start)
        }

        /// Gives back `size` bytes at `start`, merged with free neighbours.
        fn give(&mut self, start: usize, size: usize) {
            let i = self.free.partition_point(|&(s, _)| s < start);
            let joins_prev = i > 0 && {
                let (s, l) = self.free[i - 1];
                s + l == start
            };
            let joins_next = i < self.free.len() && start + size == self.free[i].0;
            match (joins_prev, joins_next) {
                (true, true) => {
                    self.free[i - 1].1 += size + self.free[i].1;
                    self.free.remove(i);
                }
                (true, false) => self.free[i - 1].1 += size,
                (false, true) => self.free[i] = (start, size + self.free[i].1),
                (false, false) => self.free.insert(i, (start, size)),
            }
        }

        fn is_empty(&self) -> bool {
            self.free.len() == 1 && self.free[0].1 == self.map.len()
        }

        /// Whether it was made since the last `fork` (not shared with another process).
        fn current(&self) -> bool {
            self.generation == FORKS.load(Ordering::Relaxed)
        }
    }

    /// Installs `bytes` in the arena, or `None` (with `bytes` as they were) when the arena
    /// is unavailable. `bytes` is padded in place for the write.
    pub(super) fn install(bytes: &mut Vec<u8>) -> Option<Code> {
        let len = bytes.len();
        let size = len.max(1).div_ceil(GRAIN) * GRAIN;
        let (chunk, start, base, fd) = {
            let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
            if arena.broken {
                return None;
            }
            let found = arena.chunks.iter_mut().enumerate().find_map(|(i, c)| {
                let c = c.as_mut().filter(|c| c.current())?;
                Some((i, c.take(size)?))
            });
            let (i, start) = match found {
                Some(f) => f,
                None => {
                    let chunk_size = if size <= CHUNK {
                        CHUNK
                    } else {
                        size.div_ceil(PAGE) * PAGE
                    };
                    watch_forks();
                    let Some(mut c) = Chunk::new(chunk_size) else {
                        arena.broken = true;
                        return None;
                    };
                    let start = c.take(size).expect("a fresh chunk holds the image");
                    let i = match arena.chunks.iter().position(Option::is_none) {
                        Some(i) => i,
                        None => {
                            arena.chunks.push(None);
                            arena.chunks.len() - 1
                        }
                    };
                    arena.chunks[i] = Some(c);
                    (i, start)
                }
            };
            let c = arena.chunks[i].as_ref().expect("just found");
            (i, start, c.map.as_ptr() as usize, c.file.as_raw_fd())
        };
        // The range is ours: the chunk (and `fd`) stays until it is given back.
        bytes.resize(size, PAD);
        let written = write_at(fd, start, bytes);
        bytes.truncate(len);
        if written.is_err() {
            free(chunk, start, size);
            return None;
        }
        Some(Code {
            addr: base + start,
            len,
            home: Home::Arena { chunk, start, size },
        })
    }

    /// Writes `bytes` at `offset` of the file `fd`: one `pwrite` unless the kernel writes
    /// less. (A plain `pwrite` costs measurably less than a vectored one.)
    fn write_at(fd: i32, mut offset: usize, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            // SAFETY: the buffer is a live slice the kernel only reads; `fd` is a chunk's
            // file, open while the range being written is allocated.
            let n = unsafe {
                libc::pwrite(
                    fd,
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                    offset as libc::off_t,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            offset += n as usize;
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }

    /// Gives a range back. A chunk left empty is released when it is larger than an
    /// ordinary chunk, made before a `fork`, or when another chunk is empty too, so
    /// at most one empty ordinary chunk stays (without a system call on the common path).
    pub(super) fn free(chunk: usize, start: usize, size: usize) {
        let released = {
            let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
            let Some(c) = arena.chunks[chunk].as_mut() else {
                return;
            };
            c.give(start, size);
            if !c.is_empty() {
                return;
            }
            let useless = c.map.len() > CHUNK || !c.current();
            let another_empty = arena.chunks.iter().enumerate().any(|(i, o)| {
                i != chunk && o.as_ref().is_some_and(|o| o.is_empty() && o.current())
            });
            if useless || another_empty {
                arena.chunks[chunk].take()
            } else {
                None
            }
        };
        // Unmapped and closed outside the lock.
        drop(released);
    }

    #[cfg(test)]
    mod tests {
        use super::Chunk;

        #[test]
        fn free_list_first_fit_and_coalescing() {
            let mut c = Chunk::new(4096).expect("memfd");
            let a = c.take(128).unwrap();
            let b = c.take(64).unwrap();
            let d = c.take(256).unwrap();
            assert_eq!((a, b, d), (0, 128, 192));
            c.give(b, 64);
            // First fit reuses the hole when it is big enough.
            assert_eq!(c.take(64), Some(128));
            c.give(128, 64);
            assert_eq!(c.take(128), Some(448), "the 64-byte hole is too small");
            c.give(a, 128);
            assert_eq!(c.free, vec![(0, 192), (576, 4096 - 576)]);
            c.give(d, 256);
            c.give(448, 128);
            assert!(c.is_empty(), "{:?}", c.free);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod arena {
    use super::Code;

    pub(super) fn install(_: &mut Vec<u8>) -> Option<Code> {
        None
    }

    pub(super) fn free(_: usize, _: usize, _: usize) {}
}
