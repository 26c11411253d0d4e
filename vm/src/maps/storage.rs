//! Local storage maps: `BPF_MAP_TYPE_CGROUP_STORAGE` and `PERCPU_CGROUP_STORAGE`
//! (kernel/bpf/local_storage.c), and `BPF_MAP_TYPE_SK_STORAGE` (net/core/bpf_sk_storage.c).
//!
//! The kernel creates a cgroup storage when a program using the map is attached to a
//! cgroup; here it is created the first time a program asks for it
//! (`LocalStorage::get_or_create` through `bpf_get_local_storage`), for the cgroup and
//! attach type of the run's [`crate::env::Env`]. Socket storage is keyed by the socket's
//! handle in the run's socket table (user space passes that handle where the kernel takes a
//! socket file descriptor).

use std::sync::Mutex;

use super::error::{check_len, err, Errno, MapError, MapResult};
use super::spec::{
    round8, MapSpec, MapType, BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_CLONE, BPF_F_LOCK,
    BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_NOEXIST,
    PCPU_MIN_UNIT_SIZE,
};
use super::values::ValueStore;
use super::{MapContents, MapEntry, MapOps, MapValue};
use crate::memory::Region;

/// `BPF_LOCAL_STORAGE_MAX_VALUE_SIZE` on x86-64: `U16_MAX` less the 128-byte
/// `struct bpf_local_storage_elem`.
pub const LOCAL_STORAGE_MAX_VALUE_SIZE: u32 = 65535 - 128;

