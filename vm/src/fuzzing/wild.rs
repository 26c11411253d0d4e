//! Wild programs for differential tests of the engines: every instruction class with edge
//! immediates, offsets mostly into the stack or the memory block r6 points at (sometimes
//! anywhere), short loops, `may_goto`, helper calls (known ids and unknown ones), `callx`,
//! a subprogram with recursion for the call-depth limit. Nothing here is meant to pass a
//! verifier: faults of every kind, in the middle of a block, are the point. The x86-64
//! JIT's and the aarch64 backend's differential tests draw from the same generator, so a
//! case found on one architecture is a case on the other.

use crate::isa::{
    AluOp, AtomicOp, CallTarget, EndKind, Insn, JmpCond, LdImm64Kind, Size, Src, Width,
};
use crate::RawInsn;

/// xorshift64: deterministic, so a failing case is named by its seed and index.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// One of `xs` (not empty).
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// True `pct` times in a hundred.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

const EDGES: [i32; 12] = [0, 1, -1, 2, 7, 31, 32, 63, 64, i32::MIN, i32::MAX, 0x80];

fn imm(rng: &mut Rng) -> i32 {
    if rng.chance(60) {
        rng.pick(&EDGES)
    } else {
        rng.next_u64() as i32
    }
}

fn reg(rng: &mut Rng) -> u8 {
    rng.below(10) as u8
}

fn size(rng: &mut Rng) -> Size {
    rng.pick(&[Size::B, Size::H, Size::W, Size::DW])
}

/// A base register and offset: mostly the stack or the memory block (r6 holds its start),
/// sometimes anything.
fn addr(rng: &mut Rng) -> (u8, i16) {
    match rng.below(10) {
        0..=3 => (10, -(rng.below(66) as i16) * 8 + rng.below(8) as i16 - 8),
        4..=7 => (6, rng.below(80) as i16 - 8),
        _ => (reg(rng), rng.next_u64() as i16),
    }
}

fn insn(rng: &mut Rng, len_left: usize) -> Insn {
    let width = if rng.chance(50) {
        Width::W64
    } else {
        Width::W32
    };
    let jump_off = |rng: &mut Rng| -> i16 {
        let back = rng.below(6) as i16;
        let fwd = (rng.below(6) as usize).min(len_left) as i16;
        if rng.chance(30) {
            -back - 1
        } else {
            fwd
        }
    };
    match rng.below(22) {
        0..=6 => {
            let op = if rng.chance(5) {
                AluOp::MovSx(rng.pick(&[8, 16, 32]))
            } else {
                rng.pick(&AluOp::BINARY)
            };
            let src = if matches!(op, AluOp::MovSx(_)) || rng.chance(50) {
                Src::Reg(rng.below(11) as u8)
            } else {
                Src::Imm(imm(rng))
            };
            Insn::Alu {
                width,
                op,
                dst: reg(rng),
                src,
            }
        }
        7 => Insn::Neg {
            width,
            dst: reg(rng),
        },
        8 => Insn::End {
            kind: rng.pick(&[EndKind::ToLe, EndKind::ToBe, EndKind::Swap]),
            bits: rng.pick(&[16, 32, 64]),
            dst: reg(rng),
        },
        9..=11 => Insn::Jmp {
            width,
            cond: rng.pick(&JmpCond::ALL),
            dst: reg(rng),
            src: if rng.chance(50) {
                Src::Reg(rng.below(11) as u8)
            } else {
                Src::Imm(imm(rng))
            },
            off: jump_off(rng),
        },
        12 => Insn::Ja {
            off: jump_off(rng) as i32,
            long: rng.chance(20),
        },
        13 => Insn::MayGoto { off: jump_off(rng) },
        14 => {
            let (dst, off) = addr(rng);
            if rng.chance(50) {
                Insn::Ldx {
                    size: size(rng),
                    dst: reg(rng),
                    src: dst,
                    off,
                }
            } else {
                Insn::LdxSx {
                    size: rng.pick(&[Size::B, Size::H, Size::W]),
                    dst: reg(rng),
                    src: dst,
                    off,
                }
            }
        }
        15 => {
            let (dst, off) = addr(rng);
            Insn::St {
                size: size(rng),
                dst,
                off,
                imm: imm(rng),
            }
        }
        16 => {
            let (dst, off) = addr(rng);
            Insn::Stx {
                size: size(rng),
                dst,
                src: rng.below(11) as u8,
                off,
            }
        }
        17 => {
            let (base, off) = addr(rng);
            let op = rng.pick(&[
                AtomicOp::Add { fetch: false },
                AtomicOp::Add { fetch: true },
                AtomicOp::Or { fetch: false },
                AtomicOp::Or { fetch: true },
                AtomicOp::And { fetch: true },
                AtomicOp::Xor { fetch: false },
                AtomicOp::Xor { fetch: true },
                AtomicOp::Xchg,
                AtomicOp::Cmpxchg,
                AtomicOp::LoadAcquire,
                AtomicOp::StoreRelease,
            ]);
            let acq_rel = matches!(op, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
            let size = if acq_rel {
                size(rng)
            } else {
                rng.pick(&[Size::W, Size::DW])
            };
            let (dst, src) = if op == AtomicOp::LoadAcquire {
                (reg(rng), base)
            } else {
                (base, rng.below(10) as u8)
            };
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            }
        }
        18 => Insn::LdImm64 {
            dst: reg(rng),
            kind: LdImm64Kind::Imm,
            imm: rng.next_u64() >> rng.below(64),
        },
        19 => Insn::Call(CallTarget::Helper(rng.pick(&[5, 7, 8, 14, 1, 6, 999]))),
        20 => Insn::Callx { reg: reg(rng) },
        _ => Insn::EXIT,
    }
}

