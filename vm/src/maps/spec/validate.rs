//! `BPF_MAP_CREATE`'s checks: `map_create()` and each map type's `map_alloc_check` /
//! `map_alloc` (Linux 6.12), each with the errno the kernel returns.

use super::*;

fn access_ok(flags: u32) -> bool {
    flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
}

/// The NUMA node the kernel would use, `None` standing for `NUMA_NO_NODE`.
fn numa_node(spec: &MapSpec) -> Option<u32> {
    if spec.map_flags & BPF_F_NUMA_NODE != 0 {
        Some(spec.numa_node.unwrap_or(0))
    } else {
        None
    }
}

/// Validates `spec` as `BPF_MAP_CREATE` would, returning the spec the map is created with
/// (`BPF_F_TOKEN_FD` cleared, `max_entries` adjusted for per-CPU LRU lists).
pub(crate) fn validate(spec: &MapSpec, cfg: &MapConfig) -> MapResult<MapSpec> {
    if cfg.ncpus == 0 {
        return err(Errno::EINVAL, "MapConfig.ncpus must be at least 1");
    }
    let mut s = spec.clone();
    // map_create(): the token flag is stripped before the per-type flag checks.
    s.map_flags &= !BPF_F_TOKEN_FD;
    if s.btf_key_type_id.unwrap_or(0) != 0 && s.btf_value_type_id.unwrap_or(0) == 0 {
        return err(
            Errno::EINVAL,
            "btf_key_type_id set without btf_value_type_id",
        );
    }
    if s.map_extra != 0 && !matches!(s.map_type, MapType::BloomFilter | MapType::Arena) {
        return err(
            Errno::EINVAL,
            "map_extra is only valid for bloom filters and arenas",
        );
    }
    if s.map_flags & BPF_F_RDONLY != 0 && s.map_flags & BPF_F_WRONLY != 0 {
        return err(Errno::EINVAL, "BPF_F_RDONLY and BPF_F_WRONLY are exclusive");
    }
    if let Some(node) = numa_node(&s) {
        if node != 0 {
            return err(Errno::EINVAL, format!("NUMA node {node} is not online"));
        }
    }
    if s.map_type == MapType::Unspec {
        return err(Errno::EINVAL, "map type 0 (unspec) is not a map type");
    }
    if !s.map_type.is_supported() {
        return err(
            Errno::EOPNOTSUPP,
            format!("map type {} is not supported by bpfbox", s.map_type.name()),
        );
    }
    check_type(&mut s, cfg)?;
    check_name(&s.name)?;
    if let Some(off) = s.spin_lock_off {
        if u64::from(off) + 4 > u64::from(s.value_size) || off & 3 != 0 {
            return err(Errno::EINVAL, "bpf_spin_lock lies outside the value");
        }
    }
    Ok(s)
}

/// `bpf_obj_name_cpy`: alphanumerics, `_` and `.`, NUL-terminated within 16 bytes.
fn check_name(name: &str) -> MapResult<()> {
    if name.len() >= BPF_OBJ_NAME_LEN {
        return err(
            Errno::EINVAL,
            format!("map name `{name}` is longer than 15 bytes"),
        );
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
    {
        return err(Errno::EINVAL, format!("map name `{name}` contains {c:?}"));
    }
    Ok(())
}

const ARRAY_CREATE_FLAG_MASK: u32 =
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
const HTAB_CREATE_FLAG_MASK: u32 =
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED;
const LPM_CREATE_FLAG_MASK: u32 = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
const QUEUE_STACK_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
const BLOOM_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK;
const RINGBUF_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE;

fn einval<T>(msg: impl Into<String>) -> MapResult<T> {
    err(Errno::EINVAL, msg)
}

fn check_type(s: &mut MapSpec, cfg: &MapConfig) -> MapResult<()> {
    match s.map_type {
        MapType::Array | MapType::PercpuArray => check_array(s),
        MapType::ProgArray | MapType::PerfEventArray | MapType::CgroupArray => check_fd_array(s),
        MapType::ArrayOfMaps => {
            check_fd_array(s)?;
            check_inner(s)
        }
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            check_htab(s, cfg)
        }
        MapType::HashOfMaps => {
            if s.value_size != 4 {
                return einval("hash of maps values are 4-byte map handles");
            }
            check_htab(s, cfg)?;
            check_inner(s)
        }
        MapType::LpmTrie => check_lpm(s),
        MapType::Queue | MapType::Stack => check_queue_stack(s),
        MapType::BloomFilter => check_bloom(s),
        MapType::Ringbuf | MapType::UserRingbuf => check_ringbuf(s),
        MapType::Devmap | MapType::DevmapHash => {
            crate::maps::redirect::check(s)?;
            // dev_map_init_map: lookups return the device's ifindex, read-only to programs.
            s.map_flags |= BPF_F_RDONLY_PROG;
            Ok(())
        }
        MapType::Cpumap | MapType::Xskmap => crate::maps::redirect::check(s),
        MapType::CgroupStorage | MapType::PercpuCgroupStorage | MapType::SkStorage => {
            crate::maps::storage::check(s)
        }
        other => err(
            Errno::EOPNOTSUPP,
            format!("map type {} is not supported by bpfbox", other.name()),
        ),
    }
}

