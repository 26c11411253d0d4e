//! `is_state_visited`: at a prune point, the arriving state against the states saved
//! there (newest first): pruned when one covers it, a loop detected when one equals it
//! while its paths are still open, dropped states that keep missing, and a new checkpoint
//! when the walk has gone far enough since the last. Also the lookups of a loop's earlier
//! entry that `may_goto` and callback iterations widen against.

use super::{Env, Saved, Walker};
use crate::check;
use crate::check::may_goto::is_may_goto;
use crate::error::{Reject, Result};
use crate::prune;
use crate::prune::precision::{self, Entry};
use crate::prune::store::Checkpoint;
use crate::state::State;

impl Walker {
    /// The kernel's `is_state_visited`: `Ok(true)` to prune this path.
    pub(super) fn visited(
        &mut self,
        env: &mut Env<'_>,
        pc: usize,
        st: &mut State,
        parent: &mut Option<usize>,
    ) -> Result<bool> {
        let may_goto = is_may_goto(&env.prog.insns[pc]);
        let calls_callback = check::callback::calls_callback(&env.prog.insns[pc]);
        // A long history forces a checkpoint, which starts a new one.
        let force = self.state_freq || env.cfg.force_checkpoint[pc] || self.seg.hist.len() > 40;
        let mut add = force
            || (self.store.n.jmps - self.store.n.prev_jmps >= 2
                && self.store.n.processed - self.store.n.prev_processed >= 8);
        let cmp = prune::Cmp {
            id_gen: env.id_gen,
            allow_uninit_stack: env.privileged(),
            precision: env.bpf_capable(),
            live: &self.live_regs,
            insn: pc,
            // `explore_alu_limits`: every path's pointer-arithmetic mask must be seen, so
            // scalars prune only equal ones.
            exact_scalars: env.spec.explore_alu_limits,
        };
        let cur_spec = env.spec.speculative;
        let bucket = self.store.bucket_of(pc, st);
        let mut list = self.store.take_bucket(bucket);
        // `clean_live_states`: checkpoints whose paths are all explored forget dead registers.
        for &k in &list {
            let c = &mut self.store.cps[k];
            if c.branches == 0 && !c.cleaned && c.pc == pc && prune::same_callsites(&c.state, st) {
                prune::clean_state(&mut c.state, pc, &self.live_regs, &self.stack_live);
                c.cleaned = true;
            }
        }
        // The whole bucket counts, states of other instructions included.
        let scanned = list.len() as u64;
        // Newest first, as the kernel keeps its list.
        let mut i = list.len();
        let mut pruned = false;
        let mut hit = 0;
        // The prune is a loop's back-edge (`loop`).
        let mut backedge = false;
        while i > 0 {
            i -= 1;
            let k = list[i];
            if self.store.cps[k].pc != pc {
                continue;
            }
            let level = if self.store.incomplete(k) || self.in_open_callback_loop(env, k) {
                prune::Exact::RangeWithin
            } else {
                prune::Exact::Not
            };
            let c = &mut self.store.cps[k];
            // A speculative state stands for no architectural one.
            let comparable = !c.speculative || cur_spec;
            if c.branches > 0 {
                // A loop through `may_goto` that comes back no wider than it was is covered
                // by the earlier iteration: the runtime's budget ends it.
                if may_goto
                    && comparable
                    && c.state.may_goto_depth != st.may_goto_depth
                    && prune::states_equal(&c.state, st, prune::Exact::RangeWithin, cmp)
                {
                    c.hits += 1;
                    pruned = true;
                    backedge = true;
                    hit = k;
                    break;
                }
                // Back at a helper call after an iteration of its callback: an earlier
                // iteration's state that covers this one ends the iterations.
                if calls_callback {
                    if comparable
                        && prune::states_equal(&c.state, st, prune::Exact::RangeWithin, cmp)
                    {
                        c.hits += 1;
                        pruned = true;
                        backedge = true;
                        hit = k;
                        break;
                    }
                } else if comparable
                    && c.state.may_goto_depth == st.may_goto_depth
                    && c.state.callback_unroll_depth == st.callback_unroll_depth
                    && prune::states_maybe_looping(&c.state, st)
                    && prune::states_equal(&c.state, st, prune::Exact::Exact, cmp)
                {
                    let p = env.prog;
                    env.log
                        .infinite_loop(pc, st, &c.state, &p.line_info, &env.opts.maps);
                    self.store.put_bucket(bucket, list);
                    return Err(Reject::at(
                        pc,
                        format!("infinite loop detected at insn {pc}"),
                    ));
                }
                // Inside a loop, save states sparingly.
                if !force
                    && self.store.n.jmps - self.store.n.prev_jmps < 20
                    && self.store.n.processed - self.store.n.prev_processed < 100
                {
                    add = false;
                }
            } else if comparable && prune::states_equal(&c.state, st, level, cmp) {
                c.hits += 1;
                pruned = true;
                backedge = level == prune::Exact::RangeWithin;
                hit = k;
                break;
            }
            if add {
                c.misses += 1;
            }
            let n = if env.cfg.force_checkpoint[pc] && c.branches > 0 {
                64
            } else {
                3
            };
            if c.misses > c.hits * n + n {
                // A state that keeps missing is dropped from the comparisons.
                list.remove(i);
                self.store.evict(k);
            }
        }
        self.store.put_bucket(bucket, list);
        if let Some(k) = pruned.then_some(hit) {
            if backedge {
                self.store.add_backedge(st, pc, &mut env.log);
            }
            // What the old state needed precise, the values arriving here need too.
            if env.cfg.jmp_point[pc] {
                self.seg.push(Entry::new(pc, self.prev), false);
            }
            let req = precision::request_from(&self.store.cps[k].state);
            self.seg.last = pc;
            precision::mark_chain(
                &env.prog.insns,
                &mut Saved(&mut self.store.cps),
                &self.seg,
                *parent,
                &req,
            );
            return Ok(true);
        }
        // Counted only when no state matched, as the kernel counts it.
        self.store.n.max_per_insn = self.store.n.max_per_insn.max(scanned);
        // Without CAP_BPF an instruction keeps at most 64 states.
        if !env.bpf_capable() && scanned > 64 {
            return Ok(false);
        }
        if !add {
            return Ok(false);
        }
        self.store.n.prev_jmps = self.store.n.jmps;
        self.store.n.prev_processed = self.store.n.processed;
        if env.bpf_capable() {
            // Precision is learned afresh below every checkpoint.
            precision::forget_precision(st);
        }
        let mut seg = std::mem::take(&mut self.seg);
        seg.last = self.prev;
        self.seg.first = pc;
        let cp = Checkpoint::new(st.clone(), pc, *parent, seg, env.spec.speculative);
        let k = self.store.add(bucket, cp, &mut env.log);
        *parent = Some(k);
        Ok(false)
    }

