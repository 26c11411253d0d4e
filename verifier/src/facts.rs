//! What the walk learns for the engines: the instructions no path reaches, the divisions
//! whose divisor is never zero on any path, and (in [`crate::Stats`]) the stack depth per
//! subprogram. An engine running an accepted program may drop dead code and the zero checks
//! of those divisions.

use serde::Serialize;

/// Facts about an accepted program.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// Instructions (slot indices) no path reaches; the second slot of an `ld_imm64` is not
    /// an instruction and never listed.
    pub dead: Vec<usize>,
    /// Division and modulo instructions by a register whose value (in the operation's
    /// width) is never zero where the walk reaches them.
    pub nonzero_divisors: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Divisor {
    Unseen,
    NonZero,
    MaybeZero,
}

/// Per-instruction observations collected during the walk.
#[derive(Clone, Debug)]
pub struct Observed {
    seen: Vec<bool>,
    divisor: Vec<Divisor>,
}

impl Observed {
    /// Nothing observed yet, for a program of `n` slots.
    pub fn new(n: usize) -> Observed {
        Observed {
            seen: vec![false; n],
            divisor: vec![Divisor::Unseen; n],
        }
    }

    /// The walk reached instruction `pc`.
    pub fn visit(&mut self, pc: usize) {
        if let Some(s) = self.seen.get_mut(pc) {
            *s = true;
        }
    }

    /// The division at `pc` was reached with a divisor that can (`false`) or cannot be zero.
    pub fn divisor(&mut self, pc: usize, nonzero: bool) {
        if let Some(d) = self.divisor.get_mut(pc) {
            *d = match (*d, nonzero) {
                (Divisor::MaybeZero, _) | (_, false) => Divisor::MaybeZero,
                _ => Divisor::NonZero,
            };
        }
    }

    /// The facts, given which slots start an instruction.
    pub fn facts(&self, starts: impl Fn(usize) -> bool) -> Facts {
        Facts {
            dead: (0..self.seen.len())
                .filter(|&i| !self.seen[i] && starts(i))
                .collect(),
            nonzero_divisors: (0..self.divisor.len())
                .filter(|&i| self.divisor[i] == Divisor::NonZero)
                .collect(),
        }
    }
}
