//! Typed user-side views over maps, in the style of aya and cilium/ebpf.
//!
//! Keys and values are `bytemuck::Pod` types whose size must equal the map's key/value size
//! (checked when the view is made, `EINVAL` otherwise). Tests use these to pre-fill maps
//! before a run and inspect them after.

use std::marker::PhantomData;

use bytemuck::Pod;

use super::error::{err, Errno, MapResult};
use super::spec::MapType;
use super::{Map, BPF_ANY};

fn check_size<T>(what: &str, want: u32) -> MapResult<()> {
    let got = std::mem::size_of::<T>();
    if got != want as usize {
        return err(
            Errno::EINVAL,
            format!("{what} type is {got} bytes, the map's {what} is {want}"),
        );
    }
    Ok(())
}

fn check_type(map: &Map, ok: &[MapType]) -> MapResult<()> {
    if !ok.contains(&map.map_type()) {
        return err(
            Errno::EINVAL,
            format!("view does not apply to {} maps", map.map_type()),
        );
    }
    Ok(())
}

fn decode<T: Pod>(b: &[u8]) -> Option<T> {
    (b.len() == std::mem::size_of::<T>()).then(|| bytemuck::pod_read_unaligned(b))
}

/// A typed view of a hash-like map (`hash`, `lru_hash`, `lpm_trie`, `hash_of_maps`, ...):
/// any map whose user-side value is exactly `V`.
#[derive(Debug)]
pub struct HashMapView<'a, K, V> {
    map: &'a Map,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<'a, K: Pod, V: Pod> HashMapView<'a, K, V> {
    /// A view of `map`; `EINVAL` if the sizes of `K`/`V` do not match, or the map is per-CPU
    /// (use [`PerCpuView`]) or keyless.
    pub fn new(map: &'a Map) -> MapResult<Self> {
        if map.map_type().is_percpu() || map.key_size() == 0 {
            return err(Errno::EINVAL, "use PerCpuView/QueueView for this map");
        }
        check_size::<K>("key", map.key_size())?;
        check_size::<V>("value", map.value_size())?;
        Ok(HashMapView {
            map,
            _t: PhantomData,
        })
    }

    /// Inserts or replaces with `flags` (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
    pub fn insert(&self, key: &K, value: &V, flags: u64) -> MapResult<()> {
        self.map
            .update(bytemuck::bytes_of(key), bytemuck::bytes_of(value), flags)
    }

    /// The value at `key`, if present.
    pub fn get(&self, key: &K) -> Option<V> {
        self.map
            .get(bytemuck::bytes_of(key))
            .and_then(|v| decode(&v))
    }

    /// Removes `key` (`ENOENT` if absent).
    pub fn remove(&self, key: &K) -> MapResult<()> {
        self.map.delete(bytemuck::bytes_of(key))
    }

    /// All keys in `get_next_key` order.
    pub fn keys(&self) -> Vec<K> {
        self.map.keys().iter().filter_map(|k| decode(k)).collect()
    }

    /// All pairs in `get_next_key` order.
    pub fn iter(&self) -> Vec<(K, V)> {
        self.map
            .iter()
            .iter()
            .filter_map(|(k, v)| Some((decode(k)?, decode(v)?)))
            .collect()
    }
}

/// A typed view of an `array` map.
#[derive(Debug)]
pub struct ArrayView<'a, V> {
    map: &'a Map,
    _t: PhantomData<fn() -> V>,
}

impl<'a, V: Pod> ArrayView<'a, V> {
    /// A view of an array map whose value is `V`.
    pub fn new(map: &'a Map) -> MapResult<Self> {
        check_type(map, &[MapType::Array])?;
        check_size::<V>("value", map.value_size())?;
        Ok(ArrayView {
            map,
            _t: PhantomData,
        })
    }

    /// Writes element `index` (`E2BIG` if out of range).
    pub fn set(&self, index: u32, value: &V) -> MapResult<()> {
        self.map
            .update(&index.to_ne_bytes(), bytemuck::bytes_of(value), BPF_ANY)
    }

    /// Element `index` (`None` if out of range).
    pub fn get(&self, index: u32) -> Option<V> {
        self.map.get(&index.to_ne_bytes()).and_then(|v| decode(&v))
    }

    /// Number of elements (`max_entries`).
    pub fn len(&self) -> u32 {
        self.map.max_entries()
    }

    /// Whether the array has no elements (never true for a valid array).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All elements in index order.
    pub fn iter(&self) -> Vec<V> {
        (0..self.len()).filter_map(|i| self.get(i)).collect()
    }
}

