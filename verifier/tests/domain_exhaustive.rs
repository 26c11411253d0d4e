//! The scalar domain proved sound exhaustively at a reduced width, on the real 64-bit code.
//!
//! A `BITS`-bit value is embedded in 64 bits zero-extended (`0..2^BITS`) or sign-extended
//! (`-2^(BITS-1)..2^(BITS-1)`); together these form the universe. Every abstract value whose
//! concretisation lies in the universe is built: every tnum over the low bits (its high bits
//! known zero, copies of a known sign bit, or unknown beside an unknown sign bit) with every
//! unsigned range (zero-extended family) or signed range (sign-extended family), reduced by
//! `reg_bounds_sync`. Its members are found by testing each universe value.
//!
//! Then, on every pair of them and every pair of members (the concrete results come from
//! `vm::semantics`):
//! - every ALU operation at both widths: the concrete result is in the abstract result;
//! - every branch condition at both widths: a decided `is_branch_taken` agrees with every
//!   pair, and refining to a side keeps every pair that takes it (and never calls a side
//!   infeasible that a pair takes);
//! - the reduction: from every tnum with every unsigned and signed range, it keeps every
//!   member and never turns a non-empty value into an empty or contradictory one.
//!
//! The tables printed (`--nocapture`) count how often each operator's result is optimal:
//! equal, in all nine numbers, to the tightest value brute force finds for the concrete
//! results. Optimality is counted on canonical inputs only (each the tightest value of its
//! own members), so that it measures the operator, not the slack of its inputs.
//! `BPFBOX_DOMAIN_BITS` sets the width of the binary operations (3 by default).

use std::collections::{BTreeMap, HashSet};

use bpfbox_verifier::domain::{Bounds, Scalar, ScalarDomain, Tnum};
use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Width};
use bpfbox_vm::semantics;

