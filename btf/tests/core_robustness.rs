//! CO-RE on hostile input: mutated local and target BTF, arbitrary relocation records and
//! access strings never make resolution or patching panic (the `core_reloc` fuzz target's
//! property, run by `cargo test`). Plus the flavour rule and libbpf's poison encoding.

mod common;

use bpfbox_btf::core::{patch_insn, CoreInsn, PatchStep};
use bpfbox_btf::{essential_name, Btf, CoreReloc, CoreRelocator, CoreRes, POISON_HELPER};
use common::builder::*;
use common::{xdp_objects, Elf};
use proptest::prelude::*;

/// A local BTF with nesting, arrays, bitfields, enums, flavours and many access strings, and
/// the string offsets of those access strings.
fn built() -> (Vec<u8>, Vec<u32>) {
    let mut b = Builder::new();
    let int = b.int("int", 4, 1, 32);
    let uint = b.int("unsigned int", 4, 0, 32);
    let p = b.ptr(int);
    let arr = b.array(int, int, 4);
    let flex = b.array(int, int, 0);
    let inner = b.composite(STRUCT, "inner", 8, false, &[("x", int, 0), ("y", uint, 32)]);
    b.composite(
        STRUCT,
        "s",
        40,
        true,
        &[
            ("a", int, 0),
            ("bf", uint, (5 << 24) | 35),
            ("c", arr, 64),
            ("", inner, 192),
            ("p", p, 256),
            ("f", flex, 320),
        ],
    );
    b.composite(
        STRUCT,
        "s___v2",
        16,
        false,
        &[("a", uint, 64), ("c", arr, 0)],
    );
    b.enum32("e", 4, true, &[("A", -1), ("B", 2)]);
    b.enum32("e___x", 4, false, &[("B", 7)]);
    b.typedef("t", 4);
    let mut offs = Vec::new();
    for s in [
        "0",
        "0:0",
        "0:1",
        "0:2:3",
        "0:3:0",
        "0:3:1",
        "0:4",
        "0:5:9",
        "1",
        "0:9",
        "",
        ":0",
        "-1",
        "0:99999999999",
        "0::1",
        " 0: +1",
        "0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0",
    ] {
        offs.push(b.s(s));
    }
    (b.build(), offs)
}

fn corpus() -> Vec<Vec<u8>> {
    let mut v = vec![built().0];
    for obj in xdp_objects().into_iter().take(3) {
        if let Some(btf) = Elf::open(&obj).section(".BTF") {
            v.push(btf.to_vec());
        }
    }
    v
}

fn mutate(data: &mut [u8], muts: &[(usize, u8)]) {
    if data.is_empty() {
        return;
    }
    for &(at, val) in muts {
        let i = at % data.len();
        data[i] ^= val;
    }
}

fn run_relocs(local: &Btf, target: &Btf, relos: &[CoreReloc]) {
    let mut rel = CoreRelocator::new(local, target);
    for r in relos {
        let (_, res) = rel.resolve_traced(r);
        if let Ok(res) = res {
            let mut insns = [
                CoreInsn {
                    code: 0x07,
                    dst: 1,
                    src: 0,
                    off: 0,
                    imm: 0,
                },
                CoreInsn {
                    code: 0x18,
                    dst: 1,
                    src: 0,
                    off: 0,
                    imm: 0,
                },
                CoreInsn::default(),
                CoreInsn {
                    code: 0x61,
                    dst: 1,
                    src: 2,
                    off: 0,
                    imm: 0,
                },
            ];
            let idx = (r.insn_off as usize / 8) % insns.len();
            let _ = patch_insn(&mut insns[idx..], idx, &res);
        }
    }
}

fn relo() -> impl Strategy<Value = (u32, u32, usize, u32)> {
    (0u32..64, 0u32..40, any::<usize>(), 0u32..16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(384), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_relocations_never_panic(
        pick_l in any::<usize>(),
        pick_t in any::<usize>(),
        muts_l in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        muts_t in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        relos in prop::collection::vec(relo(), 1..12),
        raw_str in any::<u32>(),
    ) {
        let c = corpus();
        let (_, offs) = built();
        let mut l = c[pick_l % c.len()].clone();
        let mut t = c[pick_t % c.len()].clone();
        mutate(&mut l, &muts_l);
        mutate(&mut t, &muts_t);
        let (Ok(local), Ok(target)) = (Btf::parse(&l), Btf::parse(&t)) else {
            return Ok(());
        };
        let relos: Vec<CoreReloc> = relos
            .into_iter()
            .map(|(insn, ty, s, kind)| CoreReloc {
                insn_off: insn * 8,
                type_id: ty,
                // Mostly known access strings, sometimes any offset.
                access_str_off: if s % 8 == 0 { raw_str } else { offs[s % offs.len()] },
                kind_raw: kind,
            })
            .collect();
        run_relocs(&local, &target, &relos);
        run_relocs(&target, &local, &relos);
    }
}

#[test]
fn flavour_rule_is_libbpfs() {
    assert_eq!(essential_name("task_struct___v1"), "task_struct");
    assert_eq!(essential_name("a___b___c"), "a___b");
    // The separator needs a non-underscore on both sides.
    assert_eq!(essential_name("a____b"), "a____b");
    assert_eq!(essential_name("___b"), "___b");
    assert_eq!(essential_name("a___"), "a___");
    assert_eq!(essential_name("plain"), "plain");
}

#[test]
fn poison_is_call_0xbad2310_on_every_slot() {
    let res = CoreRes {
        poison: true,
        ..CoreRes::default()
    };
    let mut ld = [
        CoreInsn {
            code: 0x18,
            dst: 2,
            src: 0,
            off: 0,
            imm: 7,
        },
        CoreInsn {
            code: 0,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        },
    ];
    let steps = patch_insn(&mut ld, 5, &res).unwrap();
    let call = CoreInsn {
        code: 0x85,
        dst: 0,
        src: 0,
        off: 0,
        imm: POISON_HELPER,
    };
    assert_eq!(ld, [call, call]);
    assert_eq!(
        steps,
        vec![PatchStep::Poison { insn: 6 }, PatchStep::Poison { insn: 5 }]
    );
    assert_eq!(POISON_HELPER, 195_896_080);
    let mut ldx = [CoreInsn {
        code: 0x61,
        dst: 1,
        src: 2,
        off: 4,
        imm: 0,
    }];
    patch_insn(&mut ldx, 0, &res).unwrap();
    assert_eq!(ldx, [call]);
}