    /// Whether checkpoint `k` lies inside a callback whose iterations are still being
    /// explored (its helper call's checkpoint has open paths). Precision learned later in
    /// the loop may not have reached it yet, so it prunes only what lies within its ranges,
    /// precise or not (as the kernel compares states of a loop not yet left).
    fn in_open_callback_loop(&self, env: &Env<'_>, k: usize) -> bool {
        let c = &self.store.cps[k];
        if !c.state.frames.iter().any(|f| f.in_callback) {
            return false;
        }
        let mut p = c.parent;
        while let Some(i) = p {
            let a = &self.store.cps[i];
            if a.branches > 0 && check::callback::calls_callback(&env.prog.insns[a.pc]) {
                return true;
            }
            p = a.parent;
        }
        false
    }

    /// `find_prev_entry`: the state an earlier pass of this path through `pc` saved, in the
    /// same call chain, older than the latest checkpoint `parent`.
    pub(super) fn loop_entry(
        &self,
        pc: usize,
        st: &State,
        parent: Option<usize>,
    ) -> Option<&State> {
        self.earlier_entry(pc, st, self.store.cps[parent?].parent)
    }

    /// The newest state saved at `pc` on this path from checkpoint `k` up, in the same call
    /// chain, whose paths are still being explored.
    pub(super) fn earlier_entry(
        &self,
        pc: usize,
        st: &State,
        mut k: Option<usize>,
    ) -> Option<&State> {
        while let Some(i) = k {
            let c = &self.store.cps[i];
            let same_calls = c.state.frames.len() == st.frames.len()
                && c.state
                    .frames
                    .iter()
                    .zip(&st.frames)
                    .all(|(a, b)| a.callsite == b.callsite);
            if c.branches > 0 && same_calls && c.listed && c.pc == pc {
                return Some(&c.state);
            }
            k = c.parent;
        }
        None
    }
}
