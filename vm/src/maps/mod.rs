//! eBPF maps with the kernel's semantics (Linux 6.12, kernel/bpf/*.c).
//!
//! A [`Map`] is created from a [`MapSpec`] with [`Map::create`], which validates the spec the
//! way `BPF_MAP_CREATE` does and returns errno-style [`MapError`]s. Maps are shared as
//! [`MapRef`] (`Arc<Map>`); every method takes `&self`.
//!
//! There are two APIs:
//!
//! * the **program side**, used by helpers: [`Map::lookup_ptr`] returns a stable pointer into
//!   the map's value storage (registered with the interpreter through [`Map::regions`]),
//!   [`Map::update_elem`], [`Map::delete_elem`], [`Map::push_elem`]/[`Map::pop_elem`]/
//!   [`Map::peek_elem`], the ring buffer calls ([`Map::reserve`], [`Map::submit`],
//!   [`Map::discard`], [`Map::output`], [`Map::query`]), [`Map::perf_event_output`],
//!   [`Map::tail_call_target`] and [`Map::inner_map`]. Per-CPU maps act on one CPU's copy.
//! * the **user side**, like the `bpf(2)` syscall and libraries such as aya/cilium-ebpf:
//!   byte-level [`Map::lookup`], [`Map::update`], [`Map::delete`], [`Map::get_next_key`],
//!   [`Map::keys`], [`Map::iter`], per-CPU [`Map::lookup_percpu`], and typed views in
//!   [`view`]. Per-CPU values are `round_up(value_size, 8) * ncpus` bytes, as in the syscall.
//!
//! Map value storage is allocated once at creation and never moves (see [`arena`]), so
//! pointers handed to programs stay valid for the map's lifetime.
//!
//! Known differences from the kernel are documented where they arise: hash iteration order
//! ([`hash`] — matches the kernel only for `BPF_F_ZERO_SEED` maps), LRU eviction ([`lru`]),
//! ring buffer memory layout ([`ringbuf`]), perf buffers ([`perf`]).

pub mod arena;
mod array;
mod bloom;
pub mod error;
pub mod hash;
pub mod lpm;
pub mod lru;
mod map_in_map;
pub mod perf;
mod prog_array;
mod queue;
mod redirect;
mod redirect_storage_ops;
pub mod ringbuf;
pub mod spec;
pub mod storage;
pub mod user_ringbuf;
mod values;
pub mod view;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::memory::Region;

pub use error::{Errno, MapError, MapResult};
pub use lpm::lpm_key;
pub use perf::PERF_ANY_CPU;
pub use spec::*;
pub use view::{ArrayView, HashMapView, PerCpuView, PerfReader, QueueView, RingBufReader};

use error::{check_len, err};

/// A shared handle to a map.
pub type MapRef = Arc<Map>;

/// The operations every map family implements; the defaults are the errno the kernel
/// returns when a map type lacks an operation.
/// The element operations of a ring buffer (kernel or user): it has no keys or elements, and
/// every such call is `ENOTSUPP`, as `ringbuf_map_*_elem` are.
macro_rules! ring_buffer_has_no_elements {
    () => {
        fn lookup_ptr(&self, _key: &[u8], _cpu: u32) -> Option<*mut u8> {
            None
        }

        fn update_elem(&self, _k: &[u8], _v: &[u8], _f: u64, _c: u32) -> MapResult<()> {
            err(Errno::ENOTSUPP, "ring buffers have no elements")
        }

        fn delete_elem(&self, _key: &[u8]) -> MapResult<()> {
            err(Errno::ENOTSUPP, "ring buffers have no elements")
        }

        fn lookup(&self, _key: &[u8]) -> MapResult<Vec<u8>> {
            err(Errno::ENOTSUPP, "ring buffers have no elements")
        }

        fn update(&self, _key: &[u8], _value: &[u8], _flags: u64) -> MapResult<()> {
            err(Errno::ENOTSUPP, "ring buffers have no elements")
        }

        fn get_next_key(&self, _key: Option<&[u8]>) -> MapResult<Vec<u8>> {
            err(Errno::ENOTSUPP, "ring buffers have no keys")
        }
    };
}
pub(crate) use ring_buffer_has_no_elements;

