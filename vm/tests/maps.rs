//! Map semantics and errno values, each test citing the kernel behaviour it checks
//! (Linux 6.12, kernel/bpf/*.c).

use bpfbox_vm::maps::*;
use bpfbox_vm::memory::RegionKind;

fn cfg(ncpus: u32) -> MapConfig {
    MapConfig { ncpus }
}

fn create(spec: MapSpec) -> MapRef {
    Map::create(&spec, &cfg(1)).expect("create")
}

fn errno<T: std::fmt::Debug>(r: MapResult<T>) -> Errno {
    r.expect_err("expected an error").errno
}

fn k32(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

fn k64(i: u64) -> [u8; 8] {
    i.to_ne_bytes()
}

// ---- creation -----------------------------------------------------------------------------

/// map_create()/array_map_alloc_check()/htab_map_alloc_check(): bad attributes are EINVAL,
/// oversize values E2BIG, unknown types EINVAL.
#[test]
fn create_validation_errnos() {
    let c = cfg(2);
    let bad = |s: MapSpec| Map::create(&s, &c).unwrap_err().errno;
    assert_eq!(
        bad(MapSpec::new("a", MapType::Array, 8, 4, 1)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Array, 4, 0, 1)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Array, 4, 4, 0)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Unspec, 4, 4, 1)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::PercpuArray, 4, 40000, 1)),
        Errno::E2BIG
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Array, 4, 4, 1).with_flags(BPF_F_NO_PREALLOC)),
        Errno::EINVAL
    );
    // MMAPABLE is for plain arrays only.
    assert_eq!(
        bad(MapSpec::new("a", MapType::PercpuArray, 4, 4, 1).with_flags(BPF_F_MMAPABLE)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Array, 4, 4, 1)
            .with_flags(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Array, 4, 4, 1).with_flags(BPF_F_RDONLY | BPF_F_WRONLY)),
        Errno::EINVAL
    );
    // map_extra is only for bloom filters (and arenas).
    assert_eq!(
        bad(MapSpec::new("a", MapType::Hash, 4, 4, 1).with_extra(3)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Hash, 0, 4, 1)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Hash, 4, 4, 1).with_flags(BPF_F_NO_COMMON_LRU)),
        Errno::EINVAL
    );
    // LRU maps must be preallocated: ENOTSUPP (524).
    assert_eq!(
        bad(MapSpec::new("a", MapType::LruHash, 4, 4, 1).with_flags(BPF_F_NO_PREALLOC)),
        Errno::ENOTSUPP
    );
    assert_eq!(
        bad(MapSpec::new("a", MapType::Hash, 4, 4, u32::MAX)),
        Errno::E2BIG
    );
    // bpf_obj_name_cpy: at most 15 bytes of [A-Za-z0-9_.].
    assert_eq!(
        bad(MapSpec::new("bad-name", MapType::Array, 4, 4, 1)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("sixteen_chars_xx", MapType::Array, 4, 4, 1)),
        Errno::EINVAL
    );
    assert!(Map::create(
        &MapSpec::new("fifteen_chars.x", MapType::Array, 4, 4, 1),
        &c
    )
    .is_ok());
    // fd arrays hold 4-byte handles.
    assert_eq!(
        bad(MapSpec::new("p", MapType::ProgArray, 4, 8, 1)),
        Errno::EINVAL
    );
    // Unimplemented kernel map types are reported, not silently accepted.
    assert_eq!(
        bad(MapSpec::new("s", MapType::Sockmap, 4, 4, 1)),
        Errno::EOPNOTSUPP
    );
}

/// MapType ids and names follow enum bpf_map_type and libbpf's map type names.
#[test]
fn map_type_ids_and_names() {
    assert_eq!(MapType::ALL.len(), 34);
    for (i, t) in MapType::ALL.iter().enumerate() {
        assert_eq!(t.id(), i as u32);
        assert_eq!(MapType::from_u32(i as u32), Some(*t));
        assert_eq!(MapType::from_name(t.name()), Some(*t));
        assert_eq!(MapType::from_name(t.kernel_name()), Some(*t));
    }
    assert_eq!(
        MapType::LruPercpuHash.kernel_name(),
        "BPF_MAP_TYPE_LRU_PERCPU_HASH"
    );
    assert_eq!(MapType::Ringbuf.id(), 27);
    assert_eq!(MapType::BloomFilter.name(), "bloom_filter");
    assert_eq!(MapType::Arena.id(), 33);
    assert_eq!(MapType::from_u32(34), None);
}

/// Maps are shared between threads.
#[test]
fn map_is_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Map>();
    assert_send_sync::<MapRef>();
}

// ---- array -------------------------------------------------------------------------------

/// arraymap.c: lookup past max_entries is NULL/ENOENT; update out of range is E2BIG;
/// BPF_NOEXIST is EEXIST (elements always exist); unknown flags EINVAL; delete EINVAL.
#[test]
fn array_semantics() {
    let m = create(MapSpec::new("arr", MapType::Array, 4, 8, 4));
    assert_eq!(m.lookup(&k32(0)).unwrap(), vec![0; 8]);
    m.update(&k32(1), &k64(42), BPF_ANY).unwrap();
    m.update(&k32(1), &k64(43), BPF_EXIST).unwrap();
    assert_eq!(m.lookup(&k32(1)).unwrap(), k64(43));
    assert_eq!(errno(m.lookup(&k32(4))), Errno::ENOENT);
    assert_eq!(errno(m.update(&k32(4), &k64(1), BPF_ANY)), Errno::E2BIG);
    assert_eq!(
        errno(m.update(&k32(0), &k64(1), BPF_NOEXIST)),
        Errno::EEXIST
    );
    assert_eq!(errno(m.update(&k32(0), &k64(1), 8)), Errno::EINVAL);
    // BPF_F_LOCK without a bpf_spin_lock in the value.
    assert_eq!(errno(m.update(&k32(0), &k64(1), BPF_F_LOCK)), Errno::EINVAL);
    assert_eq!(errno(m.delete(&k32(0))), Errno::EINVAL);
    assert!(m.lookup_ptr(&k32(4), 0).is_none());
    // Wrong sizes are typed errors, not panics.
    assert_eq!(errno(m.lookup(&[1, 2])), Errno::EINVAL);
    assert_eq!(errno(m.update(&k32(0), &[1], BPF_ANY)), Errno::EINVAL);
}

