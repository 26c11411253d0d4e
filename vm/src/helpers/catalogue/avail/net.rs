//! The packet and socket program types: socket filters, cgroup skb, tc, XDP, sock_ops,
//! sk_msg, sk_skb, flow dissector, lightweight tunnels, reuseport and sk_lookup.

use super::*;

/// The kernel's `sk_filter_func_proto`.
pub(super) fn sk_filter_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn cg_skb_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn tc_cls_act_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn xdp_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sock_ops_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sk_msg_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sk_skb_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn flow_dissector_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "skb_load_bytes" => "bpf_flow_dissector_load_bytes_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}

/// The kernel's `lwt_out_func_proto`.
pub(super) fn lwt_out_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn lwt_in_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "lwt_push_encap" => "bpf_lwt_in_push_encap_proto",
        _ => return lwt_out_func_proto(f, c),
    })
}

/// The kernel's `lwt_xmit_func_proto`.
pub(super) fn lwt_xmit_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn lwt_seg6local_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        // The seg6 helpers need CONFIG_IPV6_SEG6_BPF, which the kernel here lacks; 6.18
        // lets these programs pull data.
        "lwt_seg6_store_bytes" | "lwt_seg6_action" | "lwt_seg6_adjust_srh" => return None,
        "skb_pull_data" => "sk_skb_pull_data_proto",
        _ => return lwt_out_func_proto(f, c),
    })
}

/// The kernel's `sk_reuseport_func_proto`.
pub(super) fn sk_reuseport_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
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
pub(super) fn sk_lookup_func_proto(f: &str, c: &Caller) -> Option<&'static str> {
    Some(match f {
        "perf_event_output" => "bpf_event_output_data_proto",
        "sk_assign" => "bpf_sk_lookup_assign_proto",
        "sk_release" => "bpf_sk_release_proto",
        _ => return bpf_sk_base_func_proto(f, c),
    })
}