pub(crate) trait MapOps: Send + Sync {
    /// Program-side lookup: a pointer to the value (the CPU's copy for per-CPU maps).
    fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<*mut u8>;
    /// Program-side update (per-CPU maps: the CPU's copy only).
    fn update_elem(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()>;
    /// Delete, from either side.
    fn delete_elem(&self, key: &[u8]) -> MapResult<()>;
    /// User-side lookup, returning the syscall's value layout.
    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>>;
    /// User-side update, taking the syscall's value layout.
    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()>;
    /// `BPF_MAP_GET_NEXT_KEY`.
    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>>;
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (hashes, queues and stacks only).
    fn lookup_and_delete(&self, _key: &[u8]) -> MapResult<Vec<u8>> {
        err(
            Errno::ENOTSUPP,
            "lookup-and-delete is not supported for this map type",
        )
    }
    /// `bpf_map_push_elem`.
    fn push(&self, _value: &[u8], _flags: u64) -> MapResult<()> {
        err(
            Errno::EINVAL,
            "push is only supported by queues, stacks and bloom filters",
        )
    }
    /// `bpf_map_pop_elem`.
    fn pop(&self, _out: &mut [u8]) -> MapResult<()> {
        err(Errno::EINVAL, "pop is only supported by queues and stacks")
    }
    /// `bpf_map_peek_elem`.
    fn peek(&self, _out: &mut [u8]) -> MapResult<()> {
        err(
            Errno::EINVAL,
            "peek is only supported by queues, stacks and bloom filters",
        )
    }
    /// Memory programs may access directly.
    fn regions(&self) -> Vec<Region> {
        Vec::new()
    }
    /// Number of elements present.
    fn len(&self) -> usize;
    /// A snapshot of the contents for dumps.
    fn contents(&self) -> MapContents;
}

/// The value of one dumped entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapValue {
    /// Raw value bytes.
    Bytes(Vec<u8>),
    /// One value per CPU (per-CPU maps).
    PerCpu(Vec<Vec<u8>>),
    /// An inner map, by id (map-in-map).
    Map(u32),
    /// A program handle (program arrays).
    Prog(u32),
}

/// One dumped key/value pair.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MapEntry {
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value.
    pub value: MapValue,
}

/// Samples buffered for one perf event array index.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PerfBuffer {
    /// Array index.
    pub index: u32,
    /// CPU the event is bound to, if an event is installed.
    pub event_cpu: Option<u32>,
    /// Unread samples, oldest first.
    pub samples: Vec<Vec<u8>>,
}

/// A snapshot of a map's contents, shaped by map family.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapContents {
    /// Key/value maps, in `get_next_key` order.
    Entries(Vec<MapEntry>),
    /// Queue/stack values in pop order.
    Values(Vec<Vec<u8>>),
    /// Ring buffer positions and submitted, unconsumed records.
    RingBuf {
        /// Data area size.
        ring_size: u64,
        /// Consumer position.
        consumer_pos: u64,
        /// Producer position.
        producer_pos: u64,
        /// Records not yet consumed, oldest first (discarded ones omitted).
        records: Vec<Vec<u8>>,
    },
    /// Perf event array buffers.
    PerfEvents(Vec<PerfBuffer>),
    /// Bloom filter occupancy.
    Bloom {
        /// Number of hash functions.
        nr_hash_funcs: u32,
        /// Size of the bit array.
        nr_bits: u64,
        /// Bits currently set.
        bits_set: u64,
    },
}

/// A printable snapshot of a map, for CLIs (`serde` serialisable).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MapDump {
    /// Map id.
    pub id: u32,
    /// Map name.
    pub name: String,
    /// Map type.
    pub map_type: MapType,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Max entries.
    pub max_entries: u32,
    /// Creation flags.
    pub map_flags: u32,
    /// Contents.
    pub contents: MapContents,
}

#[derive(Debug)]
enum Kind {
    Array(array::ArrayMap),
    Hash(hash::HashTable),
    Lpm(lpm::LpmTrie),
    RingBuf(ringbuf::RingBuf),
    Perf(perf::PerfEventArray),
    Prog(prog_array::ProgArray),
    Queue(queue::QueueStack),
    Bloom(bloom::Bloom),
    ArrayOfMaps(map_in_map::ArrayOfMaps),
    HashOfMaps(map_in_map::HashOfMaps),
    Redirect(redirect::RedirectMap),
    Storage(storage::LocalStorage),
    UserRingBuf(user_ringbuf::UserRingBuf),
}