/// `cgroup_storage_map_alloc` and `bpf_local_storage_map_alloc_check`.
pub(crate) fn check(s: &MapSpec) -> MapResult<()> {
    let access_ok = s.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
        != (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
    if s.map_type == MapType::SkStorage {
        if s.map_flags & !(BPF_F_NO_PREALLOC | BPF_F_CLONE) != 0
            || s.map_flags & BPF_F_NO_PREALLOC == 0
            || s.max_entries != 0
            || s.key_size != 4
            || s.value_size == 0
            || s.btf_key_type_id.unwrap_or(0) == 0
            || s.btf_value_type_id.unwrap_or(0) == 0
        {
            return err(
                Errno::EINVAL,
                "sk_storage needs BPF_F_NO_PREALLOC, max_entries 0, key_size 4, value_size > 0 and BTF",
            );
        }
        if s.value_size > LOCAL_STORAGE_MAX_VALUE_SIZE {
            return err(
                Errno::E2BIG,
                "value_size above BPF_LOCAL_STORAGE_MAX_VALUE_SIZE",
            );
        }
        return Ok(());
    }
    let max = if s.map_type == MapType::PercpuCgroupStorage {
        LOCAL_STORAGE_MAX_VALUE_SIZE.min(PCPU_MIN_UNIT_SIZE as u32)
    } else {
        LOCAL_STORAGE_MAX_VALUE_SIZE
    };
    if s.key_size != 16 && s.key_size != 8 {
        return err(Errno::EINVAL, "cgroup storage keys are 8 or 16 bytes");
    }
    if s.value_size == 0 {
        return err(Errno::EINVAL, "value_size must be non-zero");
    }
    if s.value_size > max {
        return err(Errno::E2BIG, format!("value_size above {max}"));
    }
    if s.map_flags & !(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK) != 0 || !access_ok {
        return err(
            Errno::EINVAL,
            format!("invalid cgroup storage flags {:#x}", s.map_flags),
        );
    }
    if s.max_entries != 0 {
        return err(Errno::EINVAL, "cgroup storage max_entries must be 0");
    }
    Ok(())
}

struct Entry {
    key: Vec<u8>,
    store: ValueStore,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A cgroup, per-CPU cgroup or socket storage map.
#[derive(Debug)]
pub(crate) struct LocalStorage {
    map_type: MapType,
    key_size: usize,
    value_size: u32,
    copies: u32,
    spin_lock_off: Option<u32>,
    /// Newest first, the order the kernel's cgroup storage list walks.
    entries: Mutex<Vec<Entry>>,
}

impl LocalStorage {
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> LocalStorage {
        LocalStorage {
            map_type: spec.map_type,
            key_size: spec.key_size as usize,
            value_size: spec.value_size,
            copies: if spec.map_type == MapType::PercpuCgroupStorage {
                ncpus
            } else {
                1
            },
            spin_lock_off: spec.spin_lock_off,
            entries: Mutex::new(Vec::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key as the kernel compares it: the 16-byte cgroup key's padding is ignored.
    fn norm(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        check_len("key", key.len(), self.key_size)?;
        let mut k = key.to_vec();
        if self.map_type != MapType::SkStorage && k.len() == 16 {
            k[12..].fill(0);
        }
        Ok(k)
    }

    fn position(&self, entries: &[Entry], key: &[u8]) -> MapResult<Option<usize>> {
        let k = self.norm(key)?;
        Ok(entries.iter().position(|e| e.key == k))
    }

    /// The storage at `key` (created zeroed, or from `init`, when absent and `create`):
    /// a pointer to the copy of `cpu`, and the region of the whole storage, which the
    /// caller registers with the run unless it is already reachable.
    pub(crate) fn get_or_create(
        &self,
        key: &[u8],
        cpu: u32,
        create: bool,
        init: Option<&[u8]>,
    ) -> MapResult<Option<(*mut u8, Option<Region>)>> {
        let mut entries = self.entries();
        if let Some(i) = self.position(&entries, key)? {
            let store = &entries[i].store;
            return Ok(store
                .ptr(0, cpu as usize)
                .map(|p| (p, Some(store.region(true)))));
        }
        if !create {
            return Ok(None);
        }
        let store = ValueStore::new(1, self.value_size, self.copies, self.spin_lock_off)?;
        if let Some(v) = init {
            store.write_cpu(0, 0, v)?;
        }
        let region = store.region(true);
        let ptr = store.ptr(0, cpu as usize);
        entries.insert(
            0,
            Entry {
                key: self.norm(key)?,
                store,
            },
        );
        Ok(ptr.map(|p| (p, Some(region))))
    }

    /// Drops the storage at `key`, if any.
    pub(crate) fn remove(&self, key: &[u8]) {
        let mut entries = self.entries();
        if let Ok(Some(i)) = self.position(&entries, key) {
            entries.remove(i);
        }
    }

    /// The user-side value size.
    fn user_size(&self) -> usize {
        if self.copies == 1 {
            self.value_size as usize
        } else {
            round8(u64::from(self.value_size)) as usize * self.copies as usize
        }
    }
}

impl MapOps for LocalStorage {
    fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<*mut u8> {
        let entries = self.entries();
        let i = self.position(&entries, key).ok()??;
        entries[i].store.ptr(0, cpu as usize)
    }

    fn update_elem(&self, _key: &[u8], _value: &[u8], _flags: u64, _cpu: u32) -> MapResult<()> {
        err(
            Errno::EINVAL,
            format!("programs reach a {} through its own helpers", self.map_type),
        )
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        if self.map_type != MapType::SkStorage {
            return err(Errno::EINVAL, "cgroup storage cannot be deleted");
        }
        let mut entries = self.entries();
        match self.position(&entries, key)? {
            Some(i) => {
                entries.remove(i);
                Ok(())
            }
            None => err(Errno::ENOENT, "the socket has no storage in this map"),
        }
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        let entries = self.entries();
        match self.position(&entries, key)? {
            Some(i) => Ok(entries[i].store.read_user(0)),
            None => err(Errno::ENOENT, "no storage for this key"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        check_len("value", value.len(), self.user_size())?;
        let lock = flags & BPF_F_LOCK != 0;
        if lock && self.spin_lock_off.is_none() {
            return err(Errno::EINVAL, "BPF_F_LOCK on a value without bpf_spin_lock");
        }
        let mut entries = self.entries();
        let at = self.position(&entries, key)?;
        if self.map_type == MapType::SkStorage {
            if flags & !BPF_F_LOCK > BPF_EXIST {
                return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
            }
            match (at, flags & !BPF_F_LOCK) {
                (Some(_), BPF_NOEXIST) => return err(Errno::EEXIST, "storage exists"),
                (None, BPF_EXIST) => return err(Errno::ENOENT, "no storage"),
                (Some(i), _) => return entries[i].store.write_user(0, value),
                (None, _) => {
                    let store = ValueStore::new(1, self.value_size, 1, self.spin_lock_off)?;
                    store.write_user(0, value)?;
                    entries.insert(
                        0,
                        Entry {
                            key: self.norm(key)?,
                            store,
                        },
                    );
                    return Ok(());
                }
            }
        }
        let allowed = if self.copies == 1 {
            BPF_F_LOCK | BPF_EXIST
        } else {
            BPF_EXIST
        };
        if flags & !allowed != 0 {
            return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
        }
        match at {
            Some(i) => entries[i].store.write_user(0, value),
            None => err(Errno::ENOENT, "no cgroup has this storage"),
        }
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        if self.map_type == MapType::SkStorage {
            return err(Errno::ENOTSUPP, "socket storage cannot be iterated");
        }
        let entries = self.entries();
        let next = match key {
            None => entries.first(),
            Some(k) => match self.position(&entries, k)? {
                Some(i) => entries.get(i + 1),
                None => None,
            },
        };
        next.map(|e| e.key.clone())
            .ok_or_else(|| MapError::new(Errno::ENOENT, "no next key"))
    }

    fn regions(&self) -> Vec<Region> {
        self.entries()
            .iter()
            .map(|e| e.store.region(true))
            .collect()
    }

    fn len(&self) -> usize {
        self.entries().len()
    }

    fn contents(&self) -> MapContents {
        MapContents::Entries(
            self.entries()
                .iter()
                .map(|e| MapEntry {
                    key: e.key.clone(),
                    value: if self.copies == 1 {
                        MapValue::Bytes(e.store.read_cpu(0, 0))
                    } else {
                        MapValue::PerCpu(e.store.read_all_cpus(0))
                    },
                })
                .collect(),
        )
    }
}
