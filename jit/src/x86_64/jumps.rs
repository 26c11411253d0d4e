//! Jump sizing in one pass: a jump takes the 2-byte rel8 form when its displacement fits in
//! a signed byte, the rel32 form (5 or 6 bytes) otherwise.
//!
//! A backward jump's target is already placed, so its size is exact. A forward jump's is
//! not: it takes rel8 when the code ahead, assumed as dense as the code behind, puts the
//! target within reach, and the guess is checked once every label is placed. A pass whose
//! guesses all held is the result; otherwise the pass is redone with the jumps that missed
//! sized rel32 (which only lengthens the code between other jumps, so it may take another
//! round), and after a few rounds with every forward jump rel32, which always fits.
//! Typical programs compile in one pass.

use dynasmrt::{DynamicLabel, DynasmApi};

use bpfbox_vm::{Fault, Vm};

use super::{Backend, Emitted};
use crate::frontend::{Plan, Site};
use crate::JitError;

/// Rounds of guesses before every forward jump is made rel32.
const GUESS_ROUNDS: usize = 3;

/// Fewest bytes a slot is assumed to take when guessing a forward jump's reach.
const MIN_SLOT_BYTES: usize = 3;

/// How a pass sizes forward jumps.
#[derive(Clone, Copy)]
pub(super) enum Sizing<'a> {
    /// rel8 where the guess says it fits, except at the slots marked here (a jump of
    /// theirs missed in an earlier round).
    Guess(&'a [bool]),
    /// rel32 for every forward jump.
    Long,
}

/// A forward jump made rel8 on a guess.
pub(super) struct Guess {
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
        let Sizing::Guess(missed) = self.sizing else {
            return (label, false);
        };
        if missed.get(pc).copied().unwrap_or(false) {
            return (label, false);
        }
        let ahead = target.min(self.plan.slots.len()).saturating_sub(pc + 1);
        let per_slot = (here / (pc + 1)).max(MIN_SLOT_BYTES);
        let short = ahead.saturating_mul(per_slot) <= 127;
        if short {
            self.guesses.push(Guess { pc, end, label });
        }
        (label, short)
    }

    /// Slots of the guessed jumps that do not fit, now that every label is placed.
    fn missed(&self) -> impl Iterator<Item = usize> + '_ {
        self.guesses.iter().filter_map(|g| {
            let at = self.ops.labels().resolve_dynamic(g.label).ok()?.0;
            (at < g.end || at - g.end > 127).then_some(g.pc)
        })
    }
}

/// Compiles `plan`: one pass, or a few when guessed jumps missed.
pub(crate) fn compile(vm: &Vm, plan: &Plan) -> Result<(Emitted, Vec<Site>, Vec<Fault>), JitError> {
    let mut missed: Vec<bool> = Vec::new();
    for _ in 0..GUESS_ROUNDS {
        let mut backend = Backend::new(vm, plan, Sizing::Guess(&missed));
        backend.emit()?;
        let now: Vec<usize> = backend.missed().collect();
        if now.is_empty() {
            return backend.finish();
        }
        drop(backend);
        missed.resize(plan.slots.len() + 1, false);
        for pc in now {
            missed[pc] = true;
        }
    }
    let mut backend = Backend::new(vm, plan, Sizing::Long);
    backend.emit()?;
    backend.finish()
}
