//! proptest strategies for [`GenProgram`], and deterministic generation from a seed or from
//! fuzzer bytes.

use bpfbox_vm::isa::{AluOp, AtomicOp, EndKind, JmpCond, Size};
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Strategy, Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::{
    Func, GenProgram, MainInit, MapSel, Operand, Reload, StackPos, Stmt, SubInit, ValueOp, IO_SIZE,
    MAX_FUNCS, NSLOTS, VALUE_SIZE,
};

/// Size knobs of the generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Most statements in one block (a function body or an arm of an `if`).
    pub max_stmts: usize,
    /// Nesting depth of `if`s.
    pub depth: u32,
    /// Most functions (main included), at most [`MAX_FUNCS`].
    pub max_funcs: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_stmts: 14,
            depth: 2,
            max_funcs: MAX_FUNCS,
        }
    }
}

/// 32-bit constants at the edges of signed and unsigned arithmetic.
const EDGE_I32: [i32; 16] = [
    0,
    1,
    -1,
    2,
    31,
    32,
    63,
    64,
    i32::MIN,
    i32::MAX,
    i32::MIN + 1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
];

/// 64-bit constants at the edges.
const EDGE_U64: [u64; 16] = [
    0,
    1,
    u64::MAX,
    i64::MIN as u64,
    i64::MAX as u64,
    0xffff_ffff,
    0x8000_0000,
    0x7fff_ffff,
    0xffff_ffff_8000_0000,
    0x1_0000_0000,
    0x80,
    0xff,
    0x8000,
    0xffff,
    0xffff_ffff_ffff_ff80,
    0x0123_4567_89ab_cdef,
];

const SIZES: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

const ATOMIC_OPS: [AtomicOp; 10] = [
    AtomicOp::Add { fetch: false },
    AtomicOp::Add { fetch: true },
    AtomicOp::Or { fetch: false },
    AtomicOp::Or { fetch: true },
    AtomicOp::And { fetch: false },
    AtomicOp::And { fetch: true },
    AtomicOp::Xor { fetch: false },
    AtomicOp::Xor { fetch: true },
    AtomicOp::Xchg,
    AtomicOp::Cmpxchg,
];

const END_KINDS: [EndKind; 3] = [EndKind::ToLe, EndKind::ToBe, EndKind::Swap];

fn edge_i32() -> impl Strategy<Value = i32> + Clone {
    prop_oneof![
        3 => proptest::sample::select(EDGE_I32.to_vec()),
        2 => -16i32..=16,
        3 => any::<i32>(),
    ]
}

fn edge_u64() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        3 => proptest::sample::select(EDGE_U64.to_vec()),
        1 => (-16i64..=16).prop_map(|v| v as u64),
        1 => edge_i32().prop_map(|v| v as i64 as u64),
        3 => any::<u64>(),
    ]
}

fn reg() -> impl Strategy<Value = u8> + Clone {
    0u8..10
}

fn size() -> impl Strategy<Value = Size> + Clone {
    proptest::sample::select(SIZES.to_vec())
}

fn operand() -> impl Strategy<Value = Operand> + Clone {
    prop_oneof![
        reg().prop_map(Operand::Reg),
        edge_i32().prop_map(Operand::Imm),
    ]
}

