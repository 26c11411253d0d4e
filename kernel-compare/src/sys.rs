//! Safe wrappers over the `bpf(2)` syscall, without libbpf.
//!
//! Each command has its own `#[repr(C)]` attribute struct laid out as the matching member of
//! the kernel's `union bpf_attr` (include/uapi/linux/bpf.h); the syscall is given the size of
//! that struct, and the kernel treats the fields it does not receive as zero. Every object
//! the kernel hands back is an [`Fd`] closed on drop: nothing is pinned or left behind.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::RawInsn;
use bytemuck::{Pod, Zeroable};

/// `BPF_OBJ_NAME_LEN`: object names are at most 15 bytes plus a NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// Log level bit: the verifier's instruction-by-instruction log.
pub const BPF_LOG_LEVEL1: u32 = 1;
/// Log level bit: the verbose log (register states at every instruction).
pub const BPF_LOG_LEVEL2: u32 = 2;
/// Log level bit: statistics only (`processed N insns ...`, `verification time`).
pub const BPF_LOG_STATS: u32 = 4;

/// `BPF_F_TEST_RUN_ON_CPU`: run on the CPU given in [`TestRunIn::cpu`].
pub const BPF_F_TEST_RUN_ON_CPU: u32 = 1;

/// Largest verifier log we are willing to allocate (the kernel caps `log_size` at 1 GiB).
pub const MAX_LOG_SIZE: usize = 256 << 20;

/// First log buffer size; it grows until the log fits.
const INITIAL_LOG_SIZE: usize = 64 << 10;

/// `enum bpf_cmd` values used here.
#[allow(missing_docs)]
pub mod cmd {
    pub const MAP_CREATE: i64 = 0;
    pub const MAP_LOOKUP_ELEM: i64 = 1;
    pub const MAP_UPDATE_ELEM: i64 = 2;
    pub const MAP_DELETE_ELEM: i64 = 3;
    pub const MAP_GET_NEXT_KEY: i64 = 4;
    pub const PROG_LOAD: i64 = 5;
    pub const PROG_TEST_RUN: i64 = 10;
    pub const OBJ_GET_INFO_BY_FD: i64 = 15;
    pub const BTF_LOAD: i64 = 18;
    pub const MAP_LOOKUP_AND_DELETE_ELEM: i64 = 21;
    pub const MAP_FREEZE: i64 = 22;
    pub const MAP_LOOKUP_BATCH: i64 = 24;
}

const ENOENT: i32 = libc::ENOENT;
const ENOSPC: i32 = libc::ENOSPC;

/// A failed `bpf(2)` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bpf({op}) failed: {} ({errno})", errno_name(*.errno))]
pub struct SysError {
    /// The command (`BPF_MAP_CREATE`, ...).
    pub op: &'static str,
    /// The positive errno.
    pub errno: i32,
}

/// Result of a `bpf(2)` wrapper.
pub type SysResult<T> = Result<T, SysError>;

/// The symbolic name of an errno (`EINVAL`), or its number.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        524 => "ENOTSUPP",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// An owned BPF object descriptor (map, program, BTF), closed when dropped.
#[derive(Debug)]
pub struct Fd(OwnedFd);

impl Fd {
    /// The raw descriptor, for attributes such as `fd_array` or `inner_map_fd`.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Issues `bpf(cmd, attr, sizeof(attr))`.
fn bpf<T: Pod>(cmd: i64, op: &'static str, attr: &mut T) -> SysResult<i64> {
    let size = std::mem::size_of::<T>();
    // SAFETY: `attr` is a plain-old-data struct laid out like the union member the kernel
    // reads for `cmd`, valid for `size` bytes; every pointer stored in it refers to a buffer
    // the caller keeps alive until this call returns, sized for what the kernel reads or
    // writes through it (the map element wrappers size theirs from the map's own info,
    // `elem_sizes`, since the kernel goes by the map's sizes, not the attr's).
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size) };
    if ret < 0 {
        Err(SysError {
            op,
            errno: last_errno(),
        })
    } else {
        Ok(ret)
    }
}