/// `array_map_alloc_check`.
fn check_array(s: &MapSpec) -> MapResult<()> {
    let percpu = s.map_type == MapType::PercpuArray;
    if s.max_entries == 0 {
        return einval("max_entries must be non-zero");
    }
    if s.key_size != 4 {
        return einval("array keys must be 4 bytes (u32 index)");
    }
    if s.value_size == 0 {
        return einval("value_size must be non-zero");
    }
    if s.map_flags & !ARRAY_CREATE_FLAG_MASK != 0 || !access_ok(s.map_flags) {
        return einval(format!("invalid array map flags {:#x}", s.map_flags));
    }
    if percpu && numa_node(s).is_some() {
        return einval("per-CPU arrays cannot be bound to a NUMA node");
    }
    if s.map_type != MapType::Array && s.map_flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP) != 0 {
        return einval("BPF_F_MMAPABLE and BPF_F_INNER_MAP are for plain arrays only");
    }
    if s.map_type != MapType::PerfEventArray && s.map_flags & BPF_F_PRESERVE_ELEMS != 0 {
        return einval("BPF_F_PRESERVE_ELEMS is for perf event arrays only");
    }
    if u64::from(s.value_size) > i32::MAX as u64 {
        return err(Errno::E2BIG, "value_size exceeds INT_MAX");
    }
    if percpu && round8(u64::from(s.value_size)) > PCPU_MIN_UNIT_SIZE {
        return err(Errno::E2BIG, "per-CPU value larger than PCPU_MIN_UNIT_SIZE");
    }
    Ok(())
}

/// `fd_array_map_alloc_check`: arrays whose values are handles (fds in the kernel).
fn check_fd_array(s: &MapSpec) -> MapResult<()> {
    if s.value_size != 4 {
        return einval(format!(
            "{} values are 4-byte handles, not {} bytes",
            s.map_type, s.value_size
        ));
    }
    if s.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != 0 {
        return einval("program access flags are not supported for fd arrays");
    }
    check_array(s)
}

/// `htab_map_alloc_check` plus the size checks of `htab_map_alloc`.
fn check_htab(s: &mut MapSpec, cfg: &MapConfig) -> MapResult<()> {
    let percpu = matches!(s.map_type, MapType::PercpuHash | MapType::LruPercpuHash);
    let lru = matches!(s.map_type, MapType::LruHash | MapType::LruPercpuHash);
    let percpu_lru = s.map_flags & BPF_F_NO_COMMON_LRU != 0;
    let prealloc = s.map_flags & BPF_F_NO_PREALLOC == 0;
    if s.map_flags & !HTAB_CREATE_FLAG_MASK != 0 || !access_ok(s.map_flags) {
        return einval(format!("invalid hash map flags {:#x}", s.map_flags));
    }
    if !lru && percpu_lru {
        return einval("BPF_F_NO_COMMON_LRU is for LRU maps only");
    }
    if lru && !prealloc {
        return err(Errno::ENOTSUPP, "LRU maps must be preallocated");
    }
    if numa_node(s).is_some() && (percpu || percpu_lru) {
        return einval("per-CPU maps cannot be bound to a NUMA node");
    }
    if s.max_entries == 0 || s.key_size == 0 || s.value_size == 0 {
        return einval("max_entries, key_size and value_size must be non-zero");
    }
    if u64::from(s.key_size) + u64::from(s.value_size) >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE {
        return err(Errno::E2BIG, "key_size + value_size too large");
    }
    if percpu && round8(u64::from(s.value_size)) > PCPU_MIN_UNIT_SIZE {
        return err(Errno::E2BIG, "per-CPU value larger than PCPU_MIN_UNIT_SIZE");
    }
    if percpu_lru {
        // htab_map_alloc: each CPU's LRU list gets the same number of elements.
        let n = u64::from(cfg.ncpus);
        let want = u64::from(s.max_entries);
        let up = want.div_ceil(n) * n;
        s.max_entries = if up > u64::from(u32::MAX) {
            (want / n * n) as u32
        } else {
            up as u32
        };
    }
    if u64::from(s.max_entries) > 1 << 31 {
        return err(Errno::E2BIG, "max_entries above 2^31");
    }
    Ok(())
}

