//! `BPF_MAP_TYPE_RINGBUF` (kernel/bpf/ringbuf.c).
//!
//! The data area is `max_entries` bytes (a power-of-2 multiple of the page size). Records are
//! an 8-byte header (`len: u32` with `BPF_RINGBUF_BUSY_BIT`/`DISCARD_BIT`, `pg_off: u32`)
//! followed by the sample, each record padded to 8 bytes; positions are free-running `u64`
//! counters masked by `size - 1`, exactly as in the kernel, so `bpf_ringbuf_query` returns the
//! same numbers.
//!
//! The kernel maps the data pages twice back to back so a record that wraps past the end is
//! contiguous in memory. bpfbox allocates `2 * size` bytes instead: a record that crosses the
//! end simply continues into the second half, and the consumer reads it from the same place,
//! so both sides see one contiguous record. `pg_off` holds the page offset of the header
//! from the start of the kernel's `struct bpf_ringbuf` assuming one non-mmapped page
//! (`RINGBUF_PGOFF` = 1); user space never interprets it.

use std::sync::{Mutex, MutexGuard};

use super::arena::Arena;
use super::error::{err, Errno, MapResult};
use super::spec::{
    MapSpec, BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS, BPF_RB_RING_SIZE, BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT,
    BPF_RINGBUF_HDR_SZ, PAGE_SIZE,
};
use super::{MapContents, MapOps};
use crate::memory::{Region, RegionKind};

/// `RINGBUF_MAX_RECORD_SZ`.
const MAX_RECORD_SZ: u64 = (u32::MAX / 4) as u64;
/// `RINGBUF_NR_META_PAGES` with one page before the consumer position.
const NR_META_PAGES: u64 = 3;

#[derive(Debug, Default)]
struct Positions {
    consumer: u64,
    producer: u64,
    pending: u64,
    /// Wakeups the kernel would have sent (`irq_work_queue` calls), for tests and dumps.
    wakeups: u64,
}

/// A ring buffer map.
#[derive(Debug)]
pub(crate) struct RingBuf {
    size: u64,
    mask: u64,
    data: Arena,
    pos: Mutex<Positions>,
}

fn round_len(len: u64) -> u64 {
    (len + u64::from(BPF_RINGBUF_HDR_SZ) + 7) & !7
}

