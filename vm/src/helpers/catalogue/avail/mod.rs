//! Which prototype each program type gets for each helper: the kernel's `get_func_proto`
//! of every program type (`bpf_base_func_proto` and its CAP_BPF and CAP_PERFMON parts,
//! `bpf_sk_base_func_proto`, `bpf_tracing_func_proto`, the cgroup, socket, packet and
//! tracing switches), as Linux 6.12 declares them and for the configuration of the kernel
//! this project runs on (no `CONFIG_BPF_KPROBE_OVERRIDE`, no `CONFIG_IPV6_SEG6_BPF`, no
//! `CONFIG_BPF_LIRC_MODE2`). Each function is named after the kernel's and returns the name of the
//! prototype, resolved in [`for_prog`]: the base sets here, the tracing, cgroup and packet or
//! socket families in their own modules.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::FuncProto;
use crate::program::ProgType;

mod cgroup;
mod net;
mod tracing;

use cgroup::*;
use net::*;
use tracing::*;

use crate::attach::{
    CGROUP_INET4_BIND, CGROUP_INET4_CONNECT, CGROUP_INET4_GETPEERNAME, CGROUP_INET4_GETSOCKNAME,
    CGROUP_INET6_BIND, CGROUP_INET6_CONNECT, CGROUP_INET6_GETPEERNAME, CGROUP_INET6_GETSOCKNAME,
    CGROUP_INET_EGRESS, CGROUP_INET_INGRESS, CGROUP_INET_SOCK_CREATE, CGROUP_SETSOCKOPT,
    CGROUP_SOCK_OPS, CGROUP_UDP4_RECVMSG, CGROUP_UDP4_SENDMSG, CGROUP_UDP6_RECVMSG,
    CGROUP_UDP6_SENDMSG, CGROUP_UNIX_CONNECT, CGROUP_UNIX_GETPEERNAME, CGROUP_UNIX_GETSOCKNAME,
    CGROUP_UNIX_RECVMSG, CGROUP_UNIX_SENDMSG, LSM_CGROUP, LSM_MAC, MODIFY_RETURN, TRACE_FENTRY,
    TRACE_FEXIT, TRACE_ITER, TRACE_KPROBE_MULTI, TRACE_KPROBE_SESSION, TRACE_RAW_TP,
    TRACE_UPROBE_MULTI,
};

/// What the switches look at in the calling program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The program type.
    pub prog_type: ProgType,
    /// `expected_attach_type` (0 when not given, as the kernel reads it).
    pub attach: u32,
    /// Loaded with CAP_PERFMON (or CAP_SYS_ADMIN): the helpers `bpf_base_func_proto` and the
    /// socket casts keep for `perfmon_capable` callers.
    pub privileged: bool,
    /// Loaded with CAP_BPF (or CAP_SYS_ADMIN): the helpers `bpf_base_func_proto` keeps for
    /// `bpf_capable` callers.
    pub bpf_capable: bool,
    /// Loaded with `BPF_F_SLEEPABLE`.
    pub sleepable: bool,
}

impl Caller {
    /// `is_kprobe_multi`.
    fn kprobe_multi(&self) -> bool {
        matches!(self.attach, TRACE_KPROBE_MULTI | TRACE_KPROBE_SESSION)
    }

    /// `bpf_prog_has_trampoline`.
    fn has_trampoline(&self) -> bool {
        (self.prog_type == ProgType::Tracing
            && matches!(self.attach, TRACE_FENTRY | TRACE_FEXIT | MODIFY_RETURN))
            || (self.prog_type == ProgType::Lsm && self.attach == LSM_MAC)
    }

    /// `bpf_prog_check_recur`.
    fn check_recur(&self) -> bool {
        match self.prog_type {
            ProgType::Tracing => self.attach != TRACE_ITER,
            ProgType::StructOps | ProgType::Lsm => false,
            _ => true,
        }
    }
}

