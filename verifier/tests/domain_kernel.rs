//! The scalar domain against the running kernel: random straight-line programs of ALU
//! operations and conditional jumps on unknown scalars are loaded with a level-2 log, and
//! every scalar register the kernel prints after every instruction (and at the entry of
//! every taken branch) must equal what [`Scalar`] computes.
//!
//! Each conditional jump is `if a cond b goto +2; r0 = 0; exit;` so the fall-through side
//! ends at once and the taken side continues: every instruction is reached by one path,
//! and the kernel's print of it is compared with the one state the model has there.
//!
//! More programs: `BPFBOX_DOMAIN_PROGRAMS=100000 BPFBOX_DOMAIN_SEED=7 cargo test -p
//! bpfbox-verifier --test domain_kernel -- --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bpfbox_kernel_compare::sys::{self, ProgLoad};
use bpfbox_verifier::domain::alu::sign_mask_fork;
use bpfbox_verifier::domain::{parse_scalar, Bounds, Scalar, ScalarDomain};
use bpfbox_vm::isa::{AluOp, CallTarget, EndKind, Insn, JmpCond, Src, Width};
use bpfbox_vm::{ProgType, RawInsn};
use common::Rng;

/// A register of the model: its value, its link id (0 when none), and whether the model
/// cannot follow it (a linked copy refined through another register).
#[derive(Clone, Copy, Debug)]
struct Reg {
    s: Scalar,
    id: u32,
    lost: bool,
}

type Regs = [Option<Reg>; 10];

/// Where a printed state belongs: after instruction `n`, or at the entry of `n` by a jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum At {
    After(usize),
    Entry(usize),
}

struct Gen {
    rng: Rng,
    insns: Vec<Insn>,
    regs: Regs,
    next_id: u32,
    /// Expected scalar bounds per print point and register (`None`: not followed).
    expect: BTreeMap<At, BTreeMap<u8, Option<Bounds>>>,
    visited: BTreeSet<usize>,
}

