//! Recency tracking for `BPF_MAP_TYPE_LRU_HASH` and `LRU_PERCPU_HASH`.
//!
//! The table itself is `HashTable` (`super::hash`); this list decides which element an insert
//! into a full LRU map evicts. bpfbox uses a strict, deterministic least-recently-used
//! policy: an element becomes most recent when it is inserted, updated, or looked up by a
//! program (`bpf_map_lookup_elem`); syscall-side lookups do not count, as in the kernel.
//!
//! **Differences from the kernel** (kernel/bpf/bpf_lru_list.c), which only approximates LRU:
//! * the kernel keeps active/inactive lists with a reference bit and per-CPU free lists
//!   (`LOCAL_FREE_TARGET`), so it can evict before the map is full and may evict an element
//!   that is not the least recently used; bpfbox evicts only when `max_entries` elements exist
//!   and always evicts the least recently used one;
//! * the kernel takes a free node before checking update flags, so a failing
//!   `BPF_NOEXIST`/`BPF_EXIST` update or a replacement of an existing key can still evict an
//!   element; bpfbox evicts only when a new key is actually inserted;
//! * with `BPF_F_NO_COMMON_LRU` the kernel keeps one list per CPU and evicts from the current
//!   CPU's list; bpfbox keeps one list (the flag only rounds `max_entries` to a multiple of
//!   the CPU count, as the kernel does).

use std::collections::BTreeMap;

/// Slots ordered by last use.
#[derive(Debug, Default)]
pub(crate) struct LruList {
    tick: u64,
    by_tick: BTreeMap<u64, u32>,
    last_use: Vec<Option<u64>>,
}

impl LruList {
    pub(crate) fn new() -> LruList {
        LruList::default()
    }

    /// Marks `slot` as the most recently used.
    pub(crate) fn touch(&mut self, slot: u32) {
        self.remove(slot);
        let i = slot as usize;
        if self.last_use.len() <= i {
            self.last_use.resize(i + 1, None);
        }
        self.last_use[i] = Some(self.tick);
        self.by_tick.insert(self.tick, slot);
        self.tick += 1;
    }

    /// Forgets `slot` (deleted or evicted).
    pub(crate) fn remove(&mut self, slot: u32) {
        if let Some(t) = self.last_use.get_mut(slot as usize).and_then(Option::take) {
            self.by_tick.remove(&t);
        }
    }

    /// The least recently used slot.
    pub(crate) fn oldest(&self) -> Option<u32> {
        self.by_tick.values().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_touched() {
        let mut l = LruList::new();
        l.touch(0);
        l.touch(1);
        l.touch(2);
        assert_eq!(l.oldest(), Some(0));
        l.touch(0);
        assert_eq!(l.oldest(), Some(1));
        l.remove(1);
        assert_eq!(l.oldest(), Some(2));
        l.remove(2);
        l.remove(0);
        assert_eq!(l.oldest(), None);
    }
}
