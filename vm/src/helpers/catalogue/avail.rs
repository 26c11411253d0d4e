//! Which prototype each program type gets for each helper: the kernel's `get_func_proto`
//! of every program type (`bpf_base_func_proto` and its CAP_BPF and CAP_PERFMON parts,
//! `bpf_sk_base_func_proto`, `bpf_tracing_func_proto`, the cgroup, socket, packet and
//! tracing switches), as Linux 6.12 declares them and for the configuration of the kernel
//! this project runs on (no `CONFIG_BPF_KPROBE_OVERRIDE`, no `CONFIG_IPV6_SEG6_BPF`, no
//! `CONFIG_BPF_LIRC_MODE2`). Each function below is named after the kernel's and returns the
//! name of the prototype, resolved in [`for_prog`].

use std::collections::HashMap;
use std::sync::OnceLock;

use super::FuncProto;
use crate::program::ProgType;

// `enum bpf_attach_type` values the switches test.
const CGROUP_INET_INGRESS: u32 = 0;
const CGROUP_INET_EGRESS: u32 = 1;
const CGROUP_INET_SOCK_CREATE: u32 = 2;
const CGROUP_SOCK_OPS: u32 = 3;
const CGROUP_INET4_BIND: u32 = 8;
const CGROUP_INET6_BIND: u32 = 9;
const CGROUP_INET4_CONNECT: u32 = 10;
const CGROUP_INET6_CONNECT: u32 = 11;
const CGROUP_UDP4_SENDMSG: u32 = 14;
const CGROUP_UDP6_SENDMSG: u32 = 15;
const CGROUP_UDP4_RECVMSG: u32 = 19;
const CGROUP_UDP6_RECVMSG: u32 = 20;
const CGROUP_SETSOCKOPT: u32 = 22;
const TRACE_RAW_TP: u32 = 23;
const TRACE_FENTRY: u32 = 24;
const TRACE_FEXIT: u32 = 25;
const MODIFY_RETURN: u32 = 26;
const LSM_MAC: u32 = 27;
const TRACE_ITER: u32 = 28;
const CGROUP_INET4_GETPEERNAME: u32 = 29;
const CGROUP_INET6_GETPEERNAME: u32 = 30;
const CGROUP_INET4_GETSOCKNAME: u32 = 31;
const CGROUP_INET6_GETSOCKNAME: u32 = 32;
const TRACE_KPROBE_MULTI: u32 = 42;
const LSM_CGROUP: u32 = 43;
const TRACE_UPROBE_MULTI: u32 = 48;
const CGROUP_UNIX_CONNECT: u32 = 49;
const CGROUP_UNIX_SENDMSG: u32 = 50;
const CGROUP_UNIX_RECVMSG: u32 = 51;
const CGROUP_UNIX_GETPEERNAME: u32 = 52;
const CGROUP_UNIX_GETSOCKNAME: u32 = 53;
const TRACE_KPROBE_SESSION: u32 = 56;