/// A typed view of a per-CPU map (`percpu_array`, `percpu_hash`, `lru_percpu_hash`).
#[derive(Debug)]
pub struct PerCpuView<'a, K, V> {
    map: &'a Map,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<'a, K: Pod, V: Pod> PerCpuView<'a, K, V> {
    /// A view of a per-CPU map with key `K` and per-CPU value `V`.
    pub fn new(map: &'a Map) -> MapResult<Self> {
        if !map.map_type().is_percpu() {
            return err(Errno::EINVAL, "not a per-CPU map");
        }
        check_size::<K>("key", map.key_size())?;
        check_size::<V>("value", map.value_size())?;
        Ok(PerCpuView {
            map,
            _t: PhantomData,
        })
    }

    /// The value of every CPU at `key`.
    pub fn get_all_cpus(&self, key: &K) -> Option<Vec<V>> {
        let vals = self.map.lookup_percpu(bytemuck::bytes_of(key)).ok()?;
        vals.iter().map(|v| decode(v)).collect()
    }

    /// The value of one CPU at `key`.
    pub fn get(&self, key: &K, cpu: u32) -> Option<V> {
        self.get_all_cpus(key)?.get(cpu as usize).copied()
    }

    /// Sets every CPU's value at `key` (`values.len()` must equal the CPU count).
    pub fn set_all_cpus(&self, key: &K, values: &[V], flags: u64) -> MapResult<()> {
        let v: Vec<Vec<u8>> = values
            .iter()
            .map(|x| bytemuck::bytes_of(x).to_vec())
            .collect();
        self.map.update_percpu(bytemuck::bytes_of(key), &v, flags)
    }

    /// Removes `key` (hash flavours; arrays return `EINVAL`).
    pub fn remove(&self, key: &K) -> MapResult<()> {
        self.map.delete(bytemuck::bytes_of(key))
    }

    /// All keys in `get_next_key` order.
    pub fn keys(&self) -> Vec<K> {
        self.map.keys().iter().filter_map(|k| decode(k)).collect()
    }

    /// Sum over CPUs of a numeric value, a common way to read per-CPU counters.
    pub fn sum(&self, key: &K) -> Option<u128>
    where
        V: Into<u128>,
    {
        Some(self.get_all_cpus(key)?.into_iter().map(Into::into).sum())
    }
}

/// A typed view of a `queue` or `stack`.
#[derive(Debug)]
pub struct QueueView<'a, V> {
    map: &'a Map,
    _t: PhantomData<fn() -> V>,
}

impl<'a, V: Pod> QueueView<'a, V> {
    /// A view of a queue or stack with value `V`.
    pub fn new(map: &'a Map) -> MapResult<Self> {
        check_type(map, &[MapType::Queue, MapType::Stack])?;
        check_size::<V>("value", map.value_size())?;
        Ok(QueueView {
            map,
            _t: PhantomData,
        })
    }

    /// Pushes (`E2BIG` when full unless `flags` is `BPF_EXIST`).
    pub fn push(&self, value: &V, flags: u64) -> MapResult<()> {
        self.map.push(bytemuck::bytes_of(value), flags)
    }

    /// Pops (`ENOENT` when empty).
    pub fn pop(&self) -> MapResult<V> {
        let v = self.map.pop()?;
        decode(&v).ok_or_else(|| super::MapError::new(Errno::EINVAL, "value size mismatch"))
    }

    /// Peeks (`ENOENT` when empty).
    pub fn peek(&self) -> MapResult<V> {
        let v = self.map.peek()?;
        decode(&v).ok_or_else(|| super::MapError::new(Errno::EINVAL, "value size mismatch"))
    }

    /// Pops until empty, in pop order.
    pub fn drain(&self) -> Vec<V> {
        std::iter::from_fn(|| self.pop().ok()).collect()
    }
}

/// A consumer of a ring buffer map, returning submitted records in order.
#[derive(Debug)]
pub struct RingBufReader<'a> {
    map: &'a Map,
}

impl<'a> RingBufReader<'a> {
    /// A reader of a ring buffer map.
    pub fn new(map: &'a Map) -> MapResult<Self> {
        check_type(map, &[MapType::Ringbuf])?;
        Ok(RingBufReader { map })
    }

    /// All records available now.
    pub fn drain(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.map.ringbuf_consume()).collect()
    }

    /// The next record decoded as `T` (records of another size are consumed and skipped).
    pub fn next_as<T: Pod>(&mut self) -> Option<T> {
        loop {
            let r = self.map.ringbuf_consume()?;
            if let Some(v) = decode(r.get(..std::mem::size_of::<T>()).unwrap_or(&[])) {
                return Some(v);
            }
        }
    }
}

/// Yields the next submitted record, skipping discarded ones. `None` means "nothing
/// available now" (empty, or the next record is still reserved); more may arrive later.
impl Iterator for RingBufReader<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        self.map.ringbuf_consume()
    }
}

/// A consumer of a perf event array.
#[derive(Debug)]
pub struct PerfReader<'a> {
    map: &'a Map,
}

impl<'a> PerfReader<'a> {
    /// A reader of a perf event array; with `open_all` it first installs an event bound to
    /// each CPU `i` at index `i` (what libbpf's `perf_buffer__new` does).
    pub fn new(map: &'a Map, open_all: bool) -> MapResult<Self> {
        check_type(map, &[MapType::PerfEventArray])?;
        if open_all {
            for cpu in 0..map.ncpus().min(map.max_entries()) {
                map.perf_open(cpu, cpu)?;
            }
        }
        Ok(PerfReader { map })
    }

    /// Drains the samples of `index` (padded as perf delivers raw samples).
    pub fn read(&self, index: u32) -> Vec<Vec<u8>> {
        self.map.perf_read(index)
    }

    /// Drains all indices, returning `(index, sample)` in index order.
    pub fn read_all(&self) -> Vec<(u32, Vec<u8>)> {
        (0..self.map.max_entries())
            .flat_map(|i| self.read(i).into_iter().map(move |s| (i, s)))
            .collect()
    }
}
