//! Soundness of the scalar domain at 64 bits against brute force: random chains of
//! operations run on abstract values and, beside them, on concrete values drawn inside
//! them (`vm::semantics` computes the concrete results). After every step each concrete
//! value must lie in its abstract value (all five views), a decided branch must agree with
//! the concrete comparison, and refining to the side the concrete pair takes must keep it
//! and never report the side infeasible. Every transfer function ends in the reduction, so
//! this also checks that the reduction never drops a value.

mod common;

use bpfbox_verifier::domain::{parse_scalar, Scalar, ScalarDomain};
use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Width};
use bpfbox_vm::semantics;
use common::Rng;

const REGS: usize = 4;
/// Concrete witnesses per abstract register.
const WITNESSES: usize = 6;

/// An interesting 64-bit value: small, near a sign boundary, a mask, or random.
fn value(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.below(300),
        1 => (rng.below(300) as i64 - 150) as u64,
        2 => (1u64 << rng.below(64)).wrapping_sub(rng.below(3)),
        3 => rng.next() as u32 as u64,
        4 => rng.next() as i32 as i64 as u64,
        _ => rng.next(),
    }
}

struct State {
    abs: [Scalar; REGS],
    /// `conc[w][r]`: witness `w`'s value of register `r`.
    conc: Vec<[u64; REGS]>,
}

fn check(s: &State, what: &str) {
    for (r, a) in s.abs.iter().enumerate() {
        assert!(a.is_consistent(), "{what}: R{r} inconsistent: {a:?}");
        for w in &s.conc {
            assert!(
                a.contains(w[r]),
                "{what}: R{r} = {:#x} not in {a} ({a:?})",
                w[r]
            );
        }
    }
}

fn width(rng: &mut Rng) -> Width {
    if rng.chance(1, 2) {
        Width::W64
    } else {
        Width::W32
    }
}

fn step(rng: &mut Rng, s: &mut State) -> String {
    let d = rng.below(REGS as u64) as usize;
    let src = rng.below(REGS as u64) as usize;
    let w = width(rng);
    match rng.below(10) {
        0..=5 => {
            let op = if rng.chance(1, 8) {
                AluOp::MovSx(rng.pick(&[8u8, 16, 32]))
            } else {
                rng.pick(&AluOp::BINARY)
            };
            if w == Width::W32 && op == AluOp::MovSx(32) {
                return String::new();
            }
            let b = s.abs[src];
            s.abs[d].alu(op, w, &b);
            for c in &mut s.conc {
                c[d] = semantics::alu(w, op, c[d], c[src]);
            }
            format!("r{d} {op:?}.{w:?} r{src}")
        }
        6 => {
            s.abs[d].neg(w);
            for c in &mut s.conc {
                c[d] = semantics::neg(w, c[d]);
            }
            format!("neg.{w:?} r{d}")
        }
        7 => {
            let kind = rng.pick(&[EndKind::ToLe, EndKind::ToBe, EndKind::Swap]);
            let bits = rng.pick(&[16u8, 32, 64]);
            s.abs[d].end(kind, bits);
            for c in &mut s.conc {
                c[d] = semantics::end(kind, bits, c[d]);
            }
            format!("end {kind:?} {bits} r{d}")
        }
        _ => {
            if d == src {
                return String::new();
            }
            let cond = rng.pick(&JmpCond::ALL);
            let (a, b) = (s.abs[d], s.abs[src]);
            let taken = a.branch_taken(&b, cond, w);
            let first = semantics::jmp_taken(cond, w, s.conc[0][d], s.conc[0][src]);
            for c in &s.conc {
                let t = semantics::jmp_taken(cond, w, c[d], c[src]);
                if let Some(k) = taken {
                    assert_eq!(k, t, "branch_taken r{d} {cond:?}.{w:?} r{src}: {a} vs {b}");
                }
            }
            // Keep the witnesses that take the same side as the first one.
            s.conc
                .retain(|c| semantics::jmp_taken(cond, w, c[d], c[src]) == first);
            let (mut a2, mut b2) = (a, b);
            let r = a2.refine(&mut b2, cond, w, first);
            assert!(
                r.is_ok(),
                "refine r{d} {cond:?}.{w:?} r{src} side {first}: infeasible for {a} vs {b}"
            );
            s.abs[d] = a2;
            s.abs[src] = b2;
            format!("if r{d} {cond:?}.{w:?} r{src} -> {first}")
        }
    }
}

