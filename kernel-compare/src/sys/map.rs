//! Maps: `BPF_MAP_CREATE` and the element commands.

use super::*;

// ---- MAP_CREATE ------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; BPF_OBJ_NAME_LEN],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
    value_type_btf_obj_fd: i32,
    map_token_fd: i32,
}

/// The attributes of `BPF_MAP_CREATE`.
#[derive(Debug, Clone, Default)]
pub struct MapCreate {
    /// `enum bpf_map_type` id.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum entries.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub map_flags: u32,
    /// Inner map template descriptor (map-in-map types).
    pub inner_map_fd: Option<RawFd>,
    /// NUMA node (used with `BPF_F_NUMA_NODE`).
    pub numa_node: u32,
    /// Name (cut to 15 bytes).
    pub name: String,
    /// BTF the key and value type ids refer to.
    pub btf_fd: Option<RawFd>,
    /// BTF type id of the key.
    pub btf_key_type_id: u32,
    /// BTF type id of the value.
    pub btf_value_type_id: u32,
    /// Type-specific extra (bloom filter hash count, arena address).
    pub map_extra: u64,
}

impl From<&MapSpec> for MapCreate {
    /// The spec's attributes, without BTF type ids (set them with a BTF descriptor).
    fn from(s: &MapSpec) -> Self {
        MapCreate {
            map_type: s.map_type.id(),
            key_size: s.key_size,
            value_size: s.value_size,
            max_entries: s.max_entries,
            map_flags: s.map_flags,
            inner_map_fd: None,
            numa_node: s.numa_node.unwrap_or(0),
            name: s.name.clone(),
            btf_fd: None,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            map_extra: s.map_extra,
        }
    }
}

/// `BPF_MAP_CREATE`.
pub fn map_create(m: &MapCreate) -> SysResult<Fd> {
    let mut a = MapCreateAttr::zeroed();
    a.map_type = m.map_type;
    a.key_size = m.key_size;
    a.value_size = m.value_size;
    a.max_entries = m.max_entries;
    a.map_flags = m.map_flags;
    a.inner_map_fd = m.inner_map_fd.unwrap_or(0) as u32;
    a.numa_node = m.numa_node;
    a.map_name = obj_name(&m.name);
    if let Some(btf) = m.btf_fd {
        a.btf_fd = btf as u32;
        a.btf_key_type_id = m.btf_key_type_id;
        a.btf_value_type_id = m.btf_value_type_id;
    }
    a.map_extra = m.map_extra;
    bpf_fd(cmd::MAP_CREATE, "BPF_MAP_CREATE", &mut a)
}

// ---- MAP_*_ELEM ------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

pub(super) fn elem_attr(fd: &Fd, key: u64, value: u64, flags: u64) -> MapElemAttr {
    MapElemAttr {
        map_fd: fd.raw() as u32,
        _pad: 0,
        key,
        value,
        flags,
    }
}

/// The sizes of one element as user space exchanges it with the kernel, from the map's own
/// info: the kernel reads `key` bytes from every key pointer and reads or writes `value`
/// bytes at every value pointer (`round_up(value_size, 8)` per possible CPU for per-CPU
/// maps), whatever the caller meant, so every buffer handed over is sized from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemSizes {
    /// Key bytes.
    pub key: usize,
    /// Value bytes.
    pub value: usize,
}

/// `BPF_MAP_TYPE_PERCPU_HASH`, `_PERCPU_ARRAY`, `_LRU_PERCPU_HASH`,
/// `_PERCPU_CGROUP_STORAGE`: values with one copy per possible CPU.
pub(super) const PERCPU_MAP_TYPES: [u32; 4] = [5, 6, 10, 21];

/// [`ElemSizes`] of the map behind `fd` (`BPF_OBJ_GET_INFO_BY_FD`). A per-CPU map whose
/// CPU count cannot be read is an error, never a guess.
pub fn elem_sizes(fd: &Fd) -> SysResult<ElemSizes> {
    let info = map_info(fd)?;
    let mut value = info.value_size as usize;
    if PERCPU_MAP_TYPES.contains(&info.map_type) {
        let ncpus = crate::probe::possible_cpus().ok_or(SysError {
            op: "reading /sys/devices/system/cpu/possible",
            errno: libc::ENOENT,
        })?;
        value = value.div_ceil(8) * 8 * ncpus as usize;
    }
    Ok(ElemSizes {
        key: info.key_size as usize,
        value,
    })
}

/// `EINVAL` unless `buf` holds at least `need` bytes (the kernel would read past it).
pub(super) fn long_enough(op: &'static str, buf: &[u8], need: usize) -> SysResult<()> {
    if buf.len() < need {
        return Err(SysError {
            op,
            errno: libc::EINVAL,
        });
    }
    Ok(())
}

/// `BPF_MAP_LOOKUP_ELEM`: the value (per-CPU maps: every possible CPU's copy, each rounded
/// up to 8 bytes), `Ok(None)` when the key is absent. An empty key looks up keyless maps
/// (queue/stack peek).
pub fn map_lookup(fd: &Fd, key: &[u8]) -> SysResult<Option<Vec<u8>>> {
    map_lookup_flags(fd, key, 0)
}

