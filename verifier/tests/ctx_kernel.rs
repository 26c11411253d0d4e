//! Context access against the running kernel, exhaustively: for every program type with a
//! fixed context (and the attach types its rules depend on), every offset around the
//! context × every size × load, sign-extending load, register store and immediate store.
//! A load is followed by a dereference of the loaded value, so the kernel's error line also
//! says what the field loads as (a number, a packet pointer, the packet end). The kernel is
//! a perfect oracle here: every case must get its verdict and error line, except loads of
//! pointer types this verifier does not model yet, which must be refused as not supported.

mod common;

use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::{ProgType, Program};
use common::{asm, error_line, kernel_says, program, we_say, Outcome, Said};

/// Our verdict against the kernel's, strictly: on a rejection our last line must be the
/// kernel's error line.
fn compare(p: &Program) -> (Outcome, String) {
    let k = kernel_says(p, &[]);
    let v = we_say(p, &[]);
    let ours = v.error.clone().unwrap_or_default();
    let last = ours.lines().last().unwrap_or_default().to_string();
    let (o, kernel) = match (&k, v.accepted) {
        (Said::Accepted, true) => (Outcome::Same, "accepted".to_string()),
        (Said::Rejected(log), true) => (Outcome::FalseAccept, error_line(log)),
        (k, false) => {
            let kernel = match k {
                Said::Accepted => "accepted".to_string(),
                Said::Rejected(log) => error_line(log),
            };
            let o = if v.unsupported {
                Outcome::Unsupported
            } else if matches!(k, Said::Accepted) {
                Outcome::FalseReject
            } else if kernel == last {
                Outcome::Same
            } else {
                Outcome::OtherWords
            };
            (o, kernel)
        }
    };
    (o, format!("kernel: {kernel}; ours: {ours:?}"))
}

/// A program type with the attach type its rules see, and the offsets to sweep.
struct Config {
    t: ProgType,
    attach: Option<u32>,
    /// `prog_flags` (`BPF_F_STRICT_ALIGNMENT`).
    flags: u32,
    /// Offsets swept: `lo..hi` for each `(lo, hi)`.
    offs: Vec<(i32, i32)>,
}

fn cfg(t: ProgType, attach: Option<u32>, size: i32) -> Config {
    Config {
        t,
        attach,
        flags: 0,
        offs: vec![(-8, size + 8)],
    }
}

/// What the sweep does at one offset.
fn accesses(off: i32) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (sfx, _) in [("b", 1), ("h", 2), ("w", 4), ("dw", 8)] {
        v.push((
            format!("ldx{sfx} {off}"),
            format!("ldx{sfx} %r2, [%r1{off:+}]\nldxb %r3, [%r2+0]\nmov %r0, 1\nexit"),
        ));
        v.push((
            format!("stx{sfx} {off}"),
            format!("mov %r3, 1\nstx{sfx} [%r1{off:+}], %r3\nmov %r0, 1\nexit"),
        ));
        v.push((
            format!("st{sfx} {off}"),
            format!("st{sfx} [%r1{off:+}], 1\nmov %r0, 1\nexit"),
        ));
    }
    for sfx in ["b", "h", "w"] {
        v.push((
            format!("ldxs{sfx} {off}"),
            format!("ldxs{sfx} %r2, [%r1{off:+}]\nldxb %r3, [%r2+0]\nmov %r0, 1\nexit"),
        ));
    }
    v
}

fn prog(t: ProgType, attach: Option<u32>, insns: Vec<RawInsn>) -> Program {
    let mut p = program(t, insns);
    p.expected_attach_type = attach;
    p
}

/// Unsupported answers allowed: pointer types not modelled yet.
const UNMODELLED: [&str; 2] = ["tracepoint buffers", "kernel objects typed by BTF"];

