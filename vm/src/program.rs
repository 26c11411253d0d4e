//! A program as every consumer reads it: the interpreter, the verifier, the JITs and the
//! kernel-compare harness.
//!
//! Map references in `insns` use the map-index pseudo forms (`BPF_PSEUDO_MAP_IDX`,
//! `BPF_PSEUDO_MAP_IDX_VALUE`) whose immediate indexes the object's map list, so the same
//! instructions bind to our map instances and to the kernel's through `fd_array`.

use crate::isa::RawInsn;

/// The kernel's `enum bpf_prog_type`, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum ProgType {
    Unspec = 0,
    SocketFilter = 1,
    Kprobe = 2,
    SchedCls = 3,
    SchedAct = 4,
    Tracepoint = 5,
    Xdp = 6,
    PerfEvent = 7,
    CgroupSkb = 8,
    CgroupSock = 9,
    LwtIn = 10,
    LwtOut = 11,
    LwtXmit = 12,
    SockOps = 13,
    SkSkb = 14,
    CgroupDevice = 15,
    SkMsg = 16,
    RawTracepoint = 17,
    CgroupSockAddr = 18,
    LwtSeg6local = 19,
    LircMode2 = 20,
    SkReuseport = 21,
    FlowDissector = 22,
    CgroupSysctl = 23,
    RawTracepointWritable = 24,
    CgroupSockopt = 25,
    Tracing = 26,
    StructOps = 27,
    Ext = 28,
    Lsm = 29,
    SkLookup = 30,
    Syscall = 31,
    Netfilter = 32,
}

impl ProgType {
    /// All program types in id order.
    pub const ALL: [ProgType; 33] = [
        ProgType::Unspec,
        ProgType::SocketFilter,
        ProgType::Kprobe,
        ProgType::SchedCls,
        ProgType::SchedAct,
        ProgType::Tracepoint,
        ProgType::Xdp,
        ProgType::PerfEvent,
        ProgType::CgroupSkb,
        ProgType::CgroupSock,
        ProgType::LwtIn,
        ProgType::LwtOut,
        ProgType::LwtXmit,
        ProgType::SockOps,
        ProgType::SkSkb,
        ProgType::CgroupDevice,
        ProgType::SkMsg,
        ProgType::RawTracepoint,
        ProgType::CgroupSockAddr,
        ProgType::LwtSeg6local,
        ProgType::LircMode2,
        ProgType::SkReuseport,
        ProgType::FlowDissector,
        ProgType::CgroupSysctl,
        ProgType::RawTracepointWritable,
        ProgType::CgroupSockopt,
        ProgType::Tracing,
        ProgType::StructOps,
        ProgType::Ext,
        ProgType::Lsm,
        ProgType::SkLookup,
        ProgType::Syscall,
        ProgType::Netfilter,
    ];

    /// The type with kernel id `id`.
    pub fn from_id(id: u32) -> Option<ProgType> {
        Self::ALL.get(id as usize).copied()
    }

    /// The kernel id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The name bpftool prints (`xdp`, `sched_cls`, `kprobe`, ...).
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 33] = [
            "unspec",
            "socket_filter",
            "kprobe",
            "sched_cls",
            "sched_act",
            "tracepoint",
            "xdp",
            "perf_event",
            "cgroup_skb",
            "cgroup_sock",
            "lwt_in",
            "lwt_out",
            "lwt_xmit",
            "sock_ops",
            "sk_skb",
            "cgroup_device",
            "sk_msg",
            "raw_tracepoint",
            "cgroup_sock_addr",
            "lwt_seg6local",
            "lirc_mode2",
            "sk_reuseport",
            "flow_dissector",
            "cgroup_sysctl",
            "raw_tracepoint_writable",
            "cgroup_sockopt",
            "tracing",
            "struct_ops",
            "ext",
            "lsm",
            "sk_lookup",
            "syscall",
            "netfilter",
        ];
        NAMES[self as usize]
    }
}

/// A `.BTF.ext` function record rebased onto a final program.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FuncInfo {
    /// First slot of the function in the program.
    pub insn_off: u32,
    /// BTF id of its `FUNC` type.
    pub type_id: u32,
}

/// A `.BTF.ext` line record rebased onto a final program.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineInfo {
    /// Slot the line starts at.
    pub insn_off: u32,
    /// Source file name.
    pub file: String,
    /// The source line's text.
    pub line: String,
    /// 1-based line number.
    pub line_num: u32,
    /// 1-based column.
    pub col: u32,
}

/// A program ready to run, verify, compile or load.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Program {
    /// The program's function name.
    pub name: String,
    /// The ELF section it came from (`xdp`, `kprobe/do_sys_open`, ...).
    pub section: String,
    /// Program type inferred from the section name, as libbpf does.
    pub prog_type: ProgType,
    /// `expected_attach_type` (the kernel's `enum bpf_attach_type` id), if any.
    pub expected_attach_type: Option<u32>,
    /// Attach target named in the section (function, tracepoint, ...), if any.
    pub attach_target: Option<String>,
    /// `prog_flags` for loading (e.g. `BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`).
    pub prog_flags: u32,
    /// Instructions, entry function first, subprograms appended.
    pub insns: Vec<RawInsn>,
    /// License string of the object.
    pub license: String,
    /// Kernel version the object declares (legacy `version` section), 0 if none.
    pub kern_version: u32,
    /// Function records, when the object has BTF.
    pub func_info: Vec<FuncInfo>,
    /// Line records, when the object has BTF.
    pub line_info: Vec<LineInfo>,
}
