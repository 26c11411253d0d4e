//! Jump sizing in one pass: a jump takes the 2-byte rel8 form when its displacement fits in
//! a signed byte, the rel32 form (5 or 6 bytes) otherwise.
//!
//! A backward jump's target is already placed, so its size is exact. A forward jump's is
//! not: it takes rel8 when the code ahead, estimated slot by slot from the usual size of
//! each instruction's code ([`estimate`]), puts the target within reach, and the guess is
//! checked once every label is placed. A pass whose
//! guesses all held, and which made no forward jump rel32 that fits in rel8, is the
//! result. Otherwise the pass is redone with the jumps that missed sized rel32 and those
//! that would fit sized rel8 (each checked again, as the layout moved), and after a few
//! rounds with every forward jump rel32, which always fits. Most programs compile in one
//! pass.

use dynasmrt::{DynamicLabel, DynasmApi};

use bpfbox_vm::isa::{AluOp, CallTarget, Insn, Src};
use bpfbox_vm::{Fault, Vm};

use super::{Backend, Emitted};
use crate::frontend::{Plan, Site};
use crate::JitError;

/// Rounds of guessing (and shrinking) before every forward jump is made rel32.
const GUESS_ROUNDS: usize = 4;

/// How a pass sizes forward jumps.
#[derive(Clone, Copy)]
pub(super) enum Sizing<'a> {
    /// rel8 where the guess says it fits, unless an earlier round settled the form of the
    /// slot's jump (indexed by slot; empty when none did).
    Guess(&'a [Form]),
    /// rel32 for every forward jump.
    Long,
}

/// The form an earlier round chose for a slot's forward jump.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Form {
    /// None: guess.
    #[default]
    Guess,
    /// rel8: it fit, rel32, in the earlier layout.
    Short,
    /// rel32: a rel8 guess missed.
    Long,
}

/// A forward jump sized on a guess.
pub(super) struct Guess {
    /// Whether it was made rel8 (else rel32).
    short: bool,
    /// Slot of the jump.
    pc: usize,
    /// Offset just after the jump, where its displacement counts from.
    end: usize,
    /// Its target.
    label: DynamicLabel,
}

impl Backend<'_> {
    /// The label of slot `target` and whether the jump of slot `pc` about to be emitted at
    /// the current offset takes rel8.
    pub(super) fn jump(&mut self, pc: usize, target: usize) -> (DynamicLabel, bool) {
        let label = self.label(target);
        let here = self.ops.offset().0;
        // rel8 counts from the end of the 2-byte jump.
        let end = here + 2;
        if let Ok(at) = self.ops.labels().resolve_dynamic(label) {
            return (label, end - at.0 <= 128);
        }
        let Sizing::Guess(forms) = self.sizing else {
            return (label, false);
        };
        let short = match forms.get(pc).copied().unwrap_or_default() {
            Form::Long => return (label, false),
            Form::Short => true,
            Form::Guess => {
                let to = target.min(self.plan.slots.len());
                self.estimate_within(pc + 1, to, 127)
            }
        };
        if short {
            self.guesses.push(Guess {
                short: true,
                pc,
                end,
                label,
            });
        } else {
            // A rel32 jump is at least 5 bytes: its displacement is at most this.
            self.guesses.push(Guess {
                short: false,
                pc,
                end: here + 5,
                label,
            });
        }
        (label, short)
    }

    /// Whether the code of slots `from..to` is estimated ([`estimate`]) to take at most
    /// `limit` bytes. The estimated offsets are summed once, and only as far as a guess
    /// needs them.
    fn estimate_within(&mut self, from: usize, to: usize, limit: usize) -> bool {
        let slots = &self.plan.slots;
        let est = &mut self.estimates;
        if est.is_empty() {
            // Room for every slot at once: growing it cost several copies per compile.
            est.reserve(slots.len() + 1);
            est.push(0);
        }
        loop {
            let known = est.len() - 1;
            if known >= to {
                return est[to] - est[from] <= limit;
            }
            if known > from && est[known] - est[from] > limit {
                return false;
            }
            let slot = &slots[known];
            let mut size = slot.insn.as_ref().map_or(0, |i| estimate(i, self.checked));
            // The meter at a block's start: `sub` and a rel32 `jb`.
            if self.checked && slot.charge > 0 {
                size += 10;
            }
            est.push(est[known] + size as usize);
        }
    }

    /// Slots of the rel8 jumps that do not fit, now that every label is placed.
    fn missed(&self) -> impl Iterator<Item = usize> + '_ {
        self.guesses.iter().filter(|g| g.short).filter_map(|g| {
            let at = self.ops.labels().resolve_dynamic(g.label).ok()?.0;
            (at < g.end || at - g.end > 127).then_some(g.pc)
        })
    }

    /// Slots of the rel32 forward jumps whose displacement fits in rel8 (it stays the same
    /// when the jump itself shrinks).
    fn could_shrink(&self) -> impl Iterator<Item = usize> + '_ {
        self.guesses.iter().filter(|g| !g.short).filter_map(|g| {
            let at = self.ops.labels().resolve_dynamic(g.label).ok()?.0;
            (at >= g.end && at - g.end <= 127).then_some(g.pc)
        })
    }
}

