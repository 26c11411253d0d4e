//! Program section names: libbpf's `section_defs` table and its matching rules.
//!
//! A definition ending in `+` matches the exact name or the name followed by `/extras`
//! (`kprobe` and `kprobe/do_sys_open`); any other definition matches exactly. The first
//! matching definition in table order wins, which is why `sk_reuseport/migrate` precedes
//! `sk_reuseport` and `xdp.frags/devmap` precedes `xdp.frags`.

use bpfbox_vm::ProgType;

/// `BPF_F_SLEEPABLE` program flag.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS` program flag.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// The kernel's `enum bpf_attach_type` ids (kept in `bpfbox_vm` with the program types).
pub use bpfbox_vm::attach;

const NONE: u8 = 0;
const SLEEPABLE: u8 = 1;
const FRAGS: u8 = 2;

/// One row of the table: section pattern, program type, expected attach type, flags.
struct SecDef(&'static str, ProgType, Option<u32>, u8);

use attach as a;
use ProgType as P;

#[rustfmt::skip]
static SECTION_DEFS: &[SecDef] = &[
    SecDef("socket", P::SocketFilter, None, NONE),
    SecDef("sk_reuseport/migrate", P::SkReuseport, Some(a::SK_REUSEPORT_SELECT_OR_MIGRATE), NONE),
    SecDef("sk_reuseport", P::SkReuseport, Some(a::SK_REUSEPORT_SELECT), NONE),
    SecDef("kprobe+", P::Kprobe, None, NONE),
    SecDef("uprobe+", P::Kprobe, None, NONE),
    SecDef("uprobe.s+", P::Kprobe, None, SLEEPABLE),
    SecDef("kretprobe+", P::Kprobe, None, NONE),
    SecDef("uretprobe+", P::Kprobe, None, NONE),
    SecDef("uretprobe.s+", P::Kprobe, None, SLEEPABLE),
    SecDef("kprobe.multi+", P::Kprobe, Some(a::TRACE_KPROBE_MULTI), NONE),
    SecDef("kretprobe.multi+", P::Kprobe, Some(a::TRACE_KPROBE_MULTI), NONE),
    SecDef("kprobe.session+", P::Kprobe, Some(a::TRACE_KPROBE_SESSION), NONE),
    SecDef("uprobe.multi+", P::Kprobe, Some(a::TRACE_UPROBE_MULTI), NONE),
    SecDef("uretprobe.multi+", P::Kprobe, Some(a::TRACE_UPROBE_MULTI), NONE),
    SecDef("uprobe.multi.s+", P::Kprobe, Some(a::TRACE_UPROBE_MULTI), SLEEPABLE),
    SecDef("uretprobe.multi.s+", P::Kprobe, Some(a::TRACE_UPROBE_MULTI), SLEEPABLE),
    SecDef("ksyscall+", P::Kprobe, None, NONE),
    SecDef("kretsyscall+", P::Kprobe, None, NONE),
    SecDef("usdt+", P::Kprobe, None, NONE),
    SecDef("usdt.s+", P::Kprobe, None, SLEEPABLE),
    SecDef("tc/ingress", P::SchedCls, Some(a::TCX_INGRESS), NONE),
    SecDef("tc/egress", P::SchedCls, Some(a::TCX_EGRESS), NONE),
    SecDef("tcx/ingress", P::SchedCls, Some(a::TCX_INGRESS), NONE),
    SecDef("tcx/egress", P::SchedCls, Some(a::TCX_EGRESS), NONE),
    SecDef("tc", P::SchedCls, None, NONE),
    SecDef("classifier", P::SchedCls, None, NONE),
    SecDef("action", P::SchedAct, None, NONE),
    SecDef("netkit/primary", P::SchedCls, Some(a::NETKIT_PRIMARY), NONE),
    SecDef("netkit/peer", P::SchedCls, Some(a::NETKIT_PEER), NONE),
    SecDef("tracepoint+", P::Tracepoint, None, NONE),
    SecDef("tp+", P::Tracepoint, None, NONE),
    SecDef("raw_tracepoint+", P::RawTracepoint, None, NONE),
    SecDef("raw_tp+", P::RawTracepoint, None, NONE),
    SecDef("raw_tracepoint.w+", P::RawTracepointWritable, None, NONE),
    SecDef("raw_tp.w+", P::RawTracepointWritable, None, NONE),
    SecDef("tp_btf+", P::Tracing, Some(a::TRACE_RAW_TP), NONE),
    SecDef("fentry+", P::Tracing, Some(a::TRACE_FENTRY), NONE),
    SecDef("fmod_ret+", P::Tracing, Some(a::MODIFY_RETURN), NONE),
    SecDef("fexit+", P::Tracing, Some(a::TRACE_FEXIT), NONE),
    SecDef("fentry.s+", P::Tracing, Some(a::TRACE_FENTRY), SLEEPABLE),
    SecDef("fmod_ret.s+", P::Tracing, Some(a::MODIFY_RETURN), SLEEPABLE),
    SecDef("fexit.s+", P::Tracing, Some(a::TRACE_FEXIT), SLEEPABLE),
    SecDef("freplace+", P::Ext, None, NONE),
    SecDef("lsm+", P::Lsm, Some(a::LSM_MAC), NONE),
    SecDef("lsm.s+", P::Lsm, Some(a::LSM_MAC), SLEEPABLE),
    SecDef("lsm_cgroup+", P::Lsm, Some(a::LSM_CGROUP), NONE),
    SecDef("iter+", P::Tracing, Some(a::TRACE_ITER), NONE),
    SecDef("iter.s+", P::Tracing, Some(a::TRACE_ITER), SLEEPABLE),
    SecDef("syscall", P::Syscall, None, SLEEPABLE),
    SecDef("xdp.frags/devmap", P::Xdp, Some(a::XDP_DEVMAP), FRAGS),
    SecDef("xdp/devmap", P::Xdp, Some(a::XDP_DEVMAP), NONE),
    SecDef("xdp.frags/cpumap", P::Xdp, Some(a::XDP_CPUMAP), FRAGS),
    SecDef("xdp/cpumap", P::Xdp, Some(a::XDP_CPUMAP), NONE),
    SecDef("xdp.frags", P::Xdp, Some(a::XDP), FRAGS),
    SecDef("xdp", P::Xdp, Some(a::XDP), NONE),
    SecDef("perf_event", P::PerfEvent, None, NONE),
    SecDef("lwt_in", P::LwtIn, None, NONE),
    SecDef("lwt_out", P::LwtOut, None, NONE),
    SecDef("lwt_xmit", P::LwtXmit, None, NONE),
    SecDef("lwt_seg6local", P::LwtSeg6local, None, NONE),
    SecDef("sockops", P::SockOps, Some(a::CGROUP_SOCK_OPS), NONE),
    SecDef("sk_skb/stream_parser", P::SkSkb, Some(a::SK_SKB_STREAM_PARSER), NONE),
    SecDef("sk_skb/stream_verdict", P::SkSkb, Some(a::SK_SKB_STREAM_VERDICT), NONE),
    SecDef("sk_skb/verdict", P::SkSkb, Some(a::SK_SKB_VERDICT), NONE),
    SecDef("sk_skb", P::SkSkb, None, NONE),
    SecDef("sk_msg", P::SkMsg, Some(a::SK_MSG_VERDICT), NONE),
    SecDef("lirc_mode2", P::LircMode2, Some(a::LIRC_MODE2), NONE),
    SecDef("flow_dissector", P::FlowDissector, Some(a::FLOW_DISSECTOR), NONE),
    SecDef("cgroup_skb/ingress", P::CgroupSkb, Some(a::CGROUP_INET_INGRESS), NONE),
    SecDef("cgroup_skb/egress", P::CgroupSkb, Some(a::CGROUP_INET_EGRESS), NONE),
    SecDef("cgroup/skb", P::CgroupSkb, None, NONE),
    SecDef("cgroup/sock_create", P::CgroupSock, Some(a::CGROUP_INET_SOCK_CREATE), NONE),
    SecDef("cgroup/sock_release", P::CgroupSock, Some(a::CGROUP_INET_SOCK_RELEASE), NONE),
    SecDef("cgroup/sock", P::CgroupSock, Some(a::CGROUP_INET_SOCK_CREATE), NONE),
    SecDef("cgroup/post_bind4", P::CgroupSock, Some(a::CGROUP_INET4_POST_BIND), NONE),
    SecDef("cgroup/post_bind6", P::CgroupSock, Some(a::CGROUP_INET6_POST_BIND), NONE),
    SecDef("cgroup/bind4", P::CgroupSockAddr, Some(a::CGROUP_INET4_BIND), NONE),
    SecDef("cgroup/bind6", P::CgroupSockAddr, Some(a::CGROUP_INET6_BIND), NONE),
    SecDef("cgroup/connect4", P::CgroupSockAddr, Some(a::CGROUP_INET4_CONNECT), NONE),
    SecDef("cgroup/connect6", P::CgroupSockAddr, Some(a::CGROUP_INET6_CONNECT), NONE),
    SecDef("cgroup/connect_unix", P::CgroupSockAddr, Some(a::CGROUP_UNIX_CONNECT), NONE),
    SecDef("cgroup/sendmsg4", P::CgroupSockAddr, Some(a::CGROUP_UDP4_SENDMSG), NONE),
    SecDef("cgroup/sendmsg6", P::CgroupSockAddr, Some(a::CGROUP_UDP6_SENDMSG), NONE),
    SecDef("cgroup/sendmsg_unix", P::CgroupSockAddr, Some(a::CGROUP_UNIX_SENDMSG), NONE),
    SecDef("cgroup/recvmsg4", P::CgroupSockAddr, Some(a::CGROUP_UDP4_RECVMSG), NONE),
    SecDef("cgroup/recvmsg6", P::CgroupSockAddr, Some(a::CGROUP_UDP6_RECVMSG), NONE),
    SecDef("cgroup/recvmsg_unix", P::CgroupSockAddr, Some(a::CGROUP_UNIX_RECVMSG), NONE),
    SecDef("cgroup/getpeername4", P::CgroupSockAddr, Some(a::CGROUP_INET4_GETPEERNAME), NONE),
    SecDef("cgroup/getpeername6", P::CgroupSockAddr, Some(a::CGROUP_INET6_GETPEERNAME), NONE),
    SecDef("cgroup/getpeername_unix", P::CgroupSockAddr, Some(a::CGROUP_UNIX_GETPEERNAME), NONE),
    SecDef("cgroup/getsockname4", P::CgroupSockAddr, Some(a::CGROUP_INET4_GETSOCKNAME), NONE),
    SecDef("cgroup/getsockname6", P::CgroupSockAddr, Some(a::CGROUP_INET6_GETSOCKNAME), NONE),
    SecDef("cgroup/getsockname_unix", P::CgroupSockAddr, Some(a::CGROUP_UNIX_GETSOCKNAME), NONE),
    SecDef("cgroup/sysctl", P::CgroupSysctl, Some(a::CGROUP_SYSCTL), NONE),
    SecDef("cgroup/getsockopt", P::CgroupSockopt, Some(a::CGROUP_GETSOCKOPT), NONE),
    SecDef("cgroup/setsockopt", P::CgroupSockopt, Some(a::CGROUP_SETSOCKOPT), NONE),
    SecDef("cgroup/dev", P::CgroupDevice, Some(a::CGROUP_DEVICE), NONE),
    SecDef("struct_ops+", P::StructOps, None, NONE),
    SecDef("struct_ops.s+", P::StructOps, None, SLEEPABLE),
    SecDef("sk_lookup", P::SkLookup, Some(a::SK_LOOKUP), NONE),
    SecDef("netfilter", P::Netfilter, Some(a::NETFILTER), NONE),
];

/// What a program section name says about its programs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SectionSpec {
    /// Section name without a leading `?`.
    pub name: String,
    /// Program type (`Unspec` when the name matches no definition, as in libbpf).
    pub prog_type: ProgType,
    /// `expected_attach_type`, when the definition has one.
    pub expected_attach_type: Option<u32>,
    /// The part after the first `/` for `type+` definitions (`do_sys_open` in
    /// `kprobe/do_sys_open`).
    pub attach_target: Option<String>,
    /// `BPF_F_SLEEPABLE` / `BPF_F_XDP_HAS_FRAGS`.
    pub prog_flags: u32,
    /// False for `?`-prefixed sections (libbpf: autoload off).
    pub autoload: bool,
    /// Whether a definition matched.
    pub recognized: bool,
}

