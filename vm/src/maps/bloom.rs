//! `BPF_MAP_TYPE_BLOOM_FILTER` (kernel/bpf/bloom_filter.c).
//!
//! Keyless; `push` adds a value, `peek` answers "maybe present" (0) or "definitely absent"
//! (`ENOENT`). The bit array has `roundup_pow_of_two(max_entries * nr_hash_funcs * 7 / 5)`
//! bits (at least 64), and bit `i` of a value is `jhash(value, seed + i) & mask`, as in the
//! kernel. bpfbox's seed is always 0, so results match a kernel filter created with
//! `BPF_F_ZERO_SEED`; with a random kernel seed, false positives differ.

use std::sync::{Mutex, MutexGuard};

use super::error::{check_len, err, Errno, MapResult};
use super::hash::jhash;
use super::spec::{MapSpec, BPF_ANY};
use super::{MapContents, MapOps};

/// A bloom filter.
#[derive(Debug)]
pub(crate) struct Bloom {
    value_size: usize,
    nr_hash_funcs: u32,
    bitset_mask: u32,
    bits: Mutex<Vec<u64>>,
}

impl Bloom {
    pub(crate) fn new(spec: &MapSpec) -> MapResult<Bloom> {
        let mut nr_hash_funcs = (spec.map_extra & 0xf) as u32;
        if nr_hash_funcs == 0 {
            nr_hash_funcs = 5;
        }
        // n * k / ln(2), approximated by * 7 / 5, rounded up to a power of two.
        let nr_bits = spec
            .max_entries
            .checked_mul(nr_hash_funcs)
            .and_then(|b| (b / 5).checked_mul(7));
        let bitset_mask = match nr_bits {
            Some(b) if b <= 1 << 31 => {
                if b <= 64 {
                    63
                } else {
                    b.next_power_of_two() - 1
                }
            }
            _ => u32::MAX,
        };
        let words = ((u64::from(bitset_mask) + 1) / 64) as usize;
        let mut bits = Vec::new();
        if bits.try_reserve_exact(words).is_err() {
            return err(Errno::ENOMEM, "cannot allocate bloom filter bits");
        }
        bits.resize(words, 0);
        Ok(Bloom {
            value_size: spec.value_size as usize,
            nr_hash_funcs,
            bitset_mask,
            bits: Mutex::new(bits),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u64>> {
        self.bits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bit(&self, value: &[u8], i: u32) -> usize {
        (jhash(value, i) & self.bitset_mask) as usize
    }

    /// Whether `value` may have been pushed.
    pub(crate) fn contains(&self, value: &[u8]) -> MapResult<bool> {
        check_len("value", value.len(), self.value_size)?;
        let bits = self.lock();
        Ok((0..self.nr_hash_funcs).all(|i| {
            let h = self.bit(value, i);
            bits.get(h / 64).is_some_and(|w| w & (1 << (h % 64)) != 0)
        }))
    }
}

impl MapOps for Bloom {
    fn lookup_ptr(&self, _key: &[u8], _cpu: u32) -> Option<*mut u8> {
        None
    }

    fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
        err(Errno::EINVAL, "bloom filters take push, not update")
    }

    fn delete_elem(&self, _key: &[u8]) -> MapResult<()> {
        err(Errno::EOPNOTSUPP, "bloom filters cannot delete")
    }

    fn lookup(&self, _key: &[u8]) -> MapResult<Vec<u8>> {
        err(
            Errno::EINVAL,
            "bloom filters take peek with a value, not lookup",
        )
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        check_len("key", key.len(), 0)?;
        self.push(value, flags)
    }

    fn get_next_key(&self, _key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        err(Errno::EOPNOTSUPP, "bloom filters have no keys")
    }

    fn push(&self, value: &[u8], flags: u64) -> MapResult<()> {
        check_len("value", value.len(), self.value_size)?;
        if flags != BPF_ANY {
            return err(Errno::EINVAL, "bloom filter push takes BPF_ANY only");
        }
        let mut bits = self.lock();
        for i in 0..self.nr_hash_funcs {
            let h = self.bit(value, i);
            if let Some(w) = bits.get_mut(h / 64) {
                *w |= 1 << (h % 64);
            }
        }
        Ok(())
    }

    fn pop(&self, _out: &mut [u8]) -> MapResult<()> {
        err(Errno::EOPNOTSUPP, "bloom filters cannot pop")
    }

    /// For bloom filters the buffer is the value to test (input), as in the kernel.
    fn peek(&self, value: &mut [u8]) -> MapResult<()> {
        if self.contains(value)? {
            Ok(())
        } else {
            err(Errno::ENOENT, "definitely not present")
        }
    }

    fn len(&self) -> usize {
        0
    }

    fn contents(&self) -> MapContents {
        let bits = self.lock();
        MapContents::Bloom {
            nr_hash_funcs: self.nr_hash_funcs,
            nr_bits: u64::from(self.bitset_mask) + 1,
            bits_set: bits.iter().map(|w| u64::from(w.count_ones())).sum(),
        }
    }
}