/// What the switches look at in the calling program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The program type.
    pub prog_type: ProgType,
    /// `expected_attach_type` (0 when not given, as the kernel reads it).
    pub attach: u32,
    /// Loaded with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN.
    pub privileged: bool,
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
fn bpf_base_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
    if !c.privileged {
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
fn bpf_sk_base_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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

/// The kernel's `bpf_tracing_func_proto`.
fn bpf_tracing_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "map_lookup_elem" => "bpf_map_lookup_elem_proto",
        "map_update_elem" => "bpf_map_update_elem_proto",
        "map_delete_elem" => "bpf_map_delete_elem_proto",
        "map_push_elem" => "bpf_map_push_elem_proto",
        "map_pop_elem" => "bpf_map_pop_elem_proto",
        "map_peek_elem" => "bpf_map_peek_elem_proto",
        "map_lookup_percpu_elem" => "bpf_map_lookup_percpu_elem_proto",
        "ktime_get_ns" => "bpf_ktime_get_ns_proto",
        "ktime_get_boot_ns" => "bpf_ktime_get_boot_ns_proto",
        "tail_call" => "bpf_tail_call_proto",
        "get_current_task" => "bpf_get_current_task_proto",
        "get_current_task_btf" => "bpf_get_current_task_btf_proto",
        "task_pt_regs" => "bpf_task_pt_regs_proto",
        "get_current_uid_gid" => "bpf_get_current_uid_gid_proto",
        "get_current_comm" => "bpf_get_current_comm_proto",
        "trace_printk" => "bpf_trace_printk_proto",
        "get_smp_processor_id" => "bpf_get_smp_processor_id_proto",
        "get_numa_node_id" => "bpf_get_numa_node_id_proto",
        "perf_event_read" => "bpf_perf_event_read_proto",
        "get_prandom_u32" => "bpf_get_prandom_u32_proto",
        // The kernel here runs locked down for integrity (`LOCKDOWN_BPF_WRITE_USER`).
        "probe_write_user" => return None,
        "probe_read_user" => "bpf_probe_read_user_proto",
        "probe_read_kernel" => "bpf_probe_read_kernel_proto",
        "probe_read_user_str" => "bpf_probe_read_user_str_proto",
        "probe_read_kernel_str" => "bpf_probe_read_kernel_str_proto",
        "probe_read" => "bpf_probe_read_compat_proto",
        "probe_read_str" => "bpf_probe_read_compat_str_proto",
        "cgrp_storage_get" => "bpf_cgrp_storage_get_proto",
        "cgrp_storage_delete" => "bpf_cgrp_storage_delete_proto",
        "current_task_under_cgroup" => "bpf_current_task_under_cgroup_proto",
        "send_signal" => "bpf_send_signal_proto",
        "send_signal_thread" => "bpf_send_signal_thread_proto",
        "perf_event_read_value" => "bpf_perf_event_read_value_proto",
        "ringbuf_output" => "bpf_ringbuf_output_proto",
        "ringbuf_reserve" => "bpf_ringbuf_reserve_proto",
        "ringbuf_submit" => "bpf_ringbuf_submit_proto",
        "ringbuf_discard" => "bpf_ringbuf_discard_proto",
        "ringbuf_query" => "bpf_ringbuf_query_proto",
        "jiffies64" => "bpf_jiffies64_proto",
        "get_task_stack" if c.sleepable => "bpf_get_task_stack_sleepable_proto",
        "get_task_stack" => "bpf_get_task_stack_proto",
        "copy_from_user" => "bpf_copy_from_user_proto",
        "copy_from_user_task" => "bpf_copy_from_user_task_proto",
        "snprintf_btf" => "bpf_snprintf_btf_proto",
        "per_cpu_ptr" => "bpf_per_cpu_ptr_proto",
        "this_cpu_ptr" => "bpf_this_cpu_ptr_proto",
        "task_storage_get" if c.check_recur() => "bpf_task_storage_get_recur_proto",
        "task_storage_get" => "bpf_task_storage_get_proto",
        "task_storage_delete" if c.check_recur() => "bpf_task_storage_delete_recur_proto",
        "task_storage_delete" => "bpf_task_storage_delete_proto",
        "for_each_map_elem" => "bpf_for_each_map_elem_proto",
        "snprintf" => "bpf_snprintf_proto",
        "get_func_ip" => "bpf_get_func_ip_proto_tracing",
        "get_branch_snapshot" => "bpf_get_branch_snapshot_proto",
        "find_vma" => "bpf_find_vma_proto",
        "trace_vprintk" => "bpf_trace_vprintk_proto",
        _ => return bpf_base_func_proto(f, c),
    })
}

/// The kernel's `kprobe_prog_func_proto`.
fn kprobe_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_perf_event_output_proto",
        "get_stackid" => "bpf_get_stackid_proto",
        "get_stack" if c.sleepable => "bpf_get_stack_sleepable_proto",
        "get_stack" => "bpf_get_stack_proto",
        // bpf_override_return needs CONFIG_BPF_KPROBE_OVERRIDE, which the kernel here lacks.
        "get_func_ip" if c.kprobe_multi() => "bpf_get_func_ip_proto_kprobe_multi",
        "get_func_ip" if c.attach == TRACE_UPROBE_MULTI => "bpf_get_func_ip_proto_uprobe_multi",
        "get_func_ip" => "bpf_get_func_ip_proto_kprobe",
        "get_attach_cookie" if c.kprobe_multi() => "bpf_get_attach_cookie_proto_kmulti",
        "get_attach_cookie" if c.attach == TRACE_UPROBE_MULTI => {
            "bpf_get_attach_cookie_proto_umulti"
        }
        "get_attach_cookie" => "bpf_get_attach_cookie_proto_trace",
        _ => return bpf_tracing_func_proto(f, c),
    })
}