fn matches(def: &str, name: &str) -> bool {
    match def.strip_suffix('+') {
        Some(prefix) => name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        None => def == name,
    }
}

/// Classifies a program section name the way libbpf does.
pub fn classify(raw_name: &str) -> SectionSpec {
    let (name, autoload) = match raw_name.strip_prefix('?') {
        Some(rest) => (rest, false),
        None => (raw_name, true),
    };
    let def = SECTION_DEFS.iter().find(|d| matches(d.0, name));
    let Some(SecDef(pattern, prog_type, attach, flags)) = def else {
        return SectionSpec {
            name: name.to_string(),
            prog_type: ProgType::Unspec,
            expected_attach_type: None,
            attach_target: None,
            prog_flags: 0,
            autoload,
            recognized: false,
        };
    };
    let attach_target = if pattern.ends_with('+') {
        name.split_once('/')
            .map(|(_, t)| t.to_string())
            .filter(|t| !t.is_empty())
    } else {
        None
    };
    let mut prog_flags = 0;
    if flags & SLEEPABLE != 0 {
        prog_flags |= BPF_F_SLEEPABLE;
    }
    if flags & FRAGS != 0 {
        prog_flags |= BPF_F_XDP_HAS_FRAGS;
    }
    SectionSpec {
        name: name.to_string(),
        prog_type: *prog_type,
        expected_attach_type: *attach,
        attach_target,
        prog_flags,
        autoload,
        recognized: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_and_matching() {
        let c = classify("sk_reuseport/migrate");
        assert_eq!(
            c.expected_attach_type,
            Some(a::SK_REUSEPORT_SELECT_OR_MIGRATE)
        );
        let c = classify("kprobe/do_sys_open");
        assert_eq!(
            (c.prog_type, c.attach_target.as_deref()),
            (P::Kprobe, Some("do_sys_open"))
        );
        assert_eq!(classify("kprobe").prog_type, P::Kprobe);
        assert_eq!(classify("kprobex").prog_type, P::Unspec);
        let c = classify("tp/syscalls/sys_enter_open");
        assert_eq!(c.attach_target.as_deref(), Some("syscalls/sys_enter_open"));
        let c = classify("xdp.frags");
        assert_eq!(c.prog_flags, BPF_F_XDP_HAS_FRAGS);
        assert_eq!(c.expected_attach_type, Some(a::XDP));
        assert_eq!(classify("fentry.s/foo").prog_flags, BPF_F_SLEEPABLE);
        assert_eq!(classify("syscall").prog_flags, BPF_F_SLEEPABLE);
        let c = classify("?cgroup_skb/ingress");
        assert!(!c.autoload);
        assert_eq!(c.expected_attach_type, Some(0));
        assert_eq!(classify("xdp/foo").prog_type, P::Unspec);
        assert_eq!(
            classify("cgroup/sock").expected_attach_type,
            Some(a::CGROUP_INET_SOCK_CREATE)
        );
    }
}
