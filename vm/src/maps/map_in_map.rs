//! `BPF_MAP_TYPE_ARRAY_OF_MAPS` and `BPF_MAP_TYPE_HASH_OF_MAPS` (kernel/bpf/map_in_map.c).
//!
//! Values are inner maps. Every inner map must match the outer map's inner template
//! (`bpf_map_meta_equal`: same type, key size, value size and flags; arrays also the same
//! `max_entries` unless the template has `BPF_F_INNER_MAP`), otherwise `EINVAL`. From user
//! space a value is the inner map's id (the kernel takes an fd on update and returns the id on
//! lookup); from a program, lookup yields the inner map itself.

use std::sync::{Mutex, MutexGuard};

use super::array::{array_next_key, index_of};
use super::error::{check_len, err, Errno, MapResult};
use super::hash::{check_flags, HashIndex};
use super::spec::{meta_equal, MapSpec, BPF_ANY, BPF_EXIST, BPF_F_LOCK};
use super::{Map, MapContents, MapEntry, MapOps, MapRef, MapValue};

fn check_inner(template: &MapSpec, inner: &Map) -> MapResult<()> {
    if !meta_equal(template, inner.spec()) {
        return err(
            Errno::EINVAL,
            format!(
                "inner map `{}` does not match the outer map's inner template",
                inner.name()
            ),
        );
    }
    Ok(())
}

fn inner_from_value(value: &[u8]) -> MapResult<MapRef> {
    check_len("value", value.len(), 4)?;
    let id = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
    // An id that names no live map is what a bad fd is to the kernel.
    Map::from_id(id)
        .ok_or_else(|| super::error::MapError::new(Errno::EINVAL, format!("no map with id {id}")))
}

/// An array of maps.
#[derive(Debug)]
pub(crate) struct ArrayOfMaps {
    template: MapSpec,
    max_entries: u32,
    slots: Mutex<Vec<Option<MapRef>>>,
}

