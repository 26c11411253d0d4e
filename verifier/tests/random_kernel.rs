//! Random small programs against the running kernel. Each program is a few instructions drawn
//! from a grammar rich in the things a verifier must refuse (uninitialised registers and
//! stack, misaligned and out-of-frame accesses, pointer arithmetic, NULL map values, forward
//! and backward jumps), then `mov r0, 0; exit`. The kernel decides; we must never accept what
//! it rejects, and the share of identical verdicts and error lines is reported and bounded.

mod common;

use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::ProgType;
use common::{compare, program, Outcome};

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const REGS: [u8; 6] = [0, 1, 2, 3, 6, 10];
const DST: [u8; 5] = [0, 1, 2, 3, 6];
const SIZES: [u8; 4] = [0x00, 0x08, 0x10, 0x18];
const ALU: [u8; 12] = [
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0,
];
const JMP: [u8; 11] = [
    0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0,
];

fn offset(rng: &mut Rng) -> i16 {
    match rng.below(4) {
        0 => -(rng.below(520) as i16),
        1 => -8 * (1 + rng.below(4) as i16),
        2 => rng.below(24) as i16,
        _ => -(1 + rng.below(16) as i16),
    }
}

fn insn(rng: &mut Rng, out: &mut Vec<RawInsn>) {
    let r = |rng: &mut Rng| rng.pick(&REGS);
    let d = |rng: &mut Rng| rng.pick(&DST);
    match rng.below(12) {
        0 | 1 => {
            let class = if rng.below(2) == 0 { 0x07 } else { 0x04 };
            let op = rng.pick(&ALU);
            if rng.below(2) == 0 {
                let imm = rng.pick(&[0, 1, -1, 7, 8, 16, 31, 63, 64, 255, 4096]);
                out.push(RawInsn::new(class | op, d(rng), 0, 0, imm));
            } else {
                out.push(RawInsn::new(class | op | 0x08, d(rng), r(rng), 0, 0));
            }
        }
        2 => out.push(RawInsn::new(0xb7, d(rng), 0, 0, rng.below(16) as i32)),
        3 => out.push(RawInsn::new(0xbf, d(rng), r(rng), 0, 0)),
        4 | 5 => {
            let size = rng.pick(&SIZES);
            out.push(RawInsn::new(0x61 | size, d(rng), r(rng), offset(rng), 0));
        }
        6 => {
            let size = rng.pick(&SIZES);
            out.push(RawInsn::new(0x63 | size, r(rng), r(rng), offset(rng), 0));
        }
        7 => {
            let size = rng.pick(&SIZES);
            let imm = rng.pick(&[0, 1, -1]);
            out.push(RawInsn::new(0x62 | size, r(rng), 0, offset(rng), imm));
        }
        8 | 9 => {
            let op = rng.pick(&JMP);
            let class = if rng.below(3) == 0 { 0x06 } else { 0x05 };
            // Mostly forward; sometimes backward (loops) or out of the program.
            let off = rng.below(10) as i16 - 3;
            if rng.below(2) == 0 {
                out.push(RawInsn::new(
                    class | op,
                    d(rng),
                    0,
                    off,
                    rng.below(8) as i32,
                ));
            } else {
                out.push(RawInsn::new(class | op | 0x08, d(rng), r(rng), off, 0));
            }
        }
        10 => {
            // Map lookup with the key at fp-8.
            out.push(RawInsn::new(0x18, 1, 5, 0, rng.below(2) as i32));
            out.push(RawInsn::new(0, 0, 0, 0, 0));
            out.push(RawInsn::new(0xbf, 2, 10, 0, 0));
            out.push(RawInsn::new(0x07, 2, 0, 0, -8));
            out.push(RawInsn::new(0x85, 0, 0, 0, 1));
        }
        _ => {
            let size = rng.pick(&SIZES);
            out.push(RawInsn::new(
                0x61 | size,
                d(rng),
                0,
                rng.below(20) as i16,
                0,
            ));
        }
    }
}

fn random_program(seed: u64) -> Vec<RawInsn> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = 2 + rng.below(10) as usize;
    let mut out = Vec::new();
    // Give some stack and registers a value first, half the time.
    if rng.below(2) == 0 {
        out.push(RawInsn::new(0x7a, 10, 0, -8, 0));
        out.push(RawInsn::new(0xb7, 0, 0, 0, 1));
    }
    for _ in 0..len {
        insn(&mut rng, &mut out);
    }
    out.push(RawInsn::new(0xb7, 0, 0, 0, 0));
    out.push(RawInsn::new(0x95, 0, 0, 0, 0));
    out
}

#[test]
fn random_programs_never_accepted_where_the_kernel_rejects() {
    if !common::kernel() {
        return;
    }
    let maps = vec![
        MapSpec::new("arr", MapType::Array, 4, 16, 4),
        MapSpec::new("hash", MapType::Hash, 8, 8, 16),
    ];
    let n = std::env::var("BPFBOX_RANDOM_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut counts = std::collections::BTreeMap::new();
    let mut false_accepts = Vec::new();
    let first: u64 = std::env::var("BPFBOX_RANDOM_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for seed in first..first + n {
        let t = if seed % 3 == 0 {
            ProgType::Xdp
        } else {
            ProgType::SocketFilter
        };
        let p = program(t, random_program(seed));
        if std::env::var("BPFBOX_SHOW").is_ok() && seed % 10 == 0 {
            eprintln!("at seed {seed}");
        }
        if std::env::var("BPFBOX_RANDOM_DUMP").is_ok() {
            eprintln!(
                "{}",
                bpfbox_vm::disasm::disassemble_conformance(&p.insns).unwrap_or_default()
            );
        }
        let started = std::time::Instant::now();
        let (o, detail) = compare(&p, &maps);
        if std::env::var("BPFBOX_SHOW").is_ok() && started.elapsed().as_millis() > 200 {
            eprintln!("slow seed {seed}: {o:?} {detail}");
        }
        if o == Outcome::FalseAccept {
            let text = bpfbox_vm::disasm::disassemble_conformance(&p.insns).unwrap_or_default();
            false_accepts.push(format!("seed {seed}: {detail}\n{text}"));
        }
        if o != Outcome::Same && std::env::var("BPFBOX_SHOW").is_ok() {
            let text = bpfbox_vm::disasm::disassemble_conformance(&p.insns).unwrap_or_default();
            eprintln!("seed {seed}: {o:?} {detail}\n{text}");
        }
        *counts.entry(format!("{o:?}")).or_insert(0u32) += 1;
    }
    eprintln!("{n} random programs: {counts:?}");
    assert!(
        false_accepts.is_empty(),
        "accepted where the kernel rejects:\n{}",
        false_accepts.join("\n")
    );
    let same = counts.get("Same").copied().unwrap_or(0) as u64;
    assert!(same * 10 >= n * 7, "only {same} of {n} identical");
}
