//! The saved states (`explored_states`) and their bookkeeping as 6.18 keeps it: the lists
//! each prune point's arrivals are compared against, the states dropped from them for
//! missing too often (kept on a free list while paths through them are still explored),
//! the back-edges of loops being walked, and the statistics the log closes with.
//!
//! The lists are the kernel's hash buckets, one per instruction slot, indexed by the
//! instruction and the innermost frame's call site: a bucket may hold states of other
//! instructions, which count towards `max_states_per_insn` but are never compared.
//! `peak_states` is the most states held at once: in the lists, on the free list, and as
//! back-edges, counted when a state or a back-edge is added.

use std::collections::HashMap;

use super::precision::Segment;
use super::scc;
use crate::log::Log;
use crate::state::State;

/// A saved state (`struct bpf_verifier_state_list` entry) and the bookkeeping that says
/// whether every path through it has been explored.
pub struct Checkpoint {
    /// The state.
    pub state: State,
    /// The checkpoint this one's path came through last.
    pub parent: Option<usize>,
    /// Paths through this checkpoint still being explored.
    pub branches: u32,
    /// Later arrivals it pruned.
    pub hits: u32,
    /// Later arrivals it did not prune (counted when a new state was due).
    pub misses: u32,
    /// Dead registers already forgotten (`cleaned`).
    pub cleaned: bool,
    /// Saved on a speculative path: it cannot stand for an architectural one.
    pub speculative: bool,
    /// The stretch of path from the previous checkpoint, for precision backtracking.
    pub seg: Segment,
    /// The instruction it was saved at.
    pub pc: usize,
    /// Still in its list (not dropped for missing too often).
    pub listed: bool,
    /// Dropped, but kept until its paths are explored (`in_free_list`).
    in_free_list: bool,
    /// The walk of the loop component it lies in ([`Store::visits`]), fixed when it is
    /// saved: its frames' call sites never change.
    visit: Option<usize>,
}

impl Checkpoint {
    /// A new checkpoint of `state` at `pc`, one path (the current one) open.
    pub fn new(
        state: State,
        pc: usize,
        parent: Option<usize>,
        seg: Segment,
        speculative: bool,
    ) -> Checkpoint {
        Checkpoint {
            state,
            parent,
            branches: 1,
            hits: 0,
            misses: 0,
            cleaned: false,
            speculative,
            seg,
            pc,
            listed: true,
            in_free_list: false,
            visit: None,
        }
    }
}

/// The walk's counters, kept across the main program and the global functions verified
/// after it (the kernel keeps them in the environment).
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Instructions processed (`insn_processed`).
    pub processed: u64,
    /// Jumps, calls and exits processed (`jmps_processed`).
    pub jmps: u64,
    /// `jmps` when the last state was saved.
    pub prev_jmps: u64,
    /// `processed` when the last state was saved.
    pub prev_processed: u64,
    /// States saved (`total_states`).
    pub total: u64,
    /// Most states held at once (`peak_states`).
    pub peak: u64,
    /// Longest list scanned without a match (`max_states_per_insn`).
    pub max_per_insn: u64,
    /// States in the lists (`explored_states_size`).
    explored: u64,
    /// States dropped from the lists but not freed (`free_list_size`).
    free_list: u64,
    /// Back-edges held (`num_backedges`).
    backedges: u64,
}

impl Counters {
    fn update_peak(&mut self) {
        self.peak = self
            .peak
            .max(self.explored + self.free_list + self.backedges);
    }
}

/// A loop's component as reached through a chain of calls (`struct bpf_scc_callchain`):
/// the call sites of the frames outside it, and its number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Callchain {
    callsites: Vec<usize>,
    scc: u32,
}

impl Callchain {
    /// `(callsite,...,scc)` as the kernel prints it.
    fn text(&self) -> String {
        let mut s = String::from("(");
        for c in &self.callsites {
            s.push_str(&format!("{c},"));
        }
        s.push_str(&format!("{})", self.scc));
        s
    }
}

/// One walk of a component (`struct bpf_scc_visit`).
#[derive(Debug, Default)]
struct Visit {
    /// The checkpoint the walk entered the component at, while it is being walked.
    entry: Option<usize>,
    /// Back-edges found since.
    backedges: u64,
}

/// The saved states of one walk (the main program, or one global function).
pub struct Store {
    /// Every state saved, by index; dropped ones stay for precision backtracking.
    pub cps: Vec<Checkpoint>,
    buckets: Vec<Vec<usize>>,
    scc: Vec<u32>,
    /// Each component chain met, numbered in [`Store::visits`]: a checkpoint keeps its
    /// number, so the scan of a list does not build and hash a chain per state.
    chains: HashMap<Callchain, usize>,
    visits: Vec<(Callchain, Visit)>,
    /// The counters.
    pub n: Counters,
}

impl Store {
    /// An empty store for a program of `len` slots whose loops are `scc`
    /// ([`scc::compute`]), continuing the counters `n`.
    pub fn new(len: usize, scc: Vec<u32>, n: Counters) -> Store {
        Store {
            cps: Vec::new(),
            buckets: vec![Vec::new(); len.max(1)],
            scc,
            chains: HashMap::new(),
            visits: Vec::new(),
            n,
        }
    }