/// The prototype a program described by `c` gets for helper `id`, `None` when the kernel
/// says `program of this type cannot use helper`. Struct-ops and extension programs take
/// their helpers from their target, which this table does not model: `None`.
pub fn for_prog(id: u32, c: &Caller) -> Option<&'static FuncProto> {
    let name = crate::helper_names::HELPER_NAMES.get(id as usize)?;
    // `bpf_prog_load_fixup_attach_type`: a socket program without an attach type is one
    // for socket creation.
    let fixed;
    let c = if c.prog_type == ProgType::CgroupSock && c.attach == 0 {
        fixed = Caller {
            attach: CGROUP_INET_SOCK_CREATE,
            ..*c
        };
        &fixed
    } else {
        c
    };
    let f = name.strip_prefix("bpf_")?;
    use ProgType::*;
    let proto = match c.prog_type {
        SocketFilter => sk_filter_func_proto(f, c),
        Kprobe => kprobe_prog_func_proto(f, c),
        SchedCls | SchedAct => tc_cls_act_func_proto(f, c),
        Tracepoint => tp_prog_func_proto(f, c),
        Xdp => xdp_func_proto(f, c),
        PerfEvent => pe_prog_func_proto(f, c),
        CgroupSkb => cg_skb_func_proto(f, c),
        CgroupSock => sock_filter_func_proto(f, c),
        LwtIn => lwt_in_func_proto(f, c),
        LwtOut => lwt_out_func_proto(f, c),
        LwtXmit => lwt_xmit_func_proto(f, c),
        SockOps => sock_ops_func_proto(f, c),
        SkSkb => sk_skb_func_proto(f, c),
        CgroupDevice => cgroup_dev_func_proto(f, c),
        SkMsg => sk_msg_func_proto(f, c),
        RawTracepoint | RawTracepointWritable => raw_tp_prog_func_proto(f, c),
        CgroupSockAddr => sock_addr_func_proto(f, c),
        LwtSeg6local => lwt_seg6local_func_proto(f, c),
        SkReuseport => sk_reuseport_func_proto(f, c),
        FlowDissector => flow_dissector_func_proto(f, c),
        CgroupSysctl => sysctl_func_proto(f, c),
        CgroupSockopt => cg_sockopt_func_proto(f, c),
        Tracing => tracing_prog_func_proto(f, c),
        Lsm => bpf_lsm_func_proto(f, c),
        SkLookup => sk_lookup_func_proto(f, c),
        Syscall => syscall_prog_func_proto(f, c),
        Netfilter => bpf_base_func_proto(f, c),
        Unspec | LircMode2 | StructOps | Ext => None,
    }?;
    let p = by_name(proto);
    debug_assert!(p.is_some(), "{proto} is in the catalogue");
    p.filter(|p| p.id == id)
}

fn by_name(name: &str) -> Option<&'static FuncProto> {
    static INDEX: OnceLock<HashMap<&'static str, &'static FuncProto>> = OnceLock::new();
    INDEX
        .get_or_init(|| super::ALL.iter().map(|p| (p.name, *p)).collect())
        .get(name)
        .copied()
}