const IMMS: [i32; 24] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    31,
    32,
    63,
    64,
    127,
    128,
    255,
    256,
    0xffff,
    0x7fff_ffff,
    -1,
    -2,
    -128,
    -256,
    i32::MIN,
];

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng(seed),
            insns: Vec::new(),
            regs: [None; 10],
            next_id: 0,
            expect: BTreeMap::new(),
            visited: BTreeSet::new(),
        }
    }

    fn record(&mut self, at: At, regs: &[u8]) {
        let e = self.expect.entry(at).or_default();
        for &r in regs {
            if let Some(reg) = self.regs[r as usize] {
                e.insert(r, (!reg.lost).then(|| reg.s.bounds()));
            }
        }
    }

    fn push(&mut self, insn: Insn, scratched: &[u8]) {
        let n = self.insns.len();
        self.insns.push(insn);
        self.visited.insert(n);
        self.record(At::After(n), scratched);
    }

    fn imm(&mut self) -> i32 {
        if self.rng.chance(1, 4) {
            self.rng.next() as i32 >> self.rng.below(32)
        } else {
            self.rng.pick(&IMMS)
        }
    }

    fn live(&self) -> Vec<u8> {
        (0..10u8)
            .filter(|&r| self.regs[r as usize].is_some())
            .collect()
    }

    fn followed(&self) -> Vec<u8> {
        (0..10u8)
            .filter(|&r| self.regs[r as usize].is_some_and(|x| !x.lost))
            .collect()
    }

    fn call(&mut self) {
        self.regs[0] = Some(Reg {
            s: Scalar::unknown(),
            id: 0,
            lost: false,
        });
        for r in 1..=5 {
            self.regs[r] = None;
        }
        self.push(Insn::Call(CallTarget::Helper(7)), &[0]);
    }

    /// `dst = src` copies (64-bit, 32-bit and sign-extending) link both registers unless
    /// the source is a constant.
    fn link(&mut self, src: u8) -> u32 {
        let s = self.regs[src as usize].as_mut().expect("live");
        if s.id == 0 && s.s.as_const().is_none() {
            self.next_id += 1;
            s.id = self.next_id;
        }
        s.id
    }

    fn alu(&mut self, width: Width, op: AluOp, dst: u8, src: Src) {
        let src_val = match src {
            Src::Reg(r) => self.regs[r as usize].expect("live"),
            Src::Imm(i) => Reg {
                s: Scalar::constant(i as i64 as u64),
                id: 0,
                lost: false,
            },
        };
        let mut d = match op {
            AluOp::Mov | AluOp::MovSx(_) => Reg {
                s: Scalar::unknown(),
                id: 0,
                lost: false,
            },
            _ => self.regs[dst as usize].expect("live"),
        };
        let mut id = 0;
        if let (AluOp::Mov | AluOp::MovSx(_), Src::Reg(r)) = (op, src) {
            id = self.link(r);
        }
        let before = d.s;
        d.s.alu(op, width, &src_val.s);
        d.lost = src_val.lost || (d.lost && !matches!(op, AluOp::Mov | AluOp::MovSx(_)));
        d.id = match op {
            AluOp::Mov | AluOp::MovSx(_) => id,
            // Adding a constant keeps the link (with an offset); the model does not follow
            // linked offsets, so such registers are dropped at the next branch.
            // 6.18 links `r1 += c` and `r1 -= c` (the model also keeps 32-bit forms linked,
            // which only drops more registers than needed).
            AluOp::Add | AluOp::Sub
                if before.as_const().is_none() && src_val.s.as_const().is_some() =>
            {
                self.regs[dst as usize].map_or(0, |r| r.id)
            }
            _ => 0,
        };
        self.regs[dst as usize] = Some(d);
        let mut scratched = vec![dst];
        if let Src::Reg(r) = src {
            scratched.push(r);
        }
        self.push(
            Insn::Alu {
                width,
                op,
                dst,
                src,
            },
            &scratched,
        );
    }

    /// Registers sharing a link with `r` other than `r` itself.
    fn group(&self, r: u8) -> Vec<u8> {
        let Some(id) = self.regs[r as usize].map(|x| x.id).filter(|&i| i != 0) else {
            return Vec::new();
        };
        (0..10u8)
            .filter(|&o| o != r && self.regs[o as usize].is_some_and(|x| x.id == id))
            .collect()
    }

    /// One conditional jump; returns `false` when the rest of the program is dead.
    fn jump(&mut self, width: Width, cond: JmpCond, dst: u8, src: Src) -> bool {
        let x = self.insns.len();
        let a = self.regs[dst as usize].expect("live");
        let b = match src {
            Src::Reg(r) => self.regs[r as usize].expect("live").s,
            Src::Imm(i) => Scalar::constant(i as i64 as u64),
        };
        let mut scratched = vec![dst];
        if let Src::Reg(r) = src {
            scratched.push(r);
        }
        let insn = Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off: 2,
        };
        let taken = a.s.branch_taken(&b, cond, width);
        // Linked copies of the operands are refined through them: not followed.
        let mut others = self.group(dst);
        if let Src::Reg(r) = src {
            others.extend(self.group(r));
        }
        let refined = |gen: &mut Gen, side: bool| {
            let (mut a2, mut b2) = (a.s, b);
            // A dead side is never explored.
            let _ = a2.refine(&mut b2, cond, width, side);
            let mut regs = gen.regs;
            regs[dst as usize].as_mut().expect("live").s = a2;
            if let Src::Reg(r) = src {
                regs[r as usize].as_mut().expect("live").s = b2;
            }
            for &o in &others {
                regs[o as usize].as_mut().expect("live").lost = true;
            }
            regs
        };
        match taken {
            Some(true) => {
                self.push(insn, &scratched);
                self.insns.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: 0,
                    src: Src::Imm(0),
                });
                self.insns.push(Insn::EXIT);
                true
            }
            Some(false) => {
                self.push(insn, &scratched);
                self.regs[0] = Some(Reg {
                    s: Scalar::constant(0),
                    id: 0,
                    lost: false,
                });
                self.push(
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: 0,
                        src: Src::Imm(0),
                    },
                    &[0],
                );
                self.push(Insn::EXIT, &[]);
                // The jump's target, never reached.
                self.insns.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: 0,
                    src: Src::Imm(0),
                });
                self.insns.push(Insn::EXIT);
                false
            }
            None => {
                let fall = refined(self, false);
                let jump = refined(self, true);
                self.regs = fall;
                self.push(insn, &scratched);
                self.regs[0] = Some(Reg {
                    s: Scalar::constant(0),
                    id: 0,
                    lost: false,
                });
                self.push(
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: 0,
                        src: Src::Imm(0),
                    },
                    &[0],
                );
                self.push(Insn::EXIT, &[]);
                self.regs = jump;
                let all = self.live();
                self.record(At::Entry(x + 3), &all);
                true
            }
        }
    }

    fn src(&mut self, width: Width, shift: bool) -> Src {
        let live = self.followed();
        if !shift && !live.is_empty() && self.rng.chance(1, 2) {
            Src::Reg(self.rng.pick(&live))
        } else if shift {
            let bits = if width == Width::W64 { 64 } else { 32 };
            Src::Imm(self.rng.below(bits) as i32)
        } else {
            Src::Imm(self.imm())
        }
    }

    fn step(&mut self) -> bool {
        let width = if self.rng.chance(1, 2) {
            Width::W64
        } else {
            Width::W32
        };
        let live = self.followed();
        let dst = if self.rng.chance(1, 5) {
            self.rng.below(10) as u8
        } else {
            self.rng.pick(&live)
        };
        let dst_live = self.regs[dst as usize].is_some();
        match self.rng.below(20) {
            0..=11 if dst_live => {
                let mut op = self.rng.pick(&AluOp::BINARY);
                let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
                let mut src = self.src(width, shift);
                if matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod)
                    && src == Src::Imm(0)
                {
                    src = Src::Imm(3);
                }
                let sv = match src {
                    Src::Reg(r) => self.regs[r as usize].expect("live").s.bounds(),
                    Src::Imm(i) => Scalar::constant(i as i64 as u64).bounds(),
                };
                let dv = self.regs[dst as usize].expect("live").s.bounds();
                if sign_mask_fork(&dv, op, &sv).is_some() {
                    // The kernel would verify both 0 and -1: keep one path per insn.
                    op = AluOp::Xor;
                }
                self.alu(width, op, dst, src);
            }
            12 if dst_live => {
                self.regs[dst as usize].as_mut().expect("live").s.neg(width);
                self.regs[dst as usize].as_mut().expect("live").id = 0;
                self.push(Insn::Neg { width, dst }, &[dst]);
            }
            13 if dst_live => {
                let kind = self
                    .rng
                    .pick(&[EndKind::ToLe, EndKind::ToBe, EndKind::Swap]);
                let bits = self.rng.pick(&[16u8, 32, 64]);
                let r = self.regs[dst as usize].as_mut().expect("live");
                r.s.end(kind, bits);
                // `le64` is a no-op that keeps the link.
                if (kind, bits) != (EndKind::ToLe, 64) {
                    r.id = 0;
                }
                self.push(Insn::End { kind, bits, dst }, &[dst]);
            }
            14 => {
                let src = self.rng.pick(&live);
                let bits = if width == Width::W64 {
                    self.rng.pick(&[8u8, 16, 32])
                } else {
                    self.rng.pick(&[8u8, 16])
                };
                self.alu(width, AluOp::MovSx(bits), dst, Src::Reg(src));
            }
            15..=16 => {
                let src = if self.rng.chance(1, 3) {
                    Src::Imm(self.imm())
                } else {
                    Src::Reg(self.rng.pick(&live))
                };
                self.alu(width, AluOp::Mov, dst, src);
            }
            _ if dst_live => {
                let cond = self.rng.pick(&JmpCond::ALL);
                let src = self.src(width, false);
                if let Src::Reg(r) = src {
                    let same = r == dst || {
                        let (a, b) = (self.regs[dst as usize], self.regs[r as usize]);
                        a.zip(b).is_some_and(|(a, b)| a.id != 0 && a.id == b.id)
                    };
                    if same {
                        return true;
                    }
                }
                if self.regs[dst as usize].is_some_and(|r| r.lost) {
                    return true;
                }
                return self.jump(width, cond, dst, src);
            }
            _ => {}
        }
        true
    }

    fn program(mut self, steps: usize) -> (Vec<Insn>, Gen) {
        for r in 6..=9u8 {
            self.call();
            self.alu(Width::W64, AluOp::Mov, r, Src::Reg(0));
        }
        self.call();
        for r in 1..=5u8 {
            let src = self.rng.pick(&[0u8, 6, 7, 8, 9]);
            let w = if self.rng.chance(1, 2) {
                Width::W64
            } else {
                Width::W32
            };
            self.alu(w, AluOp::Mov, r, Src::Reg(src));
        }
        let mut alive = true;
        for _ in 0..steps {
            if !self.step() {
                alive = false;
                break;
            }
        }
        if alive {
            self.regs[0] = Some(Reg {
                s: Scalar::constant(0),
                id: 0,
                lost: false,
            });
            self.push(
                Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: 0,
                    src: Src::Imm(0),
                },
                &[0],
            );
            self.push(Insn::EXIT, &[]);
        }
        (self.insns.clone(), self)
    }
}

