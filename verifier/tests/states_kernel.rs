//! The closing statistics line's state counts against the running kernel's, on programs
//! where `peak_states` differs from `total_states`: `may_goto` loops and helper calls
//! looping through a callback (a state pruned by an iteration still being explored is kept
//! as a back-edge until the loop's walk ends, so the peak exceeds the total), and branchy
//! loops whose states miss too often and are dropped, then freed once their paths are
//! explored (so the peak falls below the total). `max_states_per_insn`, `total_states`,
//! `peak_states` and `mark_read` must equal the kernel's.

mod common;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions};
use bpfbox_kernel_compare::verifier_log::VerifierStats;
use bpfbox_verifier::{verify, Options};
use bpfbox_vm::{ProgType, Program};
use common::walk_cases::{maps, sf};
use common::{asm, program};

/// The programs, by name.
#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Program)> {
    vec![
        ("may_goto loop with a branch", sf("mov %r6, 0\nl0:\nmay_goto l1\ncall 7\njeq %r0, 0, l2\nadd %r6, 1\nl2:\nja l0\nl1:\nmov %r0, 0\nexit")),
        ("nested bounded loops", sf("mov %r6, 0\nl0:\nmov %r7, 0\nl1:\ncall 7\njeq %r0, 0, l2\nadd %r8, 0\nl2:\nadd %r7, 1\njlt %r7, 6, l1\nadd %r6, 1\njlt %r6, 5, l0\nmov %r0, 0\nexit")),
        ("may_goto loop", sf("l0:\nmay_goto l1\nja l0\nl1:\nmov %r0, 0\nexit")),
        ("may_goto counting loop", sf("mov %r6, 0\nl0:\nmay_goto l1\nadd %r6, 1\nja l0\nl1:\nmov %r0, 0\nexit")),
        ("branchy bounded loop", sf("mov %r6, 0\nmov %r7, 0\nl0:\ncall 7\njeq %r0, 0, l1\nadd %r7, 1\nl1:\nadd %r6, 1\njlt %r6, 40, l0\nmov %r0, 0\nexit")),
        ("branchy loop with precise index", program(ProgType::SocketFilter, asm(&(common::walk_cases::lookup(0) + "jeq %r0, 0, l9\nmov %r8, %r0\nmov %r6, 0\nl0:\ncall 7\njeq %r0, 0, l1\nmov %r1, %r6\nand %r1, 7\nmov %r2, %r8\nadd %r2, %r1\nldxb %r3, [%r2+0]\nl1:\nadd %r6, 1\njlt %r6, 30, l0\nl9:\nmov %r0, 0\nexit")))),
    ]
}

fn kernel_stats(p: &Program) -> VerifierStats {
    let ko = KernelObject::from_programs(
        std::slice::from_ref(p),
        &maps(),
        &LoadOptions {
            log_level: 4,
            ..LoadOptions::default()
        },
    );
    VerifierStats::parse(&ko.programs[0].log)
}

#[test]
fn state_statistics_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let opts = Options {
        maps: maps(),
        ..Options::default()
    };
    let (mut above, mut below) = (0, 0);
    let mut differ = Vec::new();
    for (name, p) in cases() {
        let k = kernel_stats(&p);
        let s = verify(&p, &opts).stats;
        let ours = [
            s.processed_insns,
            s.max_states_per_insn,
            s.total_states,
            s.peak_states,
            s.mark_read,
        ];
        let kernel = [
            k.processed_insns,
            k.max_states_per_insn,
            k.total_states,
            k.peak_states,
            k.mark_read,
        ];
        let Some(kernel) = kernel.into_iter().collect::<Option<Vec<u64>>>() else {
            panic!("{name}: no statistics line in the kernel's log");
        };
        above += usize::from(kernel[3] > kernel[2]);
        below += usize::from(kernel[3] < kernel[2]);
        if kernel != ours {
            differ.push(format!(
                "{name}: processed, max_states_per_insn, total, peak, mark_read: kernel \
                 {kernel:?}, ours {ours:?}"
            ));
        }
    }
    // The cases must exercise both ways the peak departs from the total.
    assert!(
        above >= 2 && below >= 2,
        "peak above total in {above} cases, below in {below}"
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