/// Like [`bpf`] for commands that return a new descriptor.
fn bpf_fd<T: Pod>(cmd: i64, op: &'static str, attr: &mut T) -> SysResult<Fd> {
    let fd = bpf(cmd, op, attr)?;
    let fd = RawFd::try_from(fd).map_err(|_| SysError {
        op,
        errno: libc::EBADF,
    })?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
    Ok(Fd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn ptr(b: &[u8]) -> u64 {
    if b.is_empty() {
        0
    } else {
        b.as_ptr() as u64
    }
}

fn ptr_mut(b: &mut [u8]) -> u64 {
    if b.is_empty() {
        0
    } else {
        b.as_mut_ptr() as u64
    }
}

/// An object name as the kernel wants it: at most 15 bytes of `[A-Za-z0-9_.]`, NUL padded.
/// Other characters are dropped (the kernel would refuse them with `EINVAL`).
pub fn obj_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    let ok = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.');
    for (o, b) in out.iter_mut().zip(ok.take(BPF_OBJ_NAME_LEN - 1)) {
        *o = b;
    }
    out
}

// ---- MAP_CREATE ------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MapCreateAttr {
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
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn elem_attr(fd: &Fd, key: u64, value: u64, flags: u64) -> MapElemAttr {
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
const PERCPU_MAP_TYPES: [u32; 4] = [5, 6, 10, 21];

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
fn long_enough(op: &'static str, buf: &[u8], need: usize) -> SysResult<()> {
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
struct BatchAttr {
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
struct MapFdAttr {
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

// ---- logs ------------------------------------------------------------------------------

/// A load that the kernel refused, with what the verifier (or BTF checker) said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} failed: {} ({errno})", errno_name(*.errno))]
pub struct LoadError {
    /// The command.
    pub op: &'static str,
    /// The positive errno.
    pub errno: i32,
    /// The log (empty at log level 0).
    pub log: String,
}

fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Runs a loading command with a log buffer that grows until the log fits: the kernel
/// reports `ENOSPC` and the size it needed (`log_true_size`) when the log was cut.
/// With `fixed`, one call with a buffer of that size, whatever the kernel then says.
/// `call(buf)` issues the command with `buf` as the log and returns the result and the
/// true size.
fn with_growing_log<T>(
    op: &'static str,
    log_level: u32,
    fixed: Option<usize>,
    mut call: impl FnMut(&mut [u8]) -> (SysResult<T>, u32),
) -> Result<(T, String), LoadError> {
    if let Some(size) = fixed.filter(|_| log_level != 0) {
        let mut buf = vec![0u8; size.min(MAX_LOG_SIZE)];
        return match call(&mut buf) {
            (Ok(v), _) => Ok((v, log_text(&buf))),
            (Err(e), _) => Err(LoadError {
                op,
                errno: e.errno,
                log: log_text(&buf),
            }),
        };
    }
    if log_level == 0 {
        return match call(&mut []) {
            (Ok(v), _) => Ok((v, String::new())),
            (Err(e), _) => Err(LoadError {
                op,
                errno: e.errno,
                log: String::new(),
            }),
        };
    }
    let mut size = INITIAL_LOG_SIZE;
    loop {
        let mut buf = vec![0u8; size];
        let (res, true_size) = call(&mut buf);
        match res {
            Err(e) if e.errno == ENOSPC && size < MAX_LOG_SIZE => {
                let want = (true_size as usize).max(size * 2);
                size = want.min(MAX_LOG_SIZE);
            }
            Ok(v) => return Ok((v, log_text(&buf))),
            Err(e) => {
                return Err(LoadError {
                    op,
                    errno: e.errno,
                    log: log_text(&buf),
                })
            }
        }
    }
}

// ---- BTF_LOAD --------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
    btf_flags: u32,
    btf_token_fd: i32,
}

/// `BPF_BTF_LOAD` of a raw BTF blob; the log is empty at level 0.
pub fn btf_load(data: &[u8], log_level: u32) -> Result<(Fd, String), LoadError> {
    with_growing_log("BPF_BTF_LOAD", log_level, None, |log| {
        let mut a = BtfLoadAttr::zeroed();
        a.btf = ptr(data);
        a.btf_size = data.len() as u32;
        if !log.is_empty() {
            a.btf_log_buf = ptr_mut(log);
            a.btf_log_size = log.len() as u32;
            a.btf_log_level = log_level;
        }
        let r = bpf_fd(cmd::BTF_LOAD, "BPF_BTF_LOAD", &mut a);
        (r, a.btf_log_true_size)
    })
}

// ---- PROG_LOAD -------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; BPF_OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    log_true_size: u32,
    prog_token_fd: i32,
    _pad: u32,
}

/// `struct bpf_func_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BpfFuncInfo {
    /// Instruction slot of the function's first instruction.
    pub insn_off: u32,
    /// BTF id of its `FUNC` type.
    pub type_id: u32,
}

/// `struct bpf_line_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BpfLineInfo {
    /// Instruction slot the line starts at.
    pub insn_off: u32,
    /// String offset of the file name in the program's BTF.
    pub file_name_off: u32,
    /// String offset of the line's text.
    pub line_off: u32,
    /// `line << 10 | column`.
    pub line_col: u32,
}

/// The attributes of `BPF_PROG_LOAD`.
#[derive(Debug, Clone, Default)]
pub struct ProgLoad<'a> {
    /// `enum bpf_prog_type` id.
    pub prog_type: u32,
    /// `enum bpf_attach_type` id, 0 when none.
    pub expected_attach_type: u32,
    /// `BPF_F_*` program flags.
    pub prog_flags: u32,
    /// Instructions; map references may use `BPF_PSEUDO_MAP_IDX` into `fd_array`.
    pub insns: &'a [RawInsn],
    /// License (`GPL` unlocks GPL-only helpers).
    pub license: &'a str,
    /// `kern_version` (ignored by modern kernels).
    pub kern_version: u32,
    /// Program name (cut to 15 bytes).
    pub name: &'a str,
    /// Map (and module BTF) descriptors that `BPF_PSEUDO_MAP_IDX` immediates index.
    pub fd_array: &'a [RawFd],
    /// Verifier log level (`BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS`).
    pub log_level: u32,
    /// Log buffer size: `None` grows the buffer (reloading) until the whole log fits;
    /// `Some(n)` loads once with `n` bytes, and a log that does not fit is the kernel's
    /// `ENOSPC`.
    pub log_size: Option<usize>,
    /// BTF the function and line records refer to.
    pub prog_btf_fd: Option<RawFd>,
    /// Function records (need `prog_btf_fd`).
    pub func_info: &'a [BpfFuncInfo],
    /// Line records (need `func_info`).
    pub line_info: &'a [BpfLineInfo],
    /// Kernel BTF id of the attach target (tracing, LSM, struct_ops, ext).
    pub attach_btf_id: u32,
    /// Program (`ext`) or module BTF descriptor of the attach target.
    pub attach_fd: Option<RawFd>,
}

