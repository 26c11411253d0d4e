//! Mutated real objects (bit flips, truncations, overwrites in the ELF header, the section
//! table and anywhere) must parse or fail with a typed error, never panic.

mod common;

use bpfbox_loader::Object;
use proptest::prelude::*;

/// How one input is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip these bits (positions taken modulo the length).
    Flips(Vec<usize>),
    /// Keep only this fraction (per mille) of the file.
    Truncate(u16),
    /// Overwrite bytes in a region: 0 = ELF header, 1 = section table, 2 = anywhere.
    Overwrite(u8, Vec<(usize, u8)>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop::collection::vec(any::<usize>(), 1..8).prop_map(Mutation::Flips),
        (0u16..1000).prop_map(Mutation::Truncate),
        (
            0u8..3,
            prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)
        )
            .prop_map(|(r, w)| Mutation::Overwrite(r, w)),
    ]
}

fn apply(orig: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = orig.to_vec();
    match m {
        Mutation::Flips(bits) => {
            for &bit in bits {
                let i = (bit / 8) % b.len();
                b[i] ^= 1 << (bit % 8);
            }
        }
        Mutation::Truncate(per_mille) => b.truncate(b.len() * usize::from(*per_mille) / 1000),
        Mutation::Overwrite(region, writes) => {
            let shoff = u64::from_le_bytes(orig[0x28..0x30].try_into().unwrap()) as usize;
            let (start, len) = match region {
                0 => (0, 64),
                1 if shoff < b.len() => (shoff, b.len() - shoff),
                _ => (0, b.len()),
            };
            for &(at, v) in writes {
                b[start + at % len] = v;
            }
        }
    }
    b
}

#[test]
fn mutated_objects_never_panic() {
    let Some(paths) = common::real_objects() else {
        return;
    };
    let objs: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let n = objs.len();
    // BPFBOX_MUTATION_CASES raises the per-object case count for longer local runs.
    let per_object: u32 = std::env::var("BPFBOX_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let cfg = ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(per_object * n as u32),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(which in 0..n, m in mutation())| {
        let bytes = apply(&objs[which], &m);
        // Ok or a typed error; a panic fails the property.
        match Object::parse(&bytes) {
            Ok(obj) => { let _ = obj.programs().len(); }
            Err(e) => { let _ = e.to_string(); }
        }
    });
}
