//! `BPF_MAP_TYPE_USER_RINGBUF` (kernel/bpf/ringbuf.c): a ring buffer user space produces
//! into and programs drain with `bpf_user_ringbuf_drain`.
//!
//! Creation follows `ringbuf_map_alloc` (shared with the kernel-to-user ring buffer). User
//! space submits samples with `UserRingBuf::submit` (libbpf's
//! `user_ring_buffer__reserve` + `__submit`) or reserves and discards them; each sample
//! takes its 8-byte header plus its length rounded up to 8 bytes of the ring, as in the
//! kernel, so a full ring refuses a sample exactly when libbpf would.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::error::{err, Errno, MapResult};
use super::spec::{round8, MapSpec, BPF_RINGBUF_HDR_SZ};
use super::{MapContents, MapOps};
use crate::memory::Region;

/// Largest sample a dynptr can describe (`DYNPTR_MAX_SIZE`).
pub const DYNPTR_MAX_SIZE: u64 = (1 << 24) - 1;

#[derive(Debug, Default)]
struct State {
    /// Submitted samples, oldest first, with whether each was discarded.
    samples: VecDeque<(Vec<u8>, bool)>,
    consumer: u64,
    producer: u64,
}

/// A user ring buffer.
#[derive(Debug)]
pub(crate) struct UserRingBuf {
    size: u64,
    state: Mutex<State>,
}

/// One sample taken off the ring by a drain.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sample {
    /// A sample for the callback.
    Data(Vec<u8>),
    /// A discarded sample, skipped (and counted apart) by the drain.
    Discarded,
}

impl UserRingBuf {
    pub(crate) fn new(spec: &MapSpec) -> UserRingBuf {
        UserRingBuf {
            size: u64::from(spec.max_entries),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Produces a sample (discarded ones take room until drained, as in the kernel):
    /// `E2BIG` if it can never fit, `ENOSPC` if the ring is full now.
    pub(crate) fn submit(&self, data: &[u8], discard: bool) -> MapResult<()> {
        let total = round8(data.len() as u64 + u64::from(BPF_RINGBUF_HDR_SZ));
        if data.len() as u64 > DYNPTR_MAX_SIZE || total > self.size {
            return err(Errno::E2BIG, "sample larger than the ring buffer");
        }
        let mut s = self.lock();
        if s.producer - s.consumer + total > self.size {
            return err(Errno::ENOSPC, "user ring buffer is full");
        }
        s.producer += total;
        s.samples.push_back((data.to_vec(), discard));
        Ok(())
    }

    /// Takes the oldest sample, advancing the consumer position; `None` when empty.
    pub(crate) fn take(&self) -> Option<Sample> {
        let mut s = self.lock();
        let (data, discarded) = s.samples.pop_front()?;
        s.consumer += round8(data.len() as u64 + u64::from(BPF_RINGBUF_HDR_SZ));
        Some(if discarded {
            Sample::Discarded
        } else {
            Sample::Data(data)
        })
    }
}

impl MapOps for UserRingBuf {
    super::ring_buffer_has_no_elements!();

    fn regions(&self) -> Vec<Region> {
        Vec::new()
    }

    fn len(&self) -> usize {
        self.lock().samples.len()
    }

    fn contents(&self) -> MapContents {
        let s = self.lock();
        MapContents::RingBuf {
            ring_size: self.size,
            consumer_pos: s.consumer,
            producer_pos: s.producer,
            records: s
                .samples
                .iter()
                .filter(|(_, d)| !d)
                .map(|(v, _)| v.clone())
                .collect(),
        }
    }
}