/// `trie_alloc`.
fn check_lpm(s: &MapSpec) -> MapResult<()> {
    let val_max = KMALLOC_MAX_SIZE - u64::from(LPM_DATA_SIZE_MAX) - LPM_NODE_SIZE;
    if s.max_entries == 0
        || s.map_flags & BPF_F_NO_PREALLOC == 0
        || s.map_flags & !LPM_CREATE_FLAG_MASK != 0
        || !access_ok(s.map_flags)
        || s.key_size < 4 + 1
        || s.key_size > 4 + LPM_DATA_SIZE_MAX
        || s.value_size < 1
        || u64::from(s.value_size) > val_max
    {
        return einval(
            "LPM trie needs BPF_F_NO_PREALLOC, max_entries > 0, key_size in 5..=260 and value_size >= 1",
        );
    }
    Ok(())
}

/// `queue_stack_map_alloc_check`.
fn check_queue_stack(s: &MapSpec) -> MapResult<()> {
    if s.max_entries == 0
        || s.key_size != 0
        || s.value_size == 0
        || s.map_flags & !QUEUE_STACK_CREATE_FLAG_MASK != 0
        || !access_ok(s.map_flags)
    {
        return einval("queue/stack needs key_size 0, value_size > 0, max_entries > 0");
    }
    if u64::from(s.value_size) > KMALLOC_MAX_SIZE {
        return err(Errno::E2BIG, "value_size larger than KMALLOC_MAX_SIZE");
    }
    if s.max_entries >= u32::MAX / s.value_size {
        return err(Errno::E2BIG, "max_entries * value_size overflows");
    }
    Ok(())
}

/// `bloom_map_alloc_check` then `bloom_map_alloc`.
fn check_bloom(s: &MapSpec) -> MapResult<()> {
    if u64::from(s.value_size) > KMALLOC_MAX_SIZE {
        return err(Errno::E2BIG, "value_size larger than KMALLOC_MAX_SIZE");
    }
    if s.key_size != 0
        || s.value_size == 0
        || s.max_entries == 0
        || s.map_flags & !BLOOM_CREATE_FLAG_MASK != 0
        || !access_ok(s.map_flags)
        || s.map_extra & !0xf != 0
    {
        return einval(
            "bloom filter needs key_size 0, value_size > 0, max_entries > 0, map_extra <= 15",
        );
    }
    Ok(())
}

/// `ringbuf_map_alloc`.
fn check_ringbuf(s: &MapSpec) -> MapResult<()> {
    if s.map_flags & !RINGBUF_CREATE_FLAG_MASK != 0 {
        return einval(format!("invalid ring buffer flags {:#x}", s.map_flags));
    }
    if s.key_size != 0
        || s.value_size != 0
        || !s.max_entries.is_power_of_two()
        || s.max_entries & (PAGE_SIZE - 1) != 0
    {
        return einval(
            "ring buffer needs key_size 0, value_size 0, max_entries a power-of-2 multiple of 4096",
        );
    }
    Ok(())
}

