//! `BPF_MAP_TYPE_HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH`
//! (kernel/bpf/hashtab.c).
//!
//! Values live in preallocated slots of a `ValueStore` (like the kernel's default
//! preallocated hash maps), so pointers returned to programs stay valid. The index mirrors the
//! kernel's bucket layout to reproduce its iteration order:
//!
//! * the bucket of a key is `jhash(key, key_size, seed) & (n_buckets - 1)` with
//!   `n_buckets = roundup_pow_of_two(max_entries)`;
//! * inside a bucket, elements are in most-recently-inserted-first order (the kernel adds to
//!   the list head), and replacing a value of a non-per-CPU map moves the key to the head
//!   (the kernel allocates a new element); per-CPU and `BPF_F_LOCK` updates stay in place.
//!
//! **Differences from the kernel** (relevant when comparing runs):
//! * bpfbox always hashes with seed 0. The kernel uses a random seed unless the map is
//!   created with `BPF_F_ZERO_SEED`, so `get_next_key` order only matches the kernel for
//!   `BPF_F_ZERO_SEED` maps (and then exactly, barring concurrent updates).
//! * a replaced value is updated in place, so a pointer a program holds keeps pointing at the
//!   key's current value; in the kernel it points at the old (freed, later reused) element.
//! * LRU maps: see [`super::lru`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::error::{check_len, err, Errno, MapResult};
use super::lru::LruList;
use super::spec::{MapSpec, MapType, BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY_PROG, BPF_NOEXIST};
use super::values::ValueStore;
use super::{MapContents, MapEntry, MapOps, MapValue};
use crate::memory::Region;

const JHASH_INITVAL: u32 = 0xdead_beef;

/// Bob Jenkins' lookup3 hash as the kernel's `jhash()` computes it on little-endian hosts
/// (equal to `jhash2()` for lengths that are a multiple of 4, which `htab_map_hash` uses).
pub(crate) fn jhash(key: &[u8], initval: u32) -> u32 {
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    fn fin(a: &mut u32, b: &mut u32, c: &mut u32) {
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(14));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(11));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(25));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(16));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(4));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(14));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(24));
    }
    let word = |b: &[u8]| {
        let mut w = [0u8; 4];
        w[..b.len()].copy_from_slice(b);
        u32::from_le_bytes(w)
    };
    let init = JHASH_INITVAL
        .wrapping_add(key.len() as u32)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    // The last 1..=12 bytes, zero-padded, as the kernel's fall-through switch adds them.
    a = a.wrapping_add(word(&k[..k.len().min(4)]));
    if k.len() > 4 {
        b = b.wrapping_add(word(&k[4..k.len().min(8)]));
    }
    if k.len() > 8 {
        c = c.wrapping_add(word(&k[8..]));
    }
    fin(&mut a, &mut b, &mut c);
    c
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    slot: u32,
    bucket: u32,
    seq: u64,
}

/// Key → slot index with the kernel's bucket iteration order and a slot free list.
#[derive(Debug)]
pub(crate) struct HashIndex {
    bucket_mask: u32,
    max_entries: u32,
    by_key: HashMap<Box<[u8]>, Entry>,
    order: BTreeMap<(u32, Reverse<u64>), u32>,
    slot_keys: Vec<Option<Box<[u8]>>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl HashIndex {
    pub(crate) fn new(max_entries: u32) -> HashIndex {
        let n_buckets = max_entries
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31);
        HashIndex {
            bucket_mask: n_buckets - 1,
            max_entries,
            by_key: HashMap::new(),
            order: BTreeMap::new(),
            slot_keys: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.by_key.len() >= self.max_entries as usize
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        self.by_key.get(key).map(|e| e.slot)
    }

    fn bucket(&self, key: &[u8]) -> u32 {
        jhash(key, 0) & self.bucket_mask
    }

    /// Adds a new key at the head of its bucket; `None` if all slots are used.
    pub(crate) fn insert(&mut self, key: &[u8]) -> Option<u32> {
        if self.is_full() || self.by_key.contains_key(key) {
            return None;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let s = u32::try_from(self.slot_keys.len()).ok()?;
                self.slot_keys.push(None);
                s
            }
        };
        let e = Entry {
            slot,
            bucket: self.bucket(key),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.order.insert((e.bucket, Reverse(e.seq)), slot);
        self.slot_keys[slot as usize] = Some(key.into());
        self.by_key.insert(key.into(), e);
        Some(slot)
    }

    /// Moves an existing key to the head of its bucket (the kernel's replace-by-new-element).
    pub(crate) fn move_to_front(&mut self, key: &[u8]) {
        let seq = self.next_seq;
        if let Some(e) = self.by_key.get_mut(key) {
            self.order.remove(&(e.bucket, Reverse(e.seq)));
            e.seq = seq;
            self.order.insert((e.bucket, Reverse(seq)), e.slot);
            self.next_seq += 1;
        }
    }

    /// Removes a key, returning its slot.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<u32> {
        let e = self.by_key.remove(key)?;
        self.order.remove(&(e.bucket, Reverse(e.seq)));
        if let Some(k) = self.slot_keys.get_mut(e.slot as usize) {
            *k = None;
        }
        self.free.push(e.slot);
        Some(e.slot)
    }

