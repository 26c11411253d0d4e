//! The tnum operations, exhaustively on small tnums: every tnum whose unknown and known-one
//! bits lie in the low `BITS` bits (the rest known zero), every pair of them, and every pair
//! of concrete members. The concrete result (64-bit arithmetic) must be a member of the
//! abstract result (soundness); the table printed counts how often the abstract result is
//! the best tnum holding exactly the concrete results (optimality).

use bpfbox_verifier::domain::Tnum;

const BITS: u32 = 4;

fn tnums() -> Vec<Tnum> {
    let mut out = Vec::new();
    let n = 3u32.pow(BITS);
    for mut code in 0..n {
        let (mut value, mut mask) = (0u64, 0u64);
        for bit in 0..BITS {
            match code % 3 {
                1 => value |= 1 << bit,
                2 => mask |= 1 << bit,
                _ => {}
            }
            code /= 3;
        }
        out.push(Tnum::new(value, mask));
    }
    out
}

fn members(t: Tnum) -> Vec<u64> {
    (0..1u64 << BITS).filter(|&v| t.contains(v)).collect()
}

/// The smallest tnum holding every value.
fn best(values: &[u64]) -> Tnum {
    let and = values.iter().fold(u64::MAX, |a, &v| a & v);
    let or = values.iter().fold(0, |a, &v| a | v);
    Tnum::new(and, and ^ or)
}

type Op = (&'static str, fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);

#[test]
fn tnum_ops_are_sound_and_mostly_optimal() {
    let ops: [Op; 7] = [
        ("add", Tnum::add, u64::wrapping_add),
        ("sub", Tnum::sub, u64::wrapping_sub),
        ("mul", Tnum::mul, u64::wrapping_mul),
        ("and", Tnum::and, |a, b| a & b),
        ("or", Tnum::or, |a, b| a | b),
        ("xor", Tnum::xor, |a, b| a ^ b),
        ("union", Tnum::union, |a, _| a),
    ];
    let all = tnums();
    let mem: Vec<Vec<u64>> = all.iter().map(|&t| members(t)).collect();
    eprintln!("| tnum op | pairs | optimal | optimal % |");
    eprintln!("|---|---|---|---|");
    for (name, abs, conc) in ops {
        let (mut pairs, mut optimal) = (0u64, 0u64);
        for (i, &a) in all.iter().enumerate() {
            for (j, &b) in all.iter().enumerate() {
                let r = abs(a, b);
                let mut results = Vec::new();
                for &x in &mem[i] {
                    for &y in &mem[j] {
                        let c = conc(x, y);
                        assert!(r.contains(c), "{name}({a:?}, {b:?}) = {r:?} misses {c:#x}");
                        results.push(c);
                    }
                }
                if name == "union" {
                    // The union holds both operands' values.
                    for &y in &mem[j] {
                        assert!(r.contains(y), "union({a:?}, {b:?}) misses {y}");
                    }
                    results.extend(&mem[j]);
                }
                pairs += 1;
                optimal += u64::from(r == best(&results));
            }
        }
        eprintln!(
            "| {name} | {pairs} | {optimal} | {:.1} |",
            100.0 * optimal as f64 / pairs as f64
        );
    }
}

#[test]
fn tnum_shifts_range_and_step_are_exact() {
    let all = tnums();
    for &a in &all {
        let m = members(a);
        for s in 0..8 {
            let l = a.lshift(s);
            let r = a.rshift(s);
            for &x in &m {
                assert!(l.contains(x << s) && r.contains(x >> s));
            }
        }
        // The next value above z is the smallest member above z.
        for z in 0..(1u64 << BITS) + 2 {
            let want = m.iter().copied().find(|&v| v > z);
            assert_eq!(a.next_above(z), want, "{a:?} above {z}");
        }
    }
    for lo in 0..64u64 {
        for hi in lo..64 {
            let t = Tnum::range(lo, hi);
            assert!(
                (lo..=hi).all(|v| t.contains(v)),
                "range({lo}, {hi}) = {t:?}"
            );
        }
    }
}