/// The kernel's `tp_prog_func_proto`.
fn tp_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_perf_event_output_proto_tp",
        "get_stackid" => "bpf_get_stackid_proto_tp",
        "get_stack" => "bpf_get_stack_proto_tp",
        "get_attach_cookie" => "bpf_get_attach_cookie_proto_trace",
        _ => return bpf_tracing_func_proto(f, c),
    })
}

/// The kernel's `pe_prog_func_proto`.
fn pe_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_perf_event_output_proto_tp",
        "get_stackid" => "bpf_get_stackid_proto_pe",
        "get_stack" => "bpf_get_stack_proto_pe",
        "perf_prog_read_value" => "bpf_perf_prog_read_value_proto",
        "read_branch_records" => "bpf_read_branch_records_proto",
        "get_attach_cookie" => "bpf_get_attach_cookie_proto_pe",
        _ => return bpf_tracing_func_proto(f, c),
    })
}

/// The kernel's `raw_tp_prog_func_proto`.
fn raw_tp_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_perf_event_output_proto_raw_tp",
        "get_stackid" => "bpf_get_stackid_proto_raw_tp",
        "get_stack" => "bpf_get_stack_proto_raw_tp",
        "get_attach_cookie" => "bpf_get_attach_cookie_proto_tracing",
        _ => return bpf_tracing_func_proto(f, c),
    })
}

/// The kernel's `tracing_prog_func_proto`.
fn tracing_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    let tramp = c.has_trampoline();
    let iter = c.attach == TRACE_ITER;
    Some(match f {
        "skb_output" => "bpf_skb_output_proto",
        "xdp_output" => "bpf_xdp_output_proto",
        "skc_to_tcp6_sock" => "bpf_skc_to_tcp6_sock_proto",
        "skc_to_tcp_sock" => "bpf_skc_to_tcp_sock_proto",
        "skc_to_tcp_timewait_sock" => "bpf_skc_to_tcp_timewait_sock_proto",
        "skc_to_tcp_request_sock" => "bpf_skc_to_tcp_request_sock_proto",
        "skc_to_udp6_sock" => "bpf_skc_to_udp6_sock_proto",
        "skc_to_unix_sock" => "bpf_skc_to_unix_sock_proto",
        "skc_to_mptcp_sock" => "bpf_skc_to_mptcp_sock_proto",
        "sk_storage_get" => "bpf_sk_storage_get_tracing_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_tracing_proto",
        "sock_from_file" => "bpf_sock_from_file_proto",
        "get_socket_cookie" => "bpf_get_socket_ptr_cookie_proto",
        "xdp_get_buff_len" => "bpf_xdp_get_buff_len_trace_proto",
        "seq_printf" if iter => "bpf_seq_printf_proto",
        "seq_write" if iter => "bpf_seq_write_proto",
        "seq_printf_btf" if iter => "bpf_seq_printf_btf_proto",
        "seq_printf" | "seq_write" | "seq_printf_btf" => return None,
        "d_path" => "bpf_d_path_proto",
        "get_func_arg" if tramp => "bpf_get_func_arg_proto",
        "get_func_ret" if tramp => "bpf_get_func_ret_proto",
        "get_func_arg_cnt" if tramp => "bpf_get_func_arg_cnt_proto",
        "get_func_arg" | "get_func_ret" | "get_func_arg_cnt" => return None,
        "get_attach_cookie"
            if tramp || (c.prog_type == ProgType::Tracing && c.attach == TRACE_RAW_TP) =>
        {
            "bpf_get_attach_cookie_proto_tracing"
        }
        "get_attach_cookie" => return None,
        // Iterator targets add their own helpers (`bpf_iter_get_func_proto`): the TCP
        // iterator's socket options.
        "setsockopt" | "getsockopt" if iter => return None,
        _ => return raw_tp_prog_func_proto(f, c),
    })
}

/// The kernel's `bpf_lsm_func_proto`.
fn bpf_lsm_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if c.attach == LSM_CGROUP {
        if let Some(p) = cgroup_common_func_proto(f, c) {
            return Some(p);
        }
    }
    Some(match f {
        "inode_storage_get" => "bpf_inode_storage_get_proto",
        "inode_storage_delete" => "bpf_inode_storage_delete_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "spin_lock" => "bpf_spin_lock_proto",
        "spin_unlock" => "bpf_spin_unlock_proto",
        "bprm_opts_set" => "bpf_bprm_opts_set_proto",
        "ima_inode_hash" => "bpf_ima_inode_hash_proto",
        "ima_file_hash" => "bpf_ima_file_hash_proto",
        "get_attach_cookie" if c.has_trampoline() => "bpf_get_attach_cookie_proto",
        "get_attach_cookie" => return None,
        // The socket options depend on the attached hook's BTF id; not modelled.
        "setsockopt" | "getsockopt" => return None,
        _ => return tracing_prog_func_proto(f, c),
    })
}

