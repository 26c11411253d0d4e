//! Loading: `BPF_BTF_LOAD` and `BPF_PROG_LOAD`, with a verifier log that grows until it fits.

use super::*;

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

pub(super) fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Runs a loading command with a log buffer that grows until the log fits: the kernel
/// reports `ENOSPC` and the size it needed (`log_true_size`) when the log was cut.
/// With `fixed`, one call with a buffer of that size, whatever the kernel then says.
/// `call(buf)` issues the command with `buf` as the log and returns the result and the
/// true size.
pub(super) fn with_growing_log<T>(
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
pub(super) struct BtfLoadAttr {
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
pub(super) struct ProgLoadAttr {
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