/// The kernel's `bpf_base_func_proto`.
pub(super) fn bpf_base_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = Some(match f {
        "map_lookup_elem" => "bpf_map_lookup_elem_proto",
        "map_update_elem" => "bpf_map_update_elem_proto",
        "map_delete_elem" => "bpf_map_delete_elem_proto",
        "map_push_elem" => "bpf_map_push_elem_proto",
        "map_pop_elem" => "bpf_map_pop_elem_proto",
        "map_peek_elem" => "bpf_map_peek_elem_proto",
        "map_lookup_percpu_elem" => "bpf_map_lookup_percpu_elem_proto",
        "get_prandom_u32" => "bpf_get_prandom_u32_proto",
        "get_smp_processor_id" => "bpf_get_raw_smp_processor_id_proto",
        "get_numa_node_id" => "bpf_get_numa_node_id_proto",
        "tail_call" => "bpf_tail_call_proto",
        "ktime_get_ns" => "bpf_ktime_get_ns_proto",
        "ktime_get_boot_ns" => "bpf_ktime_get_boot_ns_proto",
        "ktime_get_tai_ns" => "bpf_ktime_get_tai_ns_proto",
        "ringbuf_output" => "bpf_ringbuf_output_proto",
        "ringbuf_reserve" => "bpf_ringbuf_reserve_proto",
        "ringbuf_submit" => "bpf_ringbuf_submit_proto",
        "ringbuf_discard" => "bpf_ringbuf_discard_proto",
        "ringbuf_query" => "bpf_ringbuf_query_proto",
        "strncmp" => "bpf_strncmp_proto",
        "strtol" => "bpf_strtol_proto",
        "strtoul" => "bpf_strtoul_proto",
        "get_current_pid_tgid" => "bpf_get_current_pid_tgid_proto",
        "get_ns_current_pid_tgid" => "bpf_get_ns_current_pid_tgid_proto",
        _ => "",
    })
    .filter(|p| !p.is_empty())
    {
        return Some(p);
    }
    if !c.bpf_capable {
        return None;
    }
    // CAP_BPF.
    if let Some(p) = Some(match f {
        "spin_lock" => "bpf_spin_lock_proto",
        "spin_unlock" => "bpf_spin_unlock_proto",
        "jiffies64" => "bpf_jiffies64_proto",
        "per_cpu_ptr" => "bpf_per_cpu_ptr_proto",
        "this_cpu_ptr" => "bpf_this_cpu_ptr_proto",
        "timer_init" => "bpf_timer_init_proto",
        "timer_set_callback" => "bpf_timer_set_callback_proto",
        "timer_start" => "bpf_timer_start_proto",
        "timer_cancel" => "bpf_timer_cancel_proto",
        "kptr_xchg" => "bpf_kptr_xchg_proto",
        "for_each_map_elem" => "bpf_for_each_map_elem_proto",
        "loop" => "bpf_loop_proto",
        "user_ringbuf_drain" => "bpf_user_ringbuf_drain_proto",
        "ringbuf_reserve_dynptr" => "bpf_ringbuf_reserve_dynptr_proto",
        "ringbuf_submit_dynptr" => "bpf_ringbuf_submit_dynptr_proto",
        "ringbuf_discard_dynptr" => "bpf_ringbuf_discard_dynptr_proto",
        "dynptr_from_mem" => "bpf_dynptr_from_mem_proto",
        "dynptr_read" => "bpf_dynptr_read_proto",
        "dynptr_write" => "bpf_dynptr_write_proto",
        "dynptr_data" => "bpf_dynptr_data_proto",
        "cgrp_storage_get" => "bpf_cgrp_storage_get_proto",
        "cgrp_storage_delete" => "bpf_cgrp_storage_delete_proto",
        "get_current_cgroup_id" => "bpf_get_current_cgroup_id_proto",
        "get_current_ancestor_cgroup_id" => "bpf_get_current_ancestor_cgroup_id_proto",
        _ => "",
    })
    .filter(|p| !p.is_empty())
    {
        return Some(p);
    }
    if !c.privileged {
        return None;
    }
    // CAP_PERFMON.
    Some(match f {
        "trace_printk" => "bpf_trace_printk_proto",
        "trace_vprintk" => "bpf_trace_vprintk_proto",
        "probe_read_kernel" => "bpf_probe_read_kernel_proto",
        "probe_read_kernel_str" => "bpf_probe_read_kernel_str_proto",
        "get_current_task" => "bpf_get_current_task_proto",
        "get_current_task_btf" => "bpf_get_current_task_btf_proto",
        "probe_read_user" => "bpf_probe_read_user_proto",
        "probe_read_user_str" => "bpf_probe_read_user_str_proto",
        "snprintf_btf" => "bpf_snprintf_btf_proto",
        "snprintf" => "bpf_snprintf_proto",
        "task_pt_regs" => "bpf_task_pt_regs_proto",
        // Tracing helpers every program type gets since 6.13.
        "get_current_uid_gid" => "bpf_get_current_uid_gid_proto",
        "get_current_comm" => "bpf_get_current_comm_proto",
        "get_cgroup_classid" => "bpf_get_cgroup_classid_curr_proto",
        "current_task_under_cgroup" => "bpf_current_task_under_cgroup_proto",
        "perf_event_read" => "bpf_perf_event_read_proto",
        "perf_event_read_value" => "bpf_perf_event_read_value_proto",
        "send_signal" => "bpf_send_signal_proto",
        "send_signal_thread" => "bpf_send_signal_thread_proto",
        "get_task_stack" if c.sleepable => "bpf_get_task_stack_sleepable_proto",
        "get_task_stack" => "bpf_get_task_stack_proto",
        "copy_from_user" => "bpf_copy_from_user_proto",
        "copy_from_user_task" => "bpf_copy_from_user_task_proto",
        "task_storage_get" if c.check_recur() => "bpf_task_storage_get_recur_proto",
        "task_storage_get" => "bpf_task_storage_get_proto",
        "task_storage_delete" if c.check_recur() => "bpf_task_storage_delete_recur_proto",
        "task_storage_delete" => "bpf_task_storage_delete_proto",
        "get_branch_snapshot" => "bpf_get_branch_snapshot_proto",
        "find_vma" => "bpf_find_vma_proto",
        _ => return None,
    })
}

/// The kernel's `bpf_sk_base_func_proto`.
pub(super) fn bpf_sk_base_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    let p = match f {
        "skc_to_tcp6_sock" => "bpf_skc_to_tcp6_sock_proto",
        "skc_to_tcp_sock" => "bpf_skc_to_tcp_sock_proto",
        "skc_to_tcp_timewait_sock" => "bpf_skc_to_tcp_timewait_sock_proto",
        "skc_to_tcp_request_sock" => "bpf_skc_to_tcp_request_sock_proto",
        "skc_to_udp6_sock" => "bpf_skc_to_udp6_sock_proto",
        "skc_to_unix_sock" => "bpf_skc_to_unix_sock_proto",
        "skc_to_mptcp_sock" => "bpf_skc_to_mptcp_sock_proto",
        "ktime_get_coarse_ns" => return Some("bpf_ktime_get_coarse_ns_proto"),
        _ => return bpf_base_func_proto(f, c),
    };
    // The socket casts need CAP_PERFMON.
    c.privileged.then_some(p)
}