/// Width of the operands of binary operations and branches.
fn binary_bits() -> u32 {
    std::env::var("BPFBOX_DOMAIN_BITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|b| (2..=8).contains(b))
        .unwrap_or(3)
}

/// Width of the operands of unary operations (every range).
const UNARY_BITS: u32 = 5;
/// Width of the tnums of unary operations (every tnum, its own range).
const UNARY_TNUM_BITS: u32 = 8;

/// The `bits`-bit values zero- and sign-extended to 64 bits.
fn universe(bits: u32) -> Vec<u64> {
    let mut u: Vec<u64> = (0..1u64 << bits).collect();
    u.extend((-(1i64 << (bits - 1))..0).map(|v| v as u64));
    u
}

/// Every tnum over the low `bits` bits: (value, mask).
fn low_tnums(bits: u32) -> Vec<(u64, u64)> {
    (0..3u32.pow(bits))
        .map(|mut code| {
            let (mut value, mut mask) = (0u64, 0u64);
            for bit in 0..bits {
                match code % 3 {
                    1 => value |= 1 << bit,
                    2 => mask |= 1 << bit,
                    _ => {}
                }
                code /= 3;
            }
            (value, mask)
        })
        .collect()
}

/// The low tnum with its high bits following the sign bit (known 0, known 1, unknown).
fn sign_extended(bits: u32, (value, mask): (u64, u64)) -> Tnum {
    let high = !((1u64 << bits) - 1);
    let sign = 1u64 << (bits - 1);
    if mask & sign != 0 {
        Tnum::new(value, mask | high)
    } else if value & sign != 0 {
        Tnum::new(value | high, mask)
    } else {
        Tnum::new(value, mask)
    }
}

fn unbounded() -> Bounds {
    Scalar::unknown().bounds()
}

/// The tightest value holding exactly `values` (non-empty), in every view.
fn best(values: &[u64]) -> Bounds {
    let and = values.iter().fold(u64::MAX, |a, &v| a & v);
    let or = values.iter().fold(0, |a, &v| a | v);
    let s = |v: &u64| *v as i64;
    Bounds {
        var_off: Tnum::new(and, and ^ or),
        smin: values.iter().map(s).min().unwrap_or(0),
        smax: values.iter().map(s).max().unwrap_or(0),
        umin: values.iter().copied().min().unwrap_or(0),
        umax: values.iter().copied().max().unwrap_or(0),
        s32_min: values.iter().map(|v| *v as i32).min().unwrap_or(0),
        s32_max: values.iter().map(|v| *v as i32).max().unwrap_or(0),
        u32_min: values.iter().map(|v| *v as u32).min().unwrap_or(0),
        u32_max: values.iter().map(|v| *v as u32).max().unwrap_or(0),
    }
}

/// An abstract value and its concrete members.
struct Abs {
    s: Scalar,
    members: Vec<u64>,
    /// Whether `s` is the tightest value of its members.
    canonical: bool,
}

impl Abs {
    fn new(s: Scalar, universe: &[u64]) -> Abs {
        let members: Vec<u64> = universe
            .iter()
            .copied()
            .filter(|&v| s.contains(v))
            .collect();
        let canonical = s.bounds() == best(&members);
        Abs {
            s,
            members,
            canonical,
        }
    }
}

/// Reduces `raw`, checking the reduction on it: every member of `raw` stays, the result is
/// consistent. `None` when `raw` has no member in `universe`.
fn reduce(raw: Bounds, universe: &[u64]) -> Option<Scalar> {
    let unreduced = Scalar::from_bounds(raw);
    let members: Vec<u64> = universe
        .iter()
        .copied()
        .filter(|&v| unreduced.contains(v))
        .collect();
    if members.is_empty() {
        return None;
    }
    let mut s = unreduced;
    s.sync();
    assert!(
        s.is_consistent(),
        "reduction of {raw:?} is contradictory: {s:?}"
    );
    for v in &members {
        assert!(s.contains(*v), "reduction of {raw:?} drops {v:#x}: {s:?}");
    }
    Some(s)
}

/// Every reduced abstract value of `bits`-bit numbers (both families) with its members.
fn abstract_values(bits: u32) -> Vec<Abs> {
    let u = universe(bits);
    let n = 1i64 << bits;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for low in low_tnums(bits) {
        for signed in [false, true] {
            let (t, first) = if signed {
                (sign_extended(bits, low), -(n / 2))
            } else {
                (Tnum::new(low.0, low.1), 0)
            };
            for lo in first..first + n {
                for hi in lo..first + n {
                    let mut b = unbounded();
                    b.var_off = t;
                    if signed {
                        (b.smin, b.smax) = (lo, hi);
                    } else {
                        (b.umin, b.umax) = (lo as u64, hi as u64);
                    }
                    let Some(s) = reduce(b, &u) else { continue };
                    // Still inside the universe, so that its members are all enumerated.
                    let r = s.bounds();
                    let inside = if signed {
                        r.smin >= first && r.smax < first + n
                    } else {
                        r.umax < n as u64
                    };
                    assert!(
                        inside,
                        "reduction of {b:?} leaves the {bits}-bit values: {s:?}"
                    );
                    if seen.insert(s) {
                        out.push(Abs::new(s, &u));
                    }
                }
            }
        }
    }
    out
}

/// Per-operator counts: abstract inputs checked, results optimal.
#[derive(Default)]
struct Tally {
    cases: u64,
    optimal: u64,
}

fn print_table(title: &str, rows: &BTreeMap<String, Tally>) {
    eprintln!("\n| {title} | cases | optimal | optimal % |\n|---|---|---|---|");
    for (name, t) in rows {
        let pct = 100.0 * t.optimal as f64 / t.cases.max(1) as f64;
        eprintln!("| {name} | {} | {} | {pct:.1} |", t.cases, t.optimal);
    }
}

fn width_name(w: Width) -> &'static str {
    match w {
        Width::W64 => "64",
        Width::W32 => "32",
    }
}

