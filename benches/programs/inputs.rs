//! The interpreter benchmark programs and their inputs, shared by `benches/interpreter.rs`
//! and `tests/bench_programs.rs` so that the test checks exactly what the benchmark runs.
//!
//! Every program follows the uBPF contract (r1 = memory, no helpers, result in r0) but takes
//! its parameters from a header in the memory rather than from r2, because rbpf's raw VM sets
//! only r1.

/// One benchmark program.
pub struct Program {
    /// Benchmark group name (also the file stem in `benches/programs/`).
    pub name: &'static str,
    /// Source in the conformance assembly syntax.
    pub asm: &'static str,
    /// Whether a run writes the memory in a way that changes the next run's result, so each
    /// run needs a fresh copy of the input.
    pub mutates: bool,
    /// Builds the input memory.
    pub input: fn() -> Vec<u8>,
}

/// All benchmark programs, in report order.
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "sum_loop",
        asm: include_str!("sum_loop.asm"),
        mutates: false,
        input: sum_loop_input,
    },
    Program {
        name: "alu_block",
        asm: include_str!("alu_block.asm"),
        mutates: false,
        input: alu_block_input,
    },
    Program {
        name: "stack_loop",
        asm: include_str!("stack_loop.asm"),
        mutates: false,
        input: stack_loop_input,
    },
    Program {
        name: "prime_sieve",
        asm: include_str!("prime_sieve.asm"),
        mutates: true,
        input: prime_sieve_input,
    },
    Program {
        name: "log2",
        asm: include_str!("log2.asm"),
        mutates: false,
        input: log2_input,
    },
    Program {
        name: "switch",
        asm: include_str!("switch.asm"),
        mutates: false,
        input: switch_input,
    },
    Program {
        name: "memcpy",
        asm: include_str!("memcpy.asm"),
        // The copy is idempotent, but a fresh buffer keeps every run identical.
        mutates: true,
        input: memcpy_input,
    },
    Program {
        name: "strcmp",
        asm: include_str!("strcmp.asm"),
        mutates: false,
        input: strcmp_input,
    },
];

/// Deterministic xorshift64 generator, so inputs are the same on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn header(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// `sum_loop`: N.
pub fn sum_loop_input() -> Vec<u8> {
    header(&[50_000])
}

/// `alu_block`: iterations, seeds a and b, seed c (u32, padded to 8 bytes).
pub fn alu_block_input() -> Vec<u8> {
    header(&[
        200,
        0x0123_4567_89ab_cdef,
        0xfedc_ba98_7654_3210,
        0x8765_4321,
    ])
}

/// `stack_loop`: N.
pub fn stack_loop_input() -> Vec<u8> {
    header(&[5_000])
}

/// `prime_sieve`: N, then N zero bytes.
pub fn prime_sieve_input() -> Vec<u8> {
    const N: u64 = 10_000;
    let mut mem = header(&[N]);
    mem.resize(8 + N as usize, 0);
    mem
}

/// `log2`: M, then M values of every magnitude (including 0 and 1).
pub fn log2_input() -> Vec<u8> {
    const M: u64 = 2_000;
    let mut rng = Rng::new(0x1092);
    let mut values = vec![M, 0, 1, u64::MAX];
    while values.len() < 1 + M as usize {
        let x = rng.next_u64();
        values.push(x >> (x % 64));
    }
    header(&values)
}

/// `switch`: M, then M opcodes in 0..=16 (16 is the default case).
pub fn switch_input() -> Vec<u8> {
    const M: u64 = 4_000;
    let mut rng = Rng::new(0x5317c4);
    let mut mem = header(&[M]);
    mem.extend((0..M).map(|_| ((rng.next_u64() >> 32) % 17) as u8));
    mem
}

/// `memcpy`: L, 8 bytes of padding, L source bytes, L zero bytes of destination.
pub fn memcpy_input() -> Vec<u8> {
    const L: u64 = 4_096;
    let mut rng = Rng::new(0x3e3c);
    let mut mem = header(&[L, 0]);
    mem.extend((0..L).map(|_| rng.next_u64() as u8));
    mem.resize(16 + 2 * L as usize, 0);
    mem
}

/// `strcmp`: R, P, the pair table, then the strings. The pairs cover equal strings, a
/// difference at the end, a proper prefix on either side and a difference in the middle.
pub fn strcmp_input() -> Vec<u8> {
    const R: u64 = 20;
    const P: usize = 8;
    let mut rng = Rng::new(0x57c3);
    let mut strings: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for j in 0..P {
        let len = 40 + 8 * j;
        let a: Vec<u8> = (0..len)
            .map(|_| b'a' + (rng.next_u64() % 26) as u8)
            .collect();
        let mut b = a.clone();
        match j % 5 {
            0 => {}
            1 => b[len - 1] = b'A',
            2 => b.truncate(len / 2),
            3 => b.extend_from_slice(b"xyz"),
            _ => b[len / 2] = b'0',
        }
        strings.push((a, b));
    }
    let mut mem = header(&[R, P as u64]);
    let table = mem.len();
    mem.resize(table + 8 * P, 0);
    for (j, (a, b)) in strings.iter().enumerate() {
        for (k, s) in [a, b].into_iter().enumerate() {
            let off = mem.len() as u32;
            mem.extend_from_slice(s);
            mem.push(0);
            let at = table + 8 * j + 4 * k;
            mem[at..at + 4].copy_from_slice(&off.to_le_bytes());
        }
    }
    mem
}
