//! Shared helpers of the verifier tests: skipping that fails under `BPFBOX_REQUIRE_ALL=1`,
//! the kernel probe, and a small deterministic random number generator.
#![allow(dead_code)]

use bpfbox_kernel_compare::probe::Probe;

/// Skips the current test with a one-line reason, or fails it under `BPFBOX_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var("BPFBOX_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required test cannot run: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// `true` when `bpf()` works here; otherwise reports a skip.
pub fn kernel_available() -> bool {
    let p = Probe::run();
    match p.reason() {
        Some(r) => {
            skip(&r);
            false
        }
        None => true,
    }
}

/// SplitMix64: reproducible from a seed, no dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// `true` with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}