/// A program: `r6 = r1`, a body, `exit`; sometimes a subprogram the body calls.
pub fn program(rng: &mut Rng) -> Vec<RawInsn> {
    let n = 4 + rng.below(36) as usize;
    let mut body = vec![Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: 6,
        src: Src::Reg(1),
    }];
    let sub = rng.chance(30);
    for i in 0..n {
        body.push(insn(rng, n - i));
    }
    body.push(Insn::EXIT);
    fix_jumps(&mut body, rng);
    let mut out = Vec::new();
    for i in &body {
        i.encode_into(&mut out);
    }
    if sub {
        // A subprogram at the end; a call to it replaces a random body slot.
        let start = out.len();
        let m = 2 + rng.below(8) as usize;
        let mut f: Vec<Insn> = (0..m).map(|i| insn(rng, m - i)).collect();
        f.push(Insn::EXIT);
        fix_jumps(&mut f, rng);
        for i in &f {
            i.encode_into(&mut out);
        }
        let at = 1 + rng.below(n as u64) as usize;
        if at < start && out[at].code != 0 && !is_ld_imm64_half(&out, at) {
            let rel = start as i64 - at as i64 - 1;
            out[at] = RawInsn::new(0x85, 0, 1, 0, rel as i32);
            if rng.chance(50) && at + 1 < start && !is_ld_imm64_half(&out, at + 1) {
                // And a recursive call inside, for the call depth limit.
                let self_at = start + 1;
                if self_at < out.len() - 1 && !is_ld_imm64_half(&out, self_at) {
                    out[self_at] = RawInsn::new(0x85, 0, 1, 0, start as i32 - self_at as i32 - 1);
                }
            }
        }
    }
    out
}

/// Points every jump of one function at an instruction of that function, keeping its
/// direction when it can: the decoder refuses jumps elsewhere.
fn fix_jumps(f: &mut [Insn], rng: &mut Rng) {
    let mut starts = Vec::with_capacity(f.len());
    let mut at = 0i64;
    for i in f.iter() {
        starts.push(at);
        at += i.slots() as i64;
    }
    for k in 0..f.len() {
        let next = starts[k] + 1;
        let want = match f[k] {
            Insn::Jmp { off, .. } | Insn::MayGoto { off } => next + off as i64,
            Insn::Ja { off, .. } => next + off as i64,
            _ => continue,
        };
        let target =
            if starts.contains(&want) && !(matches!(f[k], Insn::MayGoto { .. }) && want == next) {
                want
            } else {
                let mut t = starts[rng.below(starts.len() as u64) as usize];
                if matches!(f[k], Insn::MayGoto { .. }) && t == next {
                    t = starts[0];
                }
                t
            };
        let off = target - next;
        match &mut f[k] {
            Insn::Jmp { off: o, .. } | Insn::MayGoto { off: o } => *o = off as i16,
            Insn::Ja { off: o, .. } => *o = off as i32,
            _ => {}
        }
    }
}

fn is_ld_imm64_half(out: &[RawInsn], at: usize) -> bool {
    out[at].code == 0x18 || (at > 0 && out[at - 1].code == 0x18)
}

/// Flips one to three random bits of random slots of `slots`: odd encodings the structured
/// generator never writes (what the `jit_diff` fuzz target feeds the engines).
pub fn mutate(rng: &mut Rng, slots: &mut [RawInsn]) {
    if slots.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(slots.len() as u64) as usize;
        let mut b = slots[at].to_bytes();
        let bit = rng.below(64) as usize;
        b[bit / 8] ^= 1 << (bit % 8);
        slots[at] = RawInsn::from_bytes(b);
    }
}

/// A program of `n` slots (at least 3): `r0 = 0`, a conditional jump over almost everything
/// (its target far beyond short branch ranges), then `n - 3` additions of 1 in alternating
/// widths and `exit`. It returns `n - 3`; the engines' tests use it for size limits and
/// long branches.
pub fn long_program(n: usize) -> Vec<RawInsn> {
    let mut insns = vec![Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: 0,
        src: Src::Imm(0),
    }];
    insns.push(Insn::Jmp {
        width: Width::W64,
        cond: JmpCond::Eq,
        dst: 1,
        src: Src::Imm(12345),
        off: i16::MAX,
    });
    while insns.len() + 1 < n {
        insns.push(Insn::Alu {
            width: if insns.len() % 2 == 0 {
                Width::W64
            } else {
                Width::W32
            },
            op: AluOp::Add,
            dst: 0,
            src: Src::Imm(1),
        });
    }
    insns.push(Insn::EXIT);
    let mut slots = Vec::new();
    for i in &insns {
        i.encode_into(&mut slots);
    }
    slots
}
