//! Map types, creation flags and the map specification; its validation is in `validate`.
//!
//! Validation reproduces the checks of the kernel's `map_create()` and each map type's
//! `map_alloc_check`/`map_alloc` (Linux 6.12), including which errno each check returns, so a
//! spec rejected by the kernel is rejected here with the same errno.

use super::error::{err, Errno, MapResult};

mod validate;

pub(crate) use validate::{meta_equal, validate};

/// Update flag: create a new element or update an existing one.
pub const BPF_ANY: u64 = 0;
/// Update flag: create a new element only if it did not exist.
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: update an existing element only.
pub const BPF_EXIST: u64 = 2;
/// Update flag: update the value under the value's `bpf_spin_lock`.
pub const BPF_F_LOCK: u64 = 4;

/// Creation flag: do not preallocate elements (required for LPM tries).
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
/// Creation flag: per-CPU LRU lists instead of one common list (LRU hashes only).
pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
/// Creation flag: `numa_node` is valid.
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
/// Creation flag: read-only from the syscall side.
pub const BPF_F_RDONLY: u32 = 1 << 3;
/// Creation flag: write-only from the syscall side.
pub const BPF_F_WRONLY: u32 = 1 << 4;
/// Creation flag: stack maps store build ids.
pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
/// Creation flag: zero hash seed (bpfbox always hashes with seed 0).
pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
/// Creation flag: read-only from the program side.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// Creation flag: write-only from the program side.
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
/// Creation flag: clone socket storage.
pub const BPF_F_CLONE: u32 = 1 << 9;
/// Creation flag: the array may be mmap()ed.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// Creation flag: keep perf events when the map's last user reference goes.
pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
/// Creation flag: inner array map with dynamic max entries.
pub const BPF_F_INNER_MAP: u32 = 1 << 12;
/// Creation flag: map tied to a bpf_link.
pub const BPF_F_LINK: u32 = 1 << 13;
/// Creation flag: a BPF token fd is supplied (stripped before the per-type checks).
pub const BPF_F_TOKEN_FD: u32 = 1 << 16;

/// `BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG`.
pub const BPF_F_ACCESS_MASK: u32 =
    BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;

/// `bpf_perf_event_output` flag: use the current CPU as the index.
pub const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;
/// `bpf_perf_event_output` flag mask selecting the index.
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;

