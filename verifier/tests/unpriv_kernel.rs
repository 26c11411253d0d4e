//! Unprivileged loads against the running kernel: each program is loaded (its maps created
//! too) from a thread that keeps CAP_BPF and drops CAP_PERFMON and CAP_SYS_ADMIN, so the
//! kernel verifies it with `allow_ptr_leaks`, `allow_uninit_stack` and `bypass_spec_v1`/`v4`
//! off; ours verifies it at [`Privilege::BpfOnly`]. Verdict and error line must match; a
//! program we accept and the kernel rejects fails the test.

mod common;

use bpfbox_kernel_compare::selftest::caps::BpfOnly;
use bpfbox_verifier::{verify, Options, Privilege};
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};
use common::walk_cases::{lookup, sf};
use common::{asm, error_line, kernel_says, program, Said};

fn maps() -> Vec<MapSpec> {
    let mut m = common::walk_cases::maps();
    m.push(MapSpec::new("pa", MapType::ProgArray, 4, 4, 4));
    m.push(MapSpec::new("pa2", MapType::ProgArray, 4, 4, 4));
    m
}

/// The programs only an unprivileged load judges differently.
#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Program)> {
    let lk = |body: &str| program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +20\n" + body + "\nmov %r0, 0\nexit\n" + &"mov %r0, 0\n".repeat(19) + "exit")));
    vec![
        // Pointer leaks.
        ("leak fp into map", lk("stxdw [%r0+0], %r10")),
        ("leak as return value", sf("mov %r0, %r10\nexit")),
        ("leak ctx as return value", sf("mov %r0, %r1\nexit")),
        ("leak into helper", sf("lddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -8\nstdw [%r10-8], 0\nmov %r3, %r10\ncall 1\nmov %r0, 0\nexit")),
        ("pointer comparison", sf("mov %r2, %r10\njeq %r2, %r1, +0\nmov %r0, 0\nexit")),
        ("pointer comparison with imm", sf("jeq %r1, 5, +0\nmov %r0, 0\nexit")),
        ("ctx null check", sf("jeq %r1, 0, +0\nmov %r0, 0\nexit")),
        ("pointer minus pointer", sf("mov %r2, %r10\nsub %r2, %r10\nmov %r0, 0\nexit")),
        ("partial copy of pointer", sf("mov32 %r2, %r10\nmov %r0, 0\nexit")),
        ("neg of pointer", sf("mov %r2, %r10\nneg %r2\nmov %r0, 0\nexit")),
        ("spill and fill a pointer", sf("stxdw [%r10-8], %r1\nldxdw %r2, [%r10-8]\nmov %r0, 0\nexit")),
        ("corrupt spilled pointer", sf("stxdw [%r10-8], %r1\nstw [%r10-8], 0\nmov %r0, 0\nexit")),
        ("partial fill of spilled pointer", sf("stxdw [%r10-8], %r1\nldxw %r2, [%r10-8]\nmov %r0, 0\nexit")),
        // Uninitialised stack.
        ("uninit stack read", sf("ldxdw %r0, [%r10-8]\nmov %r0, 0\nexit")),
        ("partly init stack read", sf("stw [%r10-8], 0\nldxdw %r0, [%r10-8]\nmov %r0, 0\nexit")),
        ("init stack read", sf("stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nmov %r0, 0\nexit")),
        ("helper reads uninit key", sf("lddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -8\ncall 1\nmov %r0, 0\nexit")),
        ("helper reads spilled pointer", sf("stxdw [%r10-8], %r1\nlddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -8\ncall 1\nmov %r0, 0\nexit")),
        // Spectre v1: pointer arithmetic.
        ("map value += const", lk("add %r0, 8\nldxw %r1, [%r0+0]")),
        ("map value += const out of range", lk("add %r0, 100")),
        ("map value += const to end", lk("add %r0, 16")),
        ("map value -= const below", lk("sub %r0, 1")),
        ("map value += bounded reg", lk("ldxb %r1, [%r0+0]\nand %r1, 7\nadd %r0, %r1\nldxb %r1, [%r0+0]")),
        ("map value += mixed-sign reg", lk("ldxb %r1, [%r0+0]\nsub %r1, 4\nadd %r0, %r1")),
        ("map value += negative reg", lk("ldxb %r1, [%r0+0]\nand %r1, 7\nneg %r1\nadd %r0, 8\nadd %r0, %r1\nldxb %r1, [%r0+0]")),
        ("map value -= reg", lk("add %r0, 8\nldxb %r1, [%r0+0]\nand %r1, 7\nsub %r0, %r1\nldxb %r1, [%r0+0]")),
        ("map value += reg const", lk("mov %r1, 4\nadd %r0, %r1\nldxb %r1, [%r0+0]")),
        ("map value += reg too far", lk("ldxb %r1, [%r0+0]\nand %r1, 31\nadd %r0, %r1")),
        ("scalar += map value", lk("ldxb %r1, [%r0+0]\nand %r1, 7\nadd %r1, %r0\nldxb %r1, [%r1+0]")),
        ("ctx += reg", sf("mov %r2, 1\nadd %r1, %r2\nmov %r0, 0\nexit")),
        ("ctx += const", sf("add %r1, 4\nmov %r0, 0\nexit")),
        ("fp += reg", sf("call 7\nand %r0, 7\nmov %r2, %r10\nadd %r2, -16\nadd %r2, %r0\nmov %r0, 0\nexit")),
        ("fp += const reg", sf("mov %r0, -8\nmov %r2, %r10\nadd %r2, %r0\nstdw [%r2+0], 0\nmov %r0, 0\nexit")),
        ("fp out of frame", sf("mov %r2, %r10\nadd %r2, 8\nmov %r0, 0\nexit")),
        ("fp below frame", sf("mov %r2, %r10\nadd %r2, -520\nmov %r0, 0\nexit")),
        ("different masks on two paths", lk("ldxb %r1, [%r0+0]\nand %r1, 3\nldxb %r2, [%r0+1]\njeq %r2, 0, +1\nadd %r0, 4\nadd %r0, %r1\nldxb %r1, [%r0+0]")),
        ("scalar then pointer at one insn", lk("mov %r3, %r0\nldxb %r1, [%r0+0]\nand %r1, 3\nldxb %r2, [%r0+1]\njeq %r2, 0, +1\nmov %r3, 5\nadd %r3, %r1")),
        // Speculative paths.
        ("known branch, bad dead side", sf("mov %r0, 0\njeq %r0, 0, +1\nldxdw %r0, [%r0+0]\nmov %r0, 0\nexit")),
        // Spectre v4: a speculative path ends after a stack store that needs a barrier (a
        // pointer stored, or bytes that were not data).
        ("spill of a pointer on a dead side", sf("mov %r0, 0\njeq %r0, 0, +4\nstxdw [%r10-8], %r1\nmov %r2, 1\nmov %r3, 2\nmov %r0, 0\nmov %r0, 0\nexit")),
        ("store over uninit stack on a dead side", sf("mov %r0, 0\njeq %r0, 0, +4\nstdw [%r10-8], 7\nmov %r2, 1\nmov %r3, 2\nmov %r0, 0\nmov %r0, 0\nexit")),
        ("store over data on a dead side", sf("stdw [%r10-8], 0\nmov %r0, 0\njeq %r0, 0, +4\nstdw [%r10-8], 7\nmov %r2, 1\nmov %r3, 2\nmov %r0, 0\nmov %r0, 0\nexit")),
        ("bounded loop", sf("mov %r0, 0\nadd %r0, 1\njlt %r0, 4, -2\nmov %r0, 0\nexit")),
        ("loop with unknown bound", sf("call 7\nand %r0, 3\nadd %r0, 1\njlt %r0, 4, -2\nmov %r0, 0\nexit")),
        // Tail calls.
        ("tail call pointer index", sf("lddw %r2, map_idx 3\nmov %r3, %r10\ncall 12\nmov %r0, 0\nexit")),
        ("tail call one map", sf("lddw %r2, map_idx 3\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call two maps", sf("mov %r6, %r1\ncall 7\nmov %r1, %r6\nlddw %r2, map_idx 3\njeq %r0, 0, +2\nlddw %r2, map_idx 4\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        // Helpers gated by CAP_PERFMON.
        ("trace_printk", sf("stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6\nmov %r0, 0\nexit")),
        ("get_current_task", sf("call 35\nmov %r0, 0\nexit")),
        ("CAP_BPF helper jiffies64", sf("call 118\nmov %r0, 0\nexit")),
    ]
}

/// The kernel's verdict with CAP_BPF alone (maps created by the same thread).
fn kernel_bpf_only(prog: &Program, maps: &[MapSpec]) -> Option<Said> {
    let g = BpfOnly::new();
    if !g.active() {
        return None;
    }
    Some(kernel_says(prog, maps))
}

/// Compares every case; returns (identical, false accepts).
fn run(cases: &[(&str, Program)], maps: &[MapSpec]) -> Option<(usize, Vec<String>)> {
    let mut same = 0;
    let mut false_accepts = Vec::new();
    let opts = Options {
        maps: maps.to_vec(),
        ..Options::default()
    }
    .with_privilege(Privilege::BpfOnly);
    for (name, p) in cases {
        let k = kernel_bpf_only(p, maps)?;
        let v = verify(p, &opts);
        let ours = v
            .error
            .as_deref()
            .and_then(|e| e.lines().last())
            .unwrap_or("");
        match (&k, v.accepted) {
            (Said::Accepted, true) => same += 1,
            (Said::Rejected(log), false) if error_line(log) == ours => same += 1,
            (Said::Rejected(log), true) => {
                false_accepts.push(format!("{name}: kernel: {}", error_line(log)))
            }
            (Said::Rejected(log), false) => {
                eprintln!("{name}: kernel: {}; ours: {ours}", error_line(log))
            }
            (Said::Accepted, false) => eprintln!("{name}: kernel accepts; ours: {ours}"),
        }
    }
    Some((same, false_accepts))
}

#[test]
fn unprivileged_rules_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let cases = cases();
    let Some((same, fa)) = run(&cases, &maps()) else {
        return common::skip("cannot run a thread with CAP_BPF alone here");
    };
    eprintln!("{same} of {} unprivileged cases identical", cases.len());
    assert!(
        fa.is_empty(),
        "accepted where the kernel rejects:\n{}",
        fa.join("\n")
    );
    assert!(
        same * 100 >= cases.len() * 90,
        "only {same} of {} identical",
        cases.len()
    );
}

/// The whole walk corpus again, now as an unprivileged load.
#[test]
fn walk_cases_match_the_kernel_without_cap_perfmon() {
    if !common::kernel() {
        return;
    }
    let cases = common::walk_cases::cases();
    let Some((same, fa)) = run(&cases, &common::walk_cases::maps()) else {
        return common::skip("cannot run a thread with CAP_BPF alone here");
    };
    eprintln!(
        "{same} of {} walk cases identical without CAP_PERFMON",
        cases.len()
    );
    assert!(
        fa.is_empty(),
        "accepted where the kernel rejects:\n{}",
        fa.join("\n")
    );
    assert!(
        same * 100 >= cases.len() * 90,
        "only {same} of {} identical",
        cases.len()
    );
}

/// A load without CAP_BPF is refused before verification here
/// (`kernel.unprivileged_bpf_disabled`), so these rules rest on the kernel's source and the
/// selftests' annotations: no back-edges, no calls, at most 4,096 instructions, socket
/// filters and cgroup skb programs only.
#[test]
fn without_cap_bpf() {
    let none = Options {
        maps: maps(),
        ..Options::default()
    }
    .with_privilege(Privilege::None);
    let bpf = Options {
        maps: maps(),
        ..Options::default()
    }
    .with_privilege(Privilege::BpfOnly);
    let lp = sf("mov %r0, 0\nadd %r0, 1\njlt %r0, 4, -2\nexit");
    let v = verify(&lp, &none);
    assert_eq!(v.error.as_deref(), Some("back-edge from insn 2 to 1"));
    // `call pc+2` to a subprogram returning 0 (src 1: a BPF-to-BPF call).
    let mut call = sf("call 1\nmov %r0, 0\nexit\nmov %r0, 0\nexit");
    call.insns[0].src = 1;
    call.insns[0].imm = 2;
    let v = verify(&call, &none);
    assert_eq!(
        v.error.as_deref(),
        Some("loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN")
    );
    assert!(verify(&call, &bpf).accepted);
    let long = sf(&("mov %r0, 0\n".repeat(4096) + "exit"));
    assert!(!verify(&long, &none).accepted);
    assert!(verify(&long, &bpf).accepted);
    let x = program(ProgType::Xdp, asm("mov %r0, 2\nexit"));
    assert!(!verify(&x, &none).accepted);
    assert!(verify(&x, &bpf).accepted);
    // bpf_jiffies64 is a CAP_BPF helper.
    let j = sf("call 118\nmov %r0, 0\nexit");
    assert_eq!(
        verify(&j, &none).error.as_deref(),
        Some("program of this type cannot use helper bpf_jiffies64#118")
    );
}

/// The kernel's verdict (accepted or not) and log at `level` with CAP_BPF alone.
fn kernel_log_bpf_only(prog: &Program, maps: &[MapSpec], level: u32) -> Option<(bool, String)> {
    let g = BpfOnly::new();
    if !g.active() {
        return None;
    }
    let ko = bpfbox_kernel_compare::load::KernelObject::from_programs(
        std::slice::from_ref(prog),
        maps,
        &bpfbox_kernel_compare::load::LoadOptions {
            log_level: level,
            ..Default::default()
        },
    );
    let p = &ko.programs[0];
    Some((
        p.verdict == bpfbox_kernel_compare::load::Verdict::Accepted,
        p.log.clone(),
    ))
}

/// Speculative paths in the level-2 log: `from X to Y (speculative execution):` where the
/// walk takes one up, the same suffix on a `safe` line, and the error of an instruction a
/// speculative path cannot execute, logged before the kernel recovers with a barrier (the
/// program is still accepted), as the kernel prints them.
#[test]
fn speculative_paths_in_the_log_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let maps = maps();
    let opts = Options {
        maps: maps.clone(),
        log_level: 2 | 4,
        ..Options::default()
    }
    .with_privilege(Privilege::BpfOnly);
    let (mut speculative, mut same) = (0, 0);
    for (name, p) in cases() {
        let Some((accepted, k)) = kernel_log_bpf_only(&p, &maps, 2 | 4) else {
            return common::skip("cannot run a thread with CAP_BPF alone here");
        };
        if !k.contains("(speculative execution)") {
            continue;
        }
        speculative += 1;
        let v = verify(&p, &opts);
        assert!(
            accepted || !v.accepted,
            "{name}: accepted where the kernel rejects"
        );
        let ours = v.log;
        match bpfbox_verifier::log::compare::first_difference(&k, &ours, true) {
            None => same += 1,
            Some(d) => eprintln!(
                "{name}: line {}:\n  kernel: {}\n  ours:   {}",
                d.line, d.kernel, d.ours
            ),
        }
    }
    eprintln!("{same} of {speculative} logs with speculative paths identical");
    assert!(
        speculative >= 3,
        "only {speculative} cases walk a speculative path"
    );
    assert_eq!(
        same, speculative,
        "only {same} of {speculative} logs with speculative paths identical"
    );
}