impl RingBuf {
    pub(crate) fn new(spec: &MapSpec) -> MapResult<RingBuf> {
        let size = u64::from(spec.max_entries);
        Ok(RingBuf {
            size,
            mask: size - 1,
            data: Arena::new(size * 2)?,
            pos: Mutex::new(Positions::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Positions> {
        self.pos.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hdr_len(&self, pos: u64) -> u32 {
        self.data.read_u32((pos & self.mask) as usize)
    }

    /// `__bpf_ringbuf_reserve`: a pointer to `size` writable bytes, or `None` if the ring is
    /// full or the record too big.
    pub(crate) fn reserve(&self, size: u64) -> Option<*mut u8> {
        if size > MAX_RECORD_SZ {
            return None;
        }
        let len = round_len(size);
        if len > self.size {
            return None;
        }
        let mut p = self.lock();
        // Skip over records already committed so the check below only counts space held by
        // the oldest still-busy record.
        let mut pend = p.pending;
        while p.producer > pend {
            let l = self.hdr_len(pend);
            if l & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            pend += round_len(u64::from(l & !BPF_RINGBUF_DISCARD_BIT));
        }
        p.pending = pend;
        let new_prod = p.producer + len;
        if new_prod - p.consumer > self.mask || new_prod - pend > self.mask {
            return None;
        }
        let off = (p.producer & self.mask) as usize;
        self.data.write_u32(off, size as u32 | BPF_RINGBUF_BUSY_BIT);
        self.data.write_u32(
            off + 4,
            (off as u64 / u64::from(PAGE_SIZE) + NR_META_PAGES) as u32,
        );
        p.producer = new_prod;
        self.data
            .ptr(off + BPF_RINGBUF_HDR_SZ as usize, size as usize)
    }

    /// `bpf_ringbuf_commit`: clears the busy bit (and sets the discard bit).
    fn commit(&self, sample: *const u8, flags: u64, discard: bool) -> MapResult<()> {
        let Some(off) = self.data.offset_of(sample) else {
            return err(Errno::EINVAL, "pointer is not inside this ring buffer");
        };
        let Some(hdr) = off.checked_sub(BPF_RINGBUF_HDR_SZ as usize) else {
            return err(Errno::EINVAL, "pointer is not a reserved record");
        };
        if hdr & 7 != 0 || hdr as u64 >= self.size {
            return err(Errno::EINVAL, "pointer is not a reserved record");
        }
        let mut p = self.lock();
        let len = self.data.read_u32(hdr);
        if len & BPF_RINGBUF_BUSY_BIT == 0 {
            return err(Errno::EINVAL, "record is not reserved (double submit?)");
        }
        let mut new_len = len ^ BPF_RINGBUF_BUSY_BIT;
        if discard {
            new_len |= BPF_RINGBUF_DISCARD_BIT;
        }
        self.data.write_u32(hdr, new_len);
        // Wake the consumer if forced, or if it is waiting exactly on this record.
        let cons = (p.consumer & self.mask) as usize;
        if flags & BPF_RB_FORCE_WAKEUP != 0 || (cons == hdr && flags & BPF_RB_NO_WAKEUP == 0) {
            p.wakeups += 1;
        }
        Ok(())
    }

    /// The writable region of the `size`-byte record at `sample` (from [`RingBuf::reserve`]).
    pub(crate) fn record_region(&self, sample: *const u8, size: u64) -> Option<Region> {
        let off = self.data.offset_of(sample)?;
        let end = (off as u64).checked_add(size)?;
        (end <= 2 * self.size).then(|| {
            self.data
                .region(true, RegionKind::RingBuf)
                .sub_region(off as u64, size)
        })?
    }

    /// Whether `addr` points into the data area.
    pub(crate) fn owns(&self, addr: u64) -> bool {
        self.data.offset_of(addr as usize as *const u8).is_some()
    }

    /// `bpf_ringbuf_submit`.
    pub(crate) fn submit(&self, sample: *const u8, flags: u64) -> MapResult<()> {
        self.commit(sample, flags, false)
    }

    /// `bpf_ringbuf_discard`.
    pub(crate) fn discard(&self, sample: *const u8, flags: u64) -> MapResult<()> {
        self.commit(sample, flags, true)
    }

    /// `bpf_ringbuf_output`: reserve, copy, submit; `EAGAIN` when full.
    pub(crate) fn output(&self, data: &[u8], flags: u64) -> MapResult<()> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return err(
                Errno::EINVAL,
                format!("unknown ring buffer flags {flags:#x}"),
            );
        }
        let Some(rec) = self.reserve(data.len() as u64) else {
            return err(Errno::EAGAIN, "ring buffer full");
        };
        if let Some(off) = self.data.offset_of(rec) {
            self.data.write(off, data);
        }
        self.commit(rec, flags, false)
    }

    /// `bpf_ringbuf_query`.
    pub(crate) fn query(&self, flags: u64) -> u64 {
        let p = self.lock();
        match flags {
            BPF_RB_AVAIL_DATA => p.producer - p.consumer,
            BPF_RB_RING_SIZE => self.size,
            BPF_RB_CONS_POS => p.consumer,
            BPF_RB_PROD_POS => p.producer,
            _ => 0,
        }
    }

    /// Consumes the next submitted record (skipping discarded ones), as libbpf's
    /// `ringbuf_process_ring` does; `None` when empty or the next record is still busy.
    pub(crate) fn consume(&self) -> Option<Vec<u8>> {
        let mut p = self.lock();
        while p.consumer < p.producer {
            let len = self.hdr_len(p.consumer);
            if len & BPF_RINGBUF_BUSY_BIT != 0 {
                return None;
            }
            let sample = u64::from(len & !BPF_RINGBUF_DISCARD_BIT).min(self.size);
            let off = (p.consumer & self.mask) as usize + BPF_RINGBUF_HDR_SZ as usize;
            p.consumer += round_len(sample);
            if len & BPF_RINGBUF_DISCARD_BIT == 0 {
                return Some(self.data.to_vec(off, sample as usize));
            }
        }
        None
    }

    /// Submitted, unconsumed records without consuming them.
    pub(crate) fn pending_records(&self) -> Vec<Vec<u8>> {
        let p = self.lock();
        let mut out = vec![];
        let mut pos = p.consumer;
        while pos < p.producer {
            let len = self.hdr_len(pos);
            if len & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            // Headers are written only here (programs never reach them); bounding by the
            // ring's size keeps a corrupt one from asking for more than the ring holds.
            let sample = u64::from(len & !BPF_RINGBUF_DISCARD_BIT).min(self.size);
            if len & BPF_RINGBUF_DISCARD_BIT == 0 {
                let off = (pos & self.mask) as usize + BPF_RINGBUF_HDR_SZ as usize;
                out.push(self.data.to_vec(off, sample as usize));
            }
            pos += round_len(sample);
        }
        out
    }

    /// Number of consumer wakeups the kernel would have issued.
    pub(crate) fn wakeups(&self) -> u64 {
        self.lock().wakeups
    }
}

impl MapOps for RingBuf {
    super::ring_buffer_has_no_elements!();

    /// None: the data area holds the record headers the consumer trusts, so a program
    /// reaches only the records it reserved, each through a region of its own
    /// ([`RingBuf::record_region`]) withdrawn when the record is submitted or discarded.
    fn regions(&self) -> Vec<Region> {
        Vec::new()
    }

    fn len(&self) -> usize {
        self.pending_records().len()
    }

    fn contents(&self) -> MapContents {
        let p = self.lock();
        let (consumer_pos, producer_pos) = (p.consumer, p.producer);
        drop(p);
        MapContents::RingBuf {
            ring_size: self.size,
            consumer_pos,
            producer_pos,
            records: self.pending_records(),
        }
    }
}