/// Runs every case of `configs`; returns (identical, unsupported, total) and fails on any
/// other difference.
fn sweep(configs: &[Config]) -> (usize, usize, usize) {
    let (mut same, mut unsupported, mut total) = (0, 0, 0);
    let mut bad = Vec::new();
    for c in configs {
        for &(lo, hi) in &c.offs {
            for off in lo..hi {
                for (what, text) in accesses(off) {
                    let mut p = prog(c.t, c.attach, asm(&text));
                    p.prog_flags = c.flags;
                    let (o, detail) = compare(&p);
                    total += 1;
                    let name = format!("{} {:?} {what}", c.t.name(), c.attach);
                    match o {
                        Outcome::Same => same += 1,
                        Outcome::Unsupported if UNMODELLED.iter().any(|u| detail.contains(u)) => {
                            unsupported += 1
                        }
                        _ => bad.push(format!("{name}: {o:?}: {detail}")),
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} context accesses differ from the kernel:\n{}",
        bad.len(),
        bad.join("\n")
    );
    (same, unsupported, total)
}

fn report(what: &str, (same, unsupported, total): (usize, usize, usize)) {
    eprintln!("{what}: {same} of {total} identical, {unsupported} not supported yet");
    assert!(same > 0);
}

use bpfbox_verifier::ctx::attach::*;

#[test]
fn sk_buff_matches_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let configs = [
        cfg(SocketFilter, None, 192),
        cfg(SchedCls, None, 192),
        cfg(SchedAct, None, 192),
        cfg(CgroupSkb, Some(CGROUP_INET_INGRESS), 192),
        cfg(LwtIn, None, 192),
        cfg(LwtOut, None, 192),
        cfg(LwtXmit, None, 192),
        cfg(LwtSeg6local, None, 192),
        cfg(SkSkb, None, 192),
        cfg(FlowDissector, None, 192),
    ];
    report("__sk_buff", sweep(&configs));
}

#[test]
fn xdp_md_matches_the_kernel() {
    if !common::kernel() {
        return;
    }
    let configs = [
        cfg(ProgType::Xdp, None, 24),
        cfg(ProgType::Xdp, Some(XDP_DEVMAP), 24),
        cfg(ProgType::Xdp, Some(XDP_CPUMAP), 24),
    ];
    report("xdp_md", sweep(&configs));
}

#[test]
fn socket_contexts_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let mut configs = vec![
        // Loaded without an attach type: the kernel makes it a socket-creation program.
        cfg(CgroupSock, None, 80),
        cfg(CgroupSock, Some(CGROUP_INET_SOCK_CREATE), 80),
        cfg(CgroupSock, Some(CGROUP_INET_SOCK_RELEASE), 80),
        cfg(CgroupSock, Some(CGROUP_INET4_POST_BIND), 80),
        cfg(CgroupSock, Some(CGROUP_INET6_POST_BIND), 80),
        cfg(SockOps, None, 224),
        cfg(SkMsg, None, 80),
        cfg(SkReuseport, None, 56),
        cfg(SkLookup, Some(SK_LOOKUP), 72),
    ];
    for a in [
        CGROUP_INET4_BIND,
        CGROUP_INET6_BIND,
        CGROUP_INET4_CONNECT,
        CGROUP_INET6_CONNECT,
        CGROUP_UDP4_SENDMSG,
        CGROUP_UDP6_SENDMSG,
        CGROUP_UDP4_RECVMSG,
        CGROUP_UDP6_RECVMSG,
        CGROUP_INET4_GETPEERNAME,
        CGROUP_INET6_GETSOCKNAME,
        CGROUP_UNIX_CONNECT,
        CGROUP_UNIX_SENDMSG,
        CGROUP_UNIX_RECVMSG,
        CGROUP_UNIX_GETPEERNAME,
    ] {
        configs.push(cfg(CgroupSockAddr, Some(a), 72));
    }
    report("socket contexts", sweep(&configs));
}

#[test]
fn cgroup_contexts_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let configs = [
        cfg(CgroupDevice, None, 12),
        cfg(CgroupSysctl, None, 8),
        cfg(CgroupSockopt, Some(CGROUP_GETSOCKOPT), 40),
        cfg(CgroupSockopt, Some(CGROUP_SETSOCKOPT), 40),
        cfg(Netfilter, Some(NETFILTER), 16),
    ];
    report("cgroup contexts", sweep(&configs));
}

#[test]
fn tracing_contexts_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let configs = [
        cfg(Kprobe, None, 168),
        cfg(PerfEvent, None, 184),
        cfg(RawTracepoint, None, 96),
        cfg(RawTracepointWritable, None, 96),
        Config {
            t: Tracepoint,
            attach: None,
            flags: 0,
            offs: vec![(-72, 40), (8176, 8200)],
        },
    ];
    report("tracing contexts", sweep(&configs));
}

#[test]
fn strict_alignment_matches_the_kernel() {
    if !common::kernel() {
        return;
    }
    let strict = |t, attach, size| Config {
        flags: bpfbox_verifier::options::BPF_F_STRICT_ALIGNMENT,
        ..cfg(t, attach, size)
    };
    let configs = [
        strict(ProgType::SchedCls, None, 192),
        strict(ProgType::Xdp, None, 24),
        strict(ProgType::SockOps, None, 224),
        strict(ProgType::Kprobe, None, 168),
    ];
    report("strict alignment", sweep(&configs));
}