/// A program the kernel accepted.
#[derive(Debug)]
pub struct LoadedProg {
    /// The program.
    pub fd: Fd,
    /// The verifier log (empty at log level 0).
    pub log: String,
}

/// `BPF_PROG_LOAD`. The log buffer grows until the whole log fits.
pub fn prog_load(p: &ProgLoad<'_>) -> Result<LoadedProg, LoadError> {
    let license = CString::new(p.license.replace('\0', "")).unwrap_or_default();
    let insns: Vec<u64> = p.insns.iter().map(|i| i.to_u64()).collect();
    let (fd, log) = with_growing_log("BPF_PROG_LOAD", p.log_level, p.log_size, |log| {
        let mut a = ProgLoadAttr::zeroed();
        a.prog_type = p.prog_type;
        a.insn_cnt = insns.len() as u32;
        a.insns = insns.as_ptr() as u64;
        a.license = license.as_ptr() as u64;
        if !log.is_empty() {
            a.log_level = p.log_level;
            a.log_size = log.len() as u32;
            a.log_buf = ptr_mut(log);
        }
        a.kern_version = p.kern_version;
        a.prog_flags = p.prog_flags;
        a.prog_name = obj_name(p.name);
        a.expected_attach_type = p.expected_attach_type;
        if let Some(btf) = p.prog_btf_fd {
            a.prog_btf_fd = btf as u32;
            if !p.func_info.is_empty() {
                a.func_info_rec_size = std::mem::size_of::<BpfFuncInfo>() as u32;
                a.func_info = p.func_info.as_ptr() as u64;
                a.func_info_cnt = p.func_info.len() as u32;
            }
            if !p.line_info.is_empty() {
                a.line_info_rec_size = std::mem::size_of::<BpfLineInfo>() as u32;
                a.line_info = p.line_info.as_ptr() as u64;
                a.line_info_cnt = p.line_info.len() as u32;
            }
        }
        a.attach_btf_id = p.attach_btf_id;
        a.attach_prog_fd = p.attach_fd.unwrap_or(0) as u32;
        if !p.fd_array.is_empty() {
            a.fd_array = p.fd_array.as_ptr() as u64;
        }
        let r = bpf_fd(cmd::PROG_LOAD, "BPF_PROG_LOAD", &mut a);
        (r, a.log_true_size)
    })?;
    Ok(LoadedProg { fd, log })
}