/// The usual size in bytes of the code of `insn` (rel8 for its own jump), a guess that
/// only needs to be close: jumps sized on it are checked.
fn estimate(insn: &Insn, checked: bool) -> u32 {
    let imm_size = |i: i32| if (-128..128).contains(&i) { 4 } else { 7 };
    // The inline bounds check of an access not proven at compile time.
    let check = |base: u8, off: i16, size: u32| {
        if checked && !Plan::stack_proven(base, off, size) {
            27
        } else {
            0
        }
    };
    match *insn {
        Insn::Alu { op, src, .. } => match (op, src) {
            // The divisor's checks and the rax/rdx shuffle around `div`.
            (AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod, Src::Reg(_)) => 48,
            (AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod, Src::Imm(_)) => 32,
            (AluOp::Mul, Src::Imm(_)) => 7,
            (_, Src::Reg(_)) => 3,
            (_, Src::Imm(i)) => imm_size(i),
        },
        Insn::Neg { .. } => 3,
        Insn::End { .. } => 4,
        Insn::Ja { .. } => 2,
        Insn::Jmp { src, .. } => {
            2 + match src {
                Src::Reg(_) => 3,
                Src::Imm(i) => imm_size(i),
            }
        }
        Insn::MayGoto { .. } => 12,
        Insn::Exit { .. } | Insn::Call(CallTarget::Helper(_)) => 4,
        Insn::LdImm64 { .. } => 10,
        Insn::Ldx { size, src, off, .. } | Insn::LdxSx { size, src, off, .. } => {
            4 + check(src, off, size.bytes())
        }
        Insn::St { size, dst, off, .. } => 8 + check(dst, off, size.bytes()),
        Insn::Stx { size, dst, off, .. } => 4 + check(dst, off, size.bytes()),
        Insn::Atomic { size, dst, off, .. } => 8 + check(dst, off, size.bytes()),
        _ => 16,
    }
}

/// Compiles `plan`: one pass, or a few when guessed jumps missed.
pub(crate) fn compile(vm: &Vm, plan: &Plan) -> Result<(Emitted, Vec<Site>, Vec<Fault>), JitError> {
    let mut forms: Vec<Form> = Vec::new();
    for round in 0..GUESS_ROUNDS {
        let mut backend = Backend::new(vm, plan, Sizing::Guess(&forms));
        backend.emit()?;
        let missed: Vec<usize> = backend.missed().collect();
        // The last round keeps a correct layout rather than trying to shrink it.
        let shrink: Vec<usize> = if missed.is_empty() && round + 1 < GUESS_ROUNDS {
            backend.could_shrink().collect()
        } else {
            Vec::new()
        };
        if missed.is_empty() && shrink.is_empty() {
            return backend.finish();
        }
        drop(backend);
        forms.resize(plan.slots.len() + 1, Form::Guess);
        for pc in shrink {
            forms[pc] = Form::Short;
        }
        for pc in missed {
            forms[pc] = Form::Long;
        }
    }
    let mut backend = Backend::new(vm, plan, Sizing::Long);
    backend.emit()?;
    backend.finish()
}