/// array_map_get_next_key: NULL or out-of-range key -> 0, last -> ENOENT, else index + 1.
#[test]
fn array_get_next_key() {
    let m = create(MapSpec::new("arr", MapType::Array, 4, 4, 3));
    assert_eq!(m.get_next_key(None).unwrap(), k32(0));
    assert_eq!(m.get_next_key(Some(&k32(0))).unwrap(), k32(1));
    assert_eq!(m.get_next_key(Some(&k32(99))).unwrap(), k32(0));
    assert_eq!(errno(m.get_next_key(Some(&k32(2)))), Errno::ENOENT);
    assert_eq!(
        m.keys(),
        vec![k32(0).to_vec(), k32(1).to_vec(), k32(2).to_vec()]
    );
}

/// Values are stable host memory: a program's pointer sees user updates and vice versa,
/// and lies inside the registered region.
#[test]
fn array_pointers_are_stable_and_in_region() {
    let m = create(MapSpec::new("arr", MapType::Array, 4, 4, 16));
    let p = m.lookup_ptr(&k32(3), 0).unwrap();
    let regions = m.regions();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0].kind(), RegionKind::MapValue);
    assert!(regions[0].writable());
    assert!(regions[0].contains(p as u64, 4));
    assert_eq!(p as usize % 8, 0);
    // SAFETY: p points to 4 bytes of the live map's value storage.
    unsafe { std::ptr::write_unaligned(p as *mut u32, 7) };
    assert_eq!(m.lookup(&k32(3)).unwrap(), k32(7));
    m.update(&k32(3), &k32(9), BPF_ANY).unwrap();
    assert_eq!(m.lookup_ptr(&k32(3), 0), Some(p));
    // SAFETY: as above.
    assert_eq!(unsafe { std::ptr::read_unaligned(p as *const u32) }, 9);
    // BPF_F_RDONLY_PROG maps register a read-only region.
    let ro = create(MapSpec::new("ro", MapType::Array, 4, 4, 1).with_flags(BPF_F_RDONLY_PROG));
    assert!(!ro.regions()[0].writable());
}

/// bpf_get_file_flag/map_get_sys_perms: BPF_F_RDONLY maps reject syscall writes and frozen
/// maps reject them too (EPERM); programs may still write.
#[test]
fn rdonly_and_frozen() {
    let m = create(MapSpec::new("ro", MapType::Array, 4, 4, 2).with_flags(BPF_F_RDONLY));
    assert_eq!(errno(m.update(&k32(0), &k32(1), BPF_ANY)), Errno::EPERM);
    m.update_elem(&k32(0), &k32(1), BPF_ANY, 0).unwrap();
    let w = create(MapSpec::new("wo", MapType::Array, 4, 4, 2).with_flags(BPF_F_WRONLY));
    assert_eq!(errno(w.lookup(&k32(0))), Errno::EPERM);
    let f = create(MapSpec::new("rodata", MapType::Array, 4, 4, 1));
    f.update(&k32(0), &k32(5), BPF_ANY).unwrap();
    f.freeze();
    assert_eq!(errno(f.update(&k32(0), &k32(6), BPF_ANY)), Errno::EPERM);
    assert_eq!(f.lookup(&k32(0)).unwrap(), k32(5));
}

/// Per-CPU arrays: programs see their CPU's copy; the syscall reads/writes all CPUs, each
/// value rounded up to 8 bytes (bpf_percpu_array_copy/update).
#[test]
fn percpu_array() {
    let m = Map::create(&MapSpec::new("pc", MapType::PercpuArray, 4, 4, 2), &cfg(3)).unwrap();
    assert_eq!(m.user_value_size(), 24);
    m.update_elem(&k32(1), &k32(11), BPF_ANY, 1).unwrap();
    m.update_elem(&k32(1), &k32(22), BPF_ANY, 2).unwrap();
    assert_eq!(
        m.lookup_percpu(&k32(1)).unwrap(),
        vec![k32(0).to_vec(), k32(11).to_vec(), k32(22).to_vec()]
    );
    let raw = m.lookup(&k32(1)).unwrap();
    assert_eq!(raw.len(), 24);
    assert_eq!(&raw[8..12], &k32(11));
    assert_eq!(&raw[12..16], &[0; 4]);
    let p0 = m.lookup_ptr(&k32(1), 0).unwrap();
    let p2 = m.lookup_ptr(&k32(1), 2).unwrap();
    assert_ne!(p0, p2);
    assert!(m.lookup_ptr(&k32(1), 3).is_none());
    // Syscall-side per-CPU update: BPF_NOEXIST -> EEXIST, BPF_F_LOCK -> EINVAL.
    let all = vec![k32(1).to_vec(), k32(2).to_vec(), k32(3).to_vec()];
    assert_eq!(
        errno(m.update_percpu(&k32(0), &all, BPF_NOEXIST)),
        Errno::EEXIST
    );
    assert_eq!(
        errno(m.update_percpu(&k32(0), &all, BPF_F_LOCK)),
        Errno::EINVAL
    );
    m.update_percpu(&k32(0), &all, BPF_ANY).unwrap();
    let v = PerCpuView::<u32, u32>::new(&m).unwrap();
    assert_eq!(v.get_all_cpus(&0), Some(vec![1, 2, 3]));
    assert_eq!(v.sum(&0), Some(6));
    assert_eq!(
        errno(m.update_percpu(&k32(0), &all[..2], BPF_ANY)),
        Errno::EINVAL
    );
}

