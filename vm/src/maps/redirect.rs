//! Redirect target maps: `BPF_MAP_TYPE_DEVMAP`, `DEVMAP_HASH` (kernel/bpf/devmap.c),
//! `CPUMAP` (kernel/bpf/cpumap.c) and `XSKMAP` (net/xdp/xskmap.c).
//!
//! A slot holds the value user space wrote, with the program file descriptor of 8-byte
//! values reported back as program id 0 (bpfbox runs no second-level programs, so a value
//! naming one is refused). Devices are not checked against a device table: any non-zero
//! ifindex is accepted (the kernel refuses one that names no device). XSKMAP values stand
//! for AF_XDP sockets: any value is accepted as the socket's handle.

use std::sync::Mutex;

use super::array::{array_next_key, index_of};
use super::error::{check_len, err, Errno, MapResult};
use super::hash::HashIndex;
use super::spec::{
    MapSpec, MapType, BPF_EXIST, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_NOEXIST,
};
use super::values::ValueStore;
use super::{MapContents, MapEntry, MapOps, MapValue};
use crate::memory::Region;

/// `NR_CPUS` of Debian's x86-64 kernels: the largest cpumap.
pub(crate) const NR_CPUS: u32 = 8192;
/// The largest cpumap queue (`qsize`) the kernel accepts.
const CPUMAP_MAX_QSIZE: u32 = 16384;

/// `dev_map_alloc_check`, `cpu_map_alloc` and `xsk_map_alloc`.
pub(crate) fn check(s: &MapSpec) -> MapResult<()> {
    let einval = |m: &str| err(Errno::EINVAL, format!("{}: {m}", s.map_type));
    let dev_flags = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;
    match s.map_type {
        MapType::Devmap | MapType::DevmapHash => {
            if s.max_entries == 0
                || s.key_size != 4
                || !matches!(s.value_size, 4 | 8)
                || s.map_flags & !dev_flags != 0
            {
                return einval("needs max_entries > 0, key_size 4, value_size 4 or 8, flags NUMA_NODE/RDONLY/WRONLY");
            }
            if s.map_type == MapType::DevmapHash && s.max_entries > 1 << 31 {
                return einval("max_entries above 2^31");
            }
        }
        MapType::Cpumap => {
            if s.max_entries == 0
                || s.key_size != 4
                || !matches!(s.value_size, 4 | 8)
                || s.map_flags & !BPF_F_NUMA_NODE != 0
            {
                return einval(
                    "needs max_entries > 0, key_size 4, value_size 4 or 8, flags NUMA_NODE",
                );
            }
            if s.max_entries > NR_CPUS {
                return err(
                    Errno::E2BIG,
                    format!("cpumap max_entries above NR_CPUS ({NR_CPUS})"),
                );
            }
        }
        MapType::Xskmap => {
            if s.max_entries == 0
                || s.key_size != 4
                || s.value_size != 4
                || s.map_flags & !dev_flags != 0
            {
                return einval("needs max_entries > 0, key_size 4, value_size 4, flags NUMA_NODE/RDONLY/WRONLY");
            }
        }
        _ => return einval("not a redirect map"),
    }
    Ok(())
}

#[derive(Debug)]
enum Slots {
    /// Array-indexed maps: which slots hold an entry.
    Array(Vec<bool>),
    /// `DEVMAP_HASH`: keys to slots, and the kernel's buckets (`key & (n - 1)` for a
    /// power-of-two `n`, newest first), which fix the key walk order.
    Hash(HashIndex, Buckets),
}

/// The buckets of a `DEVMAP_HASH`, only the non-empty ones stored.
#[derive(Debug)]
struct Buckets {
    /// Number of buckets: `max_entries` rounded up to a power of two.
    n: usize,
    /// Keys per bucket, newest first.
    keys: std::collections::BTreeMap<usize, Vec<u32>>,
}

impl Buckets {
    fn bucket(&self, key: u32) -> usize {
        key as usize & (self.n - 1)
    }
}

/// A devmap, devmap_hash, cpumap or xskmap.
#[derive(Debug)]
pub(crate) struct RedirectMap {
    map_type: MapType,
    max_entries: u32,
    value_size: usize,
    ncpus: u32,
    store: ValueStore,
    slots: Mutex<Slots>,
}