fn pos() -> impl Strategy<Value = StackPos> + Clone {
    (0..NSLOTS as u8, 0u8..8).prop_map(|(slot, byte)| StackPos { slot, byte })
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> + Clone {
    proptest::sample::select(ATOMIC_OPS.to_vec())
}

fn map_sel() -> impl Strategy<Value = MapSel> + Clone {
    prop_oneof![Just(MapSel::Hash), Just(MapSel::Array)]
}

fn reload() -> impl Strategy<Value = Reload> + Clone {
    prop_oneof![
        2 => (size(), any::<bool>(), pos())
            .prop_map(|(size, signed, pos)| Reload::Slot { size, signed, pos }),
        1 => edge_i32().prop_map(Reload::Const),
        1 => (0u8..5).prop_map(Reload::Reg),
    ]
}

fn reloads() -> impl Strategy<Value = [Reload; 5]> + Clone {
    proptest::array::uniform5(reload())
}

fn value_op() -> impl Strategy<Value = ValueOp> + Clone {
    let off = 0u8..VALUE_SIZE as u8;
    prop_oneof![
        (size(), any::<bool>(), 0u8..5, off.clone()).prop_map(|(size, signed, reg, off)| {
            ValueOp::Load {
                size,
                signed,
                reg,
                off,
            }
        }),
        (size(), 0u8..5, off.clone()).prop_map(|(size, reg, off)| ValueOp::Store {
            size,
            reg,
            off
        }),
        (size(), edge_i32(), off.clone()).prop_map(|(size, imm, off)| ValueOp::StoreImm {
            size,
            imm,
            off
        }),
        (any::<bool>(), atomic_op(), 0u8..5, off)
            .prop_map(|(wide, op, reg, off)| { ValueOp::Atomic { wide, op, reg, off } }),
    ]
}

/// Statements without nested blocks, weighted towards arithmetic.
fn leaf() -> BoxedStrategy<Stmt> {
    let alu = (
        any::<bool>(),
        proptest::sample::select(AluOp::BINARY.to_vec()),
        reg(),
        operand(),
    )
        .prop_map(|(wide, op, dst, src)| Stmt::Alu { wide, op, dst, src });
    let neg = (any::<bool>(), reg()).prop_map(|(wide, dst)| Stmt::Neg { wide, dst });
    let end = (proptest::sample::select(END_KINDS.to_vec()), 0u8..3, reg())
        .prop_map(|(kind, bits, dst)| Stmt::End { kind, bits, dst });
    let movsx =
        (any::<bool>(), 0u8..3, reg(), reg()).prop_map(|(wide, bits, dst, src)| Stmt::MovSx {
            wide,
            bits,
            dst,
            src,
        });
    let lddw = (reg(), edge_u64()).prop_map(|(dst, imm)| Stmt::LdImm64 { dst, imm });
    let store =
        (size(), pos(), operand()).prop_map(|(size, pos, src)| Stmt::Store { size, pos, src });
    let load =
        (size(), any::<bool>(), reg(), pos()).prop_map(|(size, signed, dst, pos)| Stmt::Load {
            size,
            signed,
            dst,
            pos,
        });
    let atomic = (any::<bool>(), atomic_op(), pos(), reg())
        .prop_map(|(wide, op, pos, src)| Stmt::Atomic { wide, op, pos, src });
    let acq_rel =
        (any::<bool>(), size(), reg(), pos()).prop_map(|(store, size, reg, pos)| Stmt::AcqRel {
            store,
            size,
            reg,
            pos,
        });
    let call = (any::<u8>(), reloads()).prop_map(|(callee, reload)| Stmt::Call { callee, reload });
    let lookup = (
        map_sel(),
        reg(),
        0..NSLOTS as u8,
        0u8..4,
        proptest::collection::vec(value_op(), 0..5),
        reloads(),
    )
        .prop_map(
            |(map, key, key_slot, r0_from, ops, reload)| Stmt::MapLookup {
                map,
                key,
                key_slot,
                r0_from,
                ops,
                reload,
            },
        );
    let update = (
        map_sel(),
        reg(),
        0..NSLOTS as u8,
        0..NSLOTS as u8,
        0u8..4,
        reloads(),
    )
        .prop_map(
            |(map, key, key_slot, val_slot, flags, reload)| Stmt::MapUpdate {
                map,
                key,
                key_slot,
                val_slot,
                flags,
                reload,
            },
        );
    let delete =
        (map_sel(), reg(), 0..NSLOTS as u8, reloads()).prop_map(|(map, key, key_slot, reload)| {
            Stmt::MapDelete {
                map,
                key,
                key_slot,
                reload,
            }
        });
    Union::new_weighted(vec![
        (24, alu.boxed()),
        (2, neg.boxed()),
        (3, end.boxed()),
        (3, movsx.boxed()),
        (3, lddw.boxed()),
        (5, store.boxed()),
        (5, load.boxed()),
        (4, atomic.boxed()),
        (2, acq_rel.boxed()),
        (2, call.boxed()),
        (3, lookup.boxed()),
        (2, update.boxed()),
        (1, delete.boxed()),
    ])
    .boxed()
}

/// A statement: a leaf, or an `if` / `if-else` over nested statements.
pub fn stmt(cfg: GenConfig) -> BoxedStrategy<Stmt> {
    let arm = cfg.max_stmts.clamp(1, 6);
    leaf()
        .prop_recursive(cfg.depth, 48, arm as u32, move |inner| {
            let cond = (
                any::<bool>(),
                proptest::sample::select(JmpCond::ALL.to_vec()),
                reg(),
                operand(),
            );
            let branch = (
                cond,
                proptest::collection::vec(inner.clone(), 0..arm),
                proptest::collection::vec(inner.clone(), 0..arm),
                any::<bool>(),
            )
                .prop_map(|((wide, cond, dst, src), then, els, long_ja)| Stmt::If {
                    wide,
                    cond,
                    dst,
                    src,
                    then,
                    els,
                    long_ja,
                });
            let bounded_loop = (
                any::<u8>(),
                proptest::collection::vec(inner.clone(), 1..arm),
            )
                .prop_map(|(count, body)| Stmt::Loop { count, body });
            Union::new_weighted(vec![
                (6, inner.boxed()),
                (2, branch.boxed()),
                (1, bounded_loop.boxed()),
            ])
        })
        .boxed()
}

fn main_init() -> impl Strategy<Value = MainInit> + Clone {
    prop_oneof![
        4 => (size(), any::<bool>()).prop_map(|(size, signed)| MainInit::Input { size, signed }),
        1 => edge_u64().prop_map(MainInit::Const),
    ]
}

fn sub_init() -> impl Strategy<Value = SubInit> + Clone {
    prop_oneof![
        3 => (0u8..5).prop_map(SubInit::Arg),
        1 => edge_i32().prop_map(SubInit::Const),
    ]
}

fn func(cfg: GenConfig) -> impl Strategy<Value = Func> {
    (
        proptest::array::uniform10(main_init()),
        proptest::array::uniform5(sub_init()),
        proptest::array::uniform8(sub_init()),
        proptest::collection::vec(stmt(cfg), 1..=cfg.max_stmts.max(1)),
    )
        .prop_map(|(main_init, sub_init, slot_init, body)| Func {
            main_init,
            sub_init,
            slot_init,
            body,
        })
}

fn value16() -> impl Strategy<Value = [u8; VALUE_SIZE]> {
    (edge_u64(), edge_u64()).prop_map(|(a, b)| {
        let mut v = [0u8; VALUE_SIZE];
        v[..8].copy_from_slice(&a.to_le_bytes());
        v[8..].copy_from_slice(&b.to_le_bytes());
        v
    })
}

/// Programs with their inputs.
pub fn program_strategy(cfg: GenConfig) -> impl Strategy<Value = GenProgram> {
    let funcs = cfg.max_funcs.clamp(1, MAX_FUNCS);
    (
        proptest::collection::vec(func(cfg), 1..=funcs),
        proptest::collection::vec(edge_u64(), IO_SIZE / 8),
        proptest::collection::vec(value16(), 4),
        proptest::collection::vec((0u32..16, value16()), 0..=4),
    )
        .prop_map(|(funcs, words, array_init, hash_init)| GenProgram {
            funcs,
            input: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
            array_init,
            hash_init,
        })
}

/// Why generation failed (the strategies do not filter, so this should not happen).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("program generation failed: {0}")]
pub struct GenError(String);

fn tree(rng: TestRng, cfg: GenConfig) -> Result<impl ValueTree<Value = GenProgram>, GenError> {
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    program_strategy(cfg)
        .new_tree(&mut runner)
        .map_err(|e| GenError(e.to_string()))
}

fn generate(rng: TestRng, cfg: GenConfig) -> Result<GenProgram, GenError> {
    tree(rng, cfg).map(|t| t.current())
}

fn seed_rng(seed: u64) -> TestRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(b"bpfbox-g");
    TestRng::from_seed(RngAlgorithm::ChaCha, &key)
}