/// The kernel's `syscall_prog_func_proto`.
fn syscall_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "btf_find_by_name_kind" => "bpf_btf_find_by_name_kind_proto",
        "sys_close" => "bpf_sys_close_proto",
        "kallsyms_lookup_name" => "bpf_kallsyms_lookup_name_proto",
        "sys_bpf" if c.privileged => "bpf_sys_bpf_proto",
        "sys_bpf" => return None,
        _ => return tracing_prog_func_proto(f, c),
    })
}

/// The kernel's `cgroup_common_func_proto`.
fn cgroup_common_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    // Attach types whose hooks have no return value to get or set.
    let no_retval = matches!(
        c.attach,
        CGROUP_INET_INGRESS
            | CGROUP_INET_EGRESS
            | CGROUP_SOCK_OPS
            | CGROUP_UDP4_RECVMSG
            | CGROUP_UDP6_RECVMSG
            | CGROUP_UNIX_RECVMSG
            | CGROUP_INET4_GETPEERNAME
            | CGROUP_INET6_GETPEERNAME
            | CGROUP_UNIX_GETPEERNAME
            | CGROUP_INET4_GETSOCKNAME
            | CGROUP_INET6_GETSOCKNAME
            | CGROUP_UNIX_GETSOCKNAME
    );
    Some(match f {
        "get_local_storage" => "bpf_get_local_storage_proto",
        "get_retval" if !no_retval => "bpf_get_retval_proto",
        "set_retval" if !no_retval => "bpf_set_retval_proto",
        _ => return None,
    })
}

/// The kernel's `cgroup_current_func_proto`.
fn cgroup_current_func_proto(f: &str, _c: &Caller) -> Option<&'static str> {
    Some(match f {
        "get_current_uid_gid" => "bpf_get_current_uid_gid_proto",
        "get_current_comm" => "bpf_get_current_comm_proto",
        "get_cgroup_classid" => "bpf_get_cgroup_classid_curr_proto",
        "current_task_under_cgroup" => "bpf_current_task_under_cgroup_proto",
        _ => return None,
    })
}

/// The kernel's `cgroup_dev_func_proto`.
fn cgroup_dev_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    if let Some(p) = cgroup_current_func_proto(f, c) {
        return Some(p);
    }
    Some(match f {
        "perf_event_output" => "bpf_event_output_data_proto",
        _ => return bpf_base_func_proto(f, c),
    })
}

/// The kernel's `sysctl_func_proto`.
fn sysctl_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    if let Some(p) = cgroup_current_func_proto(f, c) {
        return Some(p);
    }
    Some(match f {
        "sysctl_get_name" => "bpf_sysctl_get_name_proto",
        "sysctl_get_current_value" => "bpf_sysctl_get_current_value_proto",
        "sysctl_get_new_value" => "bpf_sysctl_get_new_value_proto",
        "sysctl_set_new_value" => "bpf_sysctl_set_new_value_proto",
        "ktime_get_coarse_ns" => "bpf_ktime_get_coarse_ns_proto",
        "perf_event_output" => "bpf_event_output_data_proto",
        _ => return bpf_base_func_proto(f, c),
    })
}

/// The kernel's `cg_sockopt_func_proto`.
fn cg_sockopt_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    if let Some(p) = cgroup_current_func_proto(f, c) {
        return Some(p);
    }
    Some(match f {
        "get_netns_cookie" => "bpf_get_netns_cookie_sockopt_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "tcp_sock" => "bpf_tcp_sock_proto",
        "perf_event_output" => "bpf_event_output_data_proto",
        "setsockopt" if c.attach == CGROUP_SETSOCKOPT => "bpf_sk_setsockopt_proto",
        "getsockopt" if c.attach == CGROUP_SETSOCKOPT => "bpf_sk_getsockopt_proto",
        "setsockopt" | "getsockopt" => return None,
        _ => return bpf_base_func_proto(f, c),
    })
}

