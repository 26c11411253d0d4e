//! Jump sizing in one pass: a jump takes the 2-byte rel8 form when its displacement fits in
//! a signed byte, the rel32 form (5 or 6 bytes) otherwise.
//!
//! A backward jump's target is already placed, so its size is exact. A forward jump's is
//! not: it takes rel8 when the code ahead, assumed as dense as the code behind, puts the
//! target within reach, and the guess is checked once every label is placed. A pass whose
//! guesses all held, and which made no forward jump rel32 that fits in rel8, is the
//! result. Otherwise the pass is redone with the jumps that missed sized rel32 and those
//! that would fit sized rel8 (each checked again, as the layout moved), and after a few
//! rounds with every forward jump rel32, which always fits. Most programs compile in one
//! pass.

use dynasmrt::{DynamicLabel, DynasmApi};

use bpfbox_vm::{Fault, Vm};

use super::{Backend, Emitted};
use crate::frontend::{Plan, Site};
use crate::JitError;

/// Rounds of guessing (and shrinking) before every forward jump is made rel32.
const GUESS_ROUNDS: usize = 4;

/// Fewest bytes a slot is assumed to take when guessing a forward jump's reach.
const MIN_SLOT_BYTES: usize = 3;

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
        let Sizing::Guess(forms) = self.sizing else {
            return (label, false);
        };
        let short = match forms.get(pc).copied().unwrap_or_default() {
            Form::Long => return (label, false),
            Form::Short => true,
            Form::Guess => {
                let ahead = target.min(self.plan.slots.len()).saturating_sub(pc + 1);
                let per_slot = (here / (pc + 1)).max(MIN_SLOT_BYTES);
                ahead.saturating_mul(per_slot) <= 127
            }
        };
        if short {
            self.guesses.push(Guess { pc, end, label });
        } else {
            // A rel32 jump is at least 5 bytes: its displacement is at most this.
            self.longs.push(Guess {
                pc,
                end: here + 5,
                label,
            });
        }
        (label, short)
    }

    /// Slots of the rel8 jumps that do not fit, now that every label is placed.
    fn missed(&self) -> impl Iterator<Item = usize> + '_ {
        self.guesses.iter().filter_map(|g| {
            let at = self.ops.labels().resolve_dynamic(g.label).ok()?.0;
            (at < g.end || at - g.end > 127).then_some(g.pc)
        })
    }

    /// Slots of the rel32 forward jumps whose displacement fits in rel8 (it stays the same
    /// when the jump itself shrinks).
    fn could_shrink(&self) -> impl Iterator<Item = usize> + '_ {
        self.longs.iter().filter_map(|g| {
            let at = self.ops.labels().resolve_dynamic(g.label).ok()?.0;
            (at >= g.end && at - g.end <= 127).then_some(g.pc)
        })
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