impl ArrayOfMaps {
    pub(crate) fn new(spec: &MapSpec, template: MapSpec) -> MapResult<ArrayOfMaps> {
        let mut v = Vec::new();
        if v.try_reserve_exact(spec.max_entries as usize).is_err() {
            return err(Errno::ENOMEM, "cannot allocate array of maps");
        }
        v.resize(spec.max_entries as usize, None);
        Ok(ArrayOfMaps {
            template,
            max_entries: spec.max_entries,
            slots: Mutex::new(v),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Option<MapRef>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The inner map at `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<MapRef> {
        let index = index_of(key).ok()?;
        self.lock().get(index as usize).cloned().flatten()
    }

    /// `bpf_fd_array_map_update_elem` with a map handle instead of an fd.
    pub(crate) fn set(&self, key: &[u8], inner: &MapRef, flags: u64) -> MapResult<()> {
        let index = index_of(key)?;
        if flags != BPF_ANY {
            return err(Errno::EINVAL, "fd array updates take BPF_ANY only");
        }
        if index >= self.max_entries {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        }
        check_inner(&self.template, inner)?;
        if let Some(s) = self.lock().get_mut(index as usize) {
            *s = Some(inner.clone());
        }
        Ok(())
    }
}

impl MapOps for ArrayOfMaps {
    fn lookup_ptr(&self, key: &[u8], _cpu: u32) -> Option<*mut u8> {
        self.get(key).map(|m| Map::handle_addr(&m) as *mut u8)
    }

    fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
        err(Errno::EINVAL, "programs cannot update map-in-map maps")
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        let index = index_of(key)?;
        let mut slots = self.lock();
        let Some(s) = slots.get_mut(index as usize) else {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        };
        if s.take().is_none() {
            return err(Errno::ENOENT, "no map at this index");
        }
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        index_of(key)?;
        match self.get(key) {
            Some(m) => Ok(m.id().to_ne_bytes().to_vec()),
            None => err(Errno::ENOENT, "no map at this index"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        index_of(key)?;
        let inner = inner_from_value(value)?;
        self.set(key, &inner, flags)
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        array_next_key(key, self.max_entries)
    }

    fn len(&self) -> usize {
        self.lock().iter().filter(|s| s.is_some()).count()
    }

    fn contents(&self) -> MapContents {
        let slots = self.lock();
        MapContents::Entries(
            slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.as_ref().map(|m| MapEntry {
                        key: (i as u32).to_ne_bytes().to_vec(),
                        value: MapValue::Map(m.id()),
                    })
                })
                .collect(),
        )
    }
}

#[derive(Debug)]
struct HashState {
    index: HashIndex,
    maps: Vec<Option<MapRef>>,
}

/// A hash of maps.
#[derive(Debug)]
pub(crate) struct HashOfMaps {
    template: MapSpec,
    key_size: usize,
    state: Mutex<HashState>,
}

impl HashOfMaps {
    pub(crate) fn new(spec: &MapSpec, template: MapSpec) -> HashOfMaps {
        HashOfMaps {
            template,
            key_size: spec.key_size as usize,
            state: Mutex::new(HashState {
                index: HashIndex::new(spec.max_entries),
                maps: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The inner map at `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<MapRef> {
        let st = self.lock();
        let slot = st.index.get(key)?;
        st.maps.get(slot as usize).cloned().flatten()
    }

    /// `bpf_fd_htab_map_update_elem` with a map handle instead of an fd.
    pub(crate) fn set(&self, key: &[u8], inner: &MapRef, flags: u64) -> MapResult<()> {
        check_len("key", key.len(), self.key_size)?;
        check_inner(&self.template, inner)?;
        if (flags & !BPF_F_LOCK) > BPF_EXIST {
            return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
        }
        if flags & BPF_F_LOCK != 0 {
            return err(Errno::EINVAL, "BPF_F_LOCK on a value without bpf_spin_lock");
        }
        let mut st = self.lock();
        let existing = st.index.get(key);
        check_flags(existing.is_some(), flags)?;
        let slot = match existing {
            Some(s) => {
                st.index.move_to_front(key);
                s
            }
            None => match st.index.insert(key) {
                Some(s) => s,
                None => return err(Errno::E2BIG, "hash of maps is full"),
            },
        };
        let i = slot as usize;
        if st.maps.len() <= i {
            st.maps.resize(i + 1, None);
        }
        st.maps[i] = Some(inner.clone());
        Ok(())
    }
}

impl MapOps for HashOfMaps {
    fn lookup_ptr(&self, key: &[u8], _cpu: u32) -> Option<*mut u8> {
        if key.len() != self.key_size {
            return None;
        }
        self.get(key).map(|m| Map::handle_addr(&m) as *mut u8)
    }

    fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
        err(Errno::EINVAL, "programs cannot update map-in-map maps")
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        check_len("key", key.len(), self.key_size)?;
        let mut st = self.lock();
        let Some(slot) = st.index.remove(key) else {
            return err(Errno::ENOENT, "no such key");
        };
        if let Some(m) = st.maps.get_mut(slot as usize) {
            *m = None;
        }
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        check_len("key", key.len(), self.key_size)?;
        match self.get(key) {
            Some(m) => Ok(m.id().to_ne_bytes().to_vec()),
            None => err(Errno::ENOENT, "no such key"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        check_len("key", key.len(), self.key_size)?;
        let inner = inner_from_value(value)?;
        self.set(key, &inner, flags)
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        if let Some(k) = key {
            check_len("key", k.len(), self.key_size)?;
        }
        match self.lock().index.next_key(key) {
            Some(k) => Ok(k),
            None => err(Errno::ENOENT, "no more keys"),
        }
    }

    fn len(&self) -> usize {
        self.lock().index.len()
    }

    fn contents(&self) -> MapContents {
        let st = self.lock();
        MapContents::Entries(
            st.index
                .entries()
                .into_iter()
                .filter_map(|(key, slot)| {
                    let m = st.maps.get(slot as usize)?.as_ref()?;
                    Some(MapEntry {
                        key,
                        value: MapValue::Map(m.id()),
                    })
                })
                .collect(),
        )
    }
}
