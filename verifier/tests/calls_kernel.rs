//! BPF-to-BPF calls, global functions, `may_goto` and tail calls against the running kernel:
//! hand-written programs loaded with `BPF_PROG_LOAD`; our verdict and error line must be the
//! kernel's, and we must never accept what it rejects.

mod common;

use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};
use common::{asm, program};

fn sf(text: &str) -> Program {
    program(ProgType::SocketFilter, asm(text))
}

fn tp(text: &str) -> Program {
    program(ProgType::Tracepoint, asm(text))
}

fn maps() -> Vec<MapSpec> {
    vec![
        MapSpec::new("arr", MapType::Array, 4, 16, 4),
        MapSpec::new("hash", MapType::Hash, 4, 16, 4),
        MapSpec::new("progs", MapType::ProgArray, 4, 4, 4),
    ]
}

/// `n` nested static calls, each subprogram using `stack` bytes of its frame.
fn chain(n: usize, stack: u32) -> String {
    let mut s = String::new();
    for k in 0..n {
        if k > 0 {
            s.push_str(&format!("f{k}:\n"));
        }
        if stack > 0 {
            s.push_str(&format!("stdw [%r10-{stack}], 0\n"));
        }
        s.push_str(&format!("call local f{}\nmov %r0, 0\nexit\n", k + 1));
    }
    s.push_str(&format!("f{n}:\nmov %r0, 0\nexit\n"));
    s
}