/// Every access through a socket pointer loaded from the context: `prologue` leaves it in
/// R2 (NULL-checked), then one access at each offset and size.
#[test]
fn socket_pointers_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let sources = [
        // sock_common_or_null from __sk_buff.
        (SchedCls, None, "ldxdw %r2, [%r1+168]"),
        (CgroupSkb, Some(CGROUP_INET_INGRESS), "ldxdw %r2, [%r1+168]"),
        // sock from sk_msg_md, sock_or_null from bpf_sock_ops and bpf_sk_lookup.
        (SkMsg, None, "ldxdw %r2, [%r1+72]"),
        (SockOps, None, "ldxdw %r2, [%r1+184]"),
        (SkLookup, Some(SK_LOOKUP), "ldxdw %r2, [%r1+0]"),
        // sock_common_or_null from sk_reuseport_md's migrating socket.
        (SkReuseport, None, "ldxdw %r2, [%r1+48]"),
    ];
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for (t, attach, load) in sources {
        for off in -8..88 {
            let mut bodies = Vec::new();
            for sfx in ["b", "h", "w", "dw"] {
                bodies.push(format!("ldx{sfx} %r3, [%r2{off:+}]"));
                bodies.push(format!("mov %r3, 1\nstx{sfx} [%r2{off:+}], %r3"));
                bodies.push(format!("st{sfx} [%r2{off:+}], 1"));
            }
            for sfx in ["b", "h", "w"] {
                bodies.push(format!("ldxs{sfx} %r3, [%r2{off:+}]"));
            }
            for body in bodies {
                let text =
                    format!("{load}\njne %r2, 0, +2\nmov %r0, 1\nexit\n{body}\nmov %r0, 1\nexit");
                let p = prog(t, attach, asm(&text));
                let (o, detail) = compare(&p);
                total += 1;
                match o {
                    Outcome::Same => same += 1,
                    _ => bad.push(format!("{} {body:?}: {o:?}: {detail}", t.name())),
                }
            }
        }
        // Without the NULL check, and with arithmetic on the pointer.
        for body in ["ldxw %r3, [%r2+4]", "add %r2, 4", "mov %r0, %r2\nexit"] {
            let text = format!("{load}\n{body}\nmov %r0, 1\nexit");
            let p = prog(t, attach, asm(&text));
            let (o, detail) = compare(&p);
            total += 1;
            match o {
                Outcome::Same => same += 1,
                _ => bad.push(format!("{} {body:?}: {o:?}: {detail}", t.name())),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} socket accesses differ from the kernel:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("socket pointers: {same} of {total} identical");
}

/// `r0` shapes at exit, as conformance-syntax text before `exit`.
const EXITS: [&str; 14] = [
    "",
    "mov %r0, -1",
    "mov %r0, 0",
    "mov %r0, 1",
    "mov %r0, 2",
    "mov %r0, 3",
    "mov %r0, 4",
    "mov %r0, %r10\nsub %r0, %r10",
    "mov %r0, %r10\nsub %r0, %r10\nand %r0, 1",
    "mov %r0, %r10\nsub %r0, %r10\nand %r0, 3",
    "mov %r0, %r10\nsub %r0, %r10\nand %r0, 1\nadd %r0, 1",
    "mov %r0, %r10\nsub %r0, %r10\nand %r0, 1\nsub %r0, 1",
    "mov %r0, %r1",
    "mov %r0, %r10",
];

#[test]
fn exit_ranges_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let mut configs: Vec<(ProgType, Option<u32>)> = vec![
        (SocketFilter, None),
        (SchedCls, None),
        (Xdp, None),
        (CgroupSkb, Some(CGROUP_INET_INGRESS)),
        (CgroupSkb, Some(CGROUP_INET_EGRESS)),
        (CgroupSock, Some(CGROUP_INET_SOCK_CREATE)),
        (SockOps, None),
        (CgroupDevice, None),
        (CgroupSysctl, None),
        (CgroupSockopt, Some(CGROUP_GETSOCKOPT)),
        (CgroupSockopt, Some(CGROUP_SETSOCKOPT)),
        (SkLookup, Some(SK_LOOKUP)),
        (Netfilter, Some(NETFILTER)),
        (RawTracepoint, None),
        (Kprobe, None),
        (Tracepoint, None),
        (PerfEvent, None),
        (SkSkb, None),
        (SkMsg, None),
        (SkReuseport, None),
        (LwtIn, None),
        (FlowDissector, None),
    ];
    for a in [
        CGROUP_INET4_BIND,
        CGROUP_INET6_BIND,
        CGROUP_INET4_CONNECT,
        CGROUP_UDP4_SENDMSG,
        CGROUP_UDP4_RECVMSG,
        CGROUP_UDP6_RECVMSG,
        CGROUP_UNIX_RECVMSG,
        CGROUP_INET4_GETPEERNAME,
        CGROUP_INET6_GETPEERNAME,
        CGROUP_UNIX_GETPEERNAME,
        CGROUP_INET4_GETSOCKNAME,
        CGROUP_INET6_GETSOCKNAME,
        CGROUP_UNIX_GETSOCKNAME,
        CGROUP_UNIX_CONNECT,
    ] {
        configs.push((CgroupSockAddr, Some(a)));
    }
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for (t, attach) in configs {
        for body in EXITS {
            let text = format!("{body}\nexit");
            let p = prog(t, attach, asm(text.trim_start()));
            let (o, detail) = compare(&p);
            total += 1;
            match o {
                Outcome::Same => same += 1,
                _ => bad.push(format!("{} {attach:?} {body:?}: {o:?}: {detail}", t.name())),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} exits differ from the kernel:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("exits: {same} of {total} identical");
}

#[test]
fn legacy_packet_loads_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    let bodies = [
        // The context in R6, then each form and size.
        "mov %r6, %r1\nldabsb 0\nmov %r0, 1\nexit",
        "mov %r6, %r1\nldabsh 12\nmov %r0, 1\nexit",
        "mov %r6, %r1\nldabsw 14\nmov %r0, 1\nexit",
        "mov %r6, %r1\nmov %r7, 4\nldindb %r7, 1\nmov %r0, 1\nexit",
        "mov %r6, %r1\nmov %r7, 4\nldindw %r7, 2\nmov %r0, %r7\nexit",
        // R0 holds the loaded value; R1-R5 are clobbered, R6-R9 kept.
        "mov %r6, %r1\nldabsb 0\nexit",
        "mov %r6, %r1\nmov %r2, 1\nldabsb 0\nmov %r0, %r2\nexit",
        "mov %r6, %r1\nmov %r5, 1\nldabsb 0\nmov %r0, %r5\nexit",
        "mov %r6, %r1\nmov %r9, 1\nldabsb 0\nmov %r0, %r9\nexit",
        // R6 must be the unmodified context.
        "ldabsb 0\nmov %r0, 1\nexit",
        "mov %r6, 0\nldabsb 0\nmov %r0, 1\nexit",
        "mov %r6, %r10\nldabsb 0\nmov %r0, 1\nexit",
        "mov %r6, %r1\nadd %r6, 8\nldabsb 0\nmov %r0, 1\nexit",
        "mov %r6, %r1\nadd %r6, -8\nldabsb 0\nmov %r0, 1\nexit",
        // The offset register must be initialised.
        "mov %r6, %r1\nldindb %r7, 0\nmov %r0, 1\nexit",
    ];
    let types = [
        SocketFilter,
        SchedCls,
        SchedAct,
        Xdp,
        CgroupSkb,
        LwtIn,
        SkSkb,
        Kprobe,
    ];
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for t in types {
        for body in bodies {
            let p = prog(t, None, asm(body));
            let (o, detail) = compare(&p);
            total += 1;
            match o {
                Outcome::Same => same += 1,
                _ => bad.push(format!("{} {body:?}: {o:?}: {detail}", t.name())),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} legacy loads differ from the kernel:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("legacy packet loads: {same} of {total} identical");
}

#[test]
fn metadata_ranges_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    // r2 = data_meta, r3 = data; r4 = meta + n compared with data in every form and order;
    // then a load from the metadata on the fall-through side.
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for cond in ["jgt", "jlt", "jge", "jle", "jeq", "jne", "jsgt"] {
        for swap in [false, true] {
            for n in [0, 1, 4, 8] {
                for (sfx, size) in [("b", 1), ("w", 4), ("dw", 8)] {
                    for off in [0, 4] {
                        let cmp = if swap {
                            format!("{cond} %r3, %r4, +2")
                        } else {
                            format!("{cond} %r4, %r3, +2")
                        };
                        let text = format!(
                            "ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r4, %r2\nadd %r4, {n}\n\
                             {cmp}\nldx{sfx} %r0, [%r2+{off}]\nja +1\nldx{sfx} %r0, [%r2+{off}]\n\
                             mov %r0, 1\nexit"
                        );
                        let p = prog(ProgType::Xdp, None, asm(&text));
                        let (o, detail) = compare(&p);
                        total += 1;
                        match o {
                            Outcome::Same => same += 1,
                            _ => bad.push(format!(
                                "{cond} swap={swap} n={n} size={size} off={off}: {o:?}: {detail}"
                            )),
                        }
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} metadata accesses differ from the kernel:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("metadata ranges: {same} of {total} identical");
}

#[test]
fn modified_context_pointers_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    use ProgType::*;
    // Ways to move the context pointer in R1 before an access through it.
    let moves = [
        "add %r1, 8",
        "add %r1, -8",
        "add %r1, 8\nadd %r1, -8",
        "add %r1, 4\nadd %r1, 4",
        "mov %r2, %r10\nsub %r2, %r10\nand %r2, 4\nadd %r1, %r2",
        "mov %r2, %r10\nsub %r2, %r10\nand %r2, 8\nadd %r1, %r2",
        "mov %r2, 0\nadd %r1, %r2",
        "mov %r2, 16\nadd %r1, %r2",
        "sub %r1, 4",
        "mov %r6, %r1\nmov %r1, %r6",
    ];
    let accesses = [
        "ldxw %r0, [%r1+0]",
        "ldxw %r0, [%r1-8]",
        "ldxw %r0, [%r1+8]",
        "stw [%r1+0], 1",
        "mov %r3, 1\nstxw [%r1+8], %r3",
        "ldxdw %r0, [%r1+0]",
    ];
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for t in [SchedCls, Xdp, SockOps, Kprobe] {
        for m in moves {
            for a in accesses {
                let text = format!("{m}\n{a}\nmov %r0, 1\nexit");
                let p = prog(t, None, asm(&text));
                let (o, detail) = compare(&p);
                total += 1;
                match o {
                    Outcome::Same => same += 1,
                    _ => bad.push(format!("{} {m:?} {a:?}: {o:?}: {detail}", t.name())),
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} modified-pointer accesses differ from the kernel:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("modified context pointers: {same} of {total} identical");
}

#[test]
fn equal_pointers_are_not_null_as_in_the_kernel() {
    if !common::kernel() {
        return;
    }
    // R6 may be NULL; R7 is NULL-checked; after comparing them R6 is read.
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for cond in ["jeq", "jne", "jgt", "jge"] {
        for swap in [false, true] {
            for read_on_jump in [false, true] {
                let cmp = if swap {
                    format!("{cond} %r7, %r6, +2")
                } else {
                    format!("{cond} %r6, %r7, +2")
                };
                let (fall, jump) = if read_on_jump {
                    ("mov %r0, 1\nexit", "ldxw %r0, [%r6+4]\nmov %r0, 1\nexit")
                } else {
                    ("ldxw %r0, [%r6+4]\nja +1", "mov %r0, 1\nmov %r0, 1\nexit")
                };
                let text = format!(
                    "ldxdw %r6, [%r1+168]\nldxdw %r7, [%r1+168]\njne %r7, 0, +2\nmov %r0, 1\nexit\n\
                     {cmp}\n{fall}\n{jump}"
                );
                let p = prog(ProgType::SchedCls, None, asm(&text));
                let (o, detail) = compare(&p);
                total += 1;
                match o {
                    Outcome::Same => same += 1,
                    _ => bad.push(format!(
                        "{cond} swap={swap} jump={read_on_jump}: {o:?}: {detail}"
                    )),
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("equal pointers: {same} of {total} identical");
}

#[test]
fn flow_keys_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    // R2 = flow keys, moved by each of these, then one access at each offset and size.
    let moves = [
        "",
        "add %r2, 8",
        "add %r2, -4",
        "mov %r3, %r10\nsub %r3, %r10\nand %r3, 8\nadd %r2, %r3",
        "mul %r2, 2",
    ];
    let (mut same, mut total) = (0, 0);
    let mut bad = Vec::new();
    for m in moves {
        for off in -8..64 {
            let mut bodies = Vec::new();
            for sfx in ["b", "h", "w", "dw"] {
                bodies.push(format!("ldx{sfx} %r0, [%r2{off:+}]"));
                bodies.push(format!("mov %r3, 1\nstx{sfx} [%r2{off:+}], %r3"));
                bodies.push(format!("st{sfx} [%r2{off:+}], 1"));
            }
            bodies.push(format!("ldxsh %r0, [%r2{off:+}]"));
            for body in bodies {
                let text = format!("ldxdw %r2, [%r1+144]\n{m}\n{body}\nmov %r0, 1\nexit");
                let p = prog(
                    ProgType::FlowDissector,
                    None,
                    asm(text.replace("\n\n", "\n").as_str()),
                );
                let (o, detail) = compare(&p);
                total += 1;
                match o {
                    Outcome::Same => same += 1,
                    _ => bad.push(format!("{m:?} {body:?}: {o:?}: {detail}")),
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("flow keys: {same} of {total} identical");
}
