//! Telling a kernel deviation from a bug of ours.
//!
//! A mismatch is *explained* only when a named kernel behaviour, reproduced on our side,
//! gives the kernel's result exactly, and the kernel's own artefacts (the verifier log, the
//! translated image) show the behaviour happened. Anything else stays a mismatch.
//!
//! Two behaviours of Linux 6.18 are known (docs/KERNEL-COMPARE.md has minimal programs):
//!
//! * [`Known::DeadPathTaken`]: the verifier pruned a path as equivalent to one it had
//!   checked, but the two differ in a value the rest of the program depends on (its
//!   precision tracking missed the dependence). Instructions only that path reaches are
//!   never processed, so the verifier removes them as dead code and hard-wires the branches
//!   into them. The input then runs a different program in the kernel than the one loaded.
//! * [`Known::Cmpxchg32KeepsR0`]: a 32-bit `cmpxchg` on a path the verifier pruned gets no
//!   zero-extension of r0 (the verifier adds it only where it saw r0 read as 64 bits), and
//!   x86-64's `lock cmpxchg r32` leaves RAX whole when the comparison succeeds. The ISA says
//!   r0 receives the old value, zero-extended, in every case.

use bpfbox_vm::env::Env;
use bpfbox_vm::interp::FaultKind;
use bpfbox_vm::isa::{op, RawInsn};
use bpfbox_vm::testrun::TestRunError;

use super::diff::{judge, run_interpreter_raw, KernelRun, KernelRunner, Observed, Verdict};
use super::emit::Quirks;
use super::GenProgram;
use crate::sys;

/// A kernel behaviour that accounts for a difference.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Known {
    /// The input executes instructions the verifier never processed (so removed as dead);
    /// running the program with the verifier's branch rewrites gives the kernel's result.
    DeadPathTaken {
        /// Slot index, in the loaded program, of the first dead instruction this input
        /// reaches.
        first_dead: usize,
        /// How many slots the verifier never processed.
        dead_slots: usize,
    },
    /// A 32-bit `cmpxchg` without zero-extension in the translated image; running it as
    /// x86-64 does (r0 kept whole on success) gives the kernel's result.
    Cmpxchg32KeepsR0 {
        /// Slot indices, in the translated image, of such `cmpxchg`s.
        xlated_slots: Vec<usize>,
    },
}

impl std::fmt::Display for Known {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Known::DeadPathTaken {
                first_dead,
                dead_slots,
            } => write!(
                f,
                "kernel verifier pruned a live path: this input reaches instruction \
                 {first_dead}, which the verifier never processed and removed as dead \
                 ({dead_slots} slots)"
            ),
            Known::Cmpxchg32KeepsR0 { xlated_slots } => write!(
                f,
                "kernel left a 32-bit cmpxchg without its r0 zero-extension (translated \
                 slots {xlated_slots:?}); x86-64 keeps r0's upper half when it succeeds"
            ),
        }
    }
}

/// Helper id no registry knows: our run faults on it, which marks a dead slot reached.
const TRAP_HELPER: i32 = 0x7fff_0bad;

/// Slots the verifier processed, from a log of level 2, which prints every instruction it
/// walks as `N: (code) ...`. The second slot of a processed `ld_imm64` counts as processed.
pub fn processed_slots(log: &str, insns: &[RawInsn]) -> Vec<bool> {
    let mut seen = vec![false; insns.len()];
    for line in log.lines() {
        let Some((idx, rest)) = line.split_once(": (") else {
            continue;
        };
        let Ok(i) = idx.trim().parse::<usize>() else {
            continue;
        };
        let code_ok = rest
            .get(..3)
            .is_some_and(|c| c.ends_with(')') && c[..2].bytes().all(|b| b.is_ascii_hexdigit()));
        if code_ok && i < seen.len() {
            seen[i] = true;
        }
    }
    for i in 0..insns.len().saturating_sub(1) {
        if seen[i] && insns[i].code == LD_IMM64 {
            seen[i + 1] = true;
        }
    }
    seen
}

