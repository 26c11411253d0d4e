//! Linked scalars, packet-meta ranges, pointer-offset limits and atomic alignment against
//! the running kernel: each program is loaded with `BPF_PROG_LOAD`, and our verdict and error
//! line must be the kernel's (dead code reading the uninitialised r9 shows whether a bound
//! learned on one register reached its linked copies).

mod common;

use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};
use common::{asm, program};

fn xdp(text: &str) -> Program {
    program(ProgType::Xdp, asm(text))
}

fn sf(text: &str) -> Program {
    program(ProgType::SocketFilter, asm(text))
}

/// Map lookup of key 0 in map 0, leaving the value pointer (or NULL) in r0.
const LOOKUP: &str = "stw [%r10-8], 0\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -8\ncall 1\n";

fn cases() -> Vec<(String, Program)> {
    let mut v: Vec<(String, Program)> = vec![
        // A spill that holds the whole value links the slot with the register.
        (
            "64-bit spill links".into(),
            xdp("call 7\nand %r0, -2147483648\nlsh %r0, 32\nstxdw [%r10-8], %r0\nldxdw %r1, [%r10-8]\nmov %r2, 0\njne %r1, %r2, +3\njeq %r0, %r2, +2\nldxdw %r0, [%r9+0]\nexit\nmov %r0, 0\nexit"),
        ),
        (
            "32-bit spill of a 16-bit value links".into(),
            xdp("call 5\nand %r0, 65535\nmov %r1, %r0\nstxw [%r10-8], %r0\njlt %r0, 1, +3\nldxw %r1, [%r10-8]\njge %r1, 1, +1\nldxdw %r0, [%r9+0]\nmov %r0, 0\nexit"),
        ),
        (
            "narrowing spill does not link".into(),
            xdp("call 5\nmov %r1, %r0\nstxw [%r10-8], %r0\njlt %r0, 1, +3\nldxw %r1, [%r10-8]\njge %r1, 1, +1\nldxdw %r0, [%r9+0]\nmov %r0, 0\nexit"),
        ),
        (
            "8-byte fill of a 32-bit spill".into(),
            xdp("call 5\nand %r0, 65535\nstxw [%r10-8], %r0\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit"),
        ),
        (
            "narrow fill of a 64-bit spill".into(),
            xdp("call 5\nand %r0, 255\nstxdw [%r10-8], %r0\nldxb %r1, [%r10-8]\njlt %r0, 1, +2\njge %r1, 1, +1\nldxdw %r0, [%r9+0]\nmov %r0, 0\nexit"),
        ),
        // 32-bit copies of 32-bit values are linked; of wider values they are not.
        (
            "mov32 of a 32-bit value links".into(),
            sf("call 5\nstxdw [%r10-8], %r0\nldxw %r2, [%r10-8]\nmov32 %r3, %r2\njlt32 %r2, 9, +1\nexit\njlt %r3, 9, +1\nsub %r0, %r1\nexit"),
        ),
        (
            "mov32 of a 64-bit value does not link".into(),
            sf("call 5\nmov %r2, %r0\nmov32 %r3, %r2\njlt32 %r2, 9, +1\nexit\njlt %r3, 9, +1\nsub %r0, %r1\nexit"),
        ),
    ];
    // pkt_meta against pkt, every condition and operand order, pkt at its start or moved.
    for (cond, meta_left) in [
        ("jgt", true),
        ("jge", true),
        ("jlt", true),
        ("jle", true),
        ("jgt", false),
        ("jge", false),
        ("jlt", false),
        ("jle", false),
    ] {
        for data_off in [0, 8] {
            for access in [0, 7] {
                let cmp = if meta_left {
                    format!("{cond} %r4, %r3, +1")
                } else {
                    format!("{cond} %r3, %r4, +1")
                };
                let text = format!(
                    "ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nadd %r3, {data_off}\nmov %r4, %r2\nadd %r4, 8\n{cmp}\nldxb %r0, [%r2+{access}]\nmov %r0, 0\nexit"
                );
                v.push((
                    format!(
                        "meta {cond} {} pkt+{data_off}, access {access}",
                        if meta_left { "left" } else { "right" }
                    ),
                    xdp(&text),
                ));
            }
        }
    }
    // Pointer offsets at the kernel's limit (`BPF_MAX_VAR_OFF`).
    for (name, text) in [
        (
            "fp + 2^29",
            "mov %r2, %r10\nlddw %r3, 0x20000000\nadd %r2, %r3\nmov %r0, 0\nexit",
        ),
        (
            "fp + 2^29-1",
            "mov %r2, %r10\nlddw %r3, 0x1fffffff\nadd %r2, %r3\nmov %r0, 0\nexit",
        ),
        (
            "fp + u32 max",
            "mov %r2, %r10\nmov32 %r3, -1\nadd %r2, %r3\nmov %r0, 0\nexit",
        ),
        (
            "fp - 2^29",
            "mov %r2, %r10\nlddw %r3, 0x20000000\nsub %r2, %r3\nmov %r0, 0\nexit",
        ),
    ] {
        v.push((name.into(), sf(text)));
    }
    for (name, tail) in [
        (
            "map value + unbounded",
            "call 7\nlsh %r0, 32\narsh %r0, 32\nadd %r6, %r0\nmov %r0, 0\nexit",
        ),
        (
            "map value + huge min",
            "call 7\nor %r0, 0x40000000\nlsh %r0, 33\nadd %r6, %r0\nmov %r0, 0\nexit",
        ),
        (
            "map value + bounded var",
            "call 7\nand %r0, 7\nadd %r6, %r0\nldxb %r0, [%r6+0]\nexit",
        ),
    ] {
        v.push((
            name.into(),
            sf(&format!(
                "{LOOKUP}jne %r0, 0, +2\nmov %r0, 0\nexit\nmov %r6, %r0\n{tail}"
            )),
        ));
    }
    // Atomics are always checked for alignment.
    for off in [0, 3, 4] {
        for (op, size) in [("lock add32", 4), ("lock add", 8)] {
            v.push((
                format!("{op} map value +{off} ({size})"),
                sf(&format!(
                    "{LOOKUP}jeq %r0, 0, +2\nmov %r1, 1\n{op} [%r0+{off}], %r1\nmov %r0, 0\nexit"
                )),
            ));
        }
    }
    // The syscall program's context is the caller's buffer: aligned accesses below 64 KiB.
    for (name, text) in [
        ("syscall ctx read", "ldxw %r0, [%r1+0]\nexit"),
        ("syscall ctx misaligned", "ldxw %r0, [%r1+3]\nexit"),
        ("syscall ctx far byte", "ldxb %r0, [%r1+32767]\nexit"),
        ("syscall ctx negative", "ldxb %r0, [%r1-1]\nexit"),
        ("syscall ctx write", "stdw [%r1+8], 7\nmov %r0, 0\nexit"),
        ("syscall ctx sign-extending", "ldxsh %r0, [%r1+2]\nexit"),
    ] {
        let mut p = program(ProgType::Syscall, asm(text));
        p.prog_flags = 1 << 4; // BPF_F_SLEEPABLE, which syscall programs need
        v.push((name.into(), p));
    }
    v.push((
        "syscall without BPF_F_SLEEPABLE".into(),
        program(ProgType::Syscall, asm("mov %r0, 0\nexit")),
    ));
    v
}

#[test]
fn links_and_limits_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let owned = cases();
    let cases: Vec<(&str, Program)> = owned.iter().map(|(n, p)| (n.as_str(), p.clone())).collect();
    let maps = [MapSpec::new("arr", MapType::Array, 4, 16, 4)];
    let matched = common::assert_cases(&cases, &maps);
    eprintln!("{matched} of {} cases identical to the kernel", cases.len());
    assert_eq!(matched, cases.len(), "every case identical to the kernel");
}