/// The register texts of a state print (` R1=... R2_w=... fp-8=...`), by register.
fn reg_texts(s: &str) -> BTreeMap<u8, String> {
    let mut out = BTreeMap::new();
    let mut depth = 0i32;
    let mut tokens = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ' ' if depth == 0 => {
                tokens.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    tokens.push(&s[start..]);
    for t in tokens {
        let Some(rest) = t.strip_prefix('R') else {
            continue;
        };
        let Some((name, val)) = rest.split_once('=') else {
            continue;
        };
        let num: String = name.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = num.parse::<u8>() {
            out.insert(n, val.to_string());
        }
    }
    out
}

/// The kernel's printed states by print point.
fn kernel_states(log: &str) -> BTreeMap<At, BTreeMap<u8, String>> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("from ") {
            let Some((head, state)) = rest.split_once(": ") else {
                continue;
            };
            let Some((_, to)) = head.split_once(" to ") else {
                continue;
            };
            if let Ok(to) = to.trim().parse::<usize>() {
                out.insert(At::Entry(to), reg_texts(state));
            }
            continue;
        }
        let Some((n, rest)) = line.split_once(": (") else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else {
            continue;
        };
        let state = rest.split_once(" ; ").map_or("", |(_, s)| s.trim());
        out.insert(At::After(n), reg_texts(state));
    }
    out
}