/// The kernel's `sock_filter_func_proto`.
fn sock_filter_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    if let Some(p) = cgroup_current_func_proto(f, c) {
        return Some(p);
    }
    Some(match f {
        "get_socket_cookie" => "bpf_get_socket_cookie_sock_proto",
        "get_netns_cookie" => "bpf_get_netns_cookie_sock_proto",
        "perf_event_output" => "bpf_event_output_data_proto",
        "sk_storage_get" => "bpf_sk_storage_get_cg_sock_proto",
        "ktime_get_coarse_ns" => "bpf_ktime_get_coarse_ns_proto",
        _ => return bpf_base_func_proto(f, c),
    })
}

/// The kernel's `sock_addr_func_proto`.
fn sock_addr_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    if let Some(p) = cgroup_current_func_proto(f, c) {
        return Some(p);
    }
    let sockopt_ok = matches!(
        c.attach,
        CGROUP_INET4_BIND
            | CGROUP_INET6_BIND
            | CGROUP_INET4_CONNECT
            | CGROUP_INET6_CONNECT
            | CGROUP_UNIX_CONNECT
            | CGROUP_UDP4_RECVMSG
            | CGROUP_UDP6_RECVMSG
            | CGROUP_UNIX_RECVMSG
            | CGROUP_UDP4_SENDMSG
            | CGROUP_UDP6_SENDMSG
            | CGROUP_UNIX_SENDMSG
            | CGROUP_INET4_GETPEERNAME
            | CGROUP_INET6_GETPEERNAME
            | CGROUP_INET4_GETSOCKNAME
            | CGROUP_INET6_GETSOCKNAME
    );
    Some(match f {
        "get_socket_cookie" => "bpf_get_socket_cookie_sock_addr_proto",
        "get_netns_cookie" => "bpf_get_netns_cookie_sock_addr_proto",
        "perf_event_output" => "bpf_event_output_data_proto",
        "sk_lookup_tcp" => "bpf_sock_addr_sk_lookup_tcp_proto",
        "sk_lookup_udp" => "bpf_sock_addr_sk_lookup_udp_proto",
        "sk_release" => "bpf_sk_release_proto",
        "skc_lookup_tcp" => "bpf_sock_addr_skc_lookup_tcp_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "bind" if matches!(c.attach, CGROUP_INET4_CONNECT | CGROUP_INET6_CONNECT) => {
            "bpf_bind_proto"
        }
        "setsockopt" if sockopt_ok => "bpf_sock_addr_setsockopt_proto",
        "getsockopt" if sockopt_ok => "bpf_sock_addr_getsockopt_proto",
        "bind" | "setsockopt" | "getsockopt" => return None,
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `sk_filter_func_proto`.
fn sk_filter_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "skb_load_bytes" => "bpf_skb_load_bytes_proto",
        "skb_load_bytes_relative" => "bpf_skb_load_bytes_relative_proto",
        "get_socket_cookie" => "bpf_get_socket_cookie_proto",
        "get_socket_uid" => "bpf_get_socket_uid_proto",
        "perf_event_output" => "bpf_skb_event_output_proto",
        // Since 6.14.
        "get_netns_cookie" => "bpf_skb_get_netns_cookie_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `cg_skb_func_proto`.
fn cg_skb_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    Some(match f {
        "sk_fullsock" => "bpf_sk_fullsock_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "perf_event_output" => "bpf_skb_event_output_proto",
        "skb_cgroup_id" => "bpf_skb_cgroup_id_proto",
        "skb_ancestor_cgroup_id" => "bpf_skb_ancestor_cgroup_id_proto",
        "sk_cgroup_id" => "bpf_sk_cgroup_id_proto",
        "sk_ancestor_cgroup_id" => "bpf_sk_ancestor_cgroup_id_proto",
        "sk_lookup_tcp" => "bpf_sk_lookup_tcp_proto",
        "sk_lookup_udp" => "bpf_sk_lookup_udp_proto",
        "sk_release" => "bpf_sk_release_proto",
        "skc_lookup_tcp" => "bpf_skc_lookup_tcp_proto",
        "tcp_sock" => "bpf_tcp_sock_proto",
        "get_listener_sock" => "bpf_get_listener_sock_proto",
        "skb_ecn_set_ce" => "bpf_skb_ecn_set_ce_proto",
        _ => return sk_filter_func_proto(f, c),
    })
}

