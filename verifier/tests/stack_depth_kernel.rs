//! Stack depths against the running kernel: `bpf_fastcall` spill/fill patterns, whose slots
//! are given back when every pattern of a subprogram goes (which decides the `stack depth`
//! line and whether a call chain fits in 512 bytes), and the slots the rewrite of `may_goto`
//! adds. Each program is loaded with `BPF_LOG_STATS`; our verdict, error line and
//! `stack depth` line must be the kernel's.

mod common;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict as KVerdict};
use bpfbox_verifier::{verify, Options};
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::{ProgType, Program};
use common::walk_cases::maps;
use common::{asm, error_line, program};

fn kp(text: &str) -> Program {
    program(ProgType::Kprobe, asm(text))
}

/// Two pairs around `bpf_get_smp_processor_id` (inlined on x86-64): r1 at fp-8, r2 at the
/// lowest slot fp-16, nearest the call.
const PAIRS: &str = "mov %r1, 1\nmov %r2, 2\nstxdw [%r10-8], %r1\nstxdw [%r10-16], %r2\ncall 8\nldxdw %r2, [%r10-16]\nldxdw %r1, [%r10-8]\n";

/// A main program using `main` bytes of stack calling a subprogram whose body is `sub`.
fn chain(main: u32, sub: &str) -> String {
    format!("stdw [%r10-{main}], 42\ncall local f\nmov %r0, 0\nexit\nf:\n{sub}")
}

#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Program)> {
    let one = "stxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit";
    vec![
        ("pairs in main", kp(&format!("{PAIRS}mov %r0, 0\nexit"))),
        ("pairs then other stack", kp(&format!("stdw [%r10-24], 0\n{PAIRS}mov %r0, 0\nexit"))),
        ("pairs slot read again", kp(&format!("{PAIRS}ldxdw %r0, [%r10-16]\nexit"))),
        ("pairs slot read narrow", kp(&format!("{PAIRS}ldxb %r0, [%r10-9]\nexit"))),
        ("pairs slot written", kp(&format!("{PAIRS}stdw [%r10-8], 0\nmov %r0, 0\nexit"))),
        ("pairs slot to helper", kp(&format!("{PAIRS}lddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -16\ncall 1\nmov %r0, 0\nexit"))),
        ("pairs in socket filter", program(ProgType::SocketFilter, asm(&format!("{PAIRS}mov %r0, 0\nexit")))),
        ("pairs in xdp", program(ProgType::Xdp, asm(&format!("{PAIRS}mov %r0, 0\nexit")))),
        ("pairs in raw_tp", program(ProgType::RawTracepoint, asm(&format!("{PAIRS}mov %r0, 0\nexit")))),
        ("reversed offsets", kp("mov %r1, 1\nmov %r2, 2\nstxdw [%r10-16], %r1\nstxdw [%r10-8], %r2\ncall 8\nldxdw %r2, [%r10-8]\nldxdw %r1, [%r10-16]\nmov %r0, 0\nexit")),
        ("other register filled", kp("mov %r1, 1\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r2, [%r10-8]\nmov %r0, 0\nexit")),
        ("r0 spilled", kp("mov %r0, 1\nstxdw [%r10-8], %r0\ncall 8\nldxdw %r0, [%r10-8]\nexit")),
        ("fill is a jump target", kp("mov %r1, 1\nmov %r0, 0\njeq %r0, 0, +1\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit")),
        ("call is a jump target", kp("mov %r1, 1\nstxdw [%r10-8], %r1\nmov %r0, 0\njeq %r0, 1, +0\ncall 8\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit")),
        ("not inlined helper", kp("mov %r1, 1\nstxdw [%r10-8], %r1\ncall 5\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit")),
        ("inlined and not inlined", kp("mov %r1, 1\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nstxdw [%r10-8], %r1\ncall 5\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit")),
        ("two inlined calls", kp("mov %r1, 1\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit")),
        // Call chains that fit only once the callee's pattern goes.
        ("chain fits", kp(&chain(512, one))),
        ("chain in socket filter", program(ProgType::SocketFilter, asm(&chain(512, one)))),
        ("chain callee reads slot", kp(&chain(512, "stxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nldxdw %r0, [%r10-8]\nexit"))),
        ("callee reads caller's slot", kp("mov %r1, 1\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nmov %r1, %r10\nadd %r1, -8\ncall local f\nmov %r0, 0\nexit\nf:\nldxdw %r0, [%r1+0]\nexit")),
        ("callee reads caller's other slot", kp("stdw [%r10-16], 0\nmov %r1, 1\nstxdw [%r10-8], %r1\ncall 8\nldxdw %r1, [%r10-8]\nmov %r1, %r10\nadd %r1, -16\ncall local f\nmov %r0, 0\nexit\nf:\nldxdw %r0, [%r1+0]\nexit")),
        // `may_goto` keeps its loop state in the frame of its subprogram.
        ("may_goto, no stack", kp("mov %r0, 0\nmay_goto +1\nmov %r0, 1\nexit")),
        ("may_goto, 4 bytes", kp("stw [%r10-4], 1\nmov %r0, 0\nmay_goto +1\nmov %r0, 1\nexit")),
        ("may_goto after a pattern", kp("mov %r1, 1\nstxdw [%r10-16], %r1\ncall 8\nldxdw %r1, [%r10-16]\nmay_goto +1\nstxdw [%r10-8], %r1\nmov %r0, 0\nexit")),
        ("may_goto in a callee", kp(&chain(64, "mov %r0, 0\nmay_goto +1\nmov %r0, 1\nexit"))),
        ("may_goto past 512", kp(&chain(496, "mov %r0, 0\nmay_goto +1\nmov %r0, 1\nexit"))),
        ("chain, callee pattern below caller", kp(&chain(504, "stdw [%r10-8], 7\nstxdw [%r10-16], %r1\ncall 8\nldxdw %r1, [%r10-16]\nmov %r0, 0\nexit"))),
    ]
}

