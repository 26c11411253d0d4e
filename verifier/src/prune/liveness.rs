//! Liveness, as 6.18 computes it. Registers before the walk (`compute_live_registers`):
//! for every instruction, the registers some path from it reads before writing. Stack
//! slots during the walk (`kernel/bpf/liveness.c`): the slots each instruction was seen to
//! read (on any visit) and to overwrite whole (on every visit) feed a data-flow pass over
//! the instructions' successors. A checkpoint forgets the registers and slots dead at its
//! instruction, so states differing only there compare equal.

use bpfbox_vm::helpers::catalogue::default_proto;
use bpfbox_vm::isa::{AtomicOp, CallTarget, Insn, RawInsn, Src};

/// r0..r5, which a call clobbers.
const CALLER_SAVED: u16 = 0x3f;
/// r1..r5.
const ARGS: u16 = 0x3e;
/// r0..r9: everything a state may forget.
const ALL: u16 = 0x3ff;

fn bit(r: u8) -> u16 {
    if r < 10 {
        1 << r
    } else {
        0
    }
}

fn src_bit(s: Src) -> u16 {
    match s {
        Src::Reg(r) => bit(r),
        Src::Imm(_) => 0,
    }
}

/// What an instruction reads (`use`) and writes (`def`), and where it may go next.
struct Effect {
    uses: u16,
    defs: u16,
    next: [Option<usize>; 2],
}

fn target(pc: usize, off: i64) -> Option<usize> {
    usize::try_from(pc as i64 + 1 + off).ok()
}

fn effect(insns: &[RawInsn], pc: usize) -> Effect {
    let Ok(insn) = Insn::decode(insns, pc) else {
        // Undecodable: the walk rejects it on arrival; assume it reads everything.
        return Effect {
            uses: ALL,
            defs: 0,
            next: [None, None],
        };
    };
    let fall = Some(pc + insn.slots());
    let (uses, defs, next) = match insn {
        Insn::Alu { op, dst, src, .. } => {
            let is_mov = matches!(
                op,
                bpfbox_vm::isa::AluOp::Mov | bpfbox_vm::isa::AluOp::MovSx(_)
            );
            let own = if is_mov { 0 } else { bit(dst) };
            (own | src_bit(src), bit(dst), [fall, None])
        }
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => (bit(dst), bit(dst), [fall, None]),
        Insn::AddrSpaceCast { dst, src, .. } => (bit(src), bit(dst), [fall, None]),
        Insn::LdImm64 { dst, .. } => (0, bit(dst), [fall, None]),
        Insn::Ldx { dst, src, .. } | Insn::LdxSx { dst, src, .. } => {
            (bit(src), bit(dst), [fall, None])
        }
        Insn::St { dst, .. } => (bit(dst), 0, [fall, None]),
        Insn::Stx { dst, src, .. } => (bit(dst) | bit(src), 0, [fall, None]),
        Insn::Atomic { op, dst, src, .. } => match op {
            AtomicOp::Cmpxchg => (bit(0) | bit(dst) | bit(src), bit(0), [fall, None]),
            AtomicOp::LoadAcquire => (bit(src), bit(dst), [fall, None]),
            o if o.fetches() => (bit(dst) | bit(src), bit(src), [fall, None]),
            _ => (bit(dst) | bit(src), 0, [fall, None]),
        },
        // The kernel keeps its defaults for legacy packet loads: every register used,
        // none defined.
        Insn::LdAbs { .. } | Insn::LdInd { .. } => (ALL, 0, [fall, None]),
        Insn::Ja { off, .. } => (0, 0, [target(pc, off as i64), None]),
        Insn::MayGoto { off } => (0, 0, [fall, target(pc, off as i64)]),
        Insn::Jmp { dst, src, off, .. } => {
            (bit(dst) | src_bit(src), 0, [fall, target(pc, off as i64)])
        }
        Insn::Call(CallTarget::Helper(id)) => {
            let uses = match u32::try_from(id).ok().and_then(default_proto) {
                Some(p) => ((1u16 << p.used_args().len().min(5)) - 1) << 1,
                None => ARGS,
            };
            (uses, CALLER_SAVED, [fall, None])
        }
        Insn::Call(_) | Insn::Callx { .. } => (ARGS, CALLER_SAVED, [fall, None]),
        Insn::Exit { .. } => (bit(0), 0, [None, None]),
    };
    Effect { uses, defs, next }
}

fn effects(insns: &[RawInsn]) -> Vec<Effect> {
    (0..insns.len()).map(|pc| effect(insns, pc)).collect()
}