// ---- hash --------------------------------------------------------------------------------

/// hashtab.c check_flags(): NOEXIST on existing -> EEXIST, EXIST on missing -> ENOENT;
/// full -> E2BIG; delete missing -> ENOENT; unknown flags -> EINVAL.
#[test]
fn hash_semantics() {
    let m = create(MapSpec::new("h", MapType::Hash, 4, 8, 2));
    assert_eq!(errno(m.lookup(&k32(1))), Errno::ENOENT);
    assert_eq!(errno(m.update(&k32(1), &k64(1), BPF_EXIST)), Errno::ENOENT);
    m.update(&k32(1), &k64(1), BPF_NOEXIST).unwrap();
    assert_eq!(
        errno(m.update(&k32(1), &k64(2), BPF_NOEXIST)),
        Errno::EEXIST
    );
    m.update(&k32(1), &k64(2), BPF_EXIST).unwrap();
    m.update(&k32(2), &k64(3), BPF_ANY).unwrap();
    assert_eq!(errno(m.update(&k32(3), &k64(4), BPF_ANY)), Errno::E2BIG);
    // Replacing an existing key in a full map still works.
    m.update(&k32(2), &k64(5), BPF_ANY).unwrap();
    assert_eq!(errno(m.update(&k32(2), &k64(5), 3)), Errno::EINVAL);
    assert_eq!(m.lookup(&k32(1)).unwrap(), k64(2));
    assert_eq!(m.len(), 2);
    m.delete(&k32(1)).unwrap();
    assert_eq!(errno(m.delete(&k32(1))), Errno::ENOENT);
    m.update(&k32(3), &k64(4), BPF_ANY).unwrap();
    assert_eq!(m.lookup_and_delete(&k32(3)).unwrap(), k64(4));
    assert_eq!(errno(m.lookup(&k32(3))), Errno::ENOENT);
    assert_eq!(errno(m.lookup(&[0; 3])), Errno::EINVAL);
}

/// htab_map_get_next_key: NULL or missing key -> first key; after the last -> ENOENT; the
/// walk visits every key once.
#[test]
fn hash_get_next_key_walk() {
    let m = create(MapSpec::new("h", MapType::Hash, 4, 4, 64));
    assert_eq!(errno(m.get_next_key(None)), Errno::ENOENT);
    for i in 0..40u32 {
        m.update(&k32(i), &k32(i * 10), BPF_ANY).unwrap();
    }
    let first = m.get_next_key(None).unwrap();
    assert_eq!(m.get_next_key(Some(&k32(1000))).unwrap(), first);
    let mut keys: Vec<u32> = m
        .keys()
        .iter()
        .map(|k| u32::from_ne_bytes(k[..].try_into().unwrap()))
        .collect();
    let last = *keys.last().unwrap();
    assert_eq!(errno(m.get_next_key(Some(&k32(last)))), Errno::ENOENT);
    keys.sort();
    assert_eq!(keys, (0..40).collect::<Vec<_>>());
    let view = HashMapView::<u32, u32>::new(&m).unwrap();
    assert!(view.iter().iter().all(|(k, v)| *v == k * 10));
}

/// Program-side pointers into hash values stay valid and see later updates; a deleted slot
/// is reused for new keys (preallocated elements).
#[test]
fn hash_lookup_ptr() {
    let m = create(MapSpec::new("h", MapType::Hash, 8, 4, 4));
    m.update_elem(&k64(5), &k32(1), BPF_ANY, 0).unwrap();
    let p = m.lookup_ptr(&k64(5), 0).unwrap();
    assert!(m.regions()[0].contains(p as u64, 4));
    // SAFETY: p points to a live 4-byte value.
    unsafe { std::ptr::write_unaligned(p as *mut u32, 77) };
    assert_eq!(m.lookup(&k64(5)).unwrap(), k32(77));
    assert!(m.lookup_ptr(&k64(6), 0).is_none());
    assert!(m.lookup_ptr(&[1, 2], 0).is_none());
}

/// Per-CPU hash: program updates write one CPU (new elements zero the others); the syscall
/// reads all CPUs; BPF_F_LOCK is rejected for per-CPU maps (flags > BPF_EXIST).
#[test]
fn percpu_hash() {
    let m = Map::create(&MapSpec::new("ph", MapType::PercpuHash, 4, 8, 4), &cfg(2)).unwrap();
    m.update_elem(&k32(1), &k64(5), BPF_ANY, 1).unwrap();
    assert_eq!(
        m.lookup_percpu(&k32(1)).unwrap(),
        vec![k64(0).to_vec(), k64(5).to_vec()]
    );
    m.update_elem(&k32(1), &k64(6), BPF_EXIST, 0).unwrap();
    assert_eq!(
        m.lookup_percpu(&k32(1)).unwrap(),
        vec![k64(6).to_vec(), k64(5).to_vec()]
    );
    assert_eq!(
        errno(m.update_elem(&k32(1), &k64(6), BPF_F_LOCK, 0)),
        Errno::EINVAL
    );
    let v = PerCpuView::<u32, u64>::new(&m).unwrap();
    v.set_all_cpus(&2, &[7, 8], BPF_NOEXIST).unwrap();
    assert_eq!(v.get(&2, 1), Some(8));
    assert_eq!(v.keys().len(), 2);
    assert!(HashMapView::<u32, u64>::new(&m).is_err());
}

/// BPF_F_LOCK with a bpf_spin_lock in the value: accepted, and updates never overwrite the
/// lock word (copy_map_value skips special fields).
#[test]
fn spin_lock_value() {
    let mut s = MapSpec::new("l", MapType::Hash, 4, 8, 2);
    s.spin_lock_off = Some(0);
    let m = create(s);
    m.update(&k32(1), &[0, 0, 0, 0, 1, 2, 3, 4], BPF_ANY)
        .unwrap();
    let p = m.lookup_ptr(&k32(1), 0).unwrap();
    // SAFETY: p points to the live 8-byte value; the first word is the lock.
    unsafe { std::ptr::write_unaligned(p as *mut u32, 1) };
    m.update(&k32(1), &[9, 9, 9, 9, 5, 6, 7, 8], BPF_F_LOCK)
        .unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { std::ptr::read_unaligned(p as *const u32) }, 1);
    assert_eq!(m.lookup(&k32(1)).unwrap(), vec![0, 0, 0, 0, 5, 6, 7, 8]);
}