fn cases() -> Vec<(&'static str, Program)> {
    vec![
        // Frames: arguments, callee-saved and clobbered registers, r0 returned.
        ("uninit arg read in callee", sf("call local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r3\nexit")),
        ("ctx passed in r1", sf("call local f\nexit\nf:\nldxw %r0, [%r1+0]\nexit")),
        ("uninit r0 returned and read", sf("call local f\nexit\nf:\nexit")),
        ("uninit r0 returned unused", sf("call local f\nmov %r0, 0\nexit\nf:\nexit")),
        ("r6 kept r1 clobbered", sf("mov %r6, 1\ncall local f\nmov %r0, %r6\nmov %r0, %r1\nexit\nf:\nmov %r0, 0\nexit")),
        ("r6 kept", sf("mov %r6, 1\ncall local f\nmov %r0, %r6\nexit\nf:\nmov %r6, 5\nmov %r0, 0\nexit")),
        ("callee cannot read caller r6", sf("mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit")),
        ("constant returned", sf("call local f\njeq %r0, 7, +1\nldxdw %r0, [%r10-8]\nexit\nf:\nmov %r0, 7\nexit")),
        ("argument bounds used", sf("mov %r1, 3\ncall local f\nexit\nf:\nmov %r0, 0\njlt %r1, 4, +1\nldxdw %r0, [%r10-8]\nexit")),
        ("ctx returned", sf("call local f\nexit\nf:\nmov %r0, %r1\nexit")),
        ("ctx returned deref", sf("call local f\nldxw %r0, [%r0+0]\nexit\nf:\nmov %r0, %r1\nexit")),
        ("stack pointer returned", sf("call local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r10\nexit")),
        ("caller stack pointer returned", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r1\nexit")),
        // Stacks: one per frame, pointers into callers' stacks.
        ("read caller stack", sf("stdw [%r10-8], 3\nmov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit")),
        ("read caller stack uninit", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit")),
        ("callee writes caller stack", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\njeq %r0, 9, +1\nldxdw %r0, [%r10-16]\nexit\nf:\nstdw [%r1+0], 9\nmov %r0, 0\nexit")),
        ("callee spills scalar to caller", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nmov %r2, 4\nstxdw [%r1+0], %r2\nmov %r0, 0\nexit")),
        ("callee spills ctx to caller", sf("mov %r6, %r1\nmov %r1, %r10\nadd %r1, -8\nmov %r2, %r6\ncall local f\nldxdw %r1, [%r10-8]\nldxw %r0, [%r1+0]\nexit\nf:\nstxdw [%r1+0], %r2\nmov %r0, 0\nexit")),
        ("callee spills fp to caller", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nmov %r0, 0\nexit\nf:\nstxdw [%r1+0], %r10\nmov %r0, 0\nexit")),
        ("callee spills caller fp to caller", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nmov %r0, 0\nexit\nf:\nstxdw [%r1+0], %r1\nmov %r0, 0\nexit")),
        ("callee stack separate", sf("stdw [%r10-8], 1\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nldxdw %r0, [%r10-8]\nexit")),
        ("callee stack out of frame", sf("call local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-520], 0\nmov %r0, 0\nexit")),
        ("two levels caller stack", sf("stdw [%r10-16], 5\nmov %r1, %r10\nadd %r1, -16\ncall local f\nexit\nf:\ncall local g\nexit\ng:\nldxdw %r0, [%r1+0]\nexit")),
        ("caller stack past frame", sf("mov %r1, %r10\nadd %r1, -8\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r1+8], 0\nmov %r0, 0\nexit")),
        ("map value passed", program(ProgType::SocketFilter, asm("stw [%r10-4], 0\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +3\nmov %r1, %r0\ncall local f\nexit\nmov %r0, 0\nexit\nf:\nldxw %r0, [%r1+12]\nexit"))),
        ("map value passed past end", program(ProgType::SocketFilter, asm("stw [%r10-4], 0\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +3\nmov %r1, %r0\ncall local f\nexit\nmov %r0, 0\nexit\nf:\nldxw %r0, [%r1+14]\nexit"))),
        ("or_null passed unchecked", program(ProgType::SocketFilter, asm("stw [%r10-4], 0\nlddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r1, %r0\ncall local f\nexit\nf:\nldxw %r0, [%r1+0]\nexit"))),
        ("or_null checked in callee", program(ProgType::SocketFilter, asm("stw [%r10-4], 0\nlddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r1, %r0\ncall local f\nexit\nf:\nmov %r0, 0\njeq %r1, 0, +1\nldxw %r0, [%r1+0]\nexit"))),
        // Depth and combined stack.
        ("8 frames", sf(&chain(7, 0))),
        ("9 frames", sf(&chain(8, 0))),
        ("recursion", sf("call local f\nmov %r0, 0\nexit\nf:\ncall local f\nmov %r0, 0\nexit")),
        ("main calls itself", sf("mov %r0, 0\njeq %r0, 1, +1\ncall local -3\nexit")),
        ("bounded recursion", tp("mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\nmov %r0, %r1\njlt %r1, 4, +1\nexit\ncall local f\nexit")),
        ("combined stack 512+8", sf("stdw [%r10-512], 0\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-8], 0\nmov %r0, 0\nexit")),
        ("combined stack 256+272", tp("stdw [%r10-256], 0\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-264], 0\nmov %r0, 0\nexit")),
        ("combined stack 256+256", sf("stdw [%r10-256], 0\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-256], 0\nmov %r0, 0\nexit")),
        ("combined stack 3 calls", sf(&chain(3, 136))),
        ("combined stack 4 calls", sf(&chain(4, 136))),
        ("combined stack of an uncalled path", sf("mov %r0, 0\njeq %r0, 0, +1\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-512], 0\nstdw [%r10-8], 0\nmov %r0, 0\nexit")),
        ("two callees", sf("stdw [%r10-256], 0\ncall local f\ncall local g\nmov %r0, 0\nexit\nf:\nstdw [%r10-240], 0\nmov %r0, 0\nexit\ng:\nstdw [%r10-264], 0\nmov %r0, 0\nexit")),
        // Pruning and loops across calls.
        ("callee called twice", sf("mov %r1, 1\ncall local f\nmov %r6, %r0\nmov %r1, 2\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r0, %r1\nexit")),
        ("loop in callee", sf("call local f\nexit\nf:\nmov %r0, 0\nmov %r1, 10\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit")),
        ("infinite loop in callee", sf("call local f\nexit\nf:\nmov %r0, 0\nja -1\nexit")),
        ("branch in callee", sf("call local f\nexit\nf:\nmov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit")),
        // may_goto and gotol.
        ("may_goto counter", sf("mov %r0, 0\nl:\nmay_goto +2\nadd %r0, 1\nja l\nexit")),
        ("may_goto stack counter", sf("stdw [%r10-8], 0\nl:\nmay_goto +4\nldxdw %r1, [%r10-8]\nadd %r1, 1\nstxdw [%r10-8], %r1\nja l\nldxdw %r0, [%r10-8]\nexit")),
        ("may_goto to itself", sf("mov %r0, 0\nl:\nmay_goto l\nexit")),
        ("may_goto back to a constant", sf("l:\nmov %r0, 0\nmay_goto l\nexit")),
        ("may_goto uninit after loop", sf("l:\nmay_goto +2\nmov %r0, 1\nja l\nexit")),
        ("may_goto bounded index", sf("mov %r1, 0\nl:\nmay_goto +7\nmov %r2, %r10\nadd %r2, -64\nadd %r2, %r1\nstb [%r2+0], 1\nadd %r1, 1\njlt %r1, 64, l\nmov %r0, 0\nexit")),
        ("may_goto index past frame", sf("mov %r1, 0\nl:\nmay_goto +7\nmov %r2, %r10\nadd %r2, -64\nadd %r2, %r1\nstb [%r2+0], 1\nadd %r1, 1\njlt %r1, 65, l\nmov %r0, 0\nexit")),
        ("may_goto map index", program(ProgType::SocketFilter, asm("stw [%r10-4], 0\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +10\nmov %r1, 0\nl:\nmay_goto +7\nmov %r2, %r0\nadd %r2, %r1\nstb [%r2+0], 0\nadd %r1, 1\njlt %r1, 16, l\nmov %r0, 0\nexit\nmov %r0, 0\nexit"))),
        ("may_goto in callee", sf("call local f\nexit\nf:\nmov %r0, 0\nl:\nmay_goto +2\nadd %r0, 2\nja l\nexit")),
        ("may_goto call in loop", sf("mov %r6, 0\nl:\nmay_goto +3\ncall local f\nadd %r6, %r0\nja l\nmov %r0, %r6\nexit\nf:\nmov %r0, 1\nexit")),
        ("gotol", sf("mov %r0, 0\nja32 +1\nmov %r0, %r5\nexit")),
        // Tail calls.
        ("tail call", sf("lddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("r0 after tail call", sf("lddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nexit")),
        ("r6 after tail call", sf("mov %r6, 1\nlddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nmov %r0, %r6\nexit")),
        ("tail call array map", sf("lddw %r2, map_idx 0\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call array map r3 uninit", sf("lddw %r2, map_idx 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call r1 not ctx", sf("mov %r1, %r10\nlddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call modified ctx", sf("add %r1, 8\nlddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call r2 scalar", sf("mov %r2, 0\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("tail call r3 uninit", sf("lddw %r2, map_idx 2\ncall 12\nmov %r0, 0\nexit")),
        ("tail call in subprog without BTF", sf("call local f\nmov %r0, 0\nexit\nf:\nlddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit")),
        ("packet after tail call", program(ProgType::Xdp, asm("mov %r6, %r1\nldxw %r7, [%r1+0]\nldxw %r8, [%r1+4]\nmov %r0, %r7\nadd %r0, 1\njgt %r0, %r8, +6\nmov %r1, %r6\nlddw %r2, map_idx 2\nmov %r3, 0\ncall 12\nldxb %r0, [%r7+0]\nexit\nmov %r0, 0\nexit"))),
        ("gotol into loop", sf("mov %r0, 0\nja32 +1\nl:\nadd %r0, 1\nmay_goto +1\nja32 l\nexit")),
    ]
}

#[test]
fn calls_match_the_kernel() {
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