/// A map: its spec, id and storage.
#[derive(Debug)]
pub struct Map {
    id: u32,
    spec: MapSpec,
    ncpus: u32,
    frozen: AtomicBool,
    kind: Kind,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);
static REGISTRY: Mutex<BTreeMap<u32, Weak<Map>>> = Mutex::new(BTreeMap::new());

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<u32, Weak<Map>>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Map {
    fn drop(&mut self) {
        registry().remove(&self.id);
    }
}

impl Map {
    /// Creates a map, validating `spec` as `BPF_MAP_CREATE` does.
    pub fn create(spec: &MapSpec, cfg: &MapConfig) -> MapResult<MapRef> {
        let spec = spec::validate(spec, cfg)?;
        let kind = match spec.map_type {
            MapType::Array | MapType::PercpuArray => {
                Kind::Array(array::ArrayMap::new(&spec, cfg.ncpus)?)
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                Kind::Hash(hash::HashTable::new(&spec, cfg.ncpus)?)
            }
            MapType::LpmTrie => Kind::Lpm(lpm::LpmTrie::new(&spec)?),
            MapType::Ringbuf => Kind::RingBuf(ringbuf::RingBuf::new(&spec)?),
            MapType::PerfEventArray => Kind::Perf(perf::PerfEventArray::new(&spec)?),
            MapType::ProgArray => Kind::Prog(prog_array::ProgArray::new(&spec)?),
            MapType::Queue | MapType::Stack => Kind::Queue(queue::QueueStack::new(&spec)),
            MapType::BloomFilter => Kind::Bloom(bloom::Bloom::new(&spec)?),
            MapType::ArrayOfMaps | MapType::HashOfMaps => {
                // The template stands for the kernel's inner_map_fd: it must itself be a
                // creatable map.
                let inner = spec
                    .inner
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| spec.clone());
                let template = spec::validate(&inner, cfg)?;
                if spec.map_type == MapType::ArrayOfMaps {
                    Kind::ArrayOfMaps(map_in_map::ArrayOfMaps::new(&spec, template)?)
                } else {
                    Kind::HashOfMaps(map_in_map::HashOfMaps::new(&spec, template))
                }
            }
            MapType::Devmap | MapType::DevmapHash | MapType::Cpumap | MapType::Xskmap => {
                Kind::Redirect(redirect::RedirectMap::new(&spec, cfg.ncpus)?)
            }
            MapType::CgroupStorage | MapType::PercpuCgroupStorage | MapType::SkStorage => {
                Kind::Storage(storage::LocalStorage::new(&spec, cfg.ncpus))
            }
            MapType::UserRingbuf => Kind::UserRingBuf(user_ringbuf::UserRingBuf::new(&spec)),
            other => {
                return err(
                    Errno::EOPNOTSUPP,
                    format!("map type {other} is not supported by bpfbox"),
                )
            }
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let map = Arc::new(Map {
            id,
            spec,
            ncpus: cfg.ncpus,
            frozen: AtomicBool::new(false),
            kind,
        });
        registry().insert(id, Arc::downgrade(&map));
        Ok(map)
    }

    /// The live map with this id (what `BPF_MAP_GET_FD_BY_ID` resolves).
    pub fn from_id(id: u32) -> Option<MapRef> {
        registry().get(&id).and_then(Weak::upgrade)
    }

    /// The address programs see for this map (`ld_imm64` map pointers, map-in-map lookups).
    /// Stable while the map lives; resolve it back with the embedder's map table.
    pub fn handle_addr(this: &MapRef) -> u64 {
        Arc::as_ptr(this) as u64
    }

    fn ops(&self) -> &dyn MapOps {
        match &self.kind {
            Kind::Array(m) => m,
            Kind::Hash(m) => m,
            Kind::Lpm(m) => m,
            Kind::RingBuf(m) => m,
            Kind::Perf(m) => m,
            Kind::Prog(m) => m,
            Kind::Queue(m) => m,
            Kind::Bloom(m) => m,
            Kind::ArrayOfMaps(m) => m,
            Kind::HashOfMaps(m) => m,
            Kind::Redirect(m) => m,
            Kind::Storage(m) => m,
            Kind::UserRingBuf(m) => m,
        }
    }

    /// Unique id (starts at 1, never reused within a process).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The validated spec the map was created with.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// Map name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Map type.
    pub fn map_type(&self) -> MapType {
        self.spec.map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.spec.key_size
    }

