//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY` (kernel/bpf/arraymap.c).
//!
//! All `max_entries` elements exist from creation and are zero-initialised; keys are `u32`
//! indices; elements cannot be deleted.

use super::error::{check_len, err, Errno, MapResult};
use super::spec::{MapSpec, MapType, BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY_PROG, BPF_NOEXIST};
use super::values::ValueStore;
use super::{MapContents, MapEntry, MapOps, MapValue};
use crate::memory::Region;

/// An array map (plain or per-CPU).
#[derive(Debug)]
pub(crate) struct ArrayMap {
    store: ValueStore,
    max_entries: u32,
    percpu: bool,
    has_lock: bool,
    writable: bool,
}

/// Decodes a 4-byte array index key.
pub(crate) fn index_of(key: &[u8]) -> MapResult<u32> {
    check_len("key", key.len(), 4)?;
    Ok(u32::from_ne_bytes([key[0], key[1], key[2], key[3]]))
}

/// `array_map_get_next_key`, shared by every array-like map: a missing or out-of-range key
/// restarts at 0, the last index ends the walk with ENOENT.
pub(crate) fn array_next_key(key: Option<&[u8]>, max_entries: u32) -> MapResult<Vec<u8>> {
    let index = match key {
        Some(k) => index_of(k)?,
        None => u32::MAX,
    };
    if index >= max_entries {
        return Ok(0u32.to_ne_bytes().to_vec());
    }
    if index == max_entries - 1 {
        return err(Errno::ENOENT, "last index reached");
    }
    Ok((index + 1).to_ne_bytes().to_vec())
}

impl ArrayMap {
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> MapResult<ArrayMap> {
        let percpu = spec.map_type == MapType::PercpuArray;
        let copies = if percpu { ncpus } else { 1 };
        let store = ValueStore::new(
            u64::from(spec.max_entries),
            spec.value_size,
            copies,
            spec.spin_lock_off,
        )?;
        Ok(ArrayMap {
            store,
            max_entries: spec.max_entries,
            percpu,
            has_lock: spec.spin_lock_off.is_some(),
            writable: spec.map_flags & BPF_F_RDONLY_PROG == 0,
        })
    }

    /// The checks of `array_map_update_elem` (program side and plain arrays from syscalls).
    fn check_update(&self, index: u32, flags: u64) -> MapResult<()> {
        if (flags & !BPF_F_LOCK) > BPF_EXIST {
            return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
        }
        if index >= self.max_entries {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        }
        if flags & BPF_NOEXIST != 0 {
            return err(Errno::EEXIST, "array elements always exist");
        }
        if flags & BPF_F_LOCK != 0 && !self.has_lock {
            return err(Errno::EINVAL, "BPF_F_LOCK on a value without bpf_spin_lock");
        }
        Ok(())
    }
}

impl MapOps for ArrayMap {
    fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<*mut u8> {
        let index = index_of(key).ok()?;
        if index >= self.max_entries {
            return None;
        }
        let cpu = if self.percpu { cpu as usize } else { 0 };
        self.store.ptr(index as usize, cpu)
    }

    fn update_elem(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()> {
        let index = index_of(key)?;
        check_len("value", value.len(), self.store.value_size())?;
        self.check_update(index, flags)?;
        let cpu = if self.percpu { cpu as usize } else { 0 };
        if cpu >= self.store.copies() {
            return err(Errno::EINVAL, format!("cpu {cpu} out of range"));
        }
        self.store.write_cpu(index as usize, cpu, value)
    }

    fn delete_elem(&self, _key: &[u8]) -> MapResult<()> {
        err(Errno::EINVAL, "array elements cannot be deleted")
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        let index = index_of(key)?;
        if index >= self.max_entries {
            return err(Errno::ENOENT, format!("index {index} >= max_entries"));
        }
        Ok(self.store.read_user(index as usize))
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        let index = index_of(key)?;
        check_len("value", value.len(), self.store.user_size())?;
        if self.percpu {
            // bpf_percpu_array_update: no BPF_F_LOCK for per-CPU values.
            if flags > BPF_EXIST {
                return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
            }
            if index >= self.max_entries {
                return err(Errno::E2BIG, format!("index {index} >= max_entries"));
            }
            if flags == BPF_NOEXIST {
                return err(Errno::EEXIST, "array elements always exist");
            }
        } else {
            self.check_update(index, flags)?;
        }
        self.store.write_user(index as usize, value)
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        array_next_key(key, self.max_entries)
    }

    fn regions(&self) -> Vec<Region> {
        vec![self.store.region(self.writable)]
    }

    fn len(&self) -> usize {
        self.max_entries as usize
    }

    fn contents(&self) -> MapContents {
        let entries = (0..self.max_entries)
            .map(|i| MapEntry {
                key: i.to_ne_bytes().to_vec(),
                value: if self.percpu {
                    MapValue::PerCpu(self.store.read_all_cpus(i as usize))
                } else {
                    MapValue::Bytes(self.store.read_user(i as usize))
                },
            })
            .collect();
        MapContents::Entries(entries)
    }
}
