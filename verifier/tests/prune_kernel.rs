//! Pruning against the running kernel: random programs built to make pruning matter (values
//! of unknown range from a map and from `bpf_get_prandom_u32`, branches on them, spills and
//! fills, bounded loops, and accesses whose safety depends on a register's exact range, so
//! that a too-eager prune would accept an unsafe path). The kernel decides; we must never
//! accept what it rejects, and where both accept, the processed-instruction counts are
//! compared and the share of identical counts is reported and bounded.

mod common;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict as KVerdict};
use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};
use common::{program, we_say, Rng};

/// Registers the body computes with: callee-saved ones survive calls, r3-r5 do not.
const VALS: [u8; 6] = [8, 9, 8, 9, 6, 3];
/// Conditional jump opcodes (the operation bits).
const CONDS: [u8; 10] = [0x10, 0x20, 0x30, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
/// Stack slots the body spills to.
const SLOTS: [i16; 3] = [-16, -24, -32];

struct Gen {
    rng: Rng,
    out: Vec<RawInsn>,
}

impl Gen {
    fn push(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.out.push(RawInsn::new(code, dst, src, off, imm));
    }

    fn val(&mut self) -> u8 {
        self.rng.pick(&VALS)
    }

    /// One block of the body; `left` is how many instructions may still follow before the
    /// epilogue, so forward jumps stay inside the body.
    fn block(&mut self, left: usize) {
        let r = self.val();
        match self.rng.below(11) {
            // r = bpf_get_prandom_u32()
            0 => {
                self.push(0x85, 0, 0, 0, 7);
                self.push(0xbf, r, 0, 0, 0);
            }
            // r = *(u8|u32|u64 *)(r7 + k): a value of unknown range from the map value
            1 => {
                let (code, k) = self.rng.pick(&[(0x71, 3), (0x61, 4), (0x79, 8), (0x69, 2)]);
                self.push(code, r, 7, k, 0);
            }
            // if r <cond> K goto +m
            2 | 3 => {
                let op = self.rng.pick(&CONDS);
                let class = if self.rng.chance(1, 3) { 0x06 } else { 0x05 };
                let m = 1 + self.rng.below(left.clamp(1, 5) as u64) as i16;
                let m = m.min(left as i16);
                let k = self.rng.pick(&[0, 1, 3, 7, 15, 16, 255, -1]);
                if self.rng.chance(1, 4) {
                    let s = self.val();
                    self.push(class | op | 0x08, r, s, m, 0);
                } else {
                    self.push(class | op, r, 0, m, k);
                }
            }
            // ALU with a constant or another value
            4 => {
                let op = self
                    .rng
                    .pick(&[0x00, 0x10, 0x50, 0x40, 0x70, 0x60, 0xb0, 0xa0]);
                let class = if self.rng.chance(1, 4) { 0x04 } else { 0x07 };
                if self.rng.chance(1, 3) {
                    let s = self.val();
                    self.push(class | op | 0x08, r, s, 0, 0);
                } else {
                    let k = self.rng.pick(&[1, 2, 3, 7, 15, 16, 31]);
                    self.push(class | op, r, 0, 0, k);
                }
            }
            // spill r, or fill r
            5 => {
                let slot = self.rng.pick(&SLOTS);
                if self.rng.chance(1, 2) {
                    let size = self.rng.pick(&[0x18, 0x18, 0x00]);
                    self.push(0x63 | size, 10, r, slot, 0);
                } else {
                    let size = self.rng.pick(&[0x18, 0x18, 0x00]);
                    self.push(0x61 | size, r, 10, slot, 0);
                }
            }
            // *(u8 *)(r7 + r) = 0 through a copy: safe only while 0 <= r <= 15
            6 | 7 => {
                if self.rng.chance(2, 3) {
                    // The guard whose refinement the access depends on.
                    let (op, k) = self
                        .rng
                        .pick(&[(0x25, 15), (0x35, 16), (0x65, 15), (0xb5, 15)]);
                    self.push(op, r, 0, 3, k);
                }
                self.push(0xbf, 1, 7, 0, 0);
                self.push(0x0f, 1, r, 0, 0);
                if self.rng.chance(1, 2) {
                    self.push(0x71, 0, 1, 0, 0);
                } else {
                    self.push(0x72, 1, 0, 0, 0);
                }
            }
            // r = small constant, or a copy
            8 => {
                if self.rng.chance(1, 2) {
                    let k = self.rng.below(20) as i32;
                    self.push(0xb7, r, 0, 0, k);
                } else {
                    let s = self.val();
                    self.push(0xbf, r, s, 0, 0);
                }
            }
            // a bounded loop: r = 0; do { r += 1 } while (r < n)
            9 => {
                let n = 1 + self.rng.below(6) as i32;
                self.push(0xb7, r, 0, 0, 0);
                self.push(0x07, r, 0, 0, 1);
                self.push(0xa5, r, 0, -2, n);
            }
            // narrow or misc stack writes over a slot
            _ => {
                let slot = self.rng.pick(&SLOTS) + self.rng.pick(&[0, 4]);
                let imm = self.rng.pick(&[0, 1]);
                self.push(0x62, 10, 0, slot, imm);
            }
        }
    }
}

/// Prologue (map value in r7, a scalar in r8 and r9), body, epilogue.
fn pruning_program(seed: u64) -> Vec<RawInsn> {
    let mut g = Gen {
        rng: Rng(seed),
        out: Vec::new(),
    };
    let body = 4 + g.rng.below(14) as usize;
    // *(u64 *)(r10 - 8) = 0; r7 = lookup(arr, fp-8); if r7 == 0 goto exit
    g.push(0x7a, 10, 0, -8, 0);
    g.push(0x18, 1, 5, 0, 0);
    g.push(0, 0, 0, 0, 0);
    g.push(0xbf, 2, 10, 0, 0);
    g.push(0x07, 2, 0, 0, -8);
    g.push(0x85, 0, 0, 0, 1);
    let null_check = g.out.len();
    g.push(0x15, 0, 0, 0, 0);
    g.push(0xbf, 7, 0, 0, 0);
    g.push(0x71, 8, 7, 0, 0);
    g.push(0x71, 9, 7, 1, 0);
    g.push(0x61, 6, 7, 4, 0);
    g.push(0xb7, 3, 0, 0, 0);
    let start = g.out.len();
    // Blocks are generated until the body reaches its size; jumps may reach the epilogue.
    while g.out.len() - start < body {
        let left = body.saturating_sub(g.out.len() - start);
        g.block(left);
    }
    let epilogue = g.out.len();
    for pc in start..epilogue {
        let i = g.out[pc];
        if matches!(i.code & 0x07, 0x05 | 0x06) && i.code & 0xf0 != 0x80 && i.off > 0 {
            let to = pc as i64 + 1 + i.off as i64;
            if to > epilogue as i64 {
                g.out[pc].off = (epilogue - pc - 1) as i16;
            }
        }
    }
    g.push(0xb7, 0, 0, 0, 0);
    g.push(0x95, 0, 0, 0, 0);
    g.out[null_check].off = (epilogue - null_check - 1) as i16;
    g.out
}

/// The kernel's verdict and processed-instruction count.
fn kernel(prog: &Program, maps: &[MapSpec]) -> (bool, Option<u64>, String) {
    let ko = KernelObject::from_programs(std::slice::from_ref(prog), maps, &LoadOptions::default());
    let p = &ko.programs[0];
    match p.verdict {
        KVerdict::Accepted => (true, p.stats.processed_insns, String::new()),
        KVerdict::Rejected => (false, p.stats.processed_insns, p.log.clone()),
        ref v => panic!("kernel could not judge: {v:?} {:?}\n{}", p.reason, p.log),
    }
}

#[test]
fn pruning_never_accepts_what_the_kernel_rejects_and_counts_match() {
    if !common::kernel() {
        return;
    }
    let maps = vec![MapSpec::new("arr", MapType::Array, 4, 16, 4)];
    let n: u64 = std::env::var("BPFBOX_PRUNE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let (mut both_accept, mut exact, mut within, mut same_verdict) = (0u64, 0u64, 0u64, 0u64);
    let mut false_accepts = Vec::new();
    for seed in 0..n {
        let t = if seed % 2 == 0 {
            ProgType::Xdp
        } else {
            ProgType::SocketFilter
        };
        let p = program(t, pruning_program(seed));
        let (k_ok, k_insns, k_log) = kernel(&p, &maps);
        let v = we_say(&p, &maps);
        let text = || bpfbox_vm::disasm::disassemble_conformance(&p.insns).unwrap_or_default();
        if v.accepted && !k_ok {
            false_accepts.push(format!(
                "seed {seed}: kernel: {}\n{}",
                common::error_line(&k_log),
                text()
            ));
            continue;
        }
        if v.accepted == k_ok {
            same_verdict += 1;
        }
        if v.accepted && k_ok {
            both_accept += 1;
            let (k, b) = (k_insns.unwrap_or(0), v.stats.processed_insns);
            if k == b {
                exact += 1;
            } else if std::env::var("BPFBOX_SHOW").is_ok() {
                eprintln!("seed {seed}: kernel {k} insns, ours {b}\n{}", text());
            }
            if 2 * b >= k && b <= 2 * k {
                within += 1;
            }
        }
    }
    eprintln!(
        "{n} pruning programs: same verdict {same_verdict}; both accept {both_accept}: \
         processed insns equal {exact}, within 0.5-2x {within}"
    );
    assert!(
        false_accepts.is_empty(),
        "accepted where the kernel rejects:\n{}",
        false_accepts.join("\n")
    );
    assert!(
        both_accept * 2 >= n / 4,
        "too few accepted programs to judge pruning"
    );
    assert!(
        exact * 100 >= both_accept * 95,
        "only {exact} of {both_accept} counts equal"
    );
}
