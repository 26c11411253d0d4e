//! Which program types may call each helper, as the kernel's `func_proto` switches decide
//! (Linux 6.12: `bpf_base_func_proto` in kernel/bpf/helpers.c, `bpf_tracing_func_proto`,
//! and `sk_filter_func_proto`, `tc_cls_act_func_proto`, `xdp_func_proto`,
//! `cg_skb_func_proto`, `bpf_sk_base_func_proto` in net/core/filter.c,
//! `cgroup_common_func_proto` in kernel/bpf/cgroup.c), for the helpers bpfbox implements.

use crate::program::ProgType;

/// Who may call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Every program type (the base prototypes; some need `CAP_BPF` or `CAP_PERFMON`).
    Base,
    /// These program types.
    Types(&'static [ProgType]),
}

use ProgType::*;

const TRACING: &[ProgType] = &[
    Kprobe,
    Tracepoint,
    PerfEvent,
    RawTracepoint,
    RawTracepointWritable,
    Tracing,
    Lsm,
];
const PERF_OUTPUT: &[ProgType] = &[
    Kprobe,
    Tracepoint,
    PerfEvent,
    RawTracepoint,
    RawTracepointWritable,
    Tracing,
    Lsm,
    SocketFilter,
    SchedCls,
    SchedAct,
    Xdp,
    CgroupSkb,
    LwtIn,
    LwtOut,
    LwtXmit,
    SkSkb,
    SockOps,
];
const XDP: &[ProgType] = &[Xdp];
const TC_XDP: &[ProgType] = &[SchedCls, SchedAct, Xdp];
const LOAD_BYTES: &[ProgType] = &[
    SocketFilter,
    SchedCls,
    SchedAct,
    CgroupSkb,
    LwtIn,
    LwtOut,
    LwtXmit,
    SkSkb,
    FlowDissector,
];
const SK_LOOKUP: &[ProgType] = &[SchedCls, SchedAct, Xdp, CgroupSkb, SkSkb];
const SOCK: &[ProgType] = &[SchedCls, SchedAct, CgroupSkb];
const SK_STORAGE: &[ProgType] = &[
    SchedCls,
    SchedAct,
    CgroupSkb,
    SockOps,
    CgroupSockAddr,
    CgroupSockopt,
    Tracing,
    Lsm,
];
const CGROUP: &[ProgType] = &[
    CgroupSkb,
    CgroupSock,
    CgroupSockAddr,
    SockOps,
    CgroupDevice,
    CgroupSysctl,
    CgroupSockopt,
];
const NETNS: &[ProgType] = &[CgroupSockAddr, SockOps, SkMsg, CgroupSockopt, CgroupSock];
const LWT_TC: &[ProgType] = &[SchedCls, SchedAct, LwtXmit];

/// The program types that may call the helper `name` (with its `bpf_` prefix).
pub fn program_types(name: &str) -> Availability {
    let t = match name {
        "bpf_get_current_uid_gid"
        | "bpf_get_current_comm"
        | "bpf_probe_read"
        | "bpf_probe_read_str" => TRACING,
        "bpf_perf_event_output" => PERF_OUTPUT,
        "bpf_skb_load_bytes" => LOAD_BYTES,
        "bpf_skb_store_bytes"
        | "bpf_l3_csum_replace"
        | "bpf_l4_csum_replace"
        | "bpf_skb_pull_data"
        | "bpf_csum_update"
        | "bpf_get_hash_recalc" => LWT_TC,
        "bpf_get_socket_cookie" => &[
            SocketFilter,
            SchedCls,
            SchedAct,
            CgroupSkb,
            CgroupSock,
            CgroupSockAddr,
            SockOps,
            SkSkb,
            SkMsg,
            CgroupSockopt,
            Tracing,
        ],
        "bpf_csum_diff" | "bpf_redirect" | "bpf_fib_lookup" | "bpf_check_mtu" => TC_XDP,
        "bpf_get_stack"
        | "bpf_get_current_task"
        | "bpf_get_current_task_btf"
        | "bpf_get_task_stack"
        | "bpf_find_vma"
        | "bpf_copy_from_user_task" => TRACING,
        // Only where the kernel allowlists the attach point (LSM hooks, some fentry).
        "bpf_d_path" => &[Tracing, Lsm],
        // Iterator programs (BPF_TRACE_ITER).
        "bpf_seq_write" => &[Tracing],
        "bpf_skb_change_head" => &[SchedCls, SchedAct, LwtXmit, SkSkb],
        "bpf_getsockopt" | "bpf_setsockopt" => &[SockOps, CgroupSockAddr, CgroupSockopt],
        "bpf_sock_map_update" | "bpf_sock_hash_update" => &[SockOps],
        "bpf_sk_select_reuseport" => &[SkReuseport],
        "bpf_xdp_adjust_head"
        | "bpf_xdp_adjust_tail"
        | "bpf_xdp_adjust_meta"
        | "bpf_redirect_map" => XDP,
        "bpf_sk_lookup_tcp" | "bpf_sk_lookup_udp" | "bpf_skc_lookup_tcp" | "bpf_sk_release" => {
            SK_LOOKUP
        }
        "bpf_sk_fullsock" | "bpf_tcp_sock" | "bpf_get_listener_sock" => SOCK,
        "bpf_sk_storage_get" | "bpf_sk_storage_delete" => SK_STORAGE,
        "bpf_get_local_storage" => CGROUP,
        "bpf_get_netns_cookie" => NETNS,
        "bpf_skc_to_tcp_sock" | "bpf_skc_to_tcp_request_sock" | "bpf_ktime_get_coarse_ns" => {
            // bpf_sk_base_func_proto: networking and tracing types.
            return Availability::Types(&[
                SocketFilter,
                SchedCls,
                SchedAct,
                Xdp,
                CgroupSkb,
                SkSkb,
                SockOps,
                Kprobe,
                Tracepoint,
                RawTracepoint,
                Tracing,
                Lsm,
            ]);
        }
        _ => return Availability::Base,
    };
    Availability::Types(t)
}