    /// The bucket of instruction `pc` for state `st` (`explored_state`): the main frame's
    /// call site is -1.
    pub fn bucket_of(&self, pc: usize, st: &State) -> usize {
        let cs = if st.frames.len() == 1 {
            -1i32
        } else {
            st.cur().callsite as i32
        };
        ((pc as i32 ^ cs) as u32 as usize) % self.buckets.len()
    }

    /// Takes bucket `b` out to scan it; [`Store::put_bucket`] puts it back.
    pub fn take_bucket(&mut self, b: usize) -> Vec<usize> {
        std::mem::take(&mut self.buckets[b])
    }

    /// Puts a scanned bucket back.
    pub fn put_bucket(&mut self, b: usize, list: Vec<usize>) {
        self.buckets[b] = list;
    }

    /// The component chain of `st` at `pc` (`compute_scc_callchain`): the outermost frame
    /// whose instruction (its call for the outer frames) lies in a loop.
    fn callchain(&self, st: &State, pc: usize) -> Option<Callchain> {
        let n = st.frames.len();
        let mut callsites = Vec::new();
        for i in 0..n {
            let insn = if i + 1 == n {
                pc
            } else {
                st.frames[i + 1].callsite
            };
            let scc = self.scc.get(insn).copied().unwrap_or(0);
            if scc != 0 {
                return Some(Callchain { callsites, scc });
            }
            callsites.push(insn);
        }
        None
    }

    /// Saves `cp` in bucket `b` (newest last): counted, and entering its loop's
    /// component when no walk of it is open (`maybe_enter_scc`).
    pub fn add(&mut self, b: usize, mut cp: Checkpoint, log: &mut Log) -> usize {
        let k = self.cps.len();
        cp.visit = self.callchain(&cp.state, cp.pc).map(|chain| {
            let next = self.visits.len();
            let i = *self.chains.entry(chain.clone()).or_insert(next);
            if i == next {
                self.visits.push((chain, Visit::default()));
            }
            i
        });
        let visit = cp.visit;
        self.cps.push(cp);
        self.buckets[b].push(k);
        self.n.total += 1;
        self.n.explored += 1;
        self.n.update_peak();
        if let Some(i) = visit {
            let (chain, v) = &mut self.visits[i];
            if v.entry.is_none() {
                v.entry = Some(k);
                if log.verbose() {
                    log.line(&format!("SCC enter {}", chain.text()));
                }
            }
        }
        k
    }

    /// Checkpoint `k` misses too often: out of its list, onto the free list until its
    /// paths are explored.
    pub fn evict(&mut self, k: usize) {
        let c = &mut self.cps[k];
        c.listed = false;
        c.in_free_list = true;
        self.n.explored -= 1;
        self.n.free_list += 1;
        self.maybe_free(k);
    }

    /// Whether checkpoint `k` lies in a loop whose walk has found back-edges not yet
    /// propagated (`incomplete_read_marks`): its precision is not final.
    pub fn incomplete(&self, k: usize) -> bool {
        self.cps[k]
            .visit
            .is_some_and(|i| self.visits[i].1.backedges > 0)
    }

    /// A state arriving at `pc` was pruned by a checkpoint of a loop still being walked:
    /// it is kept as a back-edge until the walk of the loop ends (`add_scc_backedge`).
    pub fn add_backedge(&mut self, st: &State, pc: usize, log: &mut Log) {
        let Some(chain) = self.callchain(st, pc) else {
            return;
        };
        let Some(&i) = self.chains.get(&chain) else {
            return;
        };
        let v = &mut self.visits[i].1;
        if log.verbose() {
            log.line(&format!("SCC backedge {}", chain.text()));
        }
        v.backedges += 1;
        self.n.backedges += 1;
        self.n.update_peak();
    }

    /// A path through checkpoint `parent` ended: each checkpoint up the chain whose every
    /// path is now explored leaves its loop's walk if it entered it (`maybe_exit_scc`) and
    /// is freed if it was dropped (`update_branch_counts`).
    pub fn path_done(&mut self, mut parent: Option<usize>, log: &mut Log) {
        while let Some(p) = parent {
            let c = &mut self.cps[p];
            c.branches -= 1;
            if c.branches > 0 {
                break;
            }
            parent = c.parent;
            self.maybe_exit(p, log);
            self.maybe_free(p);
        }
    }

    fn maybe_exit(&mut self, k: usize, log: &mut Log) {
        let Some(i) = self.cps[k].visit else {
            return;
        };
        let (chain, v) = &mut self.visits[i];
        if v.entry != Some(k) {
            return;
        }
        if log.verbose() {
            log.line(&format!("SCC exit {}", chain.text()));
        }
        v.entry = None;
        self.n.backedges -= v.backedges;
        v.backedges = 0;
    }

    fn maybe_free(&mut self, k: usize) {
        let c = &self.cps[k];
        if !c.in_free_list || c.branches != 0 || self.incomplete(k) {
            return;
        }
        self.cps[k].in_free_list = false;
        self.n.free_list -= 1;
    }

    /// The loop numbers, per instruction.
    pub fn scc(&self) -> &[u32] {
        &self.scc
    }
}

/// The loops of `insns` as [`scc::compute`] numbers them, with helper calls that loop
/// through a callback.
pub fn loops(insns: &[bpfbox_vm::isa::RawInsn]) -> Vec<u32> {
    scc::compute(insns, |pc| {
        crate::check::callback::calls_callback(&insns[pc])
    })
}