// ---- LRU ---------------------------------------------------------------------------------

/// LRU hash: inserting into a full map evicts instead of E2BIG; a program lookup makes an
/// element recently used (bpf_lru_node_set_ref); a syscall lookup does not.
#[test]
fn lru_eviction() {
    let m = create(MapSpec::new("lru", MapType::LruHash, 4, 4, 3));
    for i in 0..3u32 {
        m.update(&k32(i), &k32(i), BPF_ANY).unwrap();
    }
    // Touch 0 from a program, 1 from user space: 1 stays least recently used.
    m.lookup_ptr(&k32(0), 0).unwrap();
    m.lookup(&k32(1)).unwrap();
    m.update(&k32(3), &k32(3), BPF_ANY).unwrap();
    assert_eq!(errno(m.lookup(&k32(1))), Errno::ENOENT);
    assert_eq!(m.len(), 3);
    // Next victim is 2 (inserted before 0 was touched, never used since).
    m.update(&k32(4), &k32(4), BPF_ANY).unwrap();
    assert_eq!(errno(m.lookup(&k32(2))), Errno::ENOENT);
    assert!(m.lookup(&k32(0)).is_ok());
    // LRU updates reject BPF_F_LOCK (map_flags > BPF_EXIST).
    assert_eq!(errno(m.update(&k32(0), &k32(0), BPF_F_LOCK)), Errno::EINVAL);
    assert_eq!(errno(m.update(&k32(9), &k32(0), BPF_EXIST)), Errno::ENOENT);
}

/// LRU per-CPU hash with BPF_F_NO_COMMON_LRU: max_entries rounded up to a multiple of the
/// CPU count (htab_map_alloc).
#[test]
fn lru_percpu_rounding() {
    let s = MapSpec::new("l", MapType::LruPercpuHash, 4, 4, 5).with_flags(BPF_F_NO_COMMON_LRU);
    let m = Map::create(&s, &cfg(4)).unwrap();
    assert_eq!(m.max_entries(), 8);
    m.update_elem(&k32(1), &k32(3), BPF_ANY, 2).unwrap();
    assert_eq!(m.lookup_percpu(&k32(1)).unwrap()[2], k32(3).to_vec());
}

// ---- LPM trie ----------------------------------------------------------------------------

fn ip(a: u8, b: u8, c: u8, d: u8) -> [u8; 4] {
    [a, b, c, d]
}

