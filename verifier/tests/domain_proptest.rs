//! The scalar domain's soundness at full 64-bit width, by property testing (the same
//! properties `domain_exhaustive.rs` proves at a reduced width; `PROPTEST_CASES` sets the
//! number of cases). Each abstract operand is built around a few concrete witnesses: the
//! tightest value holding them, some of its views then forgotten and some tnum bits made
//! unknown, then reduced. The reduction must keep the witnesses; every operation on the
//! witnesses (`vm::semantics`) must land in the operation on the abstract values; a decided
//! branch must agree with every witness pair, and refining to a side must keep the pairs
//! that take it.

use bpfbox_verifier::domain::{Bounds, Scalar, ScalarDomain, Tnum};
use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Width};
use bpfbox_vm::semantics;
use proptest::prelude::*;

/// An interesting 64-bit value: small, near a sign boundary, a power of two, or random.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..300,
        (-150i64..150).prop_map(|v| v as u64),
        (0u32..64, 0u64..3).prop_map(|(s, d)| (1u64 << s).wrapping_sub(d)),
        any::<u32>().prop_map(u64::from),
        any::<i32>().prop_map(|v| v as i64 as u64),
        any::<u64>(),
    ]
}

/// The tightest value holding `values` (non-empty), in every view.
fn best(values: &[u64]) -> Bounds {
    let and = values.iter().fold(u64::MAX, |a, &v| a & v);
    let or = values.iter().fold(0, |a, &v| a | v);
    Bounds {
        var_off: Tnum::new(and, and ^ or),
        smin: values.iter().map(|v| *v as i64).min().unwrap_or(0),
        smax: values.iter().map(|v| *v as i64).max().unwrap_or(0),
        umin: values.iter().copied().min().unwrap_or(0),
        umax: values.iter().copied().max().unwrap_or(0),
        s32_min: values.iter().map(|v| *v as i32).min().unwrap_or(0),
        s32_max: values.iter().map(|v| *v as i32).max().unwrap_or(0),
        u32_min: values.iter().map(|v| *v as u32).min().unwrap_or(0),
        u32_max: values.iter().map(|v| *v as u32).max().unwrap_or(0),
    }
}

/// Witnesses and the reduced abstract value built around them.
#[derive(Clone, Debug)]
struct Operand {
    witnesses: Vec<u64>,
    abs: Scalar,
}

fn operand() -> impl Strategy<Value = Operand> {
    (
        prop::collection::vec(value(), 1..5),
        any::<u16>(),
        any::<u64>(),
    )
        .prop_map(|(witnesses, forget, unknown_bits)| {
            let mut b = best(&witnesses);
            let any = Scalar::unknown().bounds();
            let views: [&mut dyn FnMut(&mut Bounds); 8] = [
                &mut |b| b.smin = any.smin,
                &mut |b| b.smax = any.smax,
                &mut |b| b.umin = any.umin,
                &mut |b| b.umax = any.umax,
                &mut |b| b.s32_min = any.s32_min,
                &mut |b| b.s32_max = any.s32_max,
                &mut |b| b.u32_min = any.u32_min,
                &mut |b| b.u32_max = any.u32_max,
            ];
            for (i, f) in views.into_iter().enumerate() {
                if forget & (1 << i) != 0 {
                    f(&mut b);
                }
            }
            if forget & (1 << 8) != 0 {
                let mask = b.var_off.mask | unknown_bits;
                b.var_off = Tnum::new(b.var_off.value & !mask, mask);
            }
            let mut abs = Scalar::from_bounds(b);
            abs.sync();
            Operand { witnesses, abs }
        })
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W64), Just(Width::W32)]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop_oneof![
        prop::sample::select(&AluOp::BINARY[..]),
        prop::sample::select(&[8u8, 16, 32][..]).prop_map(AluOp::MovSx),
    ]
}

proptest! {
    #[test]
    fn reduction_keeps_the_witnesses(a in operand()) {
        prop_assert!(a.abs.is_consistent(), "{:?}", a.abs);
        for &w in &a.witnesses {
            prop_assert!(a.abs.contains(w), "{w:#x} dropped: {:?}", a.abs);
        }
    }

    #[test]
    fn alu_is_sound(a in operand(), b in operand(), op in alu_op(), w in width()) {
        if w == Width::W32 && op == AluOp::MovSx(32) {
            // Not an instruction (`movsx` to 32 bits from 32 bits).
            return Ok(());
        }
        let mut r = a.abs;
        r.alu(op, w, &b.abs);
        prop_assert!(r.is_consistent(), "{r:?}");
        for &x in &a.witnesses {
            for &y in &b.witnesses {
                let c = semantics::alu(w, op, x, y);
                prop_assert!(r.contains(c), "{op:?}.{w:?} {x:#x}, {y:#x} = {c:#x} not in {r}");
            }
        }
    }

    #[test]
    fn unary_ops_are_sound(a in operand(), w in width(), which in 0u8..4, bits in prop::sample::select(&[16u8, 32, 64][..]), size in prop::sample::select(&[1u32, 2, 4][..])) {
        let kind = [EndKind::ToLe, EndKind::ToBe, EndKind::Swap][usize::from(which % 3)];
        let mut r = a.abs;
        let conc: Box<dyn Fn(u64) -> u64> = match which {
            0 => {
                r.neg(w);
                Box::new(move |v| semantics::neg(w, v))
            }
            1 => {
                r.end(kind, bits);
                Box::new(move |v| semantics::end(kind, bits, v))
            }
            2 => {
                r.coerce_to_size_sx(size);
                Box::new(move |v| semantics::sign_extend(v, 8 * size))
            }
            _ => {
                r.zext32();
                Box::new(|v| v as u32 as u64)
            }
        };
        prop_assert!(r.is_consistent(), "{r:?}");
        for &x in &a.witnesses {
            prop_assert!(r.contains(conc(x)), "op {which} on {x:#x} not in {r}");
        }
    }

    #[test]
    fn branches_are_sound(a in operand(), b in operand(), cond in prop::sample::select(&JmpCond::ALL[..]), w in width()) {
        let pred = a.abs.branch_taken(&b.abs, cond, w);
        for side in [false, true] {
            let pairs: Vec<(u64, u64)> = a
                .witnesses
                .iter()
                .flat_map(|&x| b.witnesses.iter().map(move |&y| (x, y)))
                .filter(|&(x, y)| semantics::jmp_taken(cond, w, x, y) == side)
                .collect();
            if pairs.is_empty() {
                continue;
            }
            if let Some(k) = pred {
                prop_assert_eq!(k, side, "{:?}.{:?} decided wrongly", cond, w);
            }
            let (mut a2, mut b2) = (a.abs, b.abs);
            prop_assert!(a2.refine(&mut b2, cond, w, side).is_ok(), "{cond:?}.{w:?} side {side} infeasible");
            for (x, y) in pairs {
                prop_assert!(a2.contains(x) && b2.contains(y), "{cond:?}.{w:?} side {side} drops ({x:#x}, {y:#x}): {a2} vs {b2}");
            }
        }
    }
}