const LD_IMM64: u8 = 0x18;
const JA: u8 = 0x05;

fn is_cond_jump(code: u8) -> bool {
    let kind = code & 0xf0;
    match code & 0x07 {
        op::JMP32 => kind != 0x00,
        op::JMP => !matches!(kind, 0x00 | 0x80 | 0x90),
        _ => false,
    }
}

/// `insns` with every slot the verifier did not process replaced by a call to
/// [`TRAP_HELPER`], and an `exit` appended (never reached: the program must end in one).
fn trap_dead(insns: &[RawInsn], seen: &[bool]) -> Vec<RawInsn> {
    let mut out: Vec<RawInsn> = insns
        .iter()
        .zip(seen)
        .map(|(&i, &s)| {
            if s {
                i
            } else {
                RawInsn::new(0x85, 0, 0, 0, TRAP_HELPER)
            }
        })
        .collect();
    out.push(RawInsn::new(0x95, 0, 0, 0, 0));
    out
}

/// `insns` with the verifier's rewrite of branches into dead code: a conditional jump whose
/// fall-through was never processed always jumps; one whose target was never processed
/// never does. Together with removing the dead slots (which nothing reaches afterwards) this
/// is the program the kernel runs.
fn hard_wire(insns: &[RawInsn], seen: &[bool]) -> Vec<RawInsn> {
    let mut out = insns.to_vec();
    for (i, insn) in insns.iter().enumerate() {
        if !seen.get(i).copied().unwrap_or(false) || !is_cond_jump(insn.code) {
            continue;
        }
        let target = i as i64 + 1 + i64::from(insn.off);
        let live = |j: i64| usize::try_from(j).ok().and_then(|j| seen.get(j).copied());
        if live(i as i64 + 1) == Some(false) {
            out[i] = RawInsn::new(JA, 0, 0, insn.off, 0);
        } else if live(target) == Some(false) {
            out[i] = RawInsn::new(JA, 0, 0, 0, 0);
        }
    }
    out
}

/// Slots of the translated image holding a 32-bit `cmpxchg` that the next slot does not
/// zero-extend (the verifier's zero-extension is `w0 = w0` with imm 1).
pub fn unextended_cmpxchg32(xlated: &[RawInsn]) -> Vec<usize> {
    const CMPXCHG32: u8 = 0xc3;
    const CMPXCHG_IMM: i32 = 0xf1;
    xlated
        .iter()
        .enumerate()
        .filter(|(_, x)| x.code == CMPXCHG32 && x.imm == CMPXCHG_IMM)
        .filter(|&(i, _)| {
            !xlated
                .get(i + 1)
                .is_some_and(|z| z.code == 0xbc && z.dst == 0 && z.src == 0 && z.imm == 1)
        })
        .map(|(i, _)| i)
        .collect()
}

/// The kernel behaviour that accounts for `kernel` differing from our run of `insns`
/// (`p`'s instructions), or `None` when none does: then the difference is ours to fix.
pub fn explain(
    runner: &KernelRunner,
    p: &GenProgram,
    insns: &[RawInsn],
    kernel: &Observed,
) -> Result<Option<Known>, sys::SysError> {
    let inspected = runner.inspect(insns)?;
    let seen = processed_slots(&inspected.log, insns);
    let dead_slots = seen.iter().filter(|s| !**s).count();
    if dead_slots > 0 {
        let trapped = run_interpreter_raw(p, &trap_dead(insns, &seen), &mut Env::default());
        let first_dead = match trapped {
            Err(TestRunError::Fault(f)) if matches!(f.kind, FaultKind::UnknownHelper { id, .. } if id == TRAP_HELPER as u64) => {
                Some(f.pc)
            }
            _ => None,
        };
        if let Some(first_dead) = first_dead {
            let wired = run_interpreter_raw(p, &hard_wire(insns, &seen), &mut Env::default());
            if wired.ok().as_ref() == Some(kernel) {
                return Ok(Some(Known::DeadPathTaken {
                    first_dead,
                    dead_slots,
                }));
            }
        }
    }
    let xlated_slots = unextended_cmpxchg32(&inspected.xlated);
    if !xlated_slots.is_empty() {
        let quirks = Quirks {
            cmpxchg32_keeps_r0: true,
        };
        if let Ok(q) = p.insns_with(quirks) {
            let run = run_interpreter_raw(p, &q, &mut Env::default());
            if run.ok().as_ref() == Some(kernel) {
                return Ok(Some(Known::Cmpxchg32KeepsR0 { xlated_slots }));
            }
        }
    }
    Ok(None)
}