/// lpm_trie.c: longest-prefix lookup, exact update/delete, ENOENT for missing prefixes,
/// EINVAL for prefixlen > max, ENOSPC when full, BPF_F_NO_PREALLOC required.
#[test]
fn lpm_semantics() {
    assert_eq!(
        Map::create(&MapSpec::new("t", MapType::LpmTrie, 8, 4, 8), &cfg(1))
            .unwrap_err()
            .errno,
        Errno::EINVAL
    );
    let m = create(MapSpec::new("t", MapType::LpmTrie, 8, 4, 3).with_flags(BPF_F_NO_PREALLOC));
    m.update(&lpm_key(8, &ip(10, 0, 0, 0)), &k32(8), BPF_ANY)
        .unwrap();
    m.update(&lpm_key(24, &ip(10, 1, 2, 0)), &k32(24), BPF_ANY)
        .unwrap();
    assert_eq!(m.lookup(&lpm_key(32, &ip(10, 1, 2, 3))).unwrap(), k32(24));
    assert_eq!(m.lookup(&lpm_key(32, &ip(10, 9, 2, 3))).unwrap(), k32(8));
    assert_eq!(
        errno(m.lookup(&lpm_key(32, &ip(11, 1, 2, 3)))),
        Errno::ENOENT
    );
    // Shorter lookup prefix than the stored /24: only the /8 matches.
    assert_eq!(m.lookup(&lpm_key(16, &ip(10, 1, 2, 3))).unwrap(), k32(8));
    assert_eq!(
        errno(m.lookup(&lpm_key(33, &ip(10, 1, 2, 3)))),
        Errno::ENOENT
    );
    assert_eq!(
        errno(m.update(&lpm_key(33, &ip(1, 1, 1, 1)), &k32(0), BPF_ANY)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(m.update(&lpm_key(8, &ip(10, 0, 0, 0)), &k32(0), BPF_NOEXIST)),
        Errno::EEXIST
    );
    assert_eq!(
        errno(m.update(&lpm_key(16, &ip(10, 0, 0, 0)), &k32(0), BPF_EXIST)),
        Errno::ENOENT
    );
    m.update(&lpm_key(16, &ip(10, 1, 0, 0)), &k32(16), BPF_ANY)
        .unwrap();
    assert_eq!(
        errno(m.update(&lpm_key(16, &ip(10, 2, 0, 0)), &k32(0), BPF_ANY)),
        Errno::ENOSPC
    );
    // Delete is exact: /20 was never inserted.
    assert_eq!(
        errno(m.delete(&lpm_key(20, &ip(10, 1, 0, 0)))),
        Errno::ENOENT
    );
    m.delete(&lpm_key(24, &ip(10, 1, 2, 0))).unwrap();
    assert_eq!(m.lookup(&lpm_key(32, &ip(10, 1, 2, 3))).unwrap(), k32(16));
    assert_eq!(
        errno(m.delete(&lpm_key(24, &ip(10, 1, 2, 0)))),
        Errno::ENOENT
    );
    assert_eq!(
        errno(m.delete(&lpm_key(40, &ip(10, 1, 2, 0)))),
        Errno::EINVAL
    );
    let p = m.lookup_ptr(&lpm_key(32, &ip(10, 1, 9, 9)), 0).unwrap();
    assert!(m.regions()[0].contains(p as u64, 4));
}

/// trie_get_next_key: post-order, more specific prefixes first; the example from the top of
/// lpm_trie.c (192.168.0.0/24, 192.168.1.0/24, 192.168.128.0/24, then 192.168.0.0/16).
#[test]
fn lpm_get_next_key_postorder() {
    let m = create(MapSpec::new("t", MapType::LpmTrie, 8, 4, 16).with_flags(BPF_F_NO_PREALLOC));
    for (len, a) in [
        (16, ip(192, 168, 0, 0)),
        (24, ip(192, 168, 0, 0)),
        (24, ip(192, 168, 128, 0)),
        (24, ip(192, 168, 1, 0)),
    ] {
        m.update(&lpm_key(len, &a), &k32(len), BPF_ANY).unwrap();
    }
    let expect = vec![
        lpm_key(24, &ip(192, 168, 0, 0)),
        lpm_key(24, &ip(192, 168, 1, 0)),
        lpm_key(24, &ip(192, 168, 128, 0)),
        lpm_key(16, &ip(192, 168, 0, 0)),
    ];
    assert_eq!(m.keys(), expect);
    // Unknown key -> leftmost.
    assert_eq!(
        m.get_next_key(Some(&lpm_key(8, &ip(1, 0, 0, 0)))).unwrap(),
        expect[0]
    );
    assert_eq!(errno(m.get_next_key(Some(&expect[3]))), Errno::ENOENT);
    // Deleting a node with two children keeps it as an intermediate node.
    m.delete(&lpm_key(16, &ip(192, 168, 0, 0))).unwrap();
    assert_eq!(m.keys(), expect[..3].to_vec());
    assert_eq!(
        errno(m.lookup(&lpm_key(32, &ip(192, 168, 7, 1)))),
        Errno::ENOENT
    );
}

// ---- ring buffer -------------------------------------------------------------------------

/// ringbuf_map_alloc: key/value size 0, max_entries a power-of-2 page multiple.
#[test]
fn ringbuf_create_checks() {
    let c = cfg(1);
    for s in [
        MapSpec::new("r", MapType::Ringbuf, 0, 0, 4096 * 3),
        MapSpec::new("r", MapType::Ringbuf, 0, 0, 2048),
        MapSpec::new("r", MapType::Ringbuf, 4, 0, 4096),
        MapSpec::new("r", MapType::Ringbuf, 0, 0, 4096).with_flags(BPF_F_RDONLY_PROG),
    ] {
        assert_eq!(Map::create(&s, &c).unwrap_err().errno, Errno::EINVAL);
    }
}

/// Ring buffer reserve/submit/discard/output/query with the kernel's record layout: 8-byte
/// header (len with BUSY/DISCARD bits), 8-byte aligned records, positions as byte counters.
#[test]
fn ringbuf_records() {
    let m = create(MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096));
    assert_eq!(m.query(BPF_RB_RING_SIZE), 4096);
    assert!(m.reserve(4, 1).is_none(), "reserve flags must be 0");
    let a = m.reserve(5, 0).unwrap();
    // SAFETY: a points to 5 reserved bytes; its header is the 8 bytes before it.
    let hdr = unsafe { std::ptr::read_unaligned(a.sub(8) as *const u32) };
    assert_eq!(hdr, 5 | BPF_RINGBUF_BUSY_BIT);
    // The program reaches the record only, never the header before it nor the ring.
    assert!(m.regions().is_empty());
    let rec = m.ringbuf_record_region(a, 5).unwrap();
    assert!(rec.contains(a as u64, 5) && !rec.contains(a as u64 - 8, 1));
    assert_eq!(rec.kind(), RegionKind::RingBuf);
    // SAFETY: a points to 5 reserved bytes.
    unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), a, 5) };
    let b = m.reserve(3, 0).unwrap();
    assert_eq!(
        b as usize - a as usize,
        16,
        "records are 8-byte aligned with a header"
    );
    assert_eq!(m.query(BPF_RB_PROD_POS), 16 + 16);
    // The consumer stops at a busy record.
    let mut r = RingBufReader::new(&m).unwrap();
    assert!(r.next().is_none());
    m.submit(a, 0).unwrap();
    m.discard(b, BPF_RB_NO_WAKEUP).unwrap();
    assert_eq!(errno(m.submit(a, 0)), Errno::EINVAL);
    m.output(b"xyz", BPF_RB_FORCE_WAKEUP).unwrap();
    assert_eq!(errno(m.output(b"x", 4)), Errno::EINVAL);
    assert_eq!(m.query(BPF_RB_AVAIL_DATA), 48);
    assert_eq!(
        m.dump().contents,
        MapContents::RingBuf {
            ring_size: 4096,
            consumer_pos: 0,
            producer_pos: 48,
            records: vec![b"hello".to_vec(), b"xyz".to_vec()],
        }
    );
    assert_eq!(r.drain(), vec![b"hello".to_vec(), b"xyz".to_vec()]);
    assert_eq!(m.query(BPF_RB_CONS_POS), 48);
    assert_eq!(m.query(BPF_RB_AVAIL_DATA), 0);
    assert_eq!(m.query(99), 0);
    // Syscall element ops on ring buffers are ENOTSUPP.
    assert_eq!(errno(m.lookup(&[])), Errno::ENOTSUPP);
    assert_eq!(errno(m.get_next_key(None)), Errno::ENOTSUPP);
}

