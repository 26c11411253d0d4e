//! Helper calls against the running kernel: which program types may call which helper and
//! which helpers are GPL-only (every helper id, for every program type the catalogue models
//! that loads without an attach target), and a table of small programs per message of the
//! argument, reference and return checks. Our verdict and error line must be the kernel's.

mod common;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict as KVerdict};
use bpfbox_verifier::{verify, Options};
use bpfbox_vm::helper_names::HELPER_NAMES;
use bpfbox_vm::maps::spec::{MapSpec, MapType, BPF_F_RDONLY_PROG};
use bpfbox_vm::{ProgType, Program};
use common::{asm, program};

/// What a call's first check says, as a category both verifiers can be compared on.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Gate {
    /// `program of this type cannot use helper`.
    CannotUse,
    /// `cannot call GPL-restricted function from non-GPL compatible program`.
    Gpl,
    /// `helper call might sleep in a non-sleepable prog`.
    MightSleep,
    /// Anything after those checks (the arguments, or acceptance).
    Passed,
}

fn gate(text: &str) -> Gate {
    if text.contains("program of this type cannot use helper") {
        Gate::CannotUse
    } else if text.contains("GPL-restricted") {
        Gate::Gpl
    } else if text.contains("might sleep in a non-sleepable") {
        Gate::MightSleep
    } else {
        Gate::Passed
    }
}

/// Program types that load without an attach target, with the attach type they need.
const TYPES: &[(ProgType, Option<u32>)] = &[
    (ProgType::SocketFilter, None),
    (ProgType::Kprobe, None),
    (ProgType::SchedCls, None),
    (ProgType::SchedAct, None),
    (ProgType::Tracepoint, None),
    (ProgType::Xdp, None),
    (ProgType::PerfEvent, None),
    (ProgType::CgroupSkb, None),
    (ProgType::CgroupSock, None),
    (ProgType::LwtIn, None),
    (ProgType::LwtOut, None),
    (ProgType::LwtXmit, None),
    (ProgType::SockOps, None),
    (ProgType::SkSkb, None),
    (ProgType::CgroupDevice, None),
    (ProgType::SkMsg, None),
    (ProgType::RawTracepoint, None),
    (ProgType::CgroupSockAddr, Some(10)),
    (ProgType::CgroupSockAddr, Some(19)),
    (ProgType::LwtSeg6local, None),
    (ProgType::SkReuseport, None),
    (ProgType::FlowDissector, None),
    (ProgType::CgroupSysctl, None),
    (ProgType::CgroupSockopt, Some(21)),
    (ProgType::CgroupSockopt, Some(22)),
    (ProgType::SkLookup, Some(36)),
    (ProgType::Netfilter, Some(45)),
];

/// For every helper id and program type: does the kernel let the program call it, and
/// is it GPL-only? Programs are `call id; exit` under a non-GPL licence, so the first
/// check that fails tells both.
#[test]
fn availability_and_gpl_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let mut differences = Vec::new();
    let mut checked = 0;
    for &(t, attach) in TYPES {
        let progs: Vec<Program> = (0..HELPER_NAMES.len() as i32)
            .map(|id| {
                let mut p = program(t, asm(&format!("call {id}\nmov %r0, 0\nexit")));
                p.name = format!("h{id}");
                p.license = "Proprietary".into();
                p.expected_attach_type = attach;
                p
            })
            .collect();
        let ko = KernelObject::from_programs(
            &progs,
            &[],
            &LoadOptions {
                log_level: 1,
                ..LoadOptions::default()
            },
        );
        for (p, k) in progs.iter().zip(&ko.programs) {
            let kernel = match k.verdict {
                KVerdict::Accepted => Gate::Passed,
                KVerdict::Rejected => gate(&k.log),
                _ => continue,
            };
            let v = verify(p, &Options::default());
            let ours = gate(v.error.as_deref().unwrap_or(""));
            checked += 1;
            if ours != kernel {
                differences.push(format!(
                    "{} {:?} {}: kernel {kernel:?}, ours {ours:?} ({:?})",
                    t.name(),
                    attach,
                    p.name,
                    v.error
                ));
            }
        }
    }
    eprintln!("{checked} (program type, helper) pairs checked");
    assert!(checked > 5000, "only {checked} pairs could be checked");
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

