//! The facts the walk hands to the engines. Dead code: the instructions we call dead are
//! exactly those the running kernel's level-2 log never shows (it prints every instruction
//! it processes). Divisors: a division we say is never by zero is never by zero when the
//! interpreter runs the program on many random inputs (the programs return the divisor).

mod common;

use std::collections::BTreeSet;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict as KVerdict};
use bpfbox_vm::env::Env;
use bpfbox_vm::interp::RunOptions;
use bpfbox_vm::Vm;
use bpfbox_vm::{ProgType, Program};
use common::{asm, program, we_say};

fn sf(text: &str) -> Program {
    program(ProgType::SocketFilter, asm(text))
}

/// Programs with dead branches and divisions, and whether each division is by a value that
/// is never zero.
fn cases() -> Vec<(&'static str, Program, Option<bool>)> {
    vec![
        ("const branch", sf("mov %r0, 0\njeq %r0, 0, +1\nmov %r0, 1\nexit"), None),
        (
            "dead loop body",
            sf("mov %r0, 0\nmov %r1, 5\njlt %r1, 3, +2\nmov %r0, 1\nexit\nadd %r0, 1\nja -4"),
            None,
        ),
        (
            "range decides",
            sf("call 7\nand %r0, 15\njgt %r0, 20, +2\nmov %r0, 0\nexit\nlddw %r0, 7\nexit"),
            None,
        ),
        (
            "or 1 divisor",
            sf("call 7\nmov %r1, %r0\nor %r1, 1\nmov %r2, 100\ndiv %r2, %r1\nmov %r0, %r1\nexit"),
            Some(true),
        ),
        (
            "masked divisor",
            sf("call 7\nmov %r1, %r0\nand %r1, 3\nmov %r2, 100\ndiv %r2, %r1\nmov %r0, %r1\nexit"),
            Some(false),
        ),
        (
            "checked divisor",
            sf("call 7\nmov %r1, %r0\nand %r1, 7\njeq %r1, 0, +4\nmov %r2, 100\nmod %r2, %r1\nmov %r0, %r1\nexit\nmov %r0, 1\nexit"),
            Some(true),
        ),
        (
            "32-bit divisor with zero low half",
            sf("call 7\nmov %r1, %r0\nor %r1, 1\nlsh %r1, 32\nmov %r2, 100\ndiv32 %r2, %r1\nmov32 %r0, %r1\nexit"),
            Some(false),
        ),
        (
            "32-bit divisor",
            sf("call 7\nmov %r1, %r0\nor %r1, 2\nmov %r2, 100\nmod32 %r2, %r1\nmov32 %r0, %r1\nexit"),
            Some(true),
        ),
    ]
}

/// Instruction indices the kernel's level-2 log shows.
fn kernel_visited(prog: &Program) -> BTreeSet<usize> {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(prog),
        &[],
        &LoadOptions {
            // Level 1 keeps nothing of an accepted program's log; level 2 keeps every
            // instruction processed.
            log_level: 2,
            ..LoadOptions::default()
        },
    );
    let p = &ko.programs[0];
    assert_eq!(p.verdict, KVerdict::Accepted, "{}", p.log);
    p.log
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.split_once(": (")?;
            rest.get(2..3).filter(|c| *c == ")")?;
            n.parse().ok()
        })
        .collect()
}

#[test]
fn dead_code_is_what_the_kernel_never_visits() {
    if !common::kernel() {
        return;
    }
    for (name, prog, _) in cases() {
        let v = we_say(&prog, &[]);
        assert!(v.accepted, "{name}: {:?}", v.error);
        let facts = v.facts.expect("accepted programs have facts");
        let visited = kernel_visited(&prog);
        let insns = &prog.insns;
        let dead: Vec<usize> = (0..insns.len())
            .filter(|&i| (i == 0 || insns[i - 1].code != 0x18) && !visited.contains(&i))
            .collect();
        assert_eq!(facts.dead, dead, "{name}");
    }
}

#[test]
fn nonzero_divisors_are_never_zero() {
    for (name, prog, expect) in cases() {
        let v = we_say(&prog, &[]);
        let facts = v.facts.expect("accepted");
        let div = prog
            .insns
            .iter()
            .position(|i| matches!(i.code & 0xf7, 0x34 | 0x37 | 0x94 | 0x97) && i.code & 0x08 != 0);
        let (Some(div), Some(expect)) = (div, expect) else {
            assert!(facts.nonzero_divisors.is_empty(), "{name}");
            continue;
        };
        assert_eq!(facts.nonzero_divisors.contains(&div), expect, "{name}");
        // Soundness against the interpreter: the program returns the divisor.
        let mut vm = Vm::new(&prog.insns).unwrap();
        vm.set_helpers(bpfbox_vm::helpers::HelperRegistry::kernel());
        let mut zero = false;
        for seed in 0..2000u64 {
            let mut env = Env {
                prandom_state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
                ..Env::default()
            };
            let r0 = vm
                .run([0; 5], &[], &mut env, RunOptions::default())
                .unwrap()
                .r0;
            zero |= r0 == 0;
        }
        if expect {
            assert!(!zero, "{name}: the interpreter saw a zero divisor");
        } else {
            assert!(zero, "{name}: 2,000 runs never saw the zero divisor");
        }
    }
}