/// __bpf_ringbuf_reserve: a record may use at most size - 8 bytes of unconsumed space
/// (new_prod_pos - cons_pos > mask fails); output then returns EAGAIN; records wrap around
/// the end and read back contiguously.
#[test]
fn ringbuf_full_and_wrap() {
    let m = create(MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096));
    assert!(m.reserve(4096, 0).is_none());
    assert!(m.reserve(4096 - 16, 0).is_some()); // 4088-byte record: fits exactly
    assert!(m.reserve(0, 0).is_none());
    let m = create(MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096));
    let big = vec![7u8; 3000];
    m.output(&big, 0).unwrap();
    assert_eq!(errno(m.output(&big, 0)), Errno::EAGAIN);
    assert_eq!(m.ringbuf_consume().unwrap(), big);
    // Now the producer is at 3008; a 2000-byte record wraps past 4096.
    let data: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    m.output(&data, 0).unwrap();
    assert_eq!(m.ringbuf_consume().unwrap(), data);
    assert_eq!(m.query(BPF_RB_CONS_POS), m.query(BPF_RB_PROD_POS));
}

/// bpf_ringbuf_commit: wake the consumer if forced, or if the consumer is at this record
/// and BPF_RB_NO_WAKEUP is not given.
#[test]
fn ringbuf_wakeups() {
    let m = create(MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096));
    m.output(b"a", 0).unwrap(); // consumer at this record: wakeup
    m.output(b"b", 0).unwrap(); // consumer behind: no wakeup
    m.output(b"c", BPF_RB_FORCE_WAKEUP).unwrap();
    m.output(b"d", BPF_RB_NO_WAKEUP).unwrap();
    assert_eq!(m.ringbuf_wakeups(), 2);
}

// ---- perf event array --------------------------------------------------------------------

/// __bpf_perf_event_output: BPF_F_CURRENT_CPU picks the CPU; index >= max_entries -> E2BIG;
/// no event -> ENOENT; event on another CPU -> EOPNOTSUPP; extra flag bits -> EINVAL.
#[test]
fn perf_event_output() {
    let m = Map::create(
        &MapSpec::new("ev", MapType::PerfEventArray, 4, 4, 2),
        &cfg(2),
    )
    .unwrap();
    assert_eq!(
        errno(m.perf_event_output(0, BPF_F_CURRENT_CPU, b"x")),
        Errno::ENOENT
    );
    let reader = PerfReader::new(&m, true).unwrap();
    m.perf_event_output(1, BPF_F_CURRENT_CPU, b"abcd").unwrap();
    m.perf_event_output(0, 0, b"12345").unwrap();
    assert_eq!(errno(m.perf_event_output(0, 1, b"x")), Errno::EOPNOTSUPP);
    assert_eq!(errno(m.perf_event_output(0, 2, b"x")), Errno::E2BIG);
    assert_eq!(errno(m.perf_event_output(0, 1 << 32, b"x")), Errno::EINVAL);
    // Raw samples are padded so that size + 4 is 8-aligned.
    assert_eq!(reader.read(1), vec![b"abcd".to_vec()]);
    assert_eq!(reader.read(0), vec![b"12345\0\0\0\0\0\0\0".to_vec()]);
    assert!(reader.read(0).is_empty());
    // Syscall lookup of perf event arrays is ENOTSUPP; updates take BPF_ANY only.
    assert_eq!(errno(m.lookup(&k32(0))), Errno::ENOTSUPP);
    assert_eq!(
        errno(m.update(&k32(0), &k32(0), BPF_NOEXIST)),
        Errno::EINVAL
    );
    assert_eq!(errno(m.update(&k32(5), &k32(0), BPF_ANY)), Errno::E2BIG);
    m.delete(&k32(0)).unwrap();
    assert_eq!(errno(m.delete(&k32(0))), Errno::ENOENT);
    m.perf_open(0, PERF_ANY_CPU).unwrap();
    m.perf_event_output(1, 0, b"any").unwrap();
}

// ---- program array -----------------------------------------------------------------------

/// bpf_fd_array_map_update_elem / fd_array delete: flags must be BPF_ANY (EINVAL), index
/// out of range E2BIG, empty slot ENOENT; syscall lookup returns the program id.
#[test]
fn prog_array() {
    let m = create(MapSpec::new("jt", MapType::ProgArray, 4, 4, 4));
    assert_eq!(m.tail_call_target(0), None);
    m.update(&k32(1), &k32(77), BPF_ANY).unwrap();
    assert_eq!(m.tail_call_target(1), Some(77));
    assert_eq!(m.lookup(&k32(1)).unwrap(), k32(77));
    assert_eq!(errno(m.lookup(&k32(0))), Errno::ENOENT);
    assert_eq!(errno(m.update(&k32(1), &k32(1), BPF_EXIST)), Errno::EINVAL);
    assert_eq!(errno(m.update(&k32(4), &k32(1), BPF_ANY)), Errno::E2BIG);
    assert_eq!(errno(m.delete(&k32(4))), Errno::E2BIG);
    assert_eq!(errno(m.delete(&k32(2))), Errno::ENOENT);
    assert!(m.lookup_ptr(&k32(1), 0).is_none());
    assert_eq!(
        errno(m.update_elem(&k32(1), &k32(1), BPF_ANY, 0)),
        Errno::EINVAL
    );
    assert_eq!(m.iter(), vec![(k32(1).to_vec(), k32(77).to_vec())]);
    m.delete(&k32(1)).unwrap();
    assert_eq!(m.tail_call_target(1), None);
}

// ---- queue / stack -----------------------------------------------------------------------

