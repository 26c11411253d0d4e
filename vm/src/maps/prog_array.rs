//! `BPF_MAP_TYPE_PROG_ARRAY` (kernel/bpf/arraymap.c): the jump table of `bpf_tail_call`.
//!
//! Entries are opaque `u32` program handles chosen by the embedder (the kernel stores program
//! pointers, set from program fds, and reports program ids on lookup). Programs cannot read
//! or write entries; they only tail-call through them ([`super::Map::tail_call_target`]).

use std::sync::{Mutex, MutexGuard};

use super::array::{array_next_key, index_of};
use super::error::{check_len, err, Errno, MapResult};
use super::spec::{MapSpec, BPF_ANY};
use super::{MapContents, MapEntry, MapOps, MapValue};

/// A program array.
#[derive(Debug)]
pub(crate) struct ProgArray {
    max_entries: u32,
    progs: Mutex<Vec<Option<u32>>>,
}

impl ProgArray {
    pub(crate) fn new(spec: &MapSpec) -> MapResult<ProgArray> {
        let mut v = Vec::new();
        if v.try_reserve_exact(spec.max_entries as usize).is_err() {
            return err(Errno::ENOMEM, "cannot allocate program array");
        }
        v.resize(spec.max_entries as usize, None);
        Ok(ProgArray {
            max_entries: spec.max_entries,
            progs: Mutex::new(v),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Option<u32>>> {
        self.progs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The program handle at `index`, if any (what `bpf_tail_call` jumps to).
    pub(crate) fn get(&self, index: u32) -> Option<u32> {
        self.lock().get(index as usize).copied().flatten()
    }
}

impl MapOps for ProgArray {
    fn lookup_ptr(&self, _key: &[u8], _cpu: u32) -> Option<*mut u8> {
        None
    }

    fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
        err(Errno::EINVAL, "programs cannot update program arrays")
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        let index = index_of(key)?;
        let mut progs = self.lock();
        let Some(p) = progs.get_mut(index as usize) else {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        };
        if p.take().is_none() {
            return err(Errno::ENOENT, "no program at this index");
        }
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        let index = index_of(key)?;
        match self.get(index) {
            Some(h) => Ok(h.to_ne_bytes().to_vec()),
            None => err(Errno::ENOENT, "no program at this index"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        let index = index_of(key)?;
        check_len("value", value.len(), 4)?;
        if flags != BPF_ANY {
            return err(Errno::EINVAL, "fd array updates take BPF_ANY only");
        }
        let mut progs = self.lock();
        let Some(p) = progs.get_mut(index as usize) else {
            return err(Errno::E2BIG, format!("index {index} >= max_entries"));
        };
        *p = Some(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]));
        Ok(())
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        array_next_key(key, self.max_entries)
    }

    fn len(&self) -> usize {
        self.lock().iter().filter(|p| p.is_some()).count()
    }

    fn contents(&self) -> MapContents {
        let progs = self.lock();
        MapContents::Entries(
            progs
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    p.map(|h| MapEntry {
                        key: (i as u32).to_ne_bytes().to_vec(),
                        value: MapValue::Prog(h),
                    })
                })
                .collect(),
        )
    }
}