/// `bpf_map_meta_alloc`: the inner template must exist, be valid, not itself be a
/// map-in-map, and be of a type that can be compared (not a program array).
fn check_inner(s: &MapSpec) -> MapResult<()> {
    let Some(inner) = s.inner.as_deref() else {
        return einval("map-in-map needs an inner map template");
    };
    if inner.map_type.is_map_in_map() {
        return einval("only one level of map-in-map is supported");
    }
    if inner.map_type == MapType::ProgArray {
        return err(Errno::ENOTSUPP, "program arrays cannot be inner maps");
    }
    Ok(())
}

/// `bpf_map_meta_equal` (and `array_map_meta_equal` for arrays): whether a map created from
/// `actual` may be stored in a map-in-map whose inner template is `template`.
pub(crate) fn meta_equal(template: &MapSpec, actual: &MapSpec) -> bool {
    let base = template.map_type == actual.map_type
        && template.key_size == actual.key_size
        && template.value_size == actual.value_size
        && template.map_flags == actual.map_flags
        && template.spin_lock_off == actual.spin_lock_off;
    if !base {
        return false;
    }
    if template.map_type == MapType::Array && template.map_flags & BPF_F_INNER_MAP == 0 {
        return template.max_entries == actual.max_entries;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &MapSpec) -> MapResult<MapSpec> {
        validate(s, &MapConfig { ncpus: 2 })
    }

    /// map_create() strips BPF_F_TOKEN_FD before the per-type flag checks.
    #[test]
    fn token_flag_is_ignored() {
        let s = MapSpec::new("a", MapType::Array, 4, 4, 1).with_flags(BPF_F_TOKEN_FD);
        assert_eq!(ok(&s).unwrap().map_flags, 0);
    }

    /// map_create(): a BTF key type without a value type is EINVAL; NUMA nodes other than 0
    /// are not online here.
    #[test]
    fn btf_and_numa() {
        let mut s = MapSpec::new("a", MapType::Hash, 4, 4, 1);
        s.btf_key_type_id = Some(3);
        assert_eq!(ok(&s).unwrap_err().errno, Errno::EINVAL);
        s.btf_value_type_id = Some(4);
        assert!(ok(&s).is_ok());
        let mut n = MapSpec::new("a", MapType::Hash, 4, 4, 1).with_flags(BPF_F_NUMA_NODE);
        n.numa_node = Some(1);
        assert_eq!(ok(&n).unwrap_err().errno, Errno::EINVAL);
        n.numa_node = Some(0);
        assert!(ok(&n).is_ok());
        // Per-CPU maps cannot be NUMA-bound.
        n.map_type = MapType::PercpuHash;
        assert_eq!(ok(&n).unwrap_err().errno, Errno::EINVAL);
    }

    /// array_map_meta_equal: max_entries must match unless BPF_F_INNER_MAP.
    #[test]
    fn meta_equal_rules() {
        let a = MapSpec::new("a", MapType::Array, 4, 4, 1);
        let b = MapSpec::new("b", MapType::Array, 4, 4, 2);
        assert!(!meta_equal(&a, &b));
        let a = a.with_flags(BPF_F_INNER_MAP);
        let b = b.with_flags(BPF_F_INNER_MAP);
        assert!(meta_equal(&a, &b));
        let h1 = MapSpec::new("h", MapType::Hash, 4, 4, 1);
        let h2 = MapSpec::new("h", MapType::Hash, 4, 4, 9);
        assert!(meta_equal(&h1, &h2));
        assert!(!meta_equal(&h1, &h2.clone().with_flags(BPF_F_NO_PREALLOC)));
    }

    /// queue_stack_map_alloc_check: max_entries * value_size must stay below U32_MAX.
    #[test]
    fn queue_size_overflow() {
        let s = MapSpec::new("q", MapType::Queue, 0, 1 << 16, 1 << 16);
        assert_eq!(ok(&s).unwrap_err().errno, Errno::E2BIG);
    }

    /// Spec round-trips through serde names.
    #[test]
    fn map_type_serde_names() {
        assert_eq!(
            MapType::from_name("percpu_array"),
            Some(MapType::PercpuArray)
        );
        assert_eq!(
            MapType::from_name("BPF_MAP_TYPE_PERCPU_ARRAY"),
            Some(MapType::PercpuArray)
        );
        assert_eq!(MapType::from_name("nope"), None);
        assert_eq!(MapType::Hash.to_string(), "hash");
    }
}