/// queue_stack_maps.c: FIFO/LIFO order; full -> E2BIG unless BPF_EXIST, which overwrites
/// the oldest; empty -> ENOENT with the output zeroed; BPF_NOEXIST -> EINVAL; lookup/update/
/// delete by key are EINVAL/peek/push.
#[test]
fn queue_and_stack() {
    assert_eq!(
        Map::create(&MapSpec::new("q", MapType::Queue, 4, 4, 2), &cfg(1))
            .unwrap_err()
            .errno,
        Errno::EINVAL
    );
    let q = create(MapSpec::new("q", MapType::Queue, 0, 4, 2));
    let s = create(MapSpec::new("s", MapType::Stack, 0, 4, 2));
    for m in [&q, &s] {
        let mut out = [0xffu8; 4];
        assert_eq!(errno(m.pop_elem(&mut out)), Errno::ENOENT);
        assert_eq!(out, [0; 4]);
        m.push_elem(&k32(1), BPF_ANY).unwrap();
        m.push_elem(&k32(2), BPF_ANY).unwrap();
        assert_eq!(errno(m.push_elem(&k32(3), BPF_ANY)), Errno::E2BIG);
        assert_eq!(errno(m.push_elem(&k32(3), BPF_NOEXIST)), Errno::EINVAL);
        m.push_elem(&k32(3), BPF_EXIST).unwrap(); // drops 1, the oldest
        assert_eq!(errno(m.delete(&[])), Errno::EINVAL);
        assert_eq!(errno(m.get_next_key(None)), Errno::EINVAL);
        assert!(m.lookup_ptr(&[], 0).is_none());
    }
    let qv = QueueView::<u32>::new(&q).unwrap();
    assert_eq!(qv.peek().unwrap(), 2);
    assert_eq!(qv.drain(), vec![2, 3]);
    let sv = QueueView::<u32>::new(&s).unwrap();
    assert_eq!(
        s.dump().contents,
        MapContents::Values(vec![k32(3).to_vec(), k32(2).to_vec()])
    );
    assert_eq!(sv.pop().unwrap(), 3);
    let mut out = [0u8; 4];
    s.peek_elem(&mut out).unwrap();
    assert_eq!(out, k32(2));
    // Syscall update/lookup on a queue are push/peek.
    q.update(&[], &k32(9), BPF_ANY).unwrap();
    assert_eq!(q.lookup(&[]).unwrap(), k32(9));
    assert_eq!(errno(q.pop_elem(&mut [0u8; 3])), Errno::EINVAL);
}

// ---- bloom filter ------------------------------------------------------------------------

/// bloom_filter.c: key_size 0, map_extra <= 15 (nr_hash_funcs, default 5); push needs
/// BPF_ANY; peek returns 0 when maybe present, ENOENT when absent; pop/delete EOPNOTSUPP.
#[test]
fn bloom_filter() {
    let c = cfg(1);
    let bad = |s: MapSpec| Map::create(&s, &c).unwrap_err().errno;
    assert_eq!(
        bad(MapSpec::new("b", MapType::BloomFilter, 4, 4, 8)),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec::new("b", MapType::BloomFilter, 0, 4, 8).with_extra(16)),
        Errno::EINVAL
    );
    let m = create(MapSpec::new("b", MapType::BloomFilter, 0, 4, 100).with_extra(3));
    let mut v = k32(42);
    assert_eq!(errno(m.peek_elem(&mut v)), Errno::ENOENT);
    m.push_elem(&k32(42), BPF_ANY).unwrap();
    m.peek_elem(&mut v).unwrap();
    assert!(m.bloom_contains(&k32(42)).unwrap());
    assert_eq!(errno(m.push_elem(&k32(1), BPF_EXIST)), Errno::EINVAL);
    assert_eq!(errno(m.pop_elem(&mut v)), Errno::EOPNOTSUPP);
    assert_eq!(errno(m.delete(&[])), Errno::EOPNOTSUPP);
    // No false negatives; deterministic false positives.
    for i in 0..100u32 {
        m.push(&k32(i * 7), BPF_ANY).unwrap();
    }
    assert!((0..100u32).all(|i| m.bloom_contains(&k32(i * 7)).unwrap()));
    match m.dump().contents {
        MapContents::Bloom {
            nr_hash_funcs,
            nr_bits,
            ..
        } => {
            assert_eq!(nr_hash_funcs, 3);
            // roundup_pow_of_two(100 * 3 / 5 * 7) = 512
            assert_eq!(nr_bits, 512);
        }
        other => panic!("unexpected {other:?}"),
    }
    let d = create(MapSpec::new("b", MapType::BloomFilter, 0, 4, 1));
    assert!(matches!(
        d.dump().contents,
        MapContents::Bloom {
            nr_hash_funcs: 5,
            nr_bits: 64,
            ..
        }
    ));
}

// ---- map in map --------------------------------------------------------------------------

