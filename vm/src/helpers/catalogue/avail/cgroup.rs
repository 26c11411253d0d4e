//! The cgroup program types: device, sysctl, sockopt, socket creation and socket address
//! hooks, and what every cgroup hook shares.

use super::*;

/// The kernel's `cgroup_common_func_proto`.
pub(super) fn cgroup_common_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn cgroup_current_func_proto(f: &str, _c: &Caller) -> Option<&'static str> {
    Some(match f {
        "get_current_uid_gid" => "bpf_get_current_uid_gid_proto",
        "get_current_comm" => "bpf_get_current_comm_proto",
        "get_cgroup_classid" => "bpf_get_cgroup_classid_curr_proto",
        "current_task_under_cgroup" => "bpf_current_task_under_cgroup_proto",
        _ => return None,
    })
}

/// The kernel's `cgroup_dev_func_proto`.
pub(super) fn cgroup_dev_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sysctl_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn cg_sockopt_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sock_filter_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sock_addr_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