/// [`map_lookup`] with lookup flags (`BPF_F_LOCK`).
pub fn map_lookup_flags(fd: &Fd, key: &[u8], flags: u64) -> SysResult<Option<Vec<u8>>> {
    let sizes = elem_sizes(fd)?;
    long_enough("BPF_MAP_LOOKUP_ELEM", key, sizes.key)?;
    let mut value = vec![0u8; sizes.value];
    let mut a = elem_attr(fd, ptr(key), ptr_mut(&mut value), flags);
    match bpf(cmd::MAP_LOOKUP_ELEM, "BPF_MAP_LOOKUP_ELEM", &mut a) {
        Ok(_) => Ok(Some(value)),
        Err(e) if e.errno == ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (queue/stack pop with an empty key). `Ok(None)` when
/// absent or empty.
pub fn map_lookup_and_delete(fd: &Fd, key: &[u8]) -> SysResult<Option<Vec<u8>>> {
    let sizes = elem_sizes(fd)?;
    long_enough("BPF_MAP_LOOKUP_AND_DELETE_ELEM", key, sizes.key)?;
    let mut value = vec![0u8; sizes.value];
    let mut a = elem_attr(fd, ptr(key), ptr_mut(&mut value), 0);
    match bpf(
        cmd::MAP_LOOKUP_AND_DELETE_ELEM,
        "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        &mut a,
    ) {
        Ok(_) => Ok(Some(value)),
        Err(e) if e.errno == ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST`/`BPF_F_LOCK` flags. For
/// map-in-map and program arrays the value is a descriptor (`u32`).
/// `key` and `value` must hold the map's sizes ([`elem_sizes`]), or `EINVAL` is returned
/// without asking the kernel.
pub fn map_update(fd: &Fd, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
    let sizes = elem_sizes(fd)?;
    long_enough("BPF_MAP_UPDATE_ELEM", key, sizes.key)?;
    long_enough("BPF_MAP_UPDATE_ELEM", value, sizes.value)?;
    let mut a = elem_attr(fd, ptr(key), ptr(value), flags);
    bpf(cmd::MAP_UPDATE_ELEM, "BPF_MAP_UPDATE_ELEM", &mut a).map(drop)
}

/// `BPF_MAP_DELETE_ELEM`.
pub fn map_delete(fd: &Fd, key: &[u8]) -> SysResult<()> {
    long_enough("BPF_MAP_DELETE_ELEM", key, elem_sizes(fd)?.key)?;
    let mut a = elem_attr(fd, ptr(key), 0, 0);
    bpf(cmd::MAP_DELETE_ELEM, "BPF_MAP_DELETE_ELEM", &mut a).map(drop)
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key for `None`), `Ok(None)` at
/// the end.
pub fn map_get_next_key(fd: &Fd, key: Option<&[u8]>) -> SysResult<Option<Vec<u8>>> {
    let key_len = elem_sizes(fd)?.key;
    if let Some(k) = key {
        long_enough("BPF_MAP_GET_NEXT_KEY", k, key_len)?;
    }
    let mut next = vec![0u8; key_len];
    let mut a = elem_attr(fd, key.map_or(0, ptr), ptr_mut(&mut next), 0);
    match bpf(cmd::MAP_GET_NEXT_KEY, "BPF_MAP_GET_NEXT_KEY", &mut a) {
        Ok(_) => Ok(Some(next)),
        Err(e) if e.errno == ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every key of a map in `GET_NEXT_KEY` order, stopping after `limit` keys (a hash map
/// changing underneath could otherwise cycle).
pub fn map_keys(fd: &Fd, limit: usize) -> SysResult<Vec<Vec<u8>>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    while keys.len() < limit {
        match map_get_next_key(fd, keys.last().map(Vec::as_slice))? {
            Some(k) => keys.push(k),
            None => break,
        }
    }
    Ok(keys)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Every `(key, value)` of a map with `BPF_MAP_LOOKUP_BATCH`, `chunk` entries per call
/// (one call for a whole array). Fails with `EINVAL`/`ENOTSUPP` for map types without
/// batch support; fall back to [`map_keys`] and [`map_lookup`] then.
pub fn map_lookup_batch(fd: &Fd, chunk: u32) -> SysResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let ElemSizes {
        key: key_len,
        value: value_len,
    } = elem_sizes(fd)?;
    let chunk = chunk.max(1);
    let mut out = Vec::new();
    // Batch tokens are opaque: an array index or a hash bucket (at most key-sized).
    let token_len = key_len.max(8);
    let mut token_in = vec![0u8; token_len];
    let mut token_out = vec![0u8; token_len];
    let mut first = true;
    loop {
        let mut keys = vec![0u8; key_len * chunk as usize];
        let mut values = vec![0u8; value_len * chunk as usize];
        let mut a = BatchAttr {
            in_batch: if first { 0 } else { ptr(&token_in) },
            out_batch: ptr_mut(&mut token_out),
            keys: ptr_mut(&mut keys),
            values: ptr_mut(&mut values),
            count: chunk,
            map_fd: fd.raw() as u32,
            elem_flags: 0,
            flags: 0,
        };
        let res = bpf(cmd::MAP_LOOKUP_BATCH, "BPF_MAP_LOOKUP_BATCH", &mut a);
        let done = match res {
            Ok(_) => false,
            Err(e) if e.errno == ENOENT => true,
            Err(e) => return Err(e),
        };
        let n = (a.count as usize).min(chunk as usize);
        for i in 0..n {
            out.push((
                keys[i * key_len..(i + 1) * key_len].to_vec(),
                values[i * value_len..(i + 1) * value_len].to_vec(),
            ));
        }
        if done {
            return Ok(out);
        }
        token_in.copy_from_slice(&token_out);
        first = false;
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct MapFdAttr {
    map_fd: u32,
    _pad: u32,
}

/// `BPF_MAP_FREEZE`: no more writes from the syscall side.
pub fn map_freeze(fd: &Fd) -> SysResult<()> {
    let mut a = MapFdAttr {
        map_fd: fd.raw() as u32,
        _pad: 0,
    };
    bpf(cmd::MAP_FREEZE, "BPF_MAP_FREEZE", &mut a).map(drop)
}