    /// Value size in bytes (one CPU's copy for per-CPU maps).
    pub fn value_size(&self) -> u32 {
        self.spec.value_size
    }

    /// Maximum number of entries (possibly adjusted, as the kernel does for per-CPU LRUs).
    pub fn max_entries(&self) -> u32 {
        self.spec.max_entries
    }

    /// Number of CPUs the map was created for.
    pub fn ncpus(&self) -> u32 {
        self.ncpus
    }

    /// Size of a user-side value buffer: `value_size`, or `round_up(value_size, 8) * ncpus`
    /// for per-CPU maps.
    pub fn user_value_size(&self) -> usize {
        if self.spec.map_type.is_percpu() {
            spec::round8(u64::from(self.spec.value_size)) as usize * self.ncpus as usize
        } else {
            self.spec.value_size as usize
        }
    }

    /// Number of elements currently present (all indices for arrays).
    pub fn len(&self) -> usize {
        self.ops().len()
    }

    /// Whether the map holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory programs may access directly: value storage (`RegionKind::MapValue`, read-only
    /// with `BPF_F_RDONLY_PROG`). A ring buffer has none: each reserved record is a region
    /// of its own while it is reserved ([`Map::ringbuf_record_region`]).
    pub fn regions(&self) -> Vec<Region> {
        self.ops().regions()
    }

    // ---- program side -------------------------------------------------------------------

    /// `bpf_map_lookup_elem` from a program running on `cpu`: a pointer to the value, stable
    /// for the map's lifetime. For map-in-map maps this is the inner map's
    /// [`Map::handle_addr`] (as the kernel returns the inner `struct bpf_map *`); use
    /// [`Map::inner_map`] to resolve it. `None` if absent or unsupported.
    pub fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<*mut u8> {
        self.ops().lookup_ptr(key, cpu)
    }

    /// `bpf_map_update_elem` from a program on `cpu` (per-CPU maps write that CPU's copy).
    pub fn update_elem(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()> {
        self.ops().update_elem(key, value, flags, cpu)
    }

    /// `bpf_map_delete_elem` from a program.
    pub fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        self.ops().delete_elem(key)
    }

    /// `bpf_map_push_elem`.
    pub fn push_elem(&self, value: &[u8], flags: u64) -> MapResult<()> {
        self.ops().push(value, flags)
    }

    /// `bpf_map_pop_elem`; `out` is zeroed on failure.
    pub fn pop_elem(&self, out: &mut [u8]) -> MapResult<()> {
        self.ops().pop(out)
    }

    /// `bpf_map_peek_elem`; for bloom filters `value` is the value to test (input).
    pub fn peek_elem(&self, value: &mut [u8]) -> MapResult<()> {
        self.ops().peek(value)
    }

    fn ringbuf(&self) -> MapResult<&ringbuf::RingBuf> {
        match &self.kind {
            Kind::RingBuf(r) => Ok(r),
            _ => err(
                Errno::EINVAL,
                format!("{} is not a ring buffer", self.name()),
            ),
        }
    }

    /// `bpf_ringbuf_reserve`: a pointer to `size` bytes in the ring, or `None` if the map is
    /// not a ring buffer, `flags` is non-zero, or there is no room.
    pub fn reserve(&self, size: u64, flags: u64) -> Option<*mut u8> {
        if flags != 0 {
            return None;
        }
        self.ringbuf().ok()?.reserve(size)
    }

    /// The writable region of a record [`Map::reserve`] returned (ring buffers only).
    pub fn ringbuf_record_region(&self, sample: *const u8, size: u64) -> Option<Region> {
        self.ringbuf().ok()?.record_region(sample, size)
    }

    /// Whether `addr` points into this ring buffer's data area.
    pub fn ringbuf_owns(&self, addr: u64) -> bool {
        self.ringbuf().is_ok_and(|r| r.owns(addr))
    }

    /// `bpf_ringbuf_submit` of a pointer returned by [`Map::reserve`].
    pub fn submit(&self, sample: *const u8, flags: u64) -> MapResult<()> {
        self.ringbuf()?.submit(sample, flags)
    }

    /// `bpf_ringbuf_discard` of a pointer returned by [`Map::reserve`].
    pub fn discard(&self, sample: *const u8, flags: u64) -> MapResult<()> {
        self.ringbuf()?.discard(sample, flags)
    }