// ---- PROG_TEST_RUN ---------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// Input of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, Default)]
pub struct TestRunIn<'a> {
    /// Packet (or other data) in.
    pub data_in: &'a [u8],
    /// Capacity for the data out; `None` asks for no data out. The kernel reports
    /// `ENOSPC` when it does not fit, and the buffer is then grown once.
    pub data_out_cap: Option<usize>,
    /// Context in (`xdp_md`, `__sk_buff`, raw tracepoint args, ...).
    pub ctx_in: Option<&'a [u8]>,
    /// Capacity for the context out; `None` asks for none.
    pub ctx_out_cap: Option<usize>,
    /// Repetitions (0 counts as 1).
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// CPU with [`BPF_F_TEST_RUN_ON_CPU`].
    pub cpu: u32,
    /// Batch size for live XDP frames.
    pub batch_size: u32,
}

/// Output of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestRunOut {
    /// The program's return value (low 32 bits of r0).
    pub retval: u32,
    /// Average duration of one run in nanoseconds.
    pub duration_ns: u32,
    /// Data after the run (empty when not asked for).
    pub data_out: Vec<u8>,
    /// Context after the run (empty when not asked for).
    pub ctx_out: Vec<u8>,
    /// The context in after the run: syscall programs write their context back into it.
    pub ctx_in_after: Vec<u8>,
}

/// `BPF_PROG_TEST_RUN`.
pub fn prog_test_run(prog: &Fd, input: &TestRunIn<'_>) -> SysResult<TestRunOut> {
    let mut data_cap = input.data_out_cap.unwrap_or(0);
    let mut ctx_cap = input.ctx_out_cap.unwrap_or(0);
    let mut grown = false;
    // The kernel may write the context back into ctx_in (syscall programs): give it a
    // buffer we own.
    let mut ctx_in = input.ctx_in.map(<[u8]>::to_vec);
    loop {
        let mut data_out = vec![0u8; data_cap];
        let mut ctx_out = vec![0u8; ctx_cap];
        let mut a = TestRunAttr::zeroed();
        a.prog_fd = prog.raw() as u32;
        a.data_size_in = input.data_in.len() as u32;
        a.data_in = ptr(input.data_in);
        if input.data_out_cap.is_some() {
            a.data_size_out = data_cap as u32;
            a.data_out = ptr_mut(&mut data_out);
        }
        a.repeat = input.repeat;
        if let Some(c) = ctx_in.as_mut() {
            a.ctx_size_in = c.len() as u32;
            a.ctx_in = ptr_mut(c);
        }
        if input.ctx_out_cap.is_some() {
            a.ctx_size_out = ctx_cap as u32;
            a.ctx_out = ptr_mut(&mut ctx_out);
        }
        a.flags = input.flags;
        a.cpu = input.cpu;
        a.batch_size = input.batch_size;
        match bpf(cmd::PROG_TEST_RUN, "BPF_PROG_TEST_RUN", &mut a) {
            Ok(_) => {
                data_out.truncate(a.data_size_out as usize);
                ctx_out.truncate(a.ctx_size_out as usize);
                return Ok(TestRunOut {
                    retval: a.retval,
                    duration_ns: a.duration,
                    data_out,
                    ctx_out,
                    ctx_in_after: ctx_in.unwrap_or_default(),
                });
            }
            Err(e) if e.errno == ENOSPC && !grown => {
                // The kernel wrote back the sizes it needed.
                grown = true;
                data_cap = data_cap.max(a.data_size_out as usize);
                ctx_cap = ctx_cap.max(a.ctx_size_out as usize);
            }
            Err(e) => return Err(e),
        }
    }
}