#[test]
fn reduction_keeps_every_value() {
    let bits = binary_bits();
    let u = universe(bits);
    let n = 1i64 << bits;
    let mut checked = 0u64;
    for low in low_tnums(bits) {
        let tnums = [
            Tnum::new(low.0, low.1),
            sign_extended(bits, low),
            Tnum::new(low.0, low.1 | !((1u64 << bits) - 1)),
        ];
        for t in tnums {
            // Each view's range: unbounded, or any range of the family.
            let mut uranges = vec![None];
            let mut sranges = vec![None];
            for lo in 0..n {
                for hi in lo..n {
                    uranges.push(Some((lo as u64, hi as u64)));
                    sranges.push(Some((lo - n / 2, hi - n / 2)));
                }
            }
            for ur in &uranges {
                for sr in &sranges {
                    if ur.is_none() && sr.is_none() {
                        continue;
                    }
                    for narrow32 in [false, true] {
                        let mut b = unbounded();
                        b.var_off = t;
                        if let Some((lo, hi)) = *ur {
                            (b.umin, b.umax) = (lo, hi);
                            if narrow32 {
                                (b.u32_min, b.u32_max) = (lo as u32, hi as u32);
                            }
                        }
                        if let Some((lo, hi)) = *sr {
                            (b.smin, b.smax) = (lo, hi);
                            if narrow32 {
                                (b.s32_min, b.s32_max) = (lo as i32, hi as i32);
                            }
                        }
                        if reduce(b, &u).is_some() {
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    eprintln!("reduction: {checked} non-empty {bits}-bit values kept whole");
    assert!(checked > 10_000);
}

#[test]
fn alu_is_sound() {
    let bits = binary_bits();
    let values = abstract_values(bits);
    eprintln!("{} abstract {bits}-bit values", values.len());
    let mut ops: Vec<AluOp> = AluOp::BINARY.to_vec();
    ops.extend([AluOp::MovSx(8), AluOp::MovSx(16), AluOp::MovSx(32)]);
    let mut rows = BTreeMap::new();
    let mut results = Vec::new();
    for op in ops {
        for w in [Width::W64, Width::W32] {
            if w == Width::W32 && op == AluOp::MovSx(32) {
                continue;
            }
            let tally: &mut Tally = rows.entry(format!("{op:?} {}", width_name(w))).or_default();
            for a in &values {
                for b in &values {
                    let mut r = a.s;
                    r.alu(op, w, &b.s);
                    results.clear();
                    for &x in &a.members {
                        for &y in &b.members {
                            let c = semantics::alu(w, op, x, y);
                            assert!(
                                r.contains(c),
                                "{op:?}.{w:?}: {x:#x} op {y:#x} = {c:#x} not in {r} ({r:?}); inputs {} and {}",
                                a.s,
                                b.s
                            );
                            results.push(c);
                        }
                    }
                    assert!(r.is_consistent(), "{op:?}.{w:?}: {r:?} inconsistent");
                    if a.canonical && b.canonical {
                        tally.cases += 1;
                        tally.optimal += u64::from(r.bounds() == best(&results));
                    }
                }
            }
        }
    }
    print_table(&format!("ALU op ({bits}-bit operands)"), &rows);
}

#[test]
fn branches_are_sound() {
    let bits = binary_bits();
    let values = abstract_values(bits);
    let mut decide = BTreeMap::new();
    let mut refine_rows = BTreeMap::new();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for cond in JmpCond::ALL {
        for w in [Width::W64, Width::W32] {
            let name = format!("{cond:?} {}", width_name(w));
            let dt: &mut Tally = decide.entry(name.clone()).or_default();
            let mut rt = Tally::default();
            for a in &values {
                for b in &values {
                    let pred = a.s.branch_taken(&b.s, cond, w);
                    let mut sides = [false, false];
                    for &x in &a.members {
                        for &y in &b.members {
                            let t = semantics::jmp_taken(cond, w, x, y);
                            sides[usize::from(t)] = true;
                            if let Some(k) = pred {
                                assert_eq!(
                                    k, t,
                                    "is_branch_taken {cond:?}.{w:?} {} vs {}: {x:#x}, {y:#x}",
                                    a.s, b.s
                                );
                            }
                        }
                    }
                    let canonical = a.canonical && b.canonical;
                    // Optimal: decided exactly when every pair goes the same way.
                    if canonical {
                        dt.cases += 1;
                        dt.optimal += u64::from(pred.is_some() == (sides[0] != sides[1]));
                    }
                    for side in [false, true] {
                        let (mut a2, mut b2) = (a.s, b.s);
                        let r = a2.refine(&mut b2, cond, w, side);
                        if !sides[usize::from(side)] {
                            continue;
                        }
                        assert!(
                            r.is_ok(),
                            "refine {cond:?}.{w:?} side {side}: {} vs {} called infeasible",
                            a.s,
                            b.s
                        );
                        xs.clear();
                        ys.clear();
                        for &x in &a.members {
                            for &y in &b.members {
                                if semantics::jmp_taken(cond, w, x, y) != side {
                                    continue;
                                }
                                assert!(
                                    a2.contains(x) && b2.contains(y),
                                    "refine {cond:?}.{w:?} side {side}: {} vs {} -> {a2} vs {b2} drops ({x:#x}, {y:#x})",
                                    a.s,
                                    b.s
                                );
                                xs.push(x);
                                ys.push(y);
                            }
                        }
                        if canonical {
                            rt.cases += 1;
                            rt.optimal +=
                                u64::from(a2.bounds() == best(&xs) && b2.bounds() == best(&ys));
                        }
                    }
                }
            }
            refine_rows.insert(name, rt);
        }
    }
    print_table(&format!("is_branch_taken ({bits}-bit operands)"), &decide);
    print_table(
        &format!("branch refinement ({bits}-bit operands)"),
        &refine_rows,
    );
}

type Unary = (String, Box<dyn Fn(&mut Scalar)>, Box<dyn Fn(u64) -> u64>);

fn unary_ops() -> Vec<Unary> {
    let mut ops: Vec<Unary> = Vec::new();
    for w in [Width::W64, Width::W32] {
        ops.push((
            format!("neg {}", width_name(w)),
            Box::new(move |s| s.neg(w)),
            Box::new(move |v| semantics::neg(w, v)),
        ));
    }
    for kind in [EndKind::ToLe, EndKind::ToBe, EndKind::Swap] {
        for bits in [16u8, 32, 64] {
            if kind == EndKind::ToLe && bits == 64 {
                continue;
            }
            ops.push((
                format!("end {kind:?} {bits}"),
                Box::new(move |s| s.end(kind, bits)),
                Box::new(move |v| semantics::end(kind, bits, v)),
            ));
        }
    }
    ops.push((
        "zext32".into(),
        Box::new(|s| s.zext32()),
        Box::new(|v| v as u32 as u64),
    ));
    for size in [1u32, 2, 4] {
        let mask = (1u64 << (8 * size)) - 1;
        ops.push((
            format!("truncate {size}"),
            Box::new(move |s| s.coerce_to_size(size)),
            Box::new(move |v| v & mask),
        ));
        ops.push((
            format!("sign-extend {size}"),
            Box::new(move |s| s.coerce_to_size_sx(size)),
            Box::new(move |v| semantics::sign_extend(v, 8 * size)),
        ));
    }
    ops
}

/// Every tnum of `UNARY_TNUM_BITS` bits (both families), with only the ranges it implies.
fn wide_tnum_values() -> Vec<Abs> {
    let u = universe(UNARY_TNUM_BITS);
    let mut out = Vec::new();
    for low in low_tnums(UNARY_TNUM_BITS) {
        for t in [Tnum::new(low.0, low.1), sign_extended(UNARY_TNUM_BITS, low)] {
            let mut b = unbounded();
            b.var_off = t;
            if t.mask >> UNARY_TNUM_BITS != 0 {
                // Unknown high bits: bound the value to the sign-extended family.
                b.smin = -(1i64 << (UNARY_TNUM_BITS - 1));
                b.smax = (1i64 << (UNARY_TNUM_BITS - 1)) - 1;
            }
            if let Some(s) = reduce(b, &u) {
                out.push(Abs::new(s, &u));
            }
        }
    }
    out
}

#[test]
fn unary_ops_are_sound() {
    let mut values = abstract_values(UNARY_BITS);
    values.extend(wide_tnum_values());
    let mut rows = BTreeMap::new();
    let mut results = Vec::new();
    for (name, abs, conc) in unary_ops() {
        let tally: &mut Tally = rows.entry(name.clone()).or_default();
        for a in &values {
            let mut r = a.s;
            abs(&mut r);
            results.clear();
            for &x in &a.members {
                let c = conc(x);
                assert!(
                    r.contains(c),
                    "{name}: {x:#x} -> {c:#x} not in {r} (from {})",
                    a.s
                );
                results.push(c);
            }
            assert!(r.is_consistent(), "{name}: {r:?} inconsistent");
            if a.canonical {
                tally.cases += 1;
                tally.optimal += u64::from(r.bounds() == best(&results));
            }
        }
    }
    print_table(
        &format!("unary op ({UNARY_BITS}-bit values, {UNARY_TNUM_BITS}-bit tnums)"),
        &rows,
    );
}