impl RedirectMap {
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> MapResult<RedirectMap> {
        let slots = if spec.map_type == MapType::DevmapHash {
            let n = spec
                .max_entries
                .checked_next_power_of_two()
                .unwrap_or(1 << 31);
            Slots::Hash(
                HashIndex::new(spec.max_entries),
                Buckets {
                    n: n as usize,
                    keys: std::collections::BTreeMap::new(),
                },
            )
        } else {
            Slots::Array(vec![false; spec.max_entries as usize])
        };
        Ok(RedirectMap {
            map_type: spec.map_type,
            max_entries: spec.max_entries,
            value_size: spec.value_size as usize,
            ncpus,
            store: ValueStore::new(u64::from(spec.max_entries), spec.value_size, 1, None)?,
            slots: Mutex::new(slots),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot holding `key`, if an entry is there.
    fn slot_of(&self, key: &[u8]) -> Option<usize> {
        let index = index_of(key).ok()?;
        match &*self.slots() {
            Slots::Array(present) => present
                .get(index as usize)
                .copied()
                .unwrap_or(false)
                .then_some(index as usize),
            Slots::Hash(h, _) => h.get(key).map(|s| s as usize),
        }
    }

    /// Whether `bpf_redirect_map` finds a target at `key` (the kernel's `lookup_elem` of
    /// each type, with the key truncated to 32 bits).
    pub(crate) fn has_target(&self, key: u32) -> bool {
        self.slot_of(&key.to_ne_bytes()).is_some()
    }

    /// The value user space stores, checked as the kernel's update checks it; `None` means
    /// the update empties the slot (ifindex 0 for array devmaps, qsize 0 for cpumaps).
    fn checked_value(&self, key: u32, value: &[u8]) -> MapResult<Option<Vec<u8>>> {
        let word = |i: usize| {
            value
                .get(i * 4..i * 4 + 4)
                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let prog_fd = word(1) as i32;
        match self.map_type {
            MapType::Devmap | MapType::DevmapHash => {
                if word(0) == 0 {
                    if self.map_type == MapType::DevmapHash || prog_fd > 0 {
                        return err(Errno::EINVAL, "ifindex 0");
                    }
                    return Ok(None);
                }
            }
            MapType::Cpumap => {
                if word(0) > CPUMAP_MAX_QSIZE {
                    return err(Errno::EOVERFLOW, format!("qsize above {CPUMAP_MAX_QSIZE}"));
                }
                if key >= self.ncpus {
                    return err(Errno::ENODEV, format!("CPU {key} is not possible"));
                }
                if word(0) == 0 {
                    return Ok(None);
                }
            }
            _ => return Ok(Some(value.to_vec())),
        }
        if self.value_size == 8 && prog_fd > 0 {
            return err(
                Errno::EOPNOTSUPP,
                "bpfbox does not run programs attached to redirect map entries",
            );
        }
        let mut v = value.to_vec();
        if self.value_size == 8 {
            // The program's id is reported back; none is attached.
            v[4..8].fill(0);
        }
        Ok(Some(v))
    }
}

impl MapOps for RedirectMap {
    fn lookup_ptr(&self, key: &[u8], _cpu: u32) -> Option<*mut u8> {
        let slot = self.slot_of(key)?;
        self.store.ptr(slot, 0)
    }

    fn update_elem(&self, _key: &[u8], _value: &[u8], _flags: u64, _cpu: u32) -> MapResult<()> {
        err(
            Errno::EINVAL,
            format!("programs cannot update a {}", self.map_type),
        )
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        let index = index_of(key)?;
        match &mut *self.slots() {
            Slots::Array(present) => {
                let Some(p) = present.get_mut(index as usize) else {
                    return err(Errno::EINVAL, format!("index {index} >= max_entries"));
                };
                *p = false;
                self.store.clear(index as usize);
                Ok(())
            }
            Slots::Hash(h, buckets) => match h.remove(key) {
                Some(slot) => {
                    self.store.clear(slot as usize);
                    let b = buckets.keys.entry(buckets.bucket(index)).or_default();
                    b.retain(|&k| k != index);
                    Ok(())
                }
                None => err(Errno::ENOENT, "no such key"),
            },
        }
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        check_len("key", key.len(), 4)?;
        if self.map_type == MapType::Xskmap {
            return err(
                Errno::EOPNOTSUPP,
                "xskmap values cannot be read from user space",
            );
        }
        match self.slot_of(key) {
            Some(slot) => Ok(self.store.read_cpu(slot, 0)),
            None => err(Errno::ENOENT, "no entry"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        let index = index_of(key)?;
        check_len("value", value.len(), self.value_size)?;
        if flags > BPF_EXIST {
            return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
        }
        let is_hash = self.map_type == MapType::DevmapHash;
        if !is_hash && index >= self.max_entries {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        }
        let array_like = matches!(self.map_type, MapType::Devmap | MapType::Cpumap);
        if array_like && flags == BPF_NOEXIST {
            return err(Errno::EEXIST, "array-like map entries always exist");
        }
        let value = self.checked_value(index, value)?;
        let mut slots = self.slots();
        match &mut *slots {
            Slots::Array(present) => {
                let slot = index as usize;
                let exists = present[slot];
                if self.map_type == MapType::Xskmap {
                    if exists && flags == BPF_NOEXIST {
                        return err(Errno::EEXIST, "entry exists");
                    }
                    if !exists && flags == BPF_EXIST {
                        return err(Errno::ENOENT, "no entry");
                    }
                }
                match value {
                    Some(v) => {
                        self.store.write_cpu(slot, 0, &v)?;
                        present[slot] = true;
                    }
                    None => {
                        self.store.clear(slot);
                        present[slot] = false;
                    }
                }
            }
            Slots::Hash(h, buckets) => {
                let Some(v) = value else {
                    return err(Errno::EINVAL, "ifindex 0");
                };
                let slot = match h.get(key) {
                    Some(_) if flags & BPF_NOEXIST != 0 => return err(Errno::EEXIST, "key exists"),
                    Some(s) => s,
                    None if h.is_full() => return err(Errno::E2BIG, "map is full"),
                    None => {
                        let s = h.insert(key).ok_or_else(|| {
                            super::error::MapError::new(Errno::E2BIG, "map is full")
                        })?;
                        let b = buckets.bucket(index);
                        buckets.keys.entry(b).or_default().insert(0, index);
                        s
                    }
                };
                self.store.write_cpu(slot as usize, 0, &v)?;
            }
        }
        Ok(())
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        match &*self.slots() {
            Slots::Array(_) => array_next_key(key, self.max_entries),
            Slots::Hash(h, buckets) => {
                // dev_map_hash_get_next_key: the next key in the key's bucket, else the first
                // key of the following buckets; an absent key restarts from bucket 0.
                let mut from = 0;
                if let Some(k) = key {
                    let idx = index_of(k)?;
                    if h.get(k).is_some() {
                        let bucket = buckets.bucket(idx);
                        let b = buckets.keys.get(&bucket).map_or(&[][..], |v| &v[..]);
                        let pos = b.iter().position(|&x| x == idx).unwrap_or(b.len());
                        if let Some(&next) = b.get(pos + 1) {
                            return Ok(next.to_ne_bytes().to_vec());
                        }
                        from = bucket + 1;
                    }
                }
                buckets
                    .keys
                    .range(from..)
                    .find_map(|(_, b)| b.first())
                    .map(|k| k.to_ne_bytes().to_vec())
                    .ok_or_else(|| super::error::MapError::new(Errno::ENOENT, "last key reached"))
            }
        }
    }

    fn regions(&self) -> Vec<Region> {
        // Lookups return read-only values (`dev_map_init_map` forces BPF_F_RDONLY_PROG).
        vec![self.store.region(false)]
    }

    fn len(&self) -> usize {
        match &*self.slots() {
            Slots::Array(p) => p.iter().filter(|&&b| b).count(),
            Slots::Hash(h, _) => h.len(),
        }
    }

    fn contents(&self) -> MapContents {
        let entries = match &*self.slots() {
            Slots::Array(p) => p
                .iter()
                .enumerate()
                .filter(|(_, &b)| b)
                .map(|(i, _)| (i as u32).to_ne_bytes().to_vec())
                .map(|k| {
                    let slot = index_of(&k).unwrap_or(0) as usize;
                    (k, slot)
                })
                .collect::<Vec<_>>(),
            Slots::Hash(h, _) => h
                .entries()
                .into_iter()
                .map(|(k, s)| (k, s as usize))
                .collect(),
        };
        MapContents::Entries(
            entries
                .into_iter()
                .map(|(key, slot)| MapEntry {
                    key,
                    value: MapValue::Bytes(self.store.read_cpu(slot, 0)),
                })
                .collect(),
        )
    }
}