// ---- OBJ_GET_INFO_BY_FD ----------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `buf`; returns the length the kernel filled in.
pub fn obj_get_info_by_fd(fd: &Fd, buf: &mut [u8]) -> SysResult<u32> {
    let mut a = InfoAttr {
        bpf_fd: fd.raw() as u32,
        info_len: buf.len() as u32,
        info: ptr_mut(buf),
    };
    bpf(cmd::OBJ_GET_INFO_BY_FD, "BPF_OBJ_GET_INFO_BY_FD", &mut a)?;
    Ok(a.info_len)
}

/// `struct bpf_prog_info` (Linux 6.12 layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[allow(missing_docs)]
pub struct BpfProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; BPF_OBJ_NAME_LEN],
    pub ifindex: u32,
    pub gpl_compatible: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad: u32,
}

/// What the kernel says about a loaded program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgInfo {
    /// Program id.
    pub id: u32,
    /// Program type id.
    pub prog_type: u32,
    /// The kernel's program tag (hex).
    pub tag: String,
    /// Instructions the verifier processed (`verified_insns`).
    pub verified_insns: u32,
    /// Total run time of test runs and attached runs (needs `kernel.bpf_stats_enabled`).
    pub run_time_ns: u64,
    /// Run count (needs `kernel.bpf_stats_enabled`).
    pub run_cnt: u64,
    /// Translated (post-verifier) instruction image.
    pub xlated: Vec<u8>,
    /// JIT-compiled native image (empty without the JIT).
    pub jited: Vec<u8>,
}

/// Raw `struct bpf_prog_info` (no images).
pub fn prog_info_raw(fd: &Fd) -> SysResult<BpfProgInfo> {
    let mut info = BpfProgInfo::zeroed();
    obj_get_info_by_fd(fd, bytemuck::bytes_of_mut(&mut info))?;
    Ok(info)
}

/// Program info with its xlated and jited images.
pub fn prog_info(fd: &Fd) -> SysResult<ProgInfo> {
    let first = prog_info_raw(fd)?;
    let mut xlated = vec![0u8; first.xlated_prog_len as usize];
    let mut jited = vec![0u8; first.jited_prog_len as usize];
    let mut info = BpfProgInfo::zeroed();
    info.xlated_prog_len = xlated.len() as u32;
    info.xlated_prog_insns = ptr_mut(&mut xlated);
    info.jited_prog_len = jited.len() as u32;
    info.jited_prog_insns = ptr_mut(&mut jited);
    obj_get_info_by_fd(fd, bytemuck::bytes_of_mut(&mut info))?;
    // Images may be withheld (kptr_restrict, bpf_jit_harden): the kernel then reports 0.
    xlated.truncate((info.xlated_prog_len as usize).min(xlated.len()));
    jited.truncate((info.jited_prog_len as usize).min(jited.len()));
    Ok(ProgInfo {
        id: info.id,
        prog_type: info.prog_type,
        tag: info.tag.iter().map(|b| format!("{b:02x}")).collect(),
        verified_insns: info.verified_insns,
        run_time_ns: info.run_time_ns,
        run_cnt: info.run_cnt,
        xlated,
        jited,
    })
}

/// `struct bpf_map_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[allow(missing_docs)]
pub struct BpfMapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; BPF_OBJ_NAME_LEN],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_id: u32,
    pub map_extra: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map.
pub fn map_info(fd: &Fd) -> SysResult<BpfMapInfo> {
    let mut info = BpfMapInfo::zeroed();
    obj_get_info_by_fd(fd, bytemuck::bytes_of_mut(&mut info))?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attribute structs have the sizes of the kernel's union members.
    #[test]
    fn layouts() {
        use std::mem::size_of;
        assert_eq!(size_of::<MapCreateAttr>(), 80);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(size_of::<BtfLoadAttr>(), 40);
        assert_eq!(size_of::<ProgLoadAttr>(), 152);
        assert_eq!(size_of::<TestRunAttr>(), 80);
        assert_eq!(size_of::<BpfProgInfo>(), 232);
        assert_eq!(size_of::<BpfMapInfo>(), 88);
    }

    #[test]
    fn names_are_cut_and_filtered() {
        assert_eq!(&obj_name("a-b.c")[..4], b"ab.c");
        let n = obj_name("a_very_long_program_name");
        assert_eq!(n[15], 0);
        assert_eq!(&n[..15], b"a_very_long_pro");
    }
}