    /// `bpf_ringbuf_output`: `EAGAIN` if full, `EINVAL` for unknown flags.
    pub fn output(&self, data: &[u8], flags: u64) -> MapResult<()> {
        self.ringbuf()?.output(data, flags)
    }

    /// `bpf_ringbuf_query` (0 for unknown flags or non-ring-buffer maps).
    pub fn query(&self, flags: u64) -> u64 {
        self.ringbuf().map_or(0, |r| r.query(flags))
    }

    /// `bpf_perf_event_output` from a program on `cpu` (the data already assembled; helpers
    /// for skb/xdp contexts strip `BPF_F_CTXLEN_MASK` and append the context bytes first).
    pub fn perf_event_output(&self, cpu: u32, flags: u64, data: &[u8]) -> MapResult<()> {
        match &self.kind {
            Kind::Perf(p) => p.output(cpu, flags, data),
            _ => err(
                Errno::EINVAL,
                format!("{} is not a perf event array", self.name()),
            ),
        }
    }

    /// The program handle `bpf_tail_call(ctx, map, index)` jumps to, if any.
    pub fn tail_call_target(&self, index: u32) -> Option<u32> {
        match &self.kind {
            Kind::Prog(p) => p.get(index),
            _ => None,
        }
    }

    /// The inner map stored at `key` of a map-in-map map.
    pub fn inner_map(&self, key: &[u8]) -> Option<MapRef> {
        match &self.kind {
            Kind::ArrayOfMaps(m) => m.get(key),
            Kind::HashOfMaps(m) => m.get(key),
            _ => None,
        }
    }

    // ---- user side ----------------------------------------------------------------------

    fn check_read(&self) -> MapResult<()> {
        if self.spec.map_flags & BPF_F_WRONLY != 0 {
            return err(Errno::EPERM, "map is write-only from user space");
        }
        Ok(())
    }

    fn check_write(&self) -> MapResult<()> {
        if self.spec.map_flags & BPF_F_RDONLY != 0 {
            return err(Errno::EPERM, "map is read-only from user space");
        }
        if self.frozen.load(Ordering::Acquire) {
            return err(Errno::EPERM, "map is frozen");
        }
        Ok(())
    }