fn encode(insns: &[Insn]) -> Vec<RawInsn> {
    let mut out = Vec::new();
    for i in insns {
        i.encode_into(&mut out);
    }
    out
}

/// Loads one program; returns the number of register states compared, or a description
/// of the first difference.
fn check(seed: u64, steps: usize) -> Result<usize, String> {
    let (insns, gen) = Gen::new(seed).program(steps);
    let raw = encode(&insns);
    let load = sys::prog_load(&ProgLoad {
        prog_type: ProgType::SocketFilter.id(),
        insns: &raw,
        license: "GPL",
        name: "domain",
        log_level: sys::BPF_LOG_LEVEL2,
        ..ProgLoad::default()
    });
    let log = match load {
        Ok(l) => l.log,
        Err(e) => return Err(format!("seed {seed}: kernel rejected:\n{}", e.log)),
    };
    let ks = kernel_states(&log);
    let kernel_visited: BTreeSet<usize> = ks
        .keys()
        .filter_map(|a| match a {
            At::After(n) => Some(*n),
            At::Entry(_) => None,
        })
        .collect();
    // The kernel prints an instruction without a state when nothing changed; the exits
    // print none at all, so compare the instructions that print.
    let model_visited: BTreeSet<usize> = gen.visited.clone();
    if !kernel_visited.is_subset(&model_visited)
        || model_visited
            .iter()
            .any(|n| !kernel_visited.contains(n) && !matches!(insns[*n], Insn::Exit { .. }))
    {
        return Err(format!(
            "seed {seed}: visited instructions differ: kernel {kernel_visited:?} model \
             {model_visited:?}\n{log}"
        ));
    }
    let mut compared = 0;
    for (at, regs) in &gen.expect {
        let Some(kregs) = ks.get(at) else {
            continue;
        };
        for (r, want) in regs {
            let Some(want) = want else {
                continue;
            };
            let Some(text) = kregs.get(r) else {
                continue;
            };
            let got = parse_scalar(text).map_err(|e| format!("seed {seed}: {e}"))?;
            // Compare what is printed: a constant tnum prints as the constant alone.
            let ours = Scalar::from_bounds(*want);
            let printed = parse_scalar(&ours.to_string())
                .map_err(|e| format!("seed {seed}: our own print: {e}"))?;
            if got.bounds != printed.bounds {
                return Err(format!(
                    "seed {seed}: {at:?} R{r}: kernel {text} ours {ours}\n{log}"
                ));
            }
            compared += 1;
        }
    }
    Ok(compared)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn scalar_domain_matches_the_kernel() {
    if !common::kernel_available() {
        return;
    }
    if let Ok(seed) = std::env::var("BPFBOX_DOMAIN_SHOW") {
        // One program's full comparison, for debugging a difference.
        let seed = seed.parse().expect("BPFBOX_DOMAIN_SHOW is a seed");
        match check(seed, 40) {
            Ok(n) => eprintln!("seed {seed}: {n} states agree"),
            Err(e) => eprintln!("{e}"),
        }
        return;
    }
    let programs = env_or("BPFBOX_DOMAIN_PROGRAMS", 2000);
    let seed0 = env_or("BPFBOX_DOMAIN_SEED", 1);
    let mut compared = 0;
    let mut failures = Vec::new();
    for i in 0..programs {
        let seed = seed0.wrapping_mul(1_000_003).wrapping_add(i);
        match check(seed, 40) {
            Ok(n) => compared += n,
            Err(e) => failures.push(e),
        }
    }
    eprintln!(
        "{programs} programs, {compared} register states compared, {} programs differ",
        failures.len()
    );
    for f in &failures {
        eprintln!("{}", f.lines().next().unwrap_or_default());
    }
    if let Some(first) = failures.first() {
        panic!(
            "{} of {programs} programs differ; first:\n{first}",
            failures.len()
        );
    }
    assert!(
        compared > programs as usize * 10,
        "too few comparisons: {compared}"
    );
}
