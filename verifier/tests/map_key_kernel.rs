//! Lookups in an array map at a constant key against the running kernel: 6.18 returns a
//! map value that is not `_or_null` when the key on the stack is zeros or a spilled
//! constant of the key's size and lies below `max_entries`, and makes the spilled key
//! precise so that pruning cannot let an unknown key through. Each program dereferences
//! the lookup's result without a null check: the kernel's verdict says whether it elided
//! the null, and ours must be the same, with the same processed-instruction count.

mod common;

use bpfbox_verifier::{verify, Options};
use common::walk_cases::{maps, sf};
use common::{compare, Outcome};

/// `lddw r1, arr; r2 = fp{key}; call map_lookup_elem; r0 = *(u32 *)(r0 + 0); exit`.
fn lookup_at(key: i32) -> String {
    format!(
        "lddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, {key}\ncall 1\nldxw %r0, [%r0+0]\nmov %r0, 0\nexit"
    )
}

#[rustfmt::skip]
fn cases() -> Vec<(&'static str, String)> {
    vec![
        ("zero bytes", format!("stw [%r10-4], 0\n{}", lookup_at(-4))),
        ("zero register stored unaligned", format!("mov %r1, 0\nstxw [%r10-4], %r1\n{}", lookup_at(-4))),
        ("spilled constant of the key's size", format!("mov %r1, 2\nstxw [%r10-8], %r1\n{}", lookup_at(-8))),
        ("spilled constant too wide", format!("mov %r1, 2\nstxdw [%r10-8], %r1\n{}", lookup_at(-8))),
        ("constant key out of range", format!("mov %r1, 4\nstxw [%r10-8], %r1\n{}", lookup_at(-8))),
        ("spill scrubbed by a partial write", format!("stw [%r10-8], 0\nstw [%r10-4], 0\n{}", lookup_at(-8))),
        ("unknown key", format!("call 7\nstxw [%r10-8], %r0\n{}", lookup_at(-8))),
        // Two paths meet at a checkpoint before the lookup, the first walked with a
        // constant key, the second with an unknown one: the constant must be precise, or
        // the second path is pruned.
        ("constant then unknown key", format!("call 7\nmov %r6, %r0\nmov %r1, %r6\njne %r6, 0, +1\nmov %r1, 1\nstxw [%r10-8], %r1\nmov %r7, 0\nmov %r8, 0\nmov %r9, 0\nja +0\nmov %r8, 1\nja +0\nmov %r9, 1\njeq %r7, 0, +0\n{}", lookup_at(-8))),
        ("constant then constant key", format!("call 7\nmov %r6, %r0\nmov %r1, 2\njne %r6, 0, +1\nmov %r1, 1\nstxw [%r10-8], %r1\nmov %r7, 0\nmov %r8, 0\nmov %r9, 0\nja +0\nmov %r8, 1\nja +0\nmov %r9, 1\njeq %r7, 0, +0\n{}", lookup_at(-8))),
    ]
}

#[test]
fn constant_array_keys_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let maps = maps();
    let (mut accepted, mut rejected) = (0, 0);
    for (name, text) in cases() {
        let p = sf(&text);
        let (outcome, detail) = compare(&p, &maps);
        assert_eq!(outcome, Outcome::Same, "{name}: {detail}");
        let v = verify(
            &p,
            &Options {
                maps: maps.clone(),
                ..Options::default()
            },
        );
        if v.accepted {
            accepted += 1;
            let k = common::kernel_processed(&p, &maps);
            assert_eq!(Some(v.stats.processed_insns), k, "{name}: processed insns");
        } else {
            rejected += 1;
        }
    }
    // Both ways must be exercised: elided nulls and kept ones.
    assert!(
        accepted >= 3 && rejected >= 3,
        "{accepted} accepted, {rejected} rejected"
    );
}
