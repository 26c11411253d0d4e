//! Program-level checks against the running kernel: each malformed program is loaded with
//! `BPF_PROG_LOAD` and our first error line must be the kernel's.

mod common;

use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::ProgType;
use common::{asm, program};

fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn::new(code, dst, src, off, imm)
}

#[test]
fn program_level_errors_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let exit = raw(0x95, 0, 0, 0, 0);
    let mov0 = raw(0xb7, 0, 0, 0, 0);
    let sf = ProgType::SocketFilter;
    let cases = vec![
        (
            "jump past end",
            program(sf, vec![mov0, raw(0x05, 0, 0, 5, 0), exit]),
        ),
        (
            "jump before start",
            program(sf, vec![mov0, raw(0x05, 0, 0, -3, 0), exit]),
        ),
        (
            "gotol out of range",
            program(sf, vec![mov0, raw(0x06, 0, 0, 0, 9), exit]),
        ),
        ("last not exit", program(sf, vec![mov0, exit, mov0])),
        ("unreachable", program(sf, vec![mov0, exit, mov0, exit])),
        (
            "unreachable after ja",
            program(sf, vec![mov0, raw(0x05, 0, 0, 1, 0), mov0, exit]),
        ),
        (
            "call to invalid destination",
            program(sf, vec![mov0, raw(0x85, 0, 1, 0, 40), exit]),
        ),
        (
            "jump across subprogram",
            program(
                sf,
                vec![
                    raw(0x85, 0, 1, 0, 2),
                    raw(0x05, 0, 0, 2, 0),
                    exit,
                    mov0,
                    exit,
                ],
            ),
        ),
        (
            "subprog falls through",
            program(sf, vec![raw(0x85, 0, 1, 0, 1), exit, mov0]),
        ),
        (
            "ldimm64 missing half",
            program(sf, vec![mov0, raw(0x18, 1, 0, 0, 1)]),
        ),
        (
            "ldimm64 bad second slot",
            program(
                sf,
                vec![raw(0x18, 1, 0, 0, 1), raw(0, 1, 0, 0, 0), mov0, exit],
            ),
        ),
        (
            "ldimm64 bad pseudo",
            program(
                sf,
                vec![raw(0x18, 1, 9, 0, 1), raw(0, 0, 0, 0, 0), mov0, exit],
            ),
        ),
        (
            "jump into ldimm64",
            program(
                sf,
                vec![
                    raw(0x15, 1, 0, 1, 0),
                    raw(0x18, 1, 0, 0, 1),
                    raw(0, 0, 0, 0, 0),
                    mov0,
                    exit,
                ],
            ),
        ),
        (
            "unknown opcode",
            program(sf, vec![mov0, raw(0xff, 0, 0, 0, 0), exit]),
        ),
        (
            "callx",
            program(sf, vec![mov0, raw(0x8d, 1, 0, 0, 0), exit]),
        ),
        (
            "ldx reserved",
            program(sf, vec![mov0, raw(0x61, 0, 10, -4, 1), exit]),
        ),
        (
            "map fd not a map",
            program(
                sf,
                vec![raw(0x18, 1, 1, 0, 1000), raw(0, 0, 0, 0, 0), mov0, exit],
            ),
        ),
        (
            "unreachable in subprogram",
            program(
                sf,
                asm("call local +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\nexit\n"),
            ),
        ),
    ];
    let n = common::assert_cases(&cases, &[]);
    assert_eq!(n, cases.len());
}