    /// `BPF_MAP_LOOKUP_ELEM`: the value (all CPUs for per-CPU maps; the inner map id for
    /// map-in-map; the program handle for program arrays; a peek for queues and stacks).
    pub fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        self.check_read()?;
        self.ops().lookup(key)
    }

    /// [`Map::lookup`] without the error: `None` if absent or the lookup fails.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key).ok()
    }

    /// `BPF_MAP_UPDATE_ELEM` (per-CPU maps take `user_value_size()` bytes; map-in-map maps
    /// take an inner map id; queues, stacks and bloom filters push).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        self.check_write()?;
        self.ops().update(key, value, flags)
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn delete(&self, key: &[u8]) -> MapResult<()> {
        self.check_write()?;
        self.ops().delete_elem(key)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (hashes; queues and stacks pop with an empty key).
    pub fn lookup_and_delete(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        self.check_read()?;
        self.check_write()?;
        self.ops().lookup_and_delete(key)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the first key for `None` or an absent key, `ENOENT` after the
    /// last.
    pub fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        self.check_read()?;
        self.ops().get_next_key(key)
    }

    /// `BPF_MAP_FREEZE`: user-space writes fail with `EPERM` from now on.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// Whether [`Map::freeze`] was called.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// All keys, in `get_next_key` order.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        // Bounded so a concurrently changing map cannot make this loop forever.
        let limit = self.spec.max_entries as usize + 1;
        while out.len() < limit {
            match self.get_next_key(cur.as_deref()) {
                Ok(k) => {
                    out.push(k.clone());
                    cur = Some(k);
                }
                Err(_) => break,
            }
        }
        out
    }

    /// All `(key, value)` pairs in `get_next_key` order (entries whose lookup fails, such as
    /// empty program array slots, are skipped).
    pub fn iter(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.keys()
            .into_iter()
            .filter_map(|k| self.lookup(&k).ok().map(|v| (k, v)))
            .collect()
    }

    fn split_percpu(&self, buf: &[u8]) -> Vec<Vec<u8>> {
        let vs = self.spec.value_size as usize;
        let stride = spec::round8(vs as u64) as usize;
        (0..self.ncpus as usize)
            .filter_map(|c| buf.get(c * stride..c * stride + vs).map(<[u8]>::to_vec))
            .collect()
    }

    /// Per-CPU lookup: one `value_size` vector per CPU (`EINVAL` for other map types).
    pub fn lookup_percpu(&self, key: &[u8]) -> MapResult<Vec<Vec<u8>>> {
        if !self.spec.map_type.is_percpu() {
            return err(
                Errno::EINVAL,
                format!("{} is not a per-CPU map", self.name()),
            );
        }
        Ok(self.split_percpu(&self.lookup(key)?))
    }

    /// Per-CPU update from one value per CPU.
    pub fn update_percpu(&self, key: &[u8], values: &[Vec<u8>], flags: u64) -> MapResult<()> {
        if !self.spec.map_type.is_percpu() {
            return err(
                Errno::EINVAL,
                format!("{} is not a per-CPU map", self.name()),
            );
        }
        check_len("per-CPU value list", values.len(), self.ncpus as usize)?;
        let vs = self.spec.value_size as usize;
        let stride = spec::round8(vs as u64) as usize;
        let mut buf = vec![0u8; self.user_value_size()];
        for (c, v) in values.iter().enumerate() {
            check_len("value", v.len(), vs)?;
            buf[c * stride..c * stride + vs].copy_from_slice(v);
        }
        self.update(key, &buf, flags)
    }

    /// Pushes onto a queue, stack or bloom filter from user space.
    pub fn push(&self, value: &[u8], flags: u64) -> MapResult<()> {
        self.check_write()?;
        self.ops().push(value, flags)
    }

    /// Pops from a queue or stack from user space.
    pub fn pop(&self) -> MapResult<Vec<u8>> {
        self.lookup_and_delete(&[])
    }

    /// Peeks at a queue or stack from user space.
    pub fn peek(&self) -> MapResult<Vec<u8>> {
        self.lookup(&[])
    }

    /// Bloom filter membership test from user space: `true` if maybe present.
    pub fn bloom_contains(&self, value: &[u8]) -> MapResult<bool> {
        self.check_read()?;
        match &self.kind {
            Kind::Bloom(b) => b.contains(value),
            _ => err(
                Errno::EINVAL,
                format!("{} is not a bloom filter", self.name()),
            ),
        }
    }

    /// Stores an inner map into a map-in-map map (the kernel's update with an inner map fd).
    pub fn update_inner(&self, key: &[u8], inner: &MapRef, flags: u64) -> MapResult<()> {
        self.check_write()?;
        match &self.kind {
            Kind::ArrayOfMaps(m) => m.set(key, inner, flags),
            Kind::HashOfMaps(m) => m.set(key, inner, flags),
            _ => err(
                Errno::EINVAL,
                format!("{} is not a map-in-map", self.name()),
            ),
        }
    }

    /// Consumes the next submitted ring buffer record (`None` if empty, if the next record is
    /// still reserved, or if this is not a ring buffer).
    pub fn ringbuf_consume(&self) -> Option<Vec<u8>> {
        self.ringbuf().ok()?.consume()
    }

    /// Number of consumer wakeups the ring buffer would have issued (`BPF_RB_*` flags).
    pub fn ringbuf_wakeups(&self) -> u64 {
        self.ringbuf().map_or(0, |r| r.wakeups())
    }

    /// Installs a perf event bound to `cpu` at `index` (`PERF_ANY_CPU` for any CPU).
    pub fn perf_open(&self, index: u32, cpu: u32) -> MapResult<()> {
        self.update(&index.to_ne_bytes(), &cpu.to_ne_bytes(), BPF_ANY)
    }

    /// Samples a perf event array dropped because a buffer was full (0 for other maps).
    pub fn perf_lost(&self) -> u64 {
        match &self.kind {
            Kind::Perf(p) => p.lost(),
            _ => 0,
        }
    }

    /// Drains the samples written to perf event array `index`.
    pub fn perf_read(&self, index: u32) -> Vec<Vec<u8>> {
        match &self.kind {
            Kind::Perf(p) => p.read(index),
            _ => Vec::new(),
        }
    }

    /// A printable snapshot of the map (does not consume anything).
    pub fn dump(&self) -> MapDump {
        MapDump {
            id: self.id,
            name: self.spec.name.clone(),
            map_type: self.spec.map_type,
            key_size: self.spec.key_size,
            value_size: self.spec.value_size,
            max_entries: self.spec.max_entries,
            map_flags: self.spec.map_flags,
            contents: self.ops().contents(),
        }
    }
}