/// The kernel's `tc_cls_act_func_proto`.
fn tc_cls_act_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        // Since 6.14.
        "get_netns_cookie" => "bpf_skb_get_netns_cookie_proto",
        "skb_store_bytes" => "bpf_skb_store_bytes_proto",
        "skb_load_bytes" => "bpf_skb_load_bytes_proto",
        "skb_load_bytes_relative" => "bpf_skb_load_bytes_relative_proto",
        "skb_pull_data" => "bpf_skb_pull_data_proto",
        "csum_diff" => "bpf_csum_diff_proto",
        "csum_update" => "bpf_csum_update_proto",
        "csum_level" => "bpf_csum_level_proto",
        "l3_csum_replace" => "bpf_l3_csum_replace_proto",
        "l4_csum_replace" => "bpf_l4_csum_replace_proto",
        "clone_redirect" => "bpf_clone_redirect_proto",
        "get_cgroup_classid" => "bpf_get_cgroup_classid_proto",
        "skb_vlan_push" => "bpf_skb_vlan_push_proto",
        "skb_vlan_pop" => "bpf_skb_vlan_pop_proto",
        "skb_change_proto" => "bpf_skb_change_proto_proto",
        "skb_change_type" => "bpf_skb_change_type_proto",
        "skb_adjust_room" => "bpf_skb_adjust_room_proto",
        "skb_change_tail" => "bpf_skb_change_tail_proto",
        "skb_change_head" => "bpf_skb_change_head_proto",
        "skb_get_tunnel_key" => "bpf_skb_get_tunnel_key_proto",
        "skb_get_tunnel_opt" => "bpf_skb_get_tunnel_opt_proto",
        "redirect" => "bpf_redirect_proto",
        "redirect_neigh" => "bpf_redirect_neigh_proto",
        "redirect_peer" => "bpf_redirect_peer_proto",
        "get_route_realm" => "bpf_get_route_realm_proto",
        "get_hash_recalc" => "bpf_get_hash_recalc_proto",
        "set_hash_invalid" => "bpf_set_hash_invalid_proto",
        "set_hash" => "bpf_set_hash_proto",
        "perf_event_output" => "bpf_skb_event_output_proto",
        "get_smp_processor_id" => "bpf_get_smp_processor_id_proto",
        "skb_under_cgroup" => "bpf_skb_under_cgroup_proto",
        "get_socket_cookie" => "bpf_get_socket_cookie_proto",
        "get_socket_uid" => "bpf_get_socket_uid_proto",
        "fib_lookup" => "bpf_skb_fib_lookup_proto",
        "check_mtu" => "bpf_skb_check_mtu_proto",
        "sk_fullsock" => "bpf_sk_fullsock_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "skb_get_xfrm_state" => "bpf_skb_get_xfrm_state_proto",
        "skb_cgroup_classid" => "bpf_skb_cgroup_classid_proto",
        "skb_cgroup_id" => "bpf_skb_cgroup_id_proto",
        "skb_ancestor_cgroup_id" => "bpf_skb_ancestor_cgroup_id_proto",
        "sk_lookup_tcp" => "bpf_tc_sk_lookup_tcp_proto",
        "sk_lookup_udp" => "bpf_tc_sk_lookup_udp_proto",
        "sk_release" => "bpf_sk_release_proto",
        "tcp_sock" => "bpf_tcp_sock_proto",
        "get_listener_sock" => "bpf_get_listener_sock_proto",
        "skc_lookup_tcp" => "bpf_tc_skc_lookup_tcp_proto",
        "tcp_check_syncookie" => "bpf_tcp_check_syncookie_proto",
        "skb_ecn_set_ce" => "bpf_skb_ecn_set_ce_proto",
        "tcp_gen_syncookie" => "bpf_tcp_gen_syncookie_proto",
        "sk_assign" => "bpf_sk_assign_proto",
        "skb_set_tstamp" => "bpf_skb_set_tstamp_proto",
        "tcp_raw_gen_syncookie_ipv4" => "bpf_tcp_raw_gen_syncookie_ipv4_proto",
        "tcp_raw_gen_syncookie_ipv6" => "bpf_tcp_raw_gen_syncookie_ipv6_proto",
        "tcp_raw_check_syncookie_ipv4" => "bpf_tcp_raw_check_syncookie_ipv4_proto",
        "tcp_raw_check_syncookie_ipv6" => "bpf_tcp_raw_check_syncookie_ipv6_proto",
        "skb_set_tunnel_key" => "bpf_skb_set_tunnel_key_proto",
        "skb_set_tunnel_opt" => "bpf_skb_set_tunnel_opt_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `xdp_func_proto`.
