//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (kernel/bpf/arraymap.c, kernel/trace/bpf_trace.c).
//!
//! Each index holds a perf event in the kernel; in bpfbox an entry is a `u32` naming the CPU
//! the event is bound to (`ANY_CPU` for an event that follows a task), set from user space
//! with `update` (where the kernel takes a perf event fd). `bpf_perf_event_output` appends the
//! sample to the entry's buffer, which tests read back with [`super::Map::perf_read`].
//!
//! Samples are stored the way a perf ring delivers `PERF_SAMPLE_RAW` data to libbpf's
//! `perf_buffer` callbacks: zero-padded so that `size + 4` is a multiple of 8. Each index
//! buffers at most [`PERF_MAX_PENDING_BYTES`] of unread sample records (data, size word and
//! record header); past that a sample is
//! dropped, counted as lost and the output fails with `ENOSPC`, as the kernel's does when the
//! mmapped ring is full.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::array::{array_next_key, index_of};
use super::error::{check_len, err, Errno, MapResult};
use super::spec::{MapSpec, BPF_ANY, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK};
use super::{MapContents, MapOps, PerfBuffer};

/// Unread sample bytes one index holds before samples are lost (a 64-page perf ring).
pub const PERF_MAX_PENDING_BYTES: usize = 64 * 4096;

/// Entry value meaning "event not bound to a CPU": output from any CPU is accepted.
pub const PERF_ANY_CPU: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Slot {
    event_cpu: Option<u32>,
    samples: VecDeque<Vec<u8>>,
    /// Bytes in `samples`.
    pending: usize,
    /// Samples dropped because the buffer was full.
    lost: u64,
}

/// A perf event array.
#[derive(Debug)]
pub(crate) struct PerfEventArray {
    max_entries: u32,
    slots: Mutex<Vec<Slot>>,
}

impl PerfEventArray {
    pub(crate) fn new(spec: &MapSpec) -> MapResult<PerfEventArray> {
        let mut v = Vec::new();
        if v.try_reserve_exact(spec.max_entries as usize).is_err() {
            return err(Errno::ENOMEM, "cannot allocate perf event slots");
        }
        v.resize_with(spec.max_entries as usize, Slot::default);
        Ok(PerfEventArray {
            max_entries: spec.max_entries,
            slots: Mutex::new(v),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `bpf_perf_event_output` from a program running on `cpu`.
    pub(crate) fn output(&self, cpu: u32, flags: u64, data: &[u8]) -> MapResult<()> {
        if flags & !BPF_F_INDEX_MASK != 0 {
            return err(
                Errno::EINVAL,
                format!("unknown perf output flags {flags:#x}"),
            );
        }
        let mut index = flags & BPF_F_INDEX_MASK;
        if index == BPF_F_CURRENT_CPU {
            index = u64::from(cpu);
        }
        if index >= u64::from(self.max_entries) {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        }
        let mut slots = self.lock();
        let slot = &mut slots[index as usize];
        let Some(ev_cpu) = slot.event_cpu else {
            return err(Errno::ENOENT, format!("no perf event at index {index}"));
        };
        if ev_cpu != PERF_ANY_CPU && ev_cpu != cpu {
            return err(
                Errno::EOPNOTSUPP,
                format!("perf event at index {index} is bound to cpu {ev_cpu}, not {cpu}"),
            );
        }
        // perf_prepare_sample: raw size rounded so the u32 size field plus data is 8-aligned.
        let padded = ((data.len() + 4 + 7) & !7) - 4;
        // A PERF_RECORD_SAMPLE takes its 8-byte header and the raw size word besides.
        let record = padded + 12;
        if slot.pending + record > PERF_MAX_PENDING_BYTES {
            slot.lost += 1;
            return err(
                Errno::ENOSPC,
                format!("perf buffer at index {index} is full"),
            );
        }
        let mut sample = data.to_vec();
        sample.resize(padded, 0);
        slot.pending += record;
        slot.samples.push_back(sample);
        Ok(())
    }

    /// Drains the samples written to `index`.
    pub(crate) fn read(&self, index: u32) -> Vec<Vec<u8>> {
        let mut slots = self.lock();
        match slots.get_mut(index as usize) {
            Some(s) => {
                s.pending = 0;
                s.samples.drain(..).collect()
            }
            None => vec![],
        }
    }

    /// Samples lost so far, over every index.
    pub(crate) fn lost(&self) -> u64 {
        self.lock().iter().map(|s| s.lost).sum()
    }
}

impl MapOps for PerfEventArray {
    fn lookup_ptr(&self, _key: &[u8], _cpu: u32) -> Option<*mut u8> {
        None
    }

    fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
        err(Errno::EINVAL, "programs cannot update perf event arrays")
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        let index = index_of(key)?;
        let mut slots = self.lock();
        let Some(s) = slots.get_mut(index as usize) else {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        };
        if s.event_cpu.take().is_none() {
            return err(Errno::ENOENT, "no perf event at this index");
        }
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        index_of(key)?;
        // Perf event arrays have no map_fd_sys_lookup_elem: the syscall returns ENOTSUPP.
        err(
            Errno::ENOTSUPP,
            "perf event arrays cannot be read from user space",
        )
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        let index = index_of(key)?;
        check_len("value", value.len(), 4)?;
        if flags != BPF_ANY {
            return err(Errno::EINVAL, "fd array updates take BPF_ANY only");
        }
        let mut slots = self.lock();
        let Some(s) = slots.get_mut(index as usize) else {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        };
        s.event_cpu = Some(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]));
        Ok(())
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        array_next_key(key, self.max_entries)
    }

    fn len(&self) -> usize {
        self.lock().iter().filter(|s| s.event_cpu.is_some()).count()
    }

    fn contents(&self) -> MapContents {
        let slots = self.lock();
        MapContents::PerfEvents(
            slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.event_cpu.is_some() || !s.samples.is_empty())
                .map(|(i, s)| PerfBuffer {
                    index: i as u32,
                    event_cpu: s.event_cpu,
                    samples: s.samples.iter().cloned().collect(),
                })
                .collect(),
        )
    }
}
