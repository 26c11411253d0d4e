//! `BPF_MAP_TYPE_QUEUE` and `BPF_MAP_TYPE_STACK` (kernel/bpf/queue_stack_maps.c).
//!
//! Keyless maps of `max_entries` values. Queues pop the oldest value, stacks the newest.
//! Pushing into a full map fails with `E2BIG` unless `BPF_EXIST` is given, which drops the
//! oldest value to make room (for stacks too, as in the kernel). Values are copied in and
//! out, never pointed to, so they need no stable storage.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::error::{check_len, err, Errno, MapResult};
use super::spec::{MapSpec, MapType, BPF_EXIST, BPF_NOEXIST};
use super::{MapContents, MapOps};

/// A queue or a stack.
#[derive(Debug)]
pub(crate) struct QueueStack {
    stack: bool,
    value_size: usize,
    max_entries: usize,
    items: Mutex<VecDeque<Vec<u8>>>,
}

impl QueueStack {
    pub(crate) fn new(spec: &MapSpec) -> QueueStack {
        QueueStack {
            stack: spec.map_type == MapType::Stack,
            value_size: spec.value_size as usize,
            max_entries: spec.max_entries as usize,
            items: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, delete: bool) -> MapResult<Vec<u8>> {
        let mut items = self.lock();
        let v = match (self.stack, delete) {
            (false, false) => items.front().cloned(),
            (false, true) => items.pop_front(),
            (true, false) => items.back().cloned(),
            (true, true) => items.pop_back(),
        };
        match v {
            Some(v) => Ok(v),
            None => err(Errno::ENOENT, "empty"),
        }
    }

    /// Copies into `out`, zero-filling it on error as the kernel does.
    fn get_into(&self, out: &mut [u8], delete: bool) -> MapResult<()> {
        check_len("value", out.len(), self.value_size)?;
        match self.get(delete) {
            Ok(v) => {
                out.copy_from_slice(&v);
                Ok(())
            }
            Err(e) => {
                out.fill(0);
                Err(e)
            }
        }
    }
}

impl MapOps for QueueStack {
    fn lookup_ptr(&self, _key: &[u8], _cpu: u32) -> Option<*mut u8> {
        None
    }

    fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
        err(Errno::EINVAL, "queues and stacks take push, not update")
    }

    fn delete_elem(&self, _key: &[u8]) -> MapResult<()> {
        err(Errno::EINVAL, "queues and stacks take pop, not delete")
    }

    /// The syscall's lookup of a queue/stack is a peek (the key must be empty).
    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        check_len("key", key.len(), 0)?;
        self.get(false)
    }

    /// The syscall's update of a queue/stack is a push.
    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        check_len("key", key.len(), 0)?;
        self.push(value, flags)
    }

    fn lookup_and_delete(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        check_len("key", key.len(), 0)?;
        self.get(true)
    }

    fn get_next_key(&self, _key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        err(Errno::EINVAL, "queues and stacks have no keys")
    }

    fn push(&self, value: &[u8], flags: u64) -> MapResult<()> {
        check_len("value", value.len(), self.value_size)?;
        if flags & BPF_NOEXIST != 0 || flags > BPF_EXIST {
            return err(Errno::EINVAL, format!("invalid push flags {flags:#x}"));
        }
        let mut items = self.lock();
        if items.len() >= self.max_entries {
            if flags & BPF_EXIST == 0 {
                return err(Errno::E2BIG, "full");
            }
            // BPF_EXIST makes room by overwriting the oldest element.
            items.pop_front();
        }
        items.push_back(value.to_vec());
        Ok(())
    }

    fn pop(&self, out: &mut [u8]) -> MapResult<()> {
        self.get_into(out, true)
    }

    fn peek(&self, out: &mut [u8]) -> MapResult<()> {
        self.get_into(out, false)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Values in pop order.
    fn contents(&self) -> MapContents {
        let items = self.lock();
        let mut v: Vec<Vec<u8>> = items.iter().cloned().collect();
        if self.stack {
            v.reverse();
        }
        MapContents::Values(v)
    }
}
