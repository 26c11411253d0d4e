//! Runs N helper-call fuzz cases (`bpfbox_vm::fuzzing`) from a seeded generator and prints
//! how they ended, for the campaign figures in docs/HARDENING.md:
//! `cargo run --release -p bpfbox-vm --example helper_fuzz_stats -- 1000000 [SEED]`
//! (run it under `ulimit -v` to hold it to a memory limit).

use std::collections::BTreeMap;

use bpfbox_vm::fuzzing::{run_bytes, Case, Outcome, Step};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut state: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x9e37_79b9);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut calls = 0u64;
    let mut stores = 0u64;
    let mut broken = 0u64;
    for _ in 0..n {
        let len = (next() % 240) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let case = Case::from_bytes(&data);
        for s in &case.steps {
            match s {
                Step::Call { .. } => calls += 1,
                Step::CtxStore { .. } => stores += 1,
            }
        }
        let key = match run_bytes(&data) {
            Ok(Outcome::Ran) => "ran to exit".to_string(),
            Ok(Outcome::Refused(e)) => {
                // Group by the kind of fault or refusal, not its place or addresses.
                let s = e.to_string();
                let msg = s.split_once(": ").map_or(s.as_str(), |(_, m)| m);
                let kind: String = msg
                    .split_whitespace()
                    .take(4)
                    .map(|w| {
                        if w.chars().any(|c| c.is_ascii_digit()) {
                            "N"
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                format!("typed error: {kind}")
            }
            Err(e) => {
                broken += 1;
                eprintln!("BROKEN: {e}: {case:?}");
                "broken promise".into()
            }
        };
        *outcomes.entry(key).or_default() += 1;
    }
    println!("{n} runs, {calls} helper calls and {stores} context stores patched in");
    let mut rows: Vec<_> = outcomes.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (k, v) in rows.iter().take(25) {
        println!("{v:>9}  {k}");
    }
    println!("broken promises: {broken}");
    if broken > 0 {
        std::process::exit(1);
    }
}