/// The program for `seed`: the same on every run and machine.
pub fn from_seed(seed: u64, cfg: GenConfig) -> Result<GenProgram, GenError> {
    generate(seed_rng(seed), cfg)
}

/// The smallest program proptest's shrinking finds, starting from `seed`'s, for which
/// `fails` still holds, trying at most `budget` candidates. Returns the seed's own program
/// when `fails` does not hold for it.
///
/// Shrinking drops statements, functions and nesting and moves constants towards zero, so a
/// mismatch found in a 300-instruction program usually comes down to a dozen instructions.
pub fn shrink_seed(
    seed: u64,
    cfg: GenConfig,
    budget: usize,
    mut fails: impl FnMut(&GenProgram) -> bool,
) -> Result<GenProgram, GenError> {
    let mut t = tree(seed_rng(seed), cfg)?;
    let mut best = t.current();
    if !fails(&best) {
        return Ok(best);
    }
    // proptest's protocol: simplify while the case still fails, complicate when a
    // simplification went too far; either returning false ends that direction.
    let mut tries = 0;
    let mut more = t.simplify();
    while more && tries < budget {
        tries += 1;
        let candidate = t.current();
        if fails(&candidate) {
            best = candidate;
            more = t.simplify();
        } else {
            more = t.complicate();
        }
    }
    Ok(best)
}

/// The program for arbitrary fuzzer `bytes`: a hash of them seeds the generator, so every
/// input gives a program and different inputs (almost always) different programs.
///
/// proptest's pass-through RNG, which would read the bytes as the random stream itself, is
/// not usable here: the strategies fork the RNG, each fork halves the remaining bytes, and
/// rand's rejection sampling then loops forever on the zeros that follow.
pub fn from_bytes(bytes: &[u8], cfg: GenConfig) -> Result<GenProgram, GenError> {
    // FNV-1a over the bytes, then splitmix64 to spread it over a ChaCha key.
    let mut h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h ^= bytes.len() as u64;
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    generate(TestRng::from_seed(RngAlgorithm::ChaCha, &key), cfg)
}
