//! Value slots inside an [`Arena`]: the layout shared by arrays, hashes, LRU hashes and tries.
//!
//! Each slot holds one value, or one value per CPU for per-CPU maps; every per-CPU copy is
//! rounded up to 8 bytes, which is also the layout the syscall interface uses for per-CPU
//! values (`round_up(value_size, 8) * ncpus`).

use super::arena::Arena;
use super::error::{check_len, MapResult};
use super::spec::round8;
use crate::memory::{Region, RegionKind};

/// Fixed-size value slots with stable addresses.
#[derive(Debug)]
pub(crate) struct ValueStore {
    arena: Arena,
    value_size: usize,
    elem_size: usize,
    copies: usize,
    slots: usize,
    spin_lock_off: Option<usize>,
}

impl ValueStore {
    /// Storage for `slots` values of `value_size` bytes, `copies` of each (ncpus or 1).
    pub(crate) fn new(
        slots: u64,
        value_size: u32,
        copies: u32,
        spin_lock_off: Option<u32>,
    ) -> MapResult<ValueStore> {
        let elem = round8(u64::from(value_size));
        let total = elem
            .checked_mul(u64::from(copies))
            .and_then(|x| x.checked_mul(slots));
        let Some(total) = total else {
            return super::error::err(super::error::Errno::ENOMEM, "map storage size overflows");
        };
        let arena = Arena::new(total)?;
        Ok(ValueStore {
            arena,
            value_size: value_size as usize,
            elem_size: elem as usize,
            copies: copies as usize,
            slots: slots as usize,
            spin_lock_off: spin_lock_off.map(|o| o as usize),
        })
    }

    /// Size of one value copy.
    pub(crate) fn value_size(&self) -> usize {
        self.value_size
    }

    /// Number of per-CPU copies (1 for ordinary maps).
    pub(crate) fn copies(&self) -> usize {
        self.copies
    }

    /// Size of the user-side value buffer: `value_size`, or `round8(value_size) * ncpus`.
    pub(crate) fn user_size(&self) -> usize {
        if self.copies == 1 {
            self.value_size
        } else {
            self.elem_size * self.copies
        }
    }

    fn off(&self, slot: usize, cpu: usize) -> Option<usize> {
        if slot >= self.slots || cpu >= self.copies {
            return None;
        }
        Some((slot * self.copies + cpu) * self.elem_size)
    }

    /// Address of the copy for `cpu` in `slot` (the value a program sees).
    pub(crate) fn ptr(&self, slot: usize, cpu: usize) -> Option<*mut u8> {
        let off = self.off(slot, cpu)?;
        self.arena.ptr(off, self.value_size)
    }

    /// `copy_map_value`: copies a value in, leaving the `bpf_spin_lock` word untouched.
    fn copy_in(&self, off: usize, value: &[u8]) {
        match self.spin_lock_off {
            Some(lock) if lock + 4 <= value.len() => {
                self.arena.write(off, &value[..lock]);
                self.arena.write(off + lock + 4, &value[lock + 4..]);
            }
            _ => {
                self.arena.write(off, value);
            }
        }
    }

    /// Copies one value out; the lock word reads as zero, as the syscall path reports it.
    fn copy_out(&self, off: usize, dst: &mut [u8]) {
        self.arena.read(off, dst);
        if let Some(lock) = self.spin_lock_off {
            if let Some(w) = dst.get_mut(lock..lock + 4) {
                w.fill(0);
            }
        }
    }

    /// Writes the copy of `cpu` (program-side update).
    pub(crate) fn write_cpu(&self, slot: usize, cpu: usize, value: &[u8]) -> MapResult<()> {
        check_len("value", value.len(), self.value_size)?;
        if let Some(off) = self.off(slot, cpu) {
            self.copy_in(off, value);
        }
        Ok(())
    }

    /// Writes every copy from a user-side buffer (`user_size()` bytes).
    pub(crate) fn write_user(&self, slot: usize, value: &[u8]) -> MapResult<()> {
        check_len("value", value.len(), self.user_size())?;
        for cpu in 0..self.copies {
            let src = if self.copies == 1 {
                value
            } else {
                &value[cpu * self.elem_size..cpu * self.elem_size + self.value_size]
            };
            if let Some(off) = self.off(slot, cpu) {
                self.copy_in(off, src);
            }
        }
        Ok(())
    }

    /// Zeroes the whole slot (all copies, padding included).
    pub(crate) fn clear(&self, slot: usize) {
        if let Some(off) = self.off(slot, 0) {
            self.arena.zero(off, self.elem_size * self.copies);
        }
    }

    /// Reads the copy of `cpu`.
    pub(crate) fn read_cpu(&self, slot: usize, cpu: usize) -> Vec<u8> {
        let mut v = vec![0; self.value_size];
        if let Some(off) = self.off(slot, cpu) {
            self.copy_out(off, &mut v);
        }
        v
    }

    /// Reads every copy into a user-side buffer (`user_size()` bytes, padding zero).
    pub(crate) fn read_user(&self, slot: usize) -> Vec<u8> {
        if self.copies == 1 {
            return self.read_cpu(slot, 0);
        }
        let mut v = vec![0; self.user_size()];
        for cpu in 0..self.copies {
            if let Some(off) = self.off(slot, cpu) {
                let dst = &mut v[cpu * self.elem_size..cpu * self.elem_size + self.value_size];
                self.copy_out(off, dst);
            }
        }
        v
    }

    /// Reads every copy as a separate vector.
    pub(crate) fn read_all_cpus(&self, slot: usize) -> Vec<Vec<u8>> {
        (0..self.copies).map(|c| self.read_cpu(slot, c)).collect()
    }

    /// The region covering all slots.
    pub(crate) fn region(&self, writable: bool) -> Region {
        self.arena.region(writable, RegionKind::MapValue)
    }
}