/// [`judge`], then [`explain`] for a mismatch where both sides ran: an explained one
/// becomes [`Verdict::Explained`].
pub fn judge_explained(
    runner: &KernelRunner,
    p: &GenProgram,
    insns: &[RawInsn],
    kernel: KernelRun,
    interp: Result<Observed, String>,
) -> Result<Verdict, sys::SysError> {
    let v = judge(kernel, interp);
    if let Verdict::Mismatch {
        kernel,
        interpreter: Ok(interpreter),
    } = &v
    {
        if let Some(known) = explain(runner, p, insns, kernel)? {
            return Ok(Verdict::Explained {
                known,
                kernel: kernel.clone(),
                interpreter: interpreter.clone(),
            });
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_slots_come_from_instruction_lines_only() {
        let insns = vec![
            RawInsn::new(0xb7, 0, 0, 0, 0),
            RawInsn::new(LD_IMM64, 1, 0, 0, 0),
            RawInsn::new(0, 0, 0, 0, 0),
            RawInsn::new(0x95, 0, 0, 0, 0),
            RawInsn::new(0x95, 0, 0, 0, 0),
        ];
        let log = "0: R1=ctx() R10=fp0\n0: (b7) r0 = 0   ; R0=0\n1: (18) r1 = 0x1\n\
                   3: safe\nfrom 0 to 3: R0=0\n3: (95) exit\nprocessed 3 insns";
        assert_eq!(
            processed_slots(log, &insns),
            [true, true, true, true, false]
        );
    }

    #[test]
    fn branches_into_dead_code_are_wired_like_the_verifier_wires_them() {
        // 0: if r1 == 0 goto +1 (target 2 dead) / 1: if r2 > 3 goto +1 (fall-through 2 dead)
        let insns = vec![
            RawInsn::new(0x15, 1, 0, 1, 0),
            RawInsn::new(0x25, 2, 0, 1, 3),
            RawInsn::new(0xb7, 0, 0, 0, 1),
            RawInsn::new(0x95, 0, 0, 0, 0),
        ];
        let seen = [true, true, false, true];
        let w = hard_wire(&insns, &seen);
        assert_eq!(w[0], RawInsn::new(JA, 0, 0, 0, 0));
        assert_eq!(w[1], RawInsn::new(JA, 0, 0, 1, 0));
        assert_eq!(&w[2..], &insns[2..]);
        let t = trap_dead(&insns, &seen);
        assert_eq!(t[2].imm, TRAP_HELPER);
        assert_eq!(t[3], insns[3]);
        assert_eq!(t.len(), insns.len() + 1);
    }

    #[test]
    fn only_a_cmpxchg32_without_its_zext_is_reported() {
        let cx = RawInsn::new(0xc3, 10, 1, -8, 0xf1);
        let zext = RawInsn::new(0xbc, 0, 0, 0, 1);
        let mov = RawInsn::new(0xbc, 0, 0, 0, 0);
        let cx64 = RawInsn::new(0xdb, 10, 1, -8, 0xf1);
        let exit = RawInsn::new(0x95, 0, 0, 0, 0);
        assert_eq!(
            unextended_cmpxchg32(&[cx, zext, cx, mov, cx64, exit, cx]),
            [2, 6]
        );
    }
}
