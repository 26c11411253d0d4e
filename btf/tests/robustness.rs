//! Mutated real BTF must never make the parser, validator or dumpers panic.

mod common;

use std::sync::OnceLock;

use bpfbox_btf::{dump_c, dump_raw, Btf, BtfExt};
use common::builder::*;
use common::{xdp_objects, Elf};
use proptest::prelude::*;

/// (.BTF, .BTF.ext) pairs to mutate: xdp-tools objects when present, plus a
/// hand-built blob that is always there.
fn corpus() -> &'static Vec<(Vec<u8>, Vec<u8>)> {
    static C: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    C.get_or_init(|| {
        let mut v = Vec::new();
        for obj in xdp_objects().into_iter().take(4) {
            let elf = Elf::open(&obj);
            if let (Some(b), Some(e)) = (elf.section(".BTF"), elf.section(".BTF.ext")) {
                v.push((b.to_vec(), e.to_vec()));
            }
        }
        let mut b = Builder::new();
        let int = b.int("int", 4, 1, 32);
        let p = b.ptr(int);
        let arr = b.array(p, int, 3);
        b.composite(
            STRUCT,
            "s",
            32,
            true,
            &[("a", int, 0), ("b", int, (5 << 24) | 32), ("c", arr, 64)],
        );
        b.enum32("e", 4, false, &[("A", 1), ("B", 2)]);
        let proto = b.func_proto(int, &[("x", p), ("", 0)]);
        b.func("f", proto, 1);
        b.typedef("t", 4);
        v.push((b.build(), Vec::new()));
        v
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Word { at: usize, value: u32 },
    Truncate { len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        3 => (any::<usize>(), prop_oneof![any::<u32>(), 0u32..64, Just(0xffff), Just(u32::MAX)])
            .prop_map(|(at, value)| Mutation::Word { at, value }),
        1 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn apply(data: &mut Vec<u8>, muts: &[Mutation]) {
    for m in muts {
        if data.is_empty() {
            return;
        }
        match *m {
            Mutation::Flip { at, bit } => {
                let i = at % data.len();
                data[i] ^= 1 << bit;
            }
            Mutation::Word { at, value } => {
                let i = (at % data.len()) & !3;
                let end = (i + 4).min(data.len());
                data[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
            }
            Mutation::Truncate { len } => data.truncate(len % (data.len() + 1)),
        }
    }
}

fn exercise(btf: &Btf) {
    let _ = btf.validate();
    let _ = dump_raw(btf, &mut std::io::sink());
    let _ = dump_c(btf, &mut std::io::sink());
    for (id, _) in btf.types() {
        let _ = btf.resolve_size(id);
        let _ = btf.alignment(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = btf.resolve_ptr(id);
    }
    let _ = btf.ids_by_name("int").count();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512), ..ProptestConfig::default() })]

    #[test]
    fn mutated_btf_never_panics(pick in any::<usize>(), muts in prop::collection::vec(mutation(), 1..8)) {
        let corpus = corpus();
        let (btf_bytes, _) = &corpus[pick % corpus.len()];
        let mut data = btf_bytes.clone();
        apply(&mut data, &muts);
        if let Ok(btf) = Btf::parse(&data) {
            exercise(&btf);
        }
    }

    #[test]
    fn mutated_ext_never_panics(pick in any::<usize>(), muts in prop::collection::vec(mutation(), 1..8)) {
        let corpus = corpus();
        let (btf_bytes, ext_bytes) = &corpus[pick % corpus.len()];
        let btf = Btf::parse(btf_bytes).unwrap();
        let mut data = ext_bytes.clone();
        apply(&mut data, &muts);
        if let Ok(ext) = BtfExt::parse(&data, &btf) {
            for s in &ext.line_info {
                for li in &s.records {
                    let _ = (li.file_name(&btf), li.source_line(&btf), li.line(), li.col());
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
        let mut data = data;
        if magic && data.len() >= 8 {
            data[0] = 0x9f;
            data[1] = 0xeb;
            data[2] = 1;
            data[4..8].copy_from_slice(&24u32.to_le_bytes());
        }
        if let Ok(btf) = Btf::parse(&data) {
            exercise(&btf);
        }
    }
}