/// Stack-slot liveness of the main frame, learned from the accesses the walk records.
#[derive(Debug)]
pub struct StackLive {
    next: Vec<[Option<usize>; 2]>,
    /// Slots read by some visit of each instruction.
    may_read: Vec<u64>,
    /// Slots overwritten whole by every visit so far (`None`: not visited yet).
    must_write: Vec<Option<u64>>,
    /// Slots live before each instruction, as of the last [`StackLive::update`].
    live: Vec<u64>,
    dirty: bool,
}

impl StackLive {
    /// No access seen yet.
    pub fn new(insns: &[RawInsn]) -> StackLive {
        let n = insns.len();
        StackLive {
            next: effects(insns).into_iter().map(|e| e.next).collect(),
            may_read: vec![0; n],
            must_write: vec![None; n],
            live: vec![0; n],
            dirty: false,
        }
    }

    /// One visit of `pc` read slots `reads` and overwrote slots `writes`.
    pub fn record(&mut self, pc: usize, reads: u64, writes: u64) {
        let Some(w) = self.must_write.get_mut(pc) else {
            return;
        };
        let nw = w.map_or(writes, |old| old & writes);
        let nr = self.may_read[pc] | reads;
        if *w != Some(nw) || nr != self.may_read[pc] {
            self.dirty = true;
        }
        *w = Some(nw);
        self.may_read[pc] = nr;
    }

    /// Recomputes the live slots (`bpf_update_live_stack`, when a path ends).
    pub fn update(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let n = self.live.len();
        loop {
            let mut changed = false;
            for pc in (0..n).rev() {
                let out = self.next[pc]
                    .iter()
                    .flatten()
                    .filter(|&&s| s < n)
                    .fold(0u64, |acc, &s| acc | self.live[s]);
                let before = self.may_read[pc] | (out & !self.must_write[pc].unwrap_or(0));
                if before != self.live[pc] {
                    self.live[pc] = before;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// The slots live before `pc` (bit `spi` for `fp-8*(spi+1)`).
    pub fn live_before(&self, pc: usize) -> u64 {
        self.live.get(pc).copied().unwrap_or(u64::MAX)
    }
}

/// The registers live before each instruction slot, bit `i` for `ri` (`live_regs_before`).
pub fn live_regs_before(insns: &[RawInsn]) -> Vec<u16> {
    let n = insns.len();
    let effects = effects(insns);
    let mut live = vec![0u16; n];
    loop {
        let mut changed = false;
        for pc in (0..n).rev() {
            let e = &effects[pc];
            let out = e
                .next
                .iter()
                .flatten()
                .filter(|&&s| s < n)
                .fold(0u16, |acc, &s| acc | live[s]);
            let before = e.uses | (out & !e.defs);
            if before != live[pc] {
                live[pc] = before;
                changed = true;
            }
        }
        if !changed {
            return live;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::live_regs_before;
    use bpfbox_vm::asm::assemble;

    #[test]
    fn a_register_written_before_any_read_is_dead() {
        // The kernel's "Live regs before insn" for this program (6.18 log, level 2):
        //   0: .1........  r6 = r1
        //   1: ......6...  r1 = 0
        //   2: .1....6...  *(u64 *)(r10 -8) = r1
        //   3: ......6...  r2 = r10
        //   4: ..2...6...  r2 += -8
        //   5: ..2...6...  r1 = map
        //   7: .12...6...  call bpf_map_lookup_elem
        //   8: 0.....6...  if r0 == 0 goto +3
        //   9: 0.....6...  r3 = 0
        //  10: 0..3..6...  *(u64 *)(r0 +0) = r3
        //  11: 0.....6...  lock *(u64 *)(r0 +0) += r6
        //  12: ..........  r0 = 0
        //  13: 0.........  exit
        let p = assemble(
            "mov %r6, %r1\nmov %r1, 0\nstxdw [%r10-8], %r1\nmov %r2, %r10\nadd %r2, -8\n\
             lddw %r1, map_idx 0\ncall 1\njeq %r0, 0, +3\nmov %r3, 0\nstxdw [%r0+0], %r3\n\
             lock add [%r0+0], %r6\nmov %r0, 0\nexit",
        )
        .expect("assembles");
        let live = live_regs_before(&p);
        let want: [(usize, &[u8]); 13] = [
            (0, &[1]),
            (1, &[6]),
            (2, &[1, 6]),
            (3, &[6]),
            (4, &[2, 6]),
            (5, &[2, 6]),
            (7, &[1, 2, 6]),
            (8, &[0, 6]),
            (9, &[0, 6]),
            (10, &[0, 3, 6]),
            (11, &[0, 6]),
            (12, &[]),
            (13, &[0]),
        ];
        for (pc, regs) in want {
            let mask = regs.iter().fold(0u16, |m, &r| m | 1 << r);
            assert_eq!(live[pc], mask, "insn {pc}");
        }
    }
}