/// Ring buffer submit/output flag: do not wake the consumer.
pub const BPF_RB_NO_WAKEUP: u64 = 1 << 0;
/// Ring buffer submit/output flag: always wake the consumer.
pub const BPF_RB_FORCE_WAKEUP: u64 = 1 << 1;
/// `bpf_ringbuf_query` flag: bytes produced but not yet consumed.
pub const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_query` flag: size of the data area.
pub const BPF_RB_RING_SIZE: u64 = 1;
/// `bpf_ringbuf_query` flag: consumer position.
pub const BPF_RB_CONS_POS: u64 = 2;
/// `bpf_ringbuf_query` flag: producer position.
pub const BPF_RB_PROD_POS: u64 = 3;

/// Ring buffer record header bit: the record is reserved but not committed.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// Ring buffer record header bit: the record was discarded.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// Size of a ring buffer record header (`len: u32`, `pg_off: u32`).
pub const BPF_RINGBUF_HDR_SZ: u32 = 8;

/// Page size the kernel checks ring buffer sizes against (x86-64).
pub const PAGE_SIZE: u32 = 4096;
/// Largest kmalloc allocation on x86-64 (`1 << (PAGE_SHIFT + MAX_PAGE_ORDER)`).
pub(crate) const KMALLOC_MAX_SIZE: u64 = 1 << 22;
/// Largest per-CPU value (`PCPU_MIN_UNIT_SIZE`).
pub(crate) const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// `sizeof(struct htab_elem)` on x86-64, used in the hash size limit.
const HTAB_ELEM_SIZE: u64 = 48;
/// `sizeof(struct lpm_trie_node)` on x86-64, used in the LPM value size limit.
const LPM_NODE_SIZE: u64 = 40;
/// Longest LPM key data (`LPM_DATA_SIZE_MAX`).
pub(crate) const LPM_DATA_SIZE_MAX: u32 = 256;
/// Length of `bpf_attr.map_name` including the terminating NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

macro_rules! map_types {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $kname:literal, $short:literal; )*) => {
        /// The kernel's `enum bpf_map_type`, with the same numeric ids.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum MapType {
            $( $(#[$doc])* $variant = $id, )*
        }

        impl MapType {
            /// Every map type, in id order.
            pub const ALL: &'static [MapType] = &[$(MapType::$variant),*];

            /// The type with kernel id `id`, if there is one.
            pub fn from_u32(id: u32) -> Option<MapType> {
                match id {
                    $( $id => Some(MapType::$variant), )*
                    _ => None,
                }
            }

            /// The kernel's enumerator name, e.g. `BPF_MAP_TYPE_HASH`.
            pub fn kernel_name(self) -> &'static str {
                match self { $( MapType::$variant => $kname, )* }
            }

            /// The short name bpftool and libbpf print, e.g. `hash`.
            pub fn name(self) -> &'static str {
                match self { $( MapType::$variant => $short, )* }
            }

            /// Parses either the short name (`lru_hash`) or the kernel name
            /// (`BPF_MAP_TYPE_LRU_HASH`).
            pub fn from_name(name: &str) -> Option<MapType> {
                match name {
                    $( $kname | $short => Some(MapType::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

map_types! {
    /// Invalid (0); the kernel refuses to create it.
    Unspec = 0, "BPF_MAP_TYPE_UNSPEC", "unspec";
    /// Hash table.
    Hash = 1, "BPF_MAP_TYPE_HASH", "hash";
    /// Array indexed by `u32`.
    Array = 2, "BPF_MAP_TYPE_ARRAY", "array";
    /// Program array for tail calls.
    ProgArray = 3, "BPF_MAP_TYPE_PROG_ARRAY", "prog_array";
    /// Perf event array for `bpf_perf_event_output`.
    PerfEventArray = 4, "BPF_MAP_TYPE_PERF_EVENT_ARRAY", "perf_event_array";
    /// Hash table with per-CPU values.
    PercpuHash = 5, "BPF_MAP_TYPE_PERCPU_HASH", "percpu_hash";
    /// Array with per-CPU values.
    PercpuArray = 6, "BPF_MAP_TYPE_PERCPU_ARRAY", "percpu_array";
    /// Stack trace map.
    StackTrace = 7, "BPF_MAP_TYPE_STACK_TRACE", "stack_trace";
    /// Cgroup array.
    CgroupArray = 8, "BPF_MAP_TYPE_CGROUP_ARRAY", "cgroup_array";
    /// Hash table with LRU eviction.
    LruHash = 9, "BPF_MAP_TYPE_LRU_HASH", "lru_hash";
    /// Hash table with LRU eviction and per-CPU values.
    LruPercpuHash = 10, "BPF_MAP_TYPE_LRU_PERCPU_HASH", "lru_percpu_hash";
    /// Longest-prefix-match trie.
    LpmTrie = 11, "BPF_MAP_TYPE_LPM_TRIE", "lpm_trie";
    /// Array whose values are maps.
    ArrayOfMaps = 12, "BPF_MAP_TYPE_ARRAY_OF_MAPS", "array_of_maps";
    /// Hash table whose values are maps.
    HashOfMaps = 13, "BPF_MAP_TYPE_HASH_OF_MAPS", "hash_of_maps";
    /// Device map for XDP redirect.
    Devmap = 14, "BPF_MAP_TYPE_DEVMAP", "devmap";
    /// Socket map.
    Sockmap = 15, "BPF_MAP_TYPE_SOCKMAP", "sockmap";
    /// CPU map for XDP redirect.
    Cpumap = 16, "BPF_MAP_TYPE_CPUMAP", "cpumap";
    /// AF_XDP socket map.
    Xskmap = 17, "BPF_MAP_TYPE_XSKMAP", "xskmap";
    /// Socket hash.
    Sockhash = 18, "BPF_MAP_TYPE_SOCKHASH", "sockhash";
    /// Cgroup storage (deprecated).
    CgroupStorage = 19, "BPF_MAP_TYPE_CGROUP_STORAGE", "cgroup_storage";
    /// Reuseport socket array.
    ReuseportSockarray = 20, "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", "reuseport_sockarray";
    /// Per-CPU cgroup storage (deprecated).
    PercpuCgroupStorage = 21, "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", "percpu_cgroup_storage";
    /// FIFO queue.
    Queue = 22, "BPF_MAP_TYPE_QUEUE", "queue";
    /// LIFO stack.
    Stack = 23, "BPF_MAP_TYPE_STACK", "stack";
    /// Socket local storage.
    SkStorage = 24, "BPF_MAP_TYPE_SK_STORAGE", "sk_storage";
    /// Device hash map for XDP redirect.
    DevmapHash = 25, "BPF_MAP_TYPE_DEVMAP_HASH", "devmap_hash";
    /// struct_ops map.
    StructOps = 26, "BPF_MAP_TYPE_STRUCT_OPS", "struct_ops";
    /// Kernel-to-user ring buffer.
    Ringbuf = 27, "BPF_MAP_TYPE_RINGBUF", "ringbuf";
    /// Inode local storage.
    InodeStorage = 28, "BPF_MAP_TYPE_INODE_STORAGE", "inode_storage";
    /// Task local storage.
    TaskStorage = 29, "BPF_MAP_TYPE_TASK_STORAGE", "task_storage";
    /// Bloom filter.
    BloomFilter = 30, "BPF_MAP_TYPE_BLOOM_FILTER", "bloom_filter";
    /// User-to-kernel ring buffer.
    UserRingbuf = 31, "BPF_MAP_TYPE_USER_RINGBUF", "user_ringbuf";
    /// Cgroup local storage.
    CgrpStorage = 32, "BPF_MAP_TYPE_CGRP_STORAGE", "cgrp_storage";
    /// Shared program/user memory arena.
    Arena = 33, "BPF_MAP_TYPE_ARENA", "arena";
}

impl MapType {
    /// The kernel's numeric id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// Whether values are stored once per CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuHash
                | MapType::PercpuArray
                | MapType::LruPercpuHash
                | MapType::PercpuCgroupStorage
        )
    }

    /// Whether values are maps (map-in-map).
    pub fn is_map_in_map(self) -> bool {
        matches!(self, MapType::ArrayOfMaps | MapType::HashOfMaps)
    }

    /// Whether bpfbox implements this map type.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            MapType::Hash
                | MapType::Array
                | MapType::ProgArray
                | MapType::PerfEventArray
                | MapType::PercpuHash
                | MapType::PercpuArray
                | MapType::LruHash
                | MapType::LruPercpuHash
                | MapType::LpmTrie
                | MapType::ArrayOfMaps
                | MapType::HashOfMaps
                | MapType::Queue
                | MapType::Stack
                | MapType::Ringbuf
                | MapType::BloomFilter
                | MapType::Devmap
                | MapType::DevmapHash
                | MapType::Cpumap
                | MapType::Xskmap
                | MapType::CgroupStorage
                | MapType::PercpuCgroupStorage
                | MapType::SkStorage
                | MapType::UserRingbuf
        )
    }
}

impl std::fmt::Display for MapType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for MapType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for MapType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        MapType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown map type `{name}`")))
    }
}

/// What a program or loader asks for when creating a map (the `BPF_MAP_CREATE` attributes).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MapSpec {
    /// Map name (at most 15 characters of `[A-Za-z0-9_.]`, as the kernel requires).
    pub name: String,
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries (data size in bytes for ring buffers).
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    #[serde(default)]
    pub map_flags: u32,
    /// Type-specific extra (bloom filter: number of hash functions in the low 4 bits).
    #[serde(default)]
    pub map_extra: u64,
    /// Template of the inner maps (map-in-map types only), standing in for `inner_map_fd`.
    #[serde(default)]
    pub inner: Option<Box<MapSpec>>,
    /// NUMA node; only used with `BPF_F_NUMA_NODE`. bpfbox models a single node (0).
    #[serde(default)]
    pub numa_node: Option<u32>,
    /// BTF type id of the key, if the map has BTF.
    #[serde(default)]
    pub btf_key_type_id: Option<u32>,
    /// BTF type id of the value, if the map has BTF.
    #[serde(default)]
    pub btf_value_type_id: Option<u32>,
    /// Offset of a `struct bpf_spin_lock` in the value, if the value has one (from BTF).
    /// Enables `BPF_F_LOCK`; updates never overwrite the lock word, as in the kernel.
    #[serde(default)]
    pub spin_lock_off: Option<u32>,
}

impl MapSpec {
    /// A spec with no flags, no extra, no BTF and no inner map.
    pub fn new(
        name: &str,
        map_type: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Self {
        MapSpec {
            name: name.to_string(),
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            map_extra: 0,
            inner: None,
            numa_node: None,
            btf_key_type_id: None,
            btf_value_type_id: None,
            spin_lock_off: None,
        }
    }

    /// The same spec with `map_flags` set.
    pub fn with_flags(mut self, map_flags: u32) -> Self {
        self.map_flags = map_flags;
        self
    }

    /// The same spec with `map_extra` set.
    pub fn with_extra(mut self, map_extra: u64) -> Self {
        self.map_extra = map_extra;
        self
    }

    /// The same spec with an inner map template (map-in-map types).
    pub fn with_inner(mut self, inner: MapSpec) -> Self {
        self.inner = Some(Box::new(inner));
        self
    }
}

/// Host-side parameters of map creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MapConfig {
    /// Number of possible CPUs: the number of copies of per-CPU values, the valid range of
    /// `cpu` arguments and of perf event array indices with `BPF_F_CURRENT_CPU`.
    pub ncpus: u32,
}

impl Default for MapConfig {
    fn default() -> Self {
        MapConfig { ncpus: 1 }
    }
}

/// `round_up(x, 8)` on 64-bit values.
pub(crate) fn round8(x: u64) -> u64 {
    (x + 7) & !7
}