fn maps() -> Vec<MapSpec> {
    vec![
        MapSpec::new("arr", MapType::Array, 4, 16, 4),
        MapSpec::new("hash", MapType::Hash, 8, 8, 16),
        MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096),
        MapSpec::new("progs", MapType::ProgArray, 4, 4, 4),
        MapSpec::new("pcpu", MapType::PercpuArray, 4, 8, 4),
        MapSpec::new("ro", MapType::Hash, 8, 8, 4).with_flags(BPF_F_RDONLY_PROG),
        MapSpec::new("sockmap", MapType::Sockmap, 4, 4, 4),
        MapSpec::new("xsks", MapType::Xskmap, 4, 4, 4),
    ]
}

fn sf(text: &str) -> Program {
    program(ProgType::SocketFilter, asm(text))
}

fn tc(text: &str) -> Program {
    program(ProgType::SchedCls, asm(text))
}

fn xdp(text: &str) -> Program {
    program(ProgType::Xdp, asm(text))
}

fn kprobe(text: &str) -> Program {
    program(ProgType::Kprobe, asm(text))
}

/// `r1 = map m; r2 = fp-8` with an initialised 8-byte key.
fn map_key(m: u32) -> String {
    format!("stdw [%r10-8], 0\nlddw %r1, map_idx {m}\nmov %r2, %r10\nadd %r2, -8\n")
}

/// `bpf_sk_lookup_tcp(ctx, fp-36, 36, 0, 0)` from a sched_cls program with a zeroed tuple,
/// leaving the socket (or NULL) in r0.
const SK_LOOKUP: &str = "stdw [%r10-8], 0\nstdw [%r10-16], 0\nstdw [%r10-24], 0\nstdw [%r10-32], 0\nstdw [%r10-40], 0\nmov %r2, %r10\nadd %r2, -36\nmov %r3, 36\nmov %r4, 0\nmov %r5, 0\ncall 84\n";

/// `bpf_ringbuf_reserve(rb, 8, 0)`, leaving the record (or NULL) in r0.
const RB_RESERVE: &str = "lddw %r1, map_idx 2\nmov %r2, 8\nmov %r3, 0\ncall 131\n";