/// The `stack depth` line of a log.
fn depth_line(log: &str) -> String {
    log.lines()
        .find(|l| l.starts_with("stack depth"))
        .unwrap_or("")
        .to_string()
}

fn kernel(p: &Program, maps: &[MapSpec]) -> (bool, String) {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(p),
        maps,
        &LoadOptions {
            log_level: 1 | 4,
            ..LoadOptions::default()
        },
    );
    let k = &ko.programs[0];
    match k.verdict {
        KVerdict::Accepted => (true, k.log.clone()),
        KVerdict::Rejected => (false, k.log.clone()),
        ref v => panic!("kernel could not judge: {v:?} {:?}\n{}", k.reason, k.log),
    }
}

#[test]
fn stack_depths_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let maps = maps();
    let mut wrong = Vec::new();
    let mut accepted = 0;
    for (name, p) in cases() {
        let (k_ok, k_log) = kernel(&p, &maps);
        let v = verify(
            &p,
            &Options {
                maps: maps.clone(),
                log_level: 1 | 4,
                ..Options::default()
            },
        );
        assert!(
            !v.accepted || k_ok,
            "{name}: accepted, the kernel rejects:\n{k_log}"
        );
        accepted += usize::from(k_ok);
        let (kd, od) = (depth_line(&k_log), depth_line(&v.log));
        let k_err = (!k_ok).then(|| error_line(&k_log));
        if v.accepted != k_ok || kd != od || (!k_ok && v.error != k_err) {
            wrong.push(format!(
                "{name}: kernel {k_ok} {k_err:?} `{kd}`; ours {} {:?} `{od}`",
                v.accepted, v.error
            ));
        }
    }
    assert!(accepted >= 10, "the cases exercise accepted patterns");
    assert!(wrong.is_empty(), "differences:\n{}", wrong.join("\n"));
}
