//! The aarch64 backend under emulation beside the interpreter on random programs (the
//! generator of the x86-64 JIT's differential test): r0, instruction count, fault kind and
//! pc, and memory after the run must all agree, with LSE and with LL/SC atomics.

use std::sync::Arc;

use bpfbox_jit::aarch64::Options;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::{available, compile, disasm, interp_mem_on_stack, run_mem_on_stack, skip};
use bpfbox_vm::helpers::HelperRegistry;
use bpfbox_vm::interp::STACK_WORDS;
use bpfbox_vm::isa::{
    AluOp, AtomicOp, CallTarget, EndKind, Insn, JmpCond, LdImm64Kind, Size, Src, Width,
};
use bpfbox_vm::{RawInsn, Vm};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

const EDGES: [i32; 12] = [0, 1, -1, 2, 7, 31, 32, 63, 64, i32::MIN, i32::MAX, 0x80];

fn imm(rng: &mut Rng) -> i32 {
    if rng.chance(60) {
        rng.pick(&EDGES)
    } else {
        rng.next() as i32
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
        _ => (reg(rng), rng.next() as i16),
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
            imm: rng.next() >> rng.below(64),
        },
        19 => Insn::Call(CallTarget::Helper(rng.pick(&[5, 7, 8, 14, 1, 6, 999]))),
        20 => Insn::Callx { reg: reg(rng) },
        _ => Insn::EXIT,
    }
}

/// A program: `r6 = r1`, a body, `exit`; sometimes a subprogram the body calls.
fn program(rng: &mut Rng) -> Vec<RawInsn> {
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

/// Runs `vm` with `budget` in the interpreter and the emulated checked aarch64 code on the
/// same random 64 bytes and the same (zeroed) stack buffer, so that both see the same
/// addresses; asserts they agree exactly (r0 and the fault with its address included) and
/// leave the same memory and stack. Returns the interpreter's result and whether it holds
/// an address near the stack (r0, or a fault's address): a result that compares only
/// because the stack is shared.
fn run_both(
    mut vm: Vm,
    budget: u64,
    slots: &[RawInsn],
    rng: &mut Rng,
    case: u64,
) -> (Result<bpfbox_vm::RunOutcome, bpfbox_vm::Fault>, bool) {
    vm.set_helpers(HelperRegistry::kernel());
    vm.set_budget(budget);
    let vm = Arc::new(vm);
    let lse = case.is_multiple_of(2);
    let p = compile(&vm, Mode::Checked, Options { lse });
    let init: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
    let mut mem = init.clone();
    let mut stack = Box::new([0u64; STACK_WORDS]);
    let want = interp_mem_on_stack(&vm, &mut mem, &mut stack);
    let after_interp = mem.clone();
    let stack_interp = stack.clone();
    mem.copy_from_slice(&init);
    stack.fill(0);
    let got = run_mem_on_stack(&p, &mut mem, &mut stack);
    let what = || {
        format!(
            "case {case} (lse {lse}): program {:?}\n{}",
            bpfbox_vm::isa::slots_to_bytes(slots),
            disasm(p.image().code())
        )
    };
    assert_eq!(got, want, "{}", what());
    assert_eq!(mem, after_interp, "memory: {}", what());
    assert!(stack[..] == stack_interp[..], "stack: {}", what());
    // r0 or a faulting address near the stack: what compares only with a shared stack.
    let start = stack.as_ptr() as u64;
    let near = |a: u64| (start.wrapping_sub(1 << 16)..start + (1 << 16)).contains(&a);
    let on_stack = match &want {
        Ok(o) => near(o.r0),
        Err(f) => matches!(f.kind, bpfbox_vm::FaultKind::OutOfBounds { addr, .. } if near(addr)),
    };
    (want, on_stack)
}

fn cases(default: u64) -> u64 {
    std::env::var("BPFBOX_JIT_CAMPAIGN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn emulated_aarch64_equals_the_interpreter_on_random_programs() {
    if let Err(e) = available() {
        return skip(&e);
    }
    let mut rng = Rng(0x5eed_1234_abcd_a064);
    let (mut ran, mut faults, mut budget_faults, mut addresses) = (0, 0, 0, 0);
    let n = cases(3000);
    for case in 0..n {
        let slots = program(&mut rng);
        let Ok(vm) = Vm::new(&slots) else { continue };
        let (want, on_stack) = run_both(vm, 1 + rng.below(400), &slots, &mut rng, case);
        ran += 1;
        addresses += on_stack as u64;
        if let Err(f) = &want {
            faults += 1;
            if matches!(f.kind, bpfbox_vm::FaultKind::BudgetExhausted { .. }) {
                budget_faults += 1;
            }
        }
    }
    eprintln!(
        "{ran} programs, {faults} faults, {budget_faults} budget faults, \
         {addresses} holding an address near the stack"
    );
    assert!(ran > n / 3, "only {ran} programs were valid");
    // The results that hold host addresses are among those compared exactly.
    assert!(
        addresses > ran / 100,
        "{addresses} results hold a stack address"
    );
    assert!(
        faults > ran / 30 && budget_faults > ran / 100,
        "{faults} faults, {budget_faults} budget"
    );
}

/// Random programs with random bits flipped: odd encodings the generator never writes.
#[test]
fn emulated_aarch64_equals_the_interpreter_on_mutated_programs() {
    if let Err(e) = available() {
        return skip(&e);
    }
    let mut rng = Rng(0x0bad_cafe_f00d_a064);
    let mut ran = 0;
    let n = cases(3000);
    for case in 0..n {
        let mut slots = program(&mut rng);
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(slots.len() as u64) as usize;
            let mut b = slots[at].to_bytes();
            let bit = rng.below(64) as usize;
            b[bit / 8] ^= 1 << (bit % 8);
            slots[at] = bpfbox_vm::isa::slots_from_bytes(&b).expect("8 bytes")[0];
        }
        let Ok(vm) = Vm::new(&slots) else { continue };
        let _ = run_both(vm, 1 + rng.below(2000), &slots, &mut rng, case);
        ran += 1;
    }
    eprintln!("{ran} mutated programs");
    assert!(ran > n / 6, "only {ran} mutated programs were valid");
}