    /// Removes the key stored in `slot`, returning it.
    pub(crate) fn remove_slot(&mut self, slot: u32) -> Option<Box<[u8]>> {
        let key = self.slot_keys.get(slot as usize)?.clone()?;
        self.remove(&key);
        Some(key)
    }

    /// `htab_map_get_next_key`: a missing or absent key restarts from the first element.
    pub(crate) fn next_key(&self, key: Option<&[u8]>) -> Option<Vec<u8>> {
        let start = key.and_then(|k| self.by_key.get(k));
        let next = match start {
            Some(e) => self
                .order
                .range((
                    std::ops::Bound::Excluded((e.bucket, Reverse(e.seq))),
                    std::ops::Bound::Unbounded,
                ))
                .next(),
            None => self.order.iter().next(),
        };
        let (_, slot) = next?;
        self.slot_keys
            .get(*slot as usize)?
            .as_ref()
            .map(|k| k.to_vec())
    }

    /// All `(key, slot)` pairs in `get_next_key` order.
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, u32)> {
        self.order
            .values()
            .filter_map(|s| {
                let k = self.slot_keys.get(*s as usize)?.as_ref()?;
                Some((k.to_vec(), *s))
            })
            .collect()
    }
}

/// `check_flags` of hashtab.c.
pub(crate) fn check_flags(exists: bool, flags: u64) -> MapResult<()> {
    let f = flags & !BPF_F_LOCK;
    if exists && f == BPF_NOEXIST {
        return err(Errno::EEXIST, "key exists and BPF_NOEXIST was given");
    }
    if !exists && f == BPF_EXIST {
        return err(Errno::ENOENT, "key does not exist and BPF_EXIST was given");
    }
    Ok(())
}

#[derive(Debug)]
struct State {
    index: HashIndex,
    lru: Option<LruList>,
}

/// A hash map of any of the four hash flavours.
#[derive(Debug)]
pub(crate) struct HashTable {
    key_size: usize,
    percpu: bool,
    lru: bool,
    has_lock: bool,
    writable: bool,
    store: ValueStore,
    state: Mutex<State>,
}

/// Which side an update comes from: the program writes one CPU's copy, user space all.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Prog(usize),
    User,
}

