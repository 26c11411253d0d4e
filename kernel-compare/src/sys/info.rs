//! `BPF_OBJ_GET_INFO_BY_FD` for programs and maps.

use super::*;

// ---- OBJ_GET_INFO_BY_FD ----------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct InfoAttr {
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
