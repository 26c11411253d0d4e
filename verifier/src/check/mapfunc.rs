//! Which helpers each map type may be passed to, checked both ways as the kernel's
//! `check_map_func_compatibility` does (`cannot pass map_type %d into func %s#%d`).

use bpfbox_vm::attach::TRACE_ITER;
use bpfbox_vm::helper_names::helper_id;
use bpfbox_vm::maps::spec::MapType;
use bpfbox_vm::ProgType;

fn id(name: &str) -> i32 {
    helper_id(name).unwrap_or(-1)
}

fn is(f: i32, names: &[&str]) -> bool {
    names.iter().any(|n| id(n) == f)
}

/// `may_update_sockmap` for an update or delete: allowed from where no socket lock can be
/// held.
fn may_update_sockmap(f: i32, prog: ProgType, attach: u32) -> bool {
    use ProgType::*;
    match prog {
        Tracing => attach == TRACE_ITER,
        SockOps => f == id("bpf_map_delete_elem"),
        SocketFilter | SchedCls | SchedAct | Xdp | SkReuseport | FlowDissector | SkLookup => true,
        _ => false,
    }
}

/// Whether map type `m` may be passed to helper `f`; `Err` holds the kernel's message (with
/// `cannot update sockmap in this context` before it when that is why).
pub fn check(m: MapType, f: i32, name: &str, prog: ProgType, attach: u32) -> Result<(), String> {
    use MapType::*;
    let mut extra = String::new();
    let sockmap_update = |extra: &mut String| {
        if !is(f, &["bpf_map_update_elem", "bpf_map_delete_elem"]) {
            return false;
        }
        let ok = may_update_sockmap(f, prog, attach);
        if !ok {
            extra.push_str("cannot update sockmap in this context\n");
        }
        ok
    };
    let map_ok = match m {
        ProgArray => is(f, &["bpf_tail_call"]),
        PerfEventArray => is(
            f,
            &[
                "bpf_perf_event_read",
                "bpf_perf_event_output",
                "bpf_skb_output",
                "bpf_perf_event_read_value",
                "bpf_xdp_output",
            ],
        ),
        Ringbuf => is(
            f,
            &[
                "bpf_ringbuf_output",
                "bpf_ringbuf_reserve",
                "bpf_ringbuf_query",
                "bpf_ringbuf_reserve_dynptr",
                "bpf_ringbuf_submit_dynptr",
                "bpf_ringbuf_discard_dynptr",
            ],
        ),
        UserRingbuf => is(f, &["bpf_user_ringbuf_drain"]),
        StackTrace => is(f, &["bpf_get_stackid"]),
        CgroupArray => is(
            f,
            &["bpf_skb_under_cgroup", "bpf_current_task_under_cgroup"],
        ),
        CgroupStorage | PercpuCgroupStorage => is(f, &["bpf_get_local_storage"]),
        Devmap | DevmapHash => is(f, &["bpf_redirect_map", "bpf_map_lookup_elem"]),
        Cpumap => is(f, &["bpf_redirect_map"]),
        Xskmap => is(f, &["bpf_redirect_map", "bpf_map_lookup_elem"]),
        ArrayOfMaps | HashOfMaps => is(f, &["bpf_map_lookup_elem"]),
        Sockmap => {
            is(
                f,
                &[
                    "bpf_sk_redirect_map",
                    "bpf_sock_map_update",
                    "bpf_msg_redirect_map",
                    "bpf_sk_select_reuseport",
                    "bpf_map_lookup_elem",
                ],
            ) || sockmap_update(&mut extra)
        }
        Sockhash => {
            is(
                f,
                &[
                    "bpf_sk_redirect_hash",
                    "bpf_sock_hash_update",
                    "bpf_msg_redirect_hash",
                    "bpf_sk_select_reuseport",
                    "bpf_map_lookup_elem",
                ],
            ) || sockmap_update(&mut extra)
        }
        ReuseportSockarray => is(f, &["bpf_sk_select_reuseport"]),
        Queue | Stack => is(
            f,
            &["bpf_map_peek_elem", "bpf_map_pop_elem", "bpf_map_push_elem"],
        ),
        SkStorage => is(
            f,
            &[
                "bpf_sk_storage_get",
                "bpf_sk_storage_delete",
                "bpf_kptr_xchg",
            ],
        ),
        InodeStorage => is(
            f,
            &[
                "bpf_inode_storage_get",
                "bpf_inode_storage_delete",
                "bpf_kptr_xchg",
            ],
        ),
        TaskStorage => is(
            f,
            &[
                "bpf_task_storage_get",
                "bpf_task_storage_delete",
                "bpf_kptr_xchg",
            ],
        ),
        CgrpStorage => is(
            f,
            &[
                "bpf_cgrp_storage_get",
                "bpf_cgrp_storage_delete",
                "bpf_kptr_xchg",
            ],
        ),
        BloomFilter => is(f, &["bpf_map_peek_elem", "bpf_map_push_elem"]),
        _ => true,
    };
    let func_ok = || -> bool {
        let one_of = |ts: &[MapType]| ts.contains(&m);
        let fname = name;
        match fname {
            "bpf_tail_call" => one_of(&[ProgArray]),
            "bpf_perf_event_read"
            | "bpf_perf_event_output"
            | "bpf_perf_event_read_value"
            | "bpf_skb_output"
            | "bpf_xdp_output" => one_of(&[PerfEventArray]),
            "bpf_ringbuf_output"
            | "bpf_ringbuf_reserve"
            | "bpf_ringbuf_query"
            | "bpf_ringbuf_reserve_dynptr"
            | "bpf_ringbuf_submit_dynptr"
            | "bpf_ringbuf_discard_dynptr" => one_of(&[Ringbuf]),
            "bpf_user_ringbuf_drain" => one_of(&[UserRingbuf]),
            "bpf_get_stackid" => one_of(&[StackTrace]),
            "bpf_current_task_under_cgroup" | "bpf_skb_under_cgroup" => one_of(&[CgroupArray]),
            "bpf_redirect_map" => one_of(&[Devmap, DevmapHash, Cpumap, Xskmap]),
            "bpf_sk_redirect_map" | "bpf_msg_redirect_map" | "bpf_sock_map_update" => {
                one_of(&[Sockmap])
            }
            "bpf_sk_redirect_hash" | "bpf_msg_redirect_hash" | "bpf_sock_hash_update" => {
                one_of(&[Sockhash])
            }
            "bpf_get_local_storage" => one_of(&[CgroupStorage, PercpuCgroupStorage]),
            "bpf_sk_select_reuseport" => one_of(&[ReuseportSockarray, Sockmap, Sockhash]),
            "bpf_map_pop_elem" => one_of(&[Queue, Stack]),
            "bpf_map_peek_elem" | "bpf_map_push_elem" => one_of(&[Queue, Stack, BloomFilter]),
            "bpf_map_lookup_percpu_elem" => one_of(&[PercpuArray, PercpuHash, LruPercpuHash]),
            "bpf_sk_storage_get" | "bpf_sk_storage_delete" => one_of(&[SkStorage]),
            "bpf_inode_storage_get" | "bpf_inode_storage_delete" => one_of(&[InodeStorage]),
            "bpf_task_storage_get" | "bpf_task_storage_delete" => one_of(&[TaskStorage]),
            "bpf_cgrp_storage_get" | "bpf_cgrp_storage_delete" => one_of(&[CgrpStorage]),
            _ => true,
        }
    };
    if map_ok && func_ok() {
        return Ok(());
    }
    if !map_ok && !extra.is_empty() {
        return Err(format!(
            "{extra}cannot pass map_type {} into func {name}#{f}",
            m as u32
        ));
    }
    Err(format!(
        "cannot pass map_type {} into func {name}#{f}",
        m as u32
    ))
}