impl HashTable {
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> MapResult<HashTable> {
        let percpu = spec.map_type.is_percpu();
        let lru = matches!(spec.map_type, MapType::LruHash | MapType::LruPercpuHash);
        let store = ValueStore::new(
            u64::from(spec.max_entries),
            spec.value_size,
            if percpu { ncpus } else { 1 },
            spec.spin_lock_off,
        )?;
        Ok(HashTable {
            key_size: spec.key_size as usize,
            percpu,
            lru,
            has_lock: spec.spin_lock_off.is_some(),
            writable: spec.map_flags & BPF_F_RDONLY_PROG == 0,
            store,
            state: Mutex::new(State {
                index: HashIndex::new(spec.max_entries),
                lru: lru.then(LruList::new),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // matters more than losing the map, so recover the guard instead of propagating.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_key(&self, key: &[u8]) -> MapResult<()> {
        check_len("key", key.len(), self.key_size)
    }

    fn do_update(&self, key: &[u8], value: &[u8], flags: u64, side: Side) -> MapResult<()> {
        self.check_key(key)?;
        let want = match side {
            Side::Prog(_) => self.store.value_size(),
            Side::User => self.store.user_size(),
        };
        check_len("value", value.len(), want)?;
        // Plain hashes accept BPF_F_LOCK; per-CPU and LRU updates reject any flag > EXIST.
        let bad = if self.percpu || self.lru {
            flags > BPF_EXIST
        } else {
            (flags & !BPF_F_LOCK) > BPF_EXIST
        };
        if bad {
            return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
        }
        if flags & BPF_F_LOCK != 0 && !self.has_lock {
            return err(Errno::EINVAL, "BPF_F_LOCK on a value without bpf_spin_lock");
        }
        if let Side::Prog(cpu) = side {
            if cpu >= self.store.copies() {
                return err(Errno::EINVAL, format!("cpu {cpu} out of range"));
            }
        }
        let mut st = self.lock();
        let existing = st.index.get(key);
        check_flags(existing.is_some(), flags)?;
        let slot = match existing {
            Some(slot) => {
                if !self.percpu && flags & BPF_F_LOCK == 0 {
                    st.index.move_to_front(key);
                }
                slot
            }
            None => {
                if st.index.is_full() {
                    let victim = st.lru.as_mut().and_then(|l| l.oldest());
                    match victim {
                        Some(v) => {
                            st.index.remove_slot(v);
                            if let Some(l) = st.lru.as_mut() {
                                l.remove(v);
                            }
                        }
                        None if self.lru => {
                            return err(Errno::ENOMEM, "no LRU element to evict");
                        }
                        None => return err(Errno::E2BIG, "hash map is full"),
                    }
                }
                let Some(slot) = st.index.insert(key) else {
                    return err(Errno::E2BIG, "hash map is full");
                };
                // New elements start zeroed: per-CPU copies other than the writer's are 0.
                self.store.clear(slot as usize);
                slot
            }
        };
        if let Some(l) = st.lru.as_mut() {
            l.touch(slot);
        }
        match side {
            Side::Prog(cpu) => self.store.write_cpu(slot as usize, cpu, value),
            Side::User => self.store.write_user(slot as usize, value),
        }
    }
}

impl MapOps for HashTable {
    fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<*mut u8> {
        if key.len() != self.key_size {
            return None;
        }
        let mut st = self.lock();
        let slot = st.index.get(key)?;
        // Program lookups mark LRU elements as recently used (the kernel sets the ref bit).
        if let Some(l) = st.lru.as_mut() {
            l.touch(slot);
        }
        let cpu = if self.percpu { cpu as usize } else { 0 };
        self.store.ptr(slot as usize, cpu)
    }

    fn update_elem(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()> {
        let cpu = if self.percpu { cpu as usize } else { 0 };
        self.do_update(key, value, flags, Side::Prog(cpu))
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        self.check_key(key)?;
        let mut st = self.lock();
        let Some(slot) = st.index.remove(key) else {
            return err(Errno::ENOENT, "no such key");
        };
        if let Some(l) = st.lru.as_mut() {
            l.remove(slot);
        }
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        self.check_key(key)?;
        // Syscall lookups of LRU maps do not mark the element (htab_lru_map_lookup_elem_sys).
        let st = self.lock();
        match st.index.get(key) {
            Some(slot) => Ok(self.store.read_user(slot as usize)),
            None => err(Errno::ENOENT, "no such key"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        self.do_update(key, value, flags, Side::User)
    }

    fn lookup_and_delete(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        self.check_key(key)?;
        let mut st = self.lock();
        let Some(slot) = st.index.remove(key) else {
            return err(Errno::ENOENT, "no such key");
        };
        if let Some(l) = st.lru.as_mut() {
            l.remove(slot);
        }
        Ok(self.store.read_user(slot as usize))
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        if let Some(k) = key {
            self.check_key(k)?;
        }
        match self.lock().index.next_key(key) {
            Some(k) => Ok(k),
            None => err(Errno::ENOENT, "no more keys"),
        }
    }

    fn regions(&self) -> Vec<Region> {
        vec![self.store.region(self.writable)]
    }

    fn len(&self) -> usize {
        self.lock().index.len()
    }

    fn contents(&self) -> MapContents {
        let st = self.lock();
        let entries = st
            .index
            .entries()
            .into_iter()
            .map(|(key, slot)| MapEntry {
                key,
                value: if self.percpu {
                    MapValue::PerCpu(self.store.read_all_cpus(slot as usize))
                } else {
                    MapValue::Bytes(self.store.read_user(slot as usize))
                },
            })
            .collect();
        MapContents::Entries(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of the kernel's jhash (lookup3 `hashlittle`), e.g. the well-known
    /// `hashlittle("", 0) == 0xdeadbeef` and `hashlittle("Four score and seven years ago",
    /// 30, 0) == 0x17770551` from lookup3.c's self-test.
    #[test]
    fn jhash_matches_lookup3_reference() {
        assert_eq!(jhash(b"", 0), 0xdead_beef);
        assert_eq!(jhash(b"Four score and seven years ago", 0), 0x1777_0551);
        assert_eq!(jhash(b"Four score and seven years ago", 1), 0xcd62_8161);
    }

    #[test]
    fn index_orders_by_bucket_then_newest_first() {
        let mut ix = HashIndex::new(4);
        for k in 0u32..4 {
            ix.insert(&k.to_ne_bytes()).unwrap();
        }
        assert!(ix.insert(&9u32.to_ne_bytes()).is_none());
        let order: Vec<_> = ix.entries().into_iter().map(|(k, _)| k).collect();
        let mut expect: Vec<(u32, Reverse<u32>, Vec<u8>)> = (0u32..4)
            .map(|k| {
                (
                    jhash(&k.to_ne_bytes(), 0) & 3,
                    Reverse(k),
                    k.to_ne_bytes().to_vec(),
                )
            })
            .collect();
        expect.sort();
        assert_eq!(order, expect.into_iter().map(|e| e.2).collect::<Vec<_>>());
        // get_next_key walks exactly that order.
        let mut walk = vec![];
        let mut cur = None;
        while let Some(k) = ix.next_key(cur.as_deref()) {
            walk.push(k.clone());
            cur = Some(k);
        }
        assert_eq!(walk, order);
    }
}
