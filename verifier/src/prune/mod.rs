//! State pruning as the kernel's `is_state_visited` decides it: a path arriving at a prune
//! point stops when a saved state (a checkpoint) at the same instruction is at least as
//! permissive, because every path from the checkpoint was already proved safe.
//!
//! The comparison is `states_equal`: registers by [`mod@regsafe`] (scalar ranges and tnums by
//! inclusion, pointers by type, offset and range, ids through an [`idmap::IdMap`]), stacks
//! by [`stacksafe`] and frames by call site. Checkpoints whose paths are all explored forget
//! what no later instruction reads ([`liveness`]) before they are compared.

pub mod idmap;
pub mod liveness;
pub mod precision;
pub mod regsafe;
pub mod scc;
pub mod sites;
pub mod stacksafe;
pub mod store;

use crate::state::{Reg, State};
use idmap::IdMap;
use regsafe::regsafe;
use stacksafe::StackCmp;

/// How strictly two states are compared (`enum exact_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exact {
    /// Pruning: the old state only has to be at least as permissive.
    Not,
    /// The same state up to id renaming (infinite-loop detection).
    Exact,
    /// As [`Exact::Not`], but imprecise scalars and unread registers are compared too.
    RangeWithin,
}

/// What a comparison needs from the walk.
#[derive(Clone, Copy, Debug)]
pub struct Cmp<'a> {
    /// Highest id handed out so far; temporary ids start above it.
    pub id_gen: u32,
    /// Uninitialised stack may be read (privileged loads).
    pub allow_uninit_stack: bool,
    /// Whether precision marks are tracked; without them every scalar counts as precise.
    pub precision: bool,
    /// Registers live before each instruction ([`liveness::live_regs_before`]): a register
    /// no later instruction reads is not compared.
    pub live: &'a [u16],
    /// The instruction both states are at.
    pub insn: usize,
    /// `explore_alu_limits`: scalars must be equal (see [`mod@regsafe`]).
    pub exact_scalars: bool,
}

/// The registers of frame `i` of `st` that are compared: those live before the state's
/// instruction for the innermost frame, before the call a caller's frame waits at for the
/// others (`func_states_equal`).
fn live_mask(st: &State, i: usize, cmp: &Cmp<'_>) -> u16 {
    let ip = match st.frames.get(i + 1) {
        Some(callee) => callee.callsite,
        None => cmp.insn,
    };
    cmp.live.get(ip).copied().unwrap_or(u16::MAX) | 1 << 10
}

/// `states_equal`: every path safe from `old` is safe from `cur`.
pub fn states_equal(old: &State, cur: &State, exact: Exact, cmp: Cmp<'_>) -> bool {
    if old.frames.len() != cur.frames.len() {
        return false;
    }
    let mut ids = IdMap::new(cmp.id_gen);
    // `refsafe`: the same references held, up to a renaming of ids.
    if old.refs.list.len() != cur.refs.list.len()
        || !old
            .refs
            .list
            .iter()
            .zip(&cur.refs.list)
            .all(|(o, c)| ids.check(o.id, c.id))
    {
        return false;
    }
    let stacks = StackCmp {
        allow_uninit: cmp.allow_uninit_stack,
        precision: cmp.precision,
        exact_scalars: cmp.exact_scalars,
    };
    old.frames
        .iter()
        .zip(&cur.frames)
        .enumerate()
        .all(|(i, (o, c))| {
            let live = live_mask(old, i, &cmp);
            // Fewer `bpf_loop` iterations left in the old state cover none of the current's.
            o.callback_depth <= c.callback_depth
                && o.callsite == c.callsite
                && o.regs.iter().zip(&c.regs).enumerate().all(|(r, (ro, rc))| {
                    live & (1 << r) == 0
                        || regsafe(ro, rc, &mut ids, exact, cmp.precision, cmp.exact_scalars)
                })
                && stacks.safe(&o.stack, &c.stack, &mut ids, exact)
        })
}

/// `states_maybe_looping`: the innermost frames' registers are identical (ids included),
/// the cheap test before the exact comparison that reports an infinite loop.
pub fn states_maybe_looping(old: &State, cur: &State) -> bool {
    if old.frames.len() != cur.frames.len() {
        return false;
    }
    let (o, c) = (old.cur(), cur.cur());
    o.regs
        .iter()
        .zip(&c.regs)
        .all(|(a, b)| same_ignoring_precision(a, b))
}

fn same_ignoring_precision(a: &Reg, b: &Reg) -> bool {
    let mut b = b.clone();
    b.precise = a.precise;
    *a == b
}

/// Whether two states are at the same call chain (`same_callsites`).
pub fn same_callsites(a: &State, b: &State) -> bool {
    a.frames.len() == b.frames.len()
        && a.frames
            .iter()
            .zip(&b.frames)
            .all(|(x, y)| x.callsite == y.callsite)
}

/// `clean_verifier_state` for a checkpoint saved at `insn`: registers no path reads before
/// writing become `NOT_INIT`, and of a single-frame state, stack slots no path reads before
/// overwriting become invalid. `live` is [`liveness::live_regs_before`] of the program. An
/// outer frame is judged at its call instruction.
pub fn clean_state(st: &mut State, insn: usize, live: &[u16], stack: &liveness::StackLive) {
    if st.frames.len() == 1 {
        let mask = stack.live_before(insn);
        for (spi, slot) in st.frames[0].stack.slots.iter_mut().enumerate() {
            if spi < 64 && mask & (1 << spi) == 0 {
                slot.bytes = [crate::state::Byte::Invalid; 8];
                slot.spilled = Reg::not_init();
            }
        }
    }
    let n = st.frames.len();
    for i in 0..n {
        let ip = if i + 1 == n {
            insn
        } else {
            st.frames[i + 1].callsite
        };
        let mask = live.get(ip).copied().unwrap_or(u16::MAX);
        for (r, reg) in st.frames[i].regs.iter_mut().enumerate().take(10) {
            if mask & (1 << r) == 0 {
                *reg = Reg::not_init();
            }
        }
    }
}
