//! The tracing program types: kprobe, tracepoint, perf event, raw tracepoint, tracing
//! (fentry/fexit/iterators), LSM and syscall programs.

use super::*;

/// The kernel's `bpf_tracing_func_proto`.
pub(super) fn bpf_tracing_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn kprobe_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn tp_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_perf_event_output_proto_tp",
        "get_stackid" => "bpf_get_stackid_proto_tp",
        "get_stack" => "bpf_get_stack_proto_tp",
        "get_attach_cookie" => "bpf_get_attach_cookie_proto_trace",
        _ => return bpf_tracing_func_proto(f, c),
    })
}

/// The kernel's `pe_prog_func_proto`.
pub(super) fn pe_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn raw_tp_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_perf_event_output_proto_raw_tp",
        "get_stackid" => "bpf_get_stackid_proto_raw_tp",
        "get_stack" => "bpf_get_stack_proto_raw_tp",
        "get_attach_cookie" => "bpf_get_attach_cookie_proto_tracing",
        _ => return bpf_tracing_func_proto(f, c),
    })
}

/// The kernel's `tracing_prog_func_proto`.
pub(super) fn tracing_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn bpf_lsm_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn syscall_prog_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "btf_find_by_name_kind" => "bpf_btf_find_by_name_kind_proto",
        "sys_close" => "bpf_sys_close_proto",
        "kallsyms_lookup_name" => "bpf_kallsyms_lookup_name_proto",
        "sys_bpf" if c.privileged => "bpf_sys_bpf_proto",
        "sys_bpf" => return None,
        _ => return tracing_prog_func_proto(f, c),
    })
}