fn xdp_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_xdp_event_output_proto",
        "get_smp_processor_id" => "bpf_get_smp_processor_id_proto",
        "csum_diff" => "bpf_csum_diff_proto",
        "xdp_adjust_head" => "bpf_xdp_adjust_head_proto",
        "xdp_adjust_meta" => "bpf_xdp_adjust_meta_proto",
        "redirect" => "bpf_xdp_redirect_proto",
        "redirect_map" => "bpf_xdp_redirect_map_proto",
        "xdp_adjust_tail" => "bpf_xdp_adjust_tail_proto",
        "xdp_get_buff_len" => "bpf_xdp_get_buff_len_proto",
        "xdp_load_bytes" => "bpf_xdp_load_bytes_proto",
        "xdp_store_bytes" => "bpf_xdp_store_bytes_proto",
        "fib_lookup" => "bpf_xdp_fib_lookup_proto",
        "check_mtu" => "bpf_xdp_check_mtu_proto",
        "sk_lookup_udp" => "bpf_xdp_sk_lookup_udp_proto",
        "sk_lookup_tcp" => "bpf_xdp_sk_lookup_tcp_proto",
        "sk_release" => "bpf_sk_release_proto",
        "skc_lookup_tcp" => "bpf_xdp_skc_lookup_tcp_proto",
        "tcp_check_syncookie" => "bpf_tcp_check_syncookie_proto",
        "tcp_gen_syncookie" => "bpf_tcp_gen_syncookie_proto",
        "tcp_raw_gen_syncookie_ipv4" => "bpf_tcp_raw_gen_syncookie_ipv4_proto",
        "tcp_raw_gen_syncookie_ipv6" => "bpf_tcp_raw_gen_syncookie_ipv6_proto",
        "tcp_raw_check_syncookie_ipv4" => "bpf_tcp_raw_check_syncookie_ipv4_proto",
        "tcp_raw_check_syncookie_ipv6" => "bpf_tcp_raw_check_syncookie_ipv6_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `sock_ops_func_proto`.
fn sock_ops_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    if let Some(p) = cgroup_common_func_proto(f, c) {
        return Some(p);
    }
    Some(match f {
        "setsockopt" => "bpf_sock_ops_setsockopt_proto",
        "getsockopt" => "bpf_sock_ops_getsockopt_proto",
        "sock_ops_cb_flags_set" => "bpf_sock_ops_cb_flags_set_proto",
        "sock_map_update" => "bpf_sock_map_update_proto",
        "sock_hash_update" => "bpf_sock_hash_update_proto",
        "get_socket_cookie" => "bpf_get_socket_cookie_sock_ops_proto",
        "perf_event_output" => "bpf_event_output_data_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "get_netns_cookie" => "bpf_get_netns_cookie_sock_ops_proto",
        "load_hdr_opt" => "bpf_sock_ops_load_hdr_opt_proto",
        "store_hdr_opt" => "bpf_sock_ops_store_hdr_opt_proto",
        "reserve_hdr_opt" => "bpf_sock_ops_reserve_hdr_opt_proto",
        "tcp_sock" => "bpf_tcp_sock_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `sk_msg_func_proto`.
fn sk_msg_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "msg_redirect_map" => "bpf_msg_redirect_map_proto",
        "msg_redirect_hash" => "bpf_msg_redirect_hash_proto",
        "msg_apply_bytes" => "bpf_msg_apply_bytes_proto",
        "msg_cork_bytes" => "bpf_msg_cork_bytes_proto",
        "msg_pull_data" => "bpf_msg_pull_data_proto",
        "msg_push_data" => "bpf_msg_push_data_proto",
        "msg_pop_data" => "bpf_msg_pop_data_proto",
        "perf_event_output" => "bpf_event_output_data_proto",
        "get_current_uid_gid" => "bpf_get_current_uid_gid_proto",
        "sk_storage_get" => "bpf_sk_storage_get_proto",
        "sk_storage_delete" => "bpf_sk_storage_delete_proto",
        "get_netns_cookie" => "bpf_get_netns_cookie_sk_msg_proto",
        "get_cgroup_classid" => "bpf_get_cgroup_classid_curr_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `sk_skb_func_proto`.
fn sk_skb_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "skb_store_bytes" => "bpf_skb_store_bytes_proto",
        "skb_load_bytes" => "bpf_skb_load_bytes_proto",
        "skb_pull_data" => "sk_skb_pull_data_proto",
        "skb_change_tail" => "sk_skb_change_tail_proto",
        "skb_change_head" => "sk_skb_change_head_proto",
        "skb_adjust_room" => "sk_skb_adjust_room_proto",
        "get_socket_cookie" => "bpf_get_socket_cookie_proto",
        "get_socket_uid" => "bpf_get_socket_uid_proto",
        "sk_redirect_map" => "bpf_sk_redirect_map_proto",
        "sk_redirect_hash" => "bpf_sk_redirect_hash_proto",
        "perf_event_output" => "bpf_skb_event_output_proto",
        "sk_lookup_tcp" => "bpf_sk_lookup_tcp_proto",
        "sk_lookup_udp" => "bpf_sk_lookup_udp_proto",
        "sk_release" => "bpf_sk_release_proto",
        "skc_lookup_tcp" => "bpf_skc_lookup_tcp_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `flow_dissector_func_proto`.
fn flow_dissector_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "skb_load_bytes" => "bpf_flow_dissector_load_bytes_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `lwt_out_func_proto`.
fn lwt_out_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "skb_load_bytes" => "bpf_skb_load_bytes_proto",
        "skb_pull_data" => "bpf_skb_pull_data_proto",
        "csum_diff" => "bpf_csum_diff_proto",
        "get_cgroup_classid" => "bpf_get_cgroup_classid_proto",
        "get_route_realm" => "bpf_get_route_realm_proto",
        "get_hash_recalc" => "bpf_get_hash_recalc_proto",
        "perf_event_output" => "bpf_skb_event_output_proto",
        "get_smp_processor_id" => "bpf_get_smp_processor_id_proto",
        "skb_under_cgroup" => "bpf_skb_under_cgroup_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `lwt_in_func_proto`.
fn lwt_in_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "lwt_push_encap" => "bpf_lwt_in_push_encap_proto",
        _ => return lwt_out_func_proto(f, c),
    })
}

