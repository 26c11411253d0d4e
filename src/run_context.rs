//! The context of a run as the kernel's test run would have it: which kind each program
//! type takes, and a socket buffer presented from the header the kernel's test run shows.

use bpfbox_vm::context::{Context, ContextKind};
use bpfbox_vm::ProgType;

/// The context kind a program type's runs take, as the kernel's test run builds it; `None`
/// where more than one fits (tracing and perf-event programs).
pub(crate) fn context_kind(t: ProgType) -> Option<ContextKind> {
    use ProgType::*;
    Some(match t {
        Xdp => ContextKind::Xdp,
        SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit | SkSkb => {
            ContextKind::Skb
        }
        Kprobe => ContextKind::Kprobe,
        RawTracepoint | RawTracepointWritable => ContextKind::RawTracepoint,
        Tracepoint => ContextKind::Tracepoint,
        Syscall => ContextKind::Syscall,
        _ => return None,
    })
}

/// How a context kind is named in errors: the constructor that makes it.
pub(crate) fn context_name(k: ContextKind) -> &'static str {
    match k {
        ContextKind::Xdp => "an XDP context (Context::xdp, struct xdp_md)",
        ContextKind::Skb => "a socket-buffer context (Context::skb, struct __sk_buff)",
        ContextKind::Kprobe => "a kprobe context (Context::kprobe, struct pt_regs)",
        ContextKind::RawTracepoint => {
            "a raw tracepoint context (Context::raw_tracepoint, u64 arguments)"
        }
        ContextKind::Tracepoint => "a tracepoint context (Context::tracepoint, the record)",
        ContextKind::Syscall => "a syscall context (Context::syscall, user bytes)",
        ContextKind::Struct => "a uapi context struct (Context::uapi_struct, the type's bytes)",
    }
}

/// A socket-buffer context at the MAC header ([`Context::skb`]) for a program whose kernel
/// test run sees the packet from the network header (socket filters, cgroup skb, LWT in and
/// out): `bpf_prog_test_run_skb` pulls the Ethernet header for every program type but TC's
/// (`is_l2`), so the run does the same, keeping the `__sk_buff` fields a test may set.
pub(crate) fn pull_l2(ctx: Context, t: ProgType) -> Context {
    use bpfbox_vm::context::skb_off;
    let pulled_types = matches!(
        t,
        ProgType::SocketFilter
            | ProgType::CgroupSkb
            | ProgType::LwtIn
            | ProgType::LwtOut
            | ProgType::LwtXmit
    );
    if ctx.kind() != ContextKind::Skb || !pulled_types {
        return ctx;
    }
    let Some(bounds) = ctx.skb_bounds() else {
        return ctx;
    };
    let packet = ctx.packet();
    // Built with the Ethernet header already pulled (Context::skb_at(.., false)), or too
    // short to hold one.
    if bounds.data != bounds.mac || packet.len() < ETH_HLEN {
        return ctx;
    }
    let mut out = Context::skb_at(packet, false);
    let keep: [(u64, u64); 7] = [
        (skb_off::MARK, 4),
        (skb_off::PRIORITY, 4),
        (skb_off::INGRESS_IFINDEX, 4),
        (skb_off::IFINDEX, 4),
        (skb_off::CB, 20),
        (skb_off::TSTAMP, 8),
        (skb_off::WIRE_LEN, 4),
    ];
    for (off, len) in keep {
        let (o, n) = (off as usize, len as usize);
        let bytes = ctx.ctx_bytes()[o..o + n].to_vec();
        out.ctx_bytes_mut()[o..o + n].copy_from_slice(&bytes);
    }
    out
}

const ETH_HLEN: usize = 14;