fn cases() -> Vec<(&'static str, Program)> {
    let lookup = |m: u32| format!("{}call 1\nmov %r0, 0\nexit", map_key(m));
    vec![
        // Which helper.
        ("unknown id", sf("call 300\nexit")),
        ("id 0", sf("call 0\nexit")),
        ("kprobe helper in socket filter", sf("call 14\nmov %r0, 0\nexit")),
        ("coarse ns in kprobe", kprobe("call 160\nmov %r0, 0\nexit")),
        ("trace_printk non-gpl", {
            let mut p = kprobe("mov %r1, %r10\nadd %r1, -8\nstdw [%r10-8], 0\nmov %r2, 8\ncall 6\nmov %r0, 0\nexit");
            p.license = "MIT".into();
            p
        }),
        ("copy_from_user not sleepable", kprobe("mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 0\ncall 148\nmov %r0, 0\nexit")),
        // Argument types.
        ("map arg scalar", sf("mov %r1, 0\nmov %r2, %r10\nadd %r2, -8\ncall 1\nmov %r0, 0\nexit")),
        ("key arg scalar", sf("lddw %r1, map_idx 0\nmov %r2, 0\ncall 1\nmov %r0, 0\nexit")),
        ("key arg ctx", sf("lddw %r1, map_idx 0\ncall 1\nmov %r0, 0\nexit")),
        ("key uninit r2", sf("lddw %r1, map_idx 0\nmov %r2, %r3\ncall 1\nmov %r0, 0\nexit")),
        ("lookup ok", sf(&lookup(0))),
        ("key past fp", sf("lddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit")),
        ("key below frame", sf("lddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -516\ncall 1\nmov %r0, 0\nexit")),
        ("key uninit stack priv", sf("lddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -16\ncall 1\nmov %r0, 0\nexit")),
        ("update value short", sf(&format!("{}mov %r3, %r10\nadd %r3, -4\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit", map_key(1)))),
        ("update value ok", sf(&format!("{}mov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit", map_key(1)))),
        ("value from map value", sf(&format!("{}call 1\njeq %r0, 0, +6\nmov %r3, %r0\nlddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -8\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit", map_key(0)))),
        ("value map value too small", sf(&format!("{}call 1\njeq %r0, 0, +7\nmov %r3, %r0\nadd %r3, 12\nlddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -8\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit", map_key(0)))),
        ("key maybe null map value", sf(&format!("{}call 1\nmov %r2, %r0\nlddw %r1, map_idx 0\ncall 1\nmov %r0, 0\nexit", map_key(0)))),
        ("anything gets ptr priv", sf("mov %r1, %r10\ncall 7\nmov %r0, 0\nexit")),
        // Memory and size pairs.
        ("size zero", kprobe("mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("size negative", kprobe("mov %r1, %r10\nadd %r1, -8\nmov %r2, -1\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("size unknown", kprobe("call 7\nmov %r2, %r0\nlsh %r2, 32\narsh %r2, 32\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("size bounded too big", kprobe("call 7\nmov %r2, %r0\nand %r2, 15\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("size bounded ok", kprobe("call 7\nmov %r2, %r0\nand %r2, 7\nadd %r2, 1\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("write past frame", kprobe("mov %r1, %r10\nadd %r1, -8\nmov %r2, 16\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("raw write then read", kprobe("mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\nmov %r3, 0\ncall 113\nldxdw %r0, [%r10-8]\nexit")),
        ("mem into map value", kprobe(&format!("{}call 1\njeq %r0, 0, +4\nmov %r1, %r0\nmov %r2, 16\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit", map_key(0)))),
        ("mem past map value", kprobe(&format!("{}call 1\njeq %r0, 0, +4\nmov %r1, %r0\nmov %r2, 17\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit", map_key(0)))),
        ("mem null with size", kprobe("mov %r1, 0\nmov %r2, 8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit")),
        ("csum_diff null zero", tc("mov %r1, 0\nmov %r2, 0\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nmov %r0, 0\nexit")),
        ("csum_diff stack", tc("stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nmov %r0, 0\nexit")),
        ("csum_diff size not multiple", tc("stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 6\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nmov %r0, 0\nexit")),
        ("fixed-size mem misaligned", program(ProgType::CgroupSysctl, asm("stdw [%r10-8], 0\nstdw [%r10-16], 0\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 4\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -20\ncall 106\nmov %r0, 1\nexit"))),
        ("fixed-size mem short", program(ProgType::CgroupSysctl, asm("stdw [%r10-8], 0\nstdw [%r10-16], 0\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 4\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -4\ncall 106\nmov %r0, 1\nexit"))),
        ("fixed-size mem ok", program(ProgType::CgroupSysctl, asm("stdw [%r10-8], 0\nstdw [%r10-16], 0\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 4\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -24\ncall 106\nmov %r0, 1\nexit"))),
        // Packets.
        ("pkt to helper without pkt_access", tc("ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +5\nmov %r3, %r2\nmov %r2, 0\nmov %r4, 8\nmov %r5, 0\ncall 9\nmov %r0, 0\nexit")),
        ("pkt key checked", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +3\nlddw %r1, map_idx 1\ncall 1\nmov %r0, 0\nexit")),
        ("pkt key unchecked", xdp("ldxw %r2, [%r1+0]\nlddw %r1, map_idx 1\ncall 1\nmov %r0, 0\nexit")),
        ("pkt key short range", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +3\nlddw %r1, map_idx 1\ncall 1\nmov %r0, 0\nexit")),
        ("pkt after adjust_head", xdp("ldxw %r6, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r6\nadd %r4, 8\njgt %r4, %r3, +4\nmov %r2, 0\ncall 44\nldxb %r0, [%r6+0]\nexit\nmov %r0, 0\nexit")),
        // The context.
        ("ctx modified", tc("add %r1, 4\ncall 34\nmov %r0, 0\nexit")),
        ("ctx negative", tc("add %r1, -4\ncall 34\nmov %r0, 0\nexit")),
        ("ctx is scalar", tc("mov %r1, 0\ncall 34\nmov %r0, 0\nexit")),
        ("ctx ok", tc("call 34\nmov %r0, 0\nexit")),
        // Map types against helpers.
        ("ringbuf map to lookup", sf(&lookup(2))),
        ("array to ringbuf_output", sf("stdw [%r10-8], 0\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 8\nmov %r4, 0\ncall 130\nmov %r0, 0\nexit")),
        ("percpu lookup on hash", sf(&format!("{}mov %r3, 0\ncall 195\nmov %r0, 0\nexit", map_key(1)))),
        ("percpu lookup ok", sf("stw [%r10-4], 0\nlddw %r1, map_idx 4\nmov %r2, %r10\nadd %r2, -4\nmov %r3, 0\ncall 195\nmov %r0, 0\nexit")),
        // Tail calls.
        ("tail call ok", sf("lddw %r2, map_idx 3\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        // The kernel ends this message without a newline, so its log runs it into the
        // statistics line: our words are the kernel's, the line differs.
        ("tail call wrong map", sf("lddw %r2, map_idx 0\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call needs ctx", sf("mov %r1, 0\nlddw %r2, map_idx 3\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call with a reference", tc(&format!("{SK_LOOKUP}mov %r6, %r0\nmov %r1, %r6\nlddw %r2, map_idx 3\nmov %r3, 0\ncall 12\njeq %r6, 0, +2\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        // Acquired references.
        ("sk lookup leak", tc(&format!("{SK_LOOKUP}mov %r0, 0\nexit"))),
        ("sk lookup null checked leak", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +1\nmov %r0, 0\nmov %r0, 0\nexit"))),
        ("sk lookup released", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +2\nmov %r1, %r0\ncall 86\nmov %r0, 0\nexit"))),
        ("sk release maybe null", tc(&format!("{SK_LOOKUP}mov %r1, %r0\ncall 86\nmov %r0, 0\nexit"))),
        ("sk release twice", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nmov %r1, %r0\ncall 86\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk release with offset", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +3\nmov %r1, %r0\nadd %r1, 4\ncall 86\nmov %r0, 0\nexit"))),
        ("sk release scalar", tc("mov %r1, 1\ncall 86\nmov %r0, 0\nexit")),
        ("sk release stack", tc("mov %r1, %r10\ncall 86\nmov %r0, 0\nexit")),
        ("sk ptr arith", tc(&format!("{SK_LOOKUP}add %r0, 4\nmov %r0, 0\nexit"))),
        ("sk ptr arith checked", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +3\nmov %r1, %r0\ncall 86\nadd %r0, 0\nmov %r0, 0\nexit"))),
        ("sk leak in one branch", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nldxw %r1, [%r10-4]\njeq %r1, 0, +2\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("skc lookup leak", tc(&format!("{}mov %r0, 0\nexit", SK_LOOKUP.replace("call 84", "call 99")))),
        ("sk lookup in xdp", xdp(&format!("{SK_LOOKUP}jeq %r0, 0, +2\nmov %r1, %r0\ncall 86\nmov %r0, 0\nexit"))),
        ("sk_fullsock of ref", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +6\nmov %r6, %r0\nmov %r1, %r0\ncall 95\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sockmap lookup leak", sf("stw [%r10-4], 0\nlddw %r1, map_idx 6\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit")),
        // Ring buffers.
        ("ringbuf reserve leak", sf(&format!("{RB_RESERVE}mov %r0, 0\nexit"))),
        ("ringbuf submit", sf(&format!("{RB_RESERVE}jeq %r0, 0, +4\nstdw [%r0+0], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit"))),
        ("ringbuf write past record", sf(&format!("{RB_RESERVE}jeq %r0, 0, +4\nstdw [%r0+4], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit"))),
        ("ringbuf submit null", sf(&format!("{RB_RESERVE}mov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit"))),
        ("ringbuf submit offset", sf(&format!("{RB_RESERVE}jeq %r0, 0, +4\nmov %r1, %r0\nadd %r1, 8\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit"))),
        ("ringbuf discard stack", sf("mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall 133\nmov %r0, 0\nexit")),
        ("ringbuf reserve var size", sf("ldxw %r2, [%r1+0]\nlddw %r1, map_idx 2\nmov %r3, 0\ncall 131\njeq %r0, 0, +3\nmov %r1, %r0\nmov %r2, 0\ncall 133\nmov %r0, 0\nexit")),
        ("ringbuf record as key", sf(&format!("{RB_RESERVE}jeq %r0, 0, +8\nmov %r6, %r0\nmov %r2, %r0\nlddw %r1, map_idx 1\ncall 1\nmov %r1, %r6\nmov %r2, 0\ncall 133\nmov %r0, 0\nexit"))),
        ("ringbuf output from record", sf(&format!("{RB_RESERVE}jeq %r0, 0, +11\nmov %r6, %r0\nmov %r2, %r0\nlddw %r1, map_idx 2\nmov %r3, 8\nmov %r4, 0\ncall 130\nmov %r1, %r6\nmov %r2, 0\ncall 133\nmov %r0, 0\nexit"))),
        // Results.
        ("cpu id range", sf("call 8\njlt %r0, 64, +2\nldxdw %r0, [%r9+0]\nexit\nmov %r0, 0\nexit")),
        ("r1 clobbered", sf("call 7\nmov %r0, %r1\nexit")),
        ("r6 kept", sf("mov %r6, 1\ncall 7\nmov %r0, %r6\nexit")),
        ("lookup result unchecked", sf(&format!("{}call 1\nldxdw %r0, [%r0+0]\nexit", map_key(0)))),
        ("update read-only map", sf(&format!("{}mov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit", map_key(5)))),
        ("lookup read-only map", sf(&format!("{}call 1\nmov %r0, 0\nexit", map_key(5)))),
        ("get_local_storage flags", program(ProgType::CgroupSkb, asm("lddw %r1, map_idx 0\nmov %r2, 1\ncall 81\nmov %r0, 1\nexit"))),
    ]
}

/// Loads through the sockets helpers return. Their field rules live with the context's
/// (`check_sock_access`); until a build has them, these may be refused as not supported
/// yet, but never accepted or refused in other words than the kernel's.
fn socket_cases() -> Vec<(&'static str, Program)> {
    vec![
        ("sk field read", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +5\nmov %r6, %r0\nldxw %r7, [%r6+4]\nldxh %r7, [%r6+48]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk field 8 bytes", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nldxdw %r7, [%r6+0]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk field past end", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nldxw %r7, [%r6+80]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk dst_port padding", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nldxh %r7, [%r6+50]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk dst_port whole word", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nldxw %r7, [%r6+48]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk_common type", tc(&format!("{}jeq %r0, 0, +4\nmov %r6, %r0\nldxw %r7, [%r6+8]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit", SK_LOOKUP.replace("call 84", "call 99")))),
        ("sk field write", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +4\nmov %r6, %r0\nstw [%r6+4], 0\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sk or null read", tc(&format!("{SK_LOOKUP}ldxw %r7, [%r0+4]\nmov %r0, 0\nexit"))),
        ("tcp_sock fields", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +9\nmov %r6, %r0\nmov %r1, %r0\ncall 96\njeq %r0, 0, +2\nldxdw %r7, [%r0+80]\nldxw %r7, [%r0+108]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("tcp_sock field size", tc(&format!("{SK_LOOKUP}jeq %r0, 0, +8\nmov %r6, %r0\nmov %r1, %r0\ncall 96\njeq %r0, 0, +1\nldxw %r7, [%r0+80]\nmov %r1, %r6\ncall 86\nmov %r0, 0\nexit"))),
        ("sockmap lookup released", tc("stw [%r10-4], 0\nlddw %r1, map_idx 6\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +3\nldxw %r7, [%r0+8]\nmov %r1, %r0\ncall 86\nmov %r0, 0\nexit")),
        ("xskmap queue id", xdp("stw [%r10-4], 0\nlddw %r1, map_idx 7\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +1\nldxw %r0, [%r0+0]\nmov %r0, 0\nexit")),
        ("xskmap bad field", xdp("stw [%r10-4], 0\nlddw %r1, map_idx 7\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +1\nldxw %r0, [%r0+4]\nmov %r0, 0\nexit")),
    ]
}

#[test]
fn socket_fields_match_the_kernel_or_are_unsupported() {
    if !common::kernel() {
        return;
    }
    let mut wrong = Vec::new();
    for (name, p) in socket_cases() {
        let (o, detail) = common::compare(&p, &maps());
        if !matches!(o, common::Outcome::Same | common::Outcome::Unsupported) {
            wrong.push(format!("{name}: {o:?}: {detail}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn helper_calls_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let cases = cases();
    let matched = common::assert_cases(&cases, &maps());
    eprintln!("{matched} of {} cases identical to the kernel", cases.len());
    assert!(
        matched * 100 >= cases.len() * 95,
        "only {matched} of {} identical",
        cases.len()
    );
}