/// map_in_map.c: inner maps must match the template (type, key/value size, flags, and
/// max_entries for arrays without BPF_F_INNER_MAP), else EINVAL; the syscall reads back the
/// inner map id; programs get the inner map.
#[test]
fn array_of_maps() {
    let inner_spec = MapSpec::new("inner", MapType::Array, 4, 8, 4);
    assert_eq!(
        Map::create(&MapSpec::new("o", MapType::ArrayOfMaps, 4, 4, 2), &cfg(1))
            .unwrap_err()
            .errno,
        Errno::EINVAL
    );
    let outer =
        create(MapSpec::new("o", MapType::ArrayOfMaps, 4, 4, 2).with_inner(inner_spec.clone()));
    let inner = create(inner_spec.clone());
    let other = create(MapSpec::new("inner", MapType::Array, 4, 8, 5));
    assert_eq!(
        errno(outer.update_inner(&k32(0), &other, BPF_ANY)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(outer.update_inner(&k32(0), &inner, BPF_NOEXIST)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(outer.update_inner(&k32(2), &inner, BPF_ANY)),
        Errno::E2BIG
    );
    outer.update_inner(&k32(0), &inner, BPF_ANY).unwrap();
    assert_eq!(outer.lookup(&k32(0)).unwrap(), inner.id().to_ne_bytes());
    assert_eq!(errno(outer.lookup(&k32(1))), Errno::ENOENT);
    let got = outer.inner_map(&k32(0)).unwrap();
    assert_eq!(got.id(), inner.id());
    assert_eq!(
        outer.lookup_ptr(&k32(0), 0).unwrap() as u64,
        Map::handle_addr(&inner)
    );
    // Byte-level update takes an inner map id (the kernel takes an fd).
    outer
        .update(&k32(1), &inner.id().to_ne_bytes(), BPF_ANY)
        .unwrap();
    assert_eq!(
        errno(outer.update(&k32(1), &u32::MAX.to_ne_bytes(), BPF_ANY)),
        Errno::EINVAL
    );
    outer.delete(&k32(1)).unwrap();
    assert_eq!(errno(outer.delete(&k32(1))), Errno::ENOENT);
    // BPF_F_INNER_MAP allows inner arrays of any size.
    let dyn_spec = MapSpec::new("inner", MapType::Array, 4, 8, 4).with_flags(BPF_F_INNER_MAP);
    let o2 = create(MapSpec::new("o2", MapType::ArrayOfMaps, 4, 4, 1).with_inner(dyn_spec));
    let big = create(MapSpec::new("big", MapType::Array, 4, 8, 100).with_flags(BPF_F_INNER_MAP));
    o2.update_inner(&k32(0), &big, BPF_ANY).unwrap();
    // Only one level of nesting; program arrays cannot be inner maps.
    let nested = MapSpec::new("o3", MapType::ArrayOfMaps, 4, 4, 1)
        .with_inner(MapSpec::new("o", MapType::ArrayOfMaps, 4, 4, 2).with_inner(inner_spec));
    assert_eq!(
        Map::create(&nested, &cfg(1)).unwrap_err().errno,
        Errno::EINVAL
    );
}

/// Hash of maps: hash semantics (NOEXIST/EXIST/E2BIG/ENOENT) with map values.
#[test]
fn hash_of_maps() {
    let inner_spec = MapSpec::new("inner", MapType::Hash, 4, 4, 8);
    let outer =
        create(MapSpec::new("ho", MapType::HashOfMaps, 8, 4, 1).with_inner(inner_spec.clone()));
    let a = create(inner_spec.clone());
    let b = create(inner_spec);
    assert_eq!(
        errno(outer.update_inner(&k64(1), &a, BPF_EXIST)),
        Errno::ENOENT
    );
    outer.update_inner(&k64(1), &a, BPF_ANY).unwrap();
    assert_eq!(
        errno(outer.update_inner(&k64(1), &b, BPF_NOEXIST)),
        Errno::EEXIST
    );
    assert_eq!(
        errno(outer.update_inner(&k64(2), &b, BPF_ANY)),
        Errno::E2BIG
    );
    outer.update_inner(&k64(1), &b, BPF_EXIST).unwrap();
    assert_eq!(outer.inner_map(&k64(1)).unwrap().id(), b.id());
    // The inner map is shared: a program writing through the outer lookup is visible.
    let inner = outer.inner_map(&k64(1)).unwrap();
    inner.update_elem(&k32(5), &k32(6), BPF_ANY, 0).unwrap();
    assert_eq!(b.lookup(&k32(5)).unwrap(), k32(6));
    assert_eq!(outer.keys(), vec![k64(1).to_vec()]);
    outer.delete(&k64(1)).unwrap();
    assert!(outer.inner_map(&k64(1)).is_none());
}

// ---- views and dumps ---------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Stats {
    packets: u64,
    bytes: u64,
}

/// Typed views check sizes and round-trip Pod values.
#[test]
fn typed_views() {
    let m = create(MapSpec::new("stats", MapType::Hash, 4, 16, 8));
    let v = HashMapView::<u32, Stats>::new(&m).unwrap();
    v.insert(
        &3,
        &Stats {
            packets: 1,
            bytes: 64,
        },
        BPF_ANY,
    )
    .unwrap();
    assert_eq!(
        v.get(&3),
        Some(Stats {
            packets: 1,
            bytes: 64
        })
    );
    assert_eq!(v.keys(), vec![3]);
    v.remove(&3).unwrap();
    assert_eq!(v.get(&3), None);
    assert_eq!(
        HashMapView::<u64, Stats>::new(&m).unwrap_err().errno,
        Errno::EINVAL
    );
    let a = create(MapSpec::new("arr", MapType::Array, 4, 16, 2));
    let av = ArrayView::<Stats>::new(&a).unwrap();
    av.set(
        1,
        &Stats {
            packets: 2,
            bytes: 3,
        },
    )
    .unwrap();
    assert_eq!(
        av.iter()[1],
        Stats {
            packets: 2,
            bytes: 3
        }
    );
    assert_eq!(
        av.set(
            2,
            &Stats {
                packets: 0,
                bytes: 0
            }
        )
        .unwrap_err()
        .errno,
        Errno::E2BIG
    );
    assert!(ArrayView::<Stats>::new(&m).is_err());
    assert!(RingBufReader::new(&m).is_err());
}

/// Dumps list entries in get_next_key order with the map's metadata.
#[test]
fn dump_shape() {
    let m = create(MapSpec::new("h", MapType::Hash, 4, 4, 4));
    m.update(&k32(1), &k32(10), BPF_ANY).unwrap();
    let d = m.dump();
    assert_eq!(d.name, "h");
    assert_eq!(d.map_type, MapType::Hash);
    assert_eq!(
        d.contents,
        MapContents::Entries(vec![MapEntry {
            key: k32(1).to_vec(),
            value: MapValue::Bytes(k32(10).to_vec())
        }])
    );
    let p = Map::create(&MapSpec::new("pa", MapType::PercpuArray, 4, 4, 1), &cfg(2)).unwrap();
    assert_eq!(
        p.dump().contents,
        MapContents::Entries(vec![MapEntry {
            key: k32(0).to_vec(),
            value: MapValue::PerCpu(vec![vec![0; 4], vec![0; 4]])
        }])
    );
}

/// Map ids resolve while the map lives and stop resolving after it is dropped.
#[test]
fn ids_and_registry() {
    let m = create(MapSpec::new("x", MapType::Array, 4, 4, 1));
    let id = m.id();
    assert_eq!(Map::from_id(id).unwrap().id(), id);
    drop(m);
    assert!(Map::from_id(id).is_none());
}
