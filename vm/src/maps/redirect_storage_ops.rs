//! The `Map` operations of the redirect target maps, the local storage maps and user ring
//! buffers (the program-side helpers and the user-side producer).

use super::error::{err, Errno, MapResult};
use super::{user_ringbuf, Kind, Map};
use crate::memory::Region;

impl Map {
    /// Whether `bpf_redirect_map` finds a target at `key` of this devmap, devmap_hash,
    /// cpumap or xskmap (`None` for other map types).
    pub fn redirect_target(&self, key: u32) -> Option<bool> {
        match &self.kind {
            Kind::Redirect(m) => Some(m.has_target(key)),
            _ => None,
        }
    }

    /// The local storage at `key` of a cgroup or socket storage map, for a program on
    /// `cpu`: created (zeroed, or from `init`) when absent and `create` is set. Returns the
    /// value pointer and the storage's region, for the run to register if it lacks it.
    pub fn local_storage(
        &self,
        key: &[u8],
        cpu: u32,
        create: bool,
        init: Option<&[u8]>,
    ) -> MapResult<Option<(*mut u8, Option<Region>)>> {
        match &self.kind {
            Kind::Storage(m) => m.get_or_create(key, cpu, create, init),
            _ => err(
                Errno::EINVAL,
                format!("{} is not a local storage map", self.name()),
            ),
        }
    }

    /// Drops the local storage at `key` (a test run starts with fresh cgroup storage, as
    /// the kernel's `BPF_PROG_TEST_RUN` allocates it for each run).
    pub fn reset_local_storage(&self, key: &[u8]) {
        if let Kind::Storage(m) = &self.kind {
            m.remove(key);
        }
    }

    fn user_ringbuf(&self) -> MapResult<&user_ringbuf::UserRingBuf> {
        match &self.kind {
            Kind::UserRingBuf(r) => Ok(r),
            _ => err(
                Errno::EINVAL,
                format!("{} is not a user ring buffer", self.name()),
            ),
        }
    }

    /// Produces a sample into a user ring buffer, as user space does with libbpf's
    /// `user_ring_buffer__reserve` and `__submit` (`E2BIG` if it can never fit, `ENOSPC`
    /// if the ring is full).
    pub fn user_ringbuf_submit(&self, data: &[u8]) -> MapResult<()> {
        self.user_ringbuf()?.submit(data, false)
    }

    /// Reserves room for a sample in a user ring buffer and discards it
    /// (`user_ring_buffer__discard`): it takes room until a drain skips it.
    pub fn user_ringbuf_discard(&self, len: usize) -> MapResult<()> {
        self.user_ringbuf()?.submit(&vec![0; len], true)
    }

    /// Takes the oldest sample of a user ring buffer (the program side of a drain):
    /// `Some(Some(data))`, `Some(None)` for a discarded sample, `None` when empty.
    pub fn user_ringbuf_take(&self) -> Option<Option<Vec<u8>>> {
        match self.user_ringbuf().ok()?.take()? {
            user_ringbuf::Sample::Data(d) => Some(Some(d)),
            user_ringbuf::Sample::Discarded => Some(None),
        }
    }
}