fn initial(rng: &mut Rng) -> State {
    let mut abs = [Scalar::unknown(); REGS];
    let mut conc = vec![[0u64; REGS]; WITNESSES];
    for (r, a) in abs.iter_mut().enumerate() {
        if rng.chance(1, 4) {
            let v = value(rng);
            *a = Scalar::constant(v);
            for c in &mut conc {
                c[r] = v;
            }
        } else {
            for c in &mut conc {
                c[r] = value(rng);
            }
        }
    }
    State { abs, conc }
}

#[test]
fn random_chains_keep_every_concrete_value() {
    let chains = std::env::var("BPFBOX_DOMAIN_CHAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000u64);
    for seed in 0..chains {
        let mut rng = Rng(seed);
        let mut s = initial(&mut rng);
        let mut trace = Vec::new();
        for _ in 0..30 {
            trace.push(step(&mut rng, &mut s));
            check(&s, &format!("seed {seed} after {trace:?}"));
        }
    }
}

/// Printing then parsing gives the same numbers back, for states the domain produces.
#[test]
fn printer_and_parser_round_trip() {
    for seed in 0..5_000u64 {
        let mut rng = Rng(seed);
        let mut s = initial(&mut rng);
        for _ in 0..20 {
            step(&mut rng, &mut s);
            for a in &s.abs {
                let text = a.to_string();
                let p = parse_scalar(&text).unwrap_or_else(|e| panic!("{e}"));
                let again = Scalar::from_bounds(p.bounds).to_string();
                assert_eq!(again, text, "seed {seed}");
                if a.as_const().is_none() {
                    assert_eq!(p.bounds, a.bounds(), "seed {seed}: {text}");
                }
            }
        }
    }
}

/// Lines copied from the 6.18 kernel's level-2 log read back as the kernel meant them.
#[test]
fn kernel_log_texts_parse() {
    let cases = [
        (
            "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))",
            (0i64, 255i64, 0u64, 255u64, 0i32, 255i32, 0u32, 255u32),
        ),
        (
            "scalar(smin=smin32=-255,smax=smax32=0)",
            (-255, 0, 0, u64::MAX, -255, 0, 0, u32::MAX),
        ),
        (
            "scalar(smin=0xffffffff80000000,smax=smax32=0x7ffff800,umax=0xfffffffffffff800,umax32=0xfffff800)",
            (
                i32::MIN as i64,
                0x7fff_f800,
                0,
                0xffff_ffff_ffff_f800,
                i32::MIN,
                0x7fff_f800,
                0,
                0xffff_f800,
            ),
        ),
        (
            "scalar(id=2+5,smin=umin=smin32=umin32=5,smax=umax=smax32=umax32=260,var_off=(0x0; 0x1ff))",
            (5, 260, 5, 260, 5, 260, 5, 260),
        ),
    ];
    for (text, (smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max)) in cases {
        let p = parse_scalar(text).unwrap();
        let b = p.bounds;
        assert_eq!(
            (b.smin, b.smax, b.umin, b.umax, b.s32_min, b.s32_max, b.u32_min, b.u32_max),
            (smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max),
            "{text}"
        );
        assert_eq!(
            Scalar::from_bounds(b).log_text(false, p.id, p.add_const),
            text
        );
    }
    let p = parse_scalar("P0xfffffffd").unwrap();
    assert!(p.precise);
    assert_eq!(Scalar::from_bounds(p.bounds).as_const(), Some(0xffff_fffd));
    assert_eq!(parse_scalar("-4").unwrap().bounds.smin, -4);
    assert!(parse_scalar("scalar(bogus=1)").is_err());
    assert!(parse_scalar("ctx()").is_err());
}

/// A linked register rebuilt from the refined one (`known + delta`, zero-extended from 32
/// bits when the link was made by a 32-bit addition) holds every concrete `x + delta` of the
/// known register's values.
#[test]
fn linked_delta_is_sound() {
    for seed in 0..5_000u64 {
        let mut rng = Rng(seed);
        let mut s = initial(&mut rng);
        for _ in 0..10 {
            step(&mut rng, &mut s);
        }
        let delta = (rng.below(1 << 20) as i64) - (1 << 19);
        for (r, a) in s.abs.iter().enumerate() {
            for zext in [false, true] {
                let linked = Scalar::plus_delta(a, delta, zext);
                for w in &s.conc {
                    let mut v = w[r].wrapping_add(delta as u64);
                    if zext {
                        v &= u32::MAX as u64;
                    }
                    assert!(
                        linked.contains(v),
                        "seed {seed}: {a} + {delta} (zext {zext}) = {linked} misses {v:#x}"
                    );
                }
            }
        }
    }
}
