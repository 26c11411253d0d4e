//! The log against the running kernel's, line for line: the walk tests' programs (and a few
//! more for branches, pruning and stack slots) loaded with log levels 1 and 2 (with
//! `BPF_LOG_STATS`), our log compared with the kernel's after masking what cannot be the same
//! (the verification time, the kernel address a map load is rewritten to). At level 2 the
//! kernel also prints the live-register table, precision backtracking and stack liveness,
//! which this verifier does not do yet: those lines are counted apart (the layout they
//! cause, a state on a line of its own after them, is ours too).

mod common;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions};
use bpfbox_verifier::log::compare::first_difference;
use bpfbox_verifier::{verify, Options};
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::{ProgType, Program};
use common::walk_cases::{self, lookup, maps, sf, xdp};
use common::{asm, program};

#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Program)> {
    let mut v = walk_cases::cases();
    v.extend([
        // Branches, pruning and states on both sides.
        ("two branches", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +7\nldxw %r1, [%r0+0]\njgt %r1, 10, +4\nmov %r2, 1\njeq %r1, 3, +1\nmov %r2, 2\nmov %r0, 0\nexit\nldxw %r0, [%r0+16]\nexit")))),
        ("pruned join", sf("ldxw %r2, [%r1+0]\nmov %r0, 0\njgt %r2, 5, +1\nmov %r3, 1\nmov %r3, 2\nmov %r4, 3\nmov %r5, 4\nmov %r0, %r3\nexit")),
        ("spill of a pointer", sf("stxdw [%r10-16], %r1\nstxdw [%r10-8], %r10\nldxdw %r2, [%r10-16]\nmov %r0, 0\nexit")),
        ("narrow const spills", sf("sth [%r10-2], 7\nstb [%r10-9], 1\nstw [%r10-16], 3\nmov %r0, 0\nldxdw %r0, [%r10-24]\nexit")),
        ("var off stack", sf("ldxw %r2, [%r1+0]\nand %r2, 8\nmov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nstb [%r3+0], 1\nmov %r0, 0\nldxdw %r0, [%r10-32]\nexit")),
        ("scalar ids", sf("ldxw %r2, [%r1+0]\nmov %r3, %r2\njgt %r2, 7, +2\nmov %r0, %r3\nexit\nmov %r0, 0\nldxdw %r0, [%r10-8]\nexit")),
        ("xdp packet states", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 1\njgt %r4, %r3, +2\nldxb %r0, [%r2+13]\nexit\nldxb %r0, [%r2+0]\nexit")),
        ("pkt_meta checked", xdp("ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r4, %r2\nadd %r4, 8\nmov %r0, 0\njgt %r4, %r3, +1\nldxdw %r0, [%r2+0]\nmov %r0, 0\nexit")),
        ("pkt_meta checked too far", xdp("ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r4, %r2\nadd %r4, 8\nmov %r0, 0\njle %r3, %r4, +1\nldxdw %r0, [%r2+4]\nmov %r0, 0\nexit")),
        ("pkt past end", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\nmov %r0, 0\njgt %r4, %r3, +1\nexit\nldxb %r0, [%r4+0]\nexit")),
        ("spill links ids", sf("call 7\nstxdw [%r10-16], %r0\nstxw [%r10-24], %r0\nldxw %r2, [%r1+0]\nstxw [%r10-8], %r2\njgt %r0, 5, +1\nldxdw %r3, [%r10-16]\nmov %r0, 0\nldxdw %r0, [%r10-32]\nexit")),
        ("ld_abs scratches its context", sf("mov %r6, %r1\nldabsw 0\nmov %r0, 0\nexit")),
        ("static call enters the callee", sf("mov %r1, 1\ncall local sub\nexit\nsub:\nmov %r0, %r1\nexit")),
        ("safe after resume", sf("ldxw %r2, [%r1+0]\nmov %r0, 0\njeq %r2, 1, +1\nmov %r3, 1\nmov %r3, 1\nja +0\nmov %r0, %r3\njeq %r2, 2, +1\nmov %r4, 1\nmov %r0, 0\nexit")),
    ]);
    v
}

/// Whether the two logs are the same line for line (`filter` drops the kernel-only lines
/// first); the first difference otherwise.
fn same(kernel: &str, ours: &str, filter: bool) -> Result<(), String> {
    match first_difference(kernel, ours, filter) {
        None => Ok(()),
        Some(d) => Err(format!(
            "line {}:\n  kernel: {}\n  ours:   {}",
            d.line, d.kernel, d.ours
        )),
    }
}

fn kernel_log(p: &Program, maps: &[MapSpec], level: u32) -> String {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(p),
        maps,
        &LoadOptions {
            log_level: level,
            ..LoadOptions::default()
        },
    );
    ko.programs[0].log.clone()
}

fn our_log(p: &Program, maps: &[MapSpec], level: u32) -> String {
    let opts = Options {
        maps: maps.to_vec(),
        log_level: level,
        ..Options::default()
    };
    verify(p, &opts).log
}

/// Compares every case at `level`; returns how many logs are identical.
fn compare_at(level: u32, filter: bool) -> (usize, usize) {
    let maps = maps();
    let cases = cases();
    let mut same_n = 0;
    for (name, p) in &cases {
        let k = kernel_log(p, &maps, level);
        let o = our_log(p, &maps, level);
        match same(&k, &o, filter) {
            Ok(()) => same_n += 1,
            Err(d) => eprintln!("level {level}: {name}: {d}"),
        }
    }
    (same_n, cases.len())
}

#[test]
fn level1_log_matches_the_kernel() {
    if !common::kernel() {
        return;
    }
    let (n, of) = compare_at(1 | 4, false);
    eprintln!("level 1: {n} of {of} logs identical to the kernel's");
    assert!(
        n * 100 >= of * 95,
        "level 1: only {n} of {of} logs identical (114 of 115 measured; floor 95%)"
    );
}

#[test]
fn level2_log_matches_the_kernel() {
    if !common::kernel() {
        return;
    }
    let (n, of) = compare_at(2 | 4, true);
    eprintln!("level 2: {n} of {of} logs identical to the kernel's (without its liveness and precision lines)");
    assert!(
        n * 100 >= of * 95,
        "level 2: only {n} of {of} logs identical (114 of 115 measured; floor 95%)"
    );
}