/// The kernel's `lwt_xmit_func_proto`.
fn lwt_xmit_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "skb_get_tunnel_key" => "bpf_skb_get_tunnel_key_proto",
        "skb_get_tunnel_opt" => "bpf_skb_get_tunnel_opt_proto",
        "redirect" => "bpf_redirect_proto",
        "clone_redirect" => "bpf_clone_redirect_proto",
        "skb_change_tail" => "bpf_skb_change_tail_proto",
        "skb_change_head" => "bpf_skb_change_head_proto",
        "skb_store_bytes" => "bpf_skb_store_bytes_proto",
        "csum_update" => "bpf_csum_update_proto",
        "csum_level" => "bpf_csum_level_proto",
        "l3_csum_replace" => "bpf_l3_csum_replace_proto",
        "l4_csum_replace" => "bpf_l4_csum_replace_proto",
        "set_hash_invalid" => "bpf_set_hash_invalid_proto",
        "lwt_push_encap" => "bpf_lwt_xmit_push_encap_proto",
        "skb_set_tunnel_key" => "bpf_skb_set_tunnel_key_proto",
        "skb_set_tunnel_opt" => "bpf_skb_set_tunnel_opt_proto",
        _ => return lwt_out_func_proto(f, c),
    })
}

/// The kernel's `lwt_seg6local_func_proto`.
fn lwt_seg6local_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        // The seg6 helpers need CONFIG_IPV6_SEG6_BPF, which the kernel here lacks; 6.18
        // lets these programs pull data.
        "lwt_seg6_store_bytes" | "lwt_seg6_action" | "lwt_seg6_adjust_srh" => return None,
        "skb_pull_data" => "sk_skb_pull_data_proto",
        _ => return lwt_out_func_proto(f, c),
    })
}

/// The kernel's `sk_reuseport_func_proto`.
fn sk_reuseport_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "sk_select_reuseport" => "sk_select_reuseport_proto",
        "skb_load_bytes" => "sk_reuseport_load_bytes_proto",
        "skb_load_bytes_relative" => "sk_reuseport_load_bytes_relative_proto",
        "get_socket_cookie" => "bpf_get_socket_ptr_cookie_proto",
        "ktime_get_coarse_ns" => "bpf_ktime_get_coarse_ns_proto",
        _ => return bpf_base_func_proto(f, c),
    })
}

/// The kernel's `sk_lookup_func_proto`.
fn sk_lookup_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_event_output_data_proto",
        "sk_assign" => "bpf_sk_lookup_assign_proto",
        "sk_release" => "bpf_sk_release_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}
