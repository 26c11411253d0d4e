//! Path exploration as the kernel does it: depth first, one path at a time, the other side of
//! each undecided branch pushed on a stack of pending states; states saved at prune points
//! and compared against later arrivals; the same limits with the same messages.

use bpfbox_vm::isa::{Insn, IsaErrorKind};
use bpfbox_vm::Program;

use crate::cfg::Cfg;
use crate::check::may_goto::{self, is_may_goto};
use crate::check::{self, Flow};
use crate::error::{Reject, Result};
use crate::global;
use crate::log::Log;
use crate::options::{
    Options, Stats, BPF_F_ANY_ALIGNMENT, BPF_F_STRICT_ALIGNMENT, BPF_F_TEST_STATE_FREQ,
};
use crate::prune;
use crate::prune::precision::{self, Chain, Entry, Request, Segment};
use crate::prune::store::{self, Checkpoint, Counters, Store};
use crate::state::State;

mod visit;

/// Most instructions processed over all paths (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const INSN_LIMIT: u64 = 1_000_000;
/// Most pending branches (`BPF_COMPLEXITY_LIMIT_JMP_SEQ`).
pub const JMP_SEQ_LIMIT: usize = 8192;

/// What the checks of one instruction may read and update beside the state.
pub struct Env<'a> {
    /// The program.
    pub prog: &'a Program,
    /// The options.
    pub opts: &'a Options,
    /// The program-level facts.
    pub cfg: &'a Cfg,
    /// Last id handed out (`id_gen`).
    pub id_gen: u32,
    /// Whether accesses must be aligned (`BPF_F_STRICT_ALIGNMENT` without `ANY`).
    pub strict_alignment: bool,
    /// Deepest stack use per subprogram, in bytes.
    pub stack_depth: Vec<u32>,
    /// The log.
    pub log: Log,
    /// What the walk learns for the engines.
    pub observed: crate::facts::Observed,
    /// Global functions called so far, each to be verified once after the main program.
    pub globals_called: Vec<usize>,
    /// Spectre sanitisation and speculative paths of unprivileged loads.
    pub spec: check::sanitize::Spec,
    /// `bpf_fastcall` spill/fill patterns, whose stack the kernel gives back.
    pub fastcall: crate::fastcall::Fastcall,
    /// Registers live before each instruction ([`prune::liveness::live_regs_before`]).
    pub live_regs: Vec<u16>,
    /// The pointer type each load or store first went through (`insn_aux_data.ptr_type`).
    pub ptr_types: Vec<Option<crate::state::RegType>>,
}

impl Env<'_> {
    /// A fresh id.
    pub fn new_id(&mut self) -> u32 {
        self.id_gen += 1;
        self.id_gen
    }

    /// Whether the load is privileged (CAP_PERFMON: the kernel's `allow_ptr_leaks`,
    /// `allow_uninit_stack`, `bypass_spec_v1` and `bypass_spec_v4`).
    pub fn privileged(&self) -> bool {
        self.opts.privileged
    }

    /// Whether the load has CAP_BPF (the kernel's `bpf_capable`).
    pub fn bpf_capable(&self) -> bool {
        self.opts.bpf_capable
    }
}

/// The saved states as precision backtracking walks them.
struct Saved<'a>(&'a mut [Checkpoint]);

impl Chain for Saved<'_> {
    fn segment(&self, k: usize) -> (&Segment, Option<usize>) {
        (&self.0[k].seg, self.0[k].parent)
    }

    fn state_mut(&mut self, k: usize) -> &mut State {
        &mut self.0[k].state
    }
}

struct Pending {
    state: State,
    pc: usize,
    prev: usize,
    parent: Option<usize>,
    /// Where the log resumes at level 1.
    log_pos: usize,
    seg: Segment,
    /// A path only a mispredicting CPU takes (unprivileged loads).
    speculative: bool,
}

/// Walks every path of the program; `Ok` when every path reaches a valid exit.
pub fn run(
    prog: &Program,
    opts: &Options,
    cfg: &Cfg,
    stats: &mut Stats,
    log: &mut Log,
) -> Result<crate::facts::Facts> {
    let flags = prog.prog_flags | opts.flags;
    let mut env = Env {
        prog,
        opts,
        cfg,
        id_gen: 0,
        strict_alignment: flags & BPF_F_STRICT_ALIGNMENT != 0 && flags & BPF_F_ANY_ALIGNMENT == 0,
        stack_depth: vec![0; cfg.subprogs.len()],
        log: std::mem::take(log),
        observed: crate::facts::Observed::new(prog.insns.len()),
        globals_called: Vec::new(),
        spec: Default::default(),
        fastcall: crate::fastcall::Fastcall::mark(
            prog,
            cfg,
            (opts.privileged, opts.bpf_capable),
            opts.flags,
        ),
        live_regs: prune::liveness::live_regs_before(&prog.insns),
        ptr_types: vec![None; prog.insns.len()],
    };
    if let Some(m) = global::main_message(&env) {
        env.log.line(&m);
    }
    let r = walk_all(&mut env, stats)
        .and_then(|()| {
            env.fastcall.shrink(&mut env.stack_depth);
            check::subprog::check_stack_depth(&env)
        })
        .and_then(|()| {
            let may_goto = prog.insns.iter().any(is_may_goto);
            env.spec.after_walk(env.privileged(), may_goto)
        });
    stats.stack_depth = env.stack_depth.clone();
    if r.is_ok() {
        // The rewrite of `may_goto` keeps its loop state in 16 more bytes of the frame: the
        // JITs of x86-64 and arm64 bound the loop by time, a count and a timestamp.
        for (k, d) in stats.stack_depth.iter_mut().enumerate() {
            let end = cfg.subprog_end(k, prog.insns.len());
            if prog.insns[cfg.subprogs[k]..end].iter().any(is_may_goto) {
                *d += 16;
            }
        }
    }
    *log = env.log;
    let insns = &prog.insns;
    // A slot starts an instruction unless it is the second half of an `ld_imm64`.
    let starts = |i: usize| i == 0 || insns[i - 1].code != 0x18;
    r.map(|()| env.observed.facts(starts))
}

/// The main program, then each global function it calls, in subprogram order, until no
/// new one is called (`do_check_main`, `do_check_subprogs`).
fn walk_all(env: &mut Env<'_>, stats: &mut Stats) -> Result<()> {
    let insns = env.prog.insns.as_slice();
    let state_freq = (env.prog.prog_flags | env.opts.flags) & BPF_F_TEST_STATE_FREQ != 0;
    check::tail_call::check_subprogs(env)?;
    let loops = store::loops(insns);
    let mut counters = Counters::default();
    let mut main = Walker::new(insns, loops.clone());
    main.state_freq = state_freq;
    main.walk(env, stats, &mut counters, State::entry(), 0)?;
    let mut verified = vec![false; env.cfg.subprogs.len()];
    #[allow(clippy::needless_range_loop)] // `verified` is written inside the loop body
    loop {
        let mut new = 0;
        for k in 1..verified.len() {
            if verified[k] || !env.globals_called.contains(&k) {
                continue;
            }
            let start = env.cfg.subprogs[k];
            let st = global::entry_state(env, start, k)?;
            let mut w = Walker::new(insns, loops.clone());
            w.state_freq = state_freq;
            w.walk(env, stats, &mut counters, st, start)?;
            if env.opts.log_level >= 1 {
                let name = global::name(env, k);
                env.log.line(&format!(
                    "Func#{k} ('{name}') is safe for any args that match its prototype"
                ));
            }
            verified[k] = true;
            new += 1;
        }
        if new == 0 {
            return Ok(());
        }
    }
}

struct Walker {
    store: Store,
    pending: Vec<Pending>,
    /// Registers live before each instruction.
    live_regs: Vec<u16>,
    /// `BPF_F_TEST_STATE_FREQ`: a checkpoint at every prune point.
    state_freq: bool,
    /// Stack-slot liveness learned so far.
    stack_live: prune::liveness::StackLive,
    /// The walking path's stretch since its last checkpoint.
    seg: Segment,
    /// The instruction executed before the current one (`prev_insn_idx`).
    prev: usize,
}

impl Walker {
    fn new(insns: &[bpfbox_vm::isa::RawInsn], loops: Vec<u32>) -> Walker {
        Walker {
            store: Store::new(insns.len(), loops, Counters::default()),
            pending: Vec::new(),
            live_regs: Vec::new(),
            seg: Segment::default(),
            stack_live: prune::liveness::StackLive::new(insns),
            state_freq: false,
            prev: 0,
        }
    }

    /// Walks from `st` at `pc`, continuing `counters`.
    fn walk(
        mut self,
        env: &mut Env<'_>,
        stats: &mut Stats,
        counters: &mut Counters,
        st: State,
        pc: usize,
    ) -> Result<()> {
        self.live_regs = env.live_regs.clone();
        self.store.n = std::mem::take(counters);
        let r = self.walk_paths(env, st, pc);
        *counters = std::mem::take(&mut self.store.n);
        stats.processed_insns = counters.processed;
        stats.total_states = counters.total;
        stats.peak_states = counters.peak;
        stats.max_states_per_insn = counters.max_per_insn;
        r
    }

    /// Records what the step of `insn` adds to the path's history and makes precise what it
    /// relied on (`opened`: this visit already has a history record).
    #[allow(clippy::too_many_arguments)]
    fn after_step(
        &mut self,
        env: &mut Env<'_>,
        pre: prune::sites::Pre,
        pc: usize,
        st: &State,
        insn: &Insn,
        branched: bool,
        opened: bool,
        parent: Option<usize>,
        frames: usize,
    ) {
        let (entry, regs, slot) = prune::sites::after(pre, pc, self.prev, st, insn, branched);
        if let Some(e) = entry {
            self.seg.push(e, opened);
        }
        if let Some((f, spi)) = slot.filter(|&(f, spi)| f < frames && spi < 64) {
            env.log.detach();
            let mut req = Request::reg(frames, 0);
            *req.regs.last_mut().expect("a state has a frame") = 0;
            req.slots[f] = 1 << spi;
            self.seg.last = pc;
            precision::mark_chain(
                &env.prog.insns,
                &mut Saved(&mut self.store.cps),
                &self.seg,
                parent,
                &req,
            );
        }
        if regs != 0 {
            env.log.detach();
            // The registers are the frame the instruction ran in (a callback's `exit` has
            // left it).
            let mut req = Request::reg(frames, 0);
            *req.regs.last_mut().expect("a state has a frame") = regs;
            self.seg.last = pc;
            precision::mark_chain(
                &env.prog.insns,
                &mut Saved(&mut self.store.cps),
                &self.seg,
                parent,
                &req,
            );
        }
    }

    /// `push_stack`: `state` is explored later from `pc`, reached from `from`.
    fn push_pending(
        &mut self,
        env: &Env<'_>,
        state: State,
        pc: usize,
        from: usize,
        parent: Option<usize>,
        speculative: bool,
    ) -> Result<()> {
        if self.pending.len() >= JMP_SEQ_LIMIT {
            return Err(Reject::at(
                from,
                format!(
                    "The sequence of {} jumps is too complex.",
                    self.pending.len() + 1
                ),
            ));
        }
        if let Some(p) = parent {
            self.store.cps[p].branches += 1;
        }
        self.pending.push(Pending {
            state,
            pc,
            prev: from,
            parent,
            log_pos: env.log.pos(),
            seg: self.seg.clone(),
            speculative,
        });
        Ok(())
    }

    fn walk_paths(&mut self, env: &mut Env<'_>, mut st: State, mut pc: usize) -> Result<()> {
        let mut parent: Option<usize> = None;
        env.spec.speculative = false;
        loop {
            let mut ended = false;
            // Counted before the prune check, as the kernel counts it.
            self.store.n.processed += 1;
            if self.store.n.processed > INSN_LIMIT {
                return Err(Reject::at(
                    pc,
                    format!(
                        "BPF program is too large. Processed {} insn",
                        self.store.n.processed
                    ),
                ));
            }
            if env.cfg.prune_point.get(pc).copied().unwrap_or(false)
                && self.visited(env, pc, &mut st, &mut parent)?
            {
                env.log.safe(pc);
                ended = true;
            }
            // A speculative path stops where another one failed (`nospec`).
            if !ended && env.spec.speculative && env.spec.stops_at(pc) {
                ended = true;
            }
            let decoded = Insn::decode(&env.prog.insns, pc).map_err(|e| {
                let msg = match e.kind {
                    IsaErrorKind::InvalidReg(r) => format!("R{r} is invalid"),
                    k => k.to_string(),
                };
                Reject::at(pc, msg)
            });
            if let Err(e) = &decoded {
                if !ended && env.spec.speculative && recoverable(e) {
                    env.spec.nospec.push(pc);
                    ended = true;
                }
            }
            if !ended {
                let insn = decoded?;
                env.observed.visit(pc);
                let p = env.prog;
                env.log
                    .insn(&st, pc, &insn, p.insns[pc], &p.line_info, &env.opts.maps);
                if matches!(
                    insn,
                    Insn::Jmp { .. }
                        | Insn::Ja { .. }
                        | Insn::Call(_)
                        | Insn::Exit { .. }
                        | Insn::MayGoto { .. }
                ) {
                    self.store.n.jmps += 1;
                }
                let is_jmp = matches!(insn, Insn::Jmp { .. });
                let track = env.bpf_capable();
                let opened = env.cfg.jmp_point.get(pc).copied().unwrap_or(false);
                if opened {
                    self.seg.push(Entry::new(pc, self.prev), false);
                }
                let pre =
                    prune::sites::before(env.prog, &env.opts.maps, &st, &insn, pc, &env.live_regs);
                let single = st.frames.len() == 1;
                let frames = st.frames.len();
                let flow = match insn {
                    Insn::MayGoto { off } => {
                        let prev = self.loop_entry(pc, &st, parent);
                        may_goto::branch(&st, pc, off, prev)
                    }
                    _ => match check::step(env, &mut st, pc, &insn) {
                        Ok(f) => f,
                        // A speculative path that would fault gets a barrier instead.
                        Err(e) if env.spec.speculative && recoverable(&e) => {
                            // The kernel has logged the error before it recovers.
                            if env.log.on() {
                                env.log.line(&e.message);
                            }
                            env.spec.nospec.push(pc);
                            env.spec.push.clear();
                            Flow::Exit
                        }
                        Err(e) => return Err(e),
                    },
                };
                for (at, spec) in std::mem::take(&mut env.spec.push) {
                    self.push_pending(env, spec, at, pc, parent, true)?;
                }
                if single {
                    self.stack_live.record(pc, pre.reads, pre.writes);
                }
                for &(frame, off) in &pre.stack_access {
                    if let Some(f) = st.frames.get(frame) {
                        env.fastcall.access(f.subprog, pc, off);
                    }
                }
                if track {
                    let branched = matches!(flow, Flow::Branch { .. });
                    self.after_step(env, pre, pc, &st, &insn, branched, opened, parent, frames);
                }
                self.prev = pc;
                match flow {
                    Flow::Next(n) => {
                        if is_jmp {
                            env.log.jump(&st, pc, &env.opts.maps);
                        }
                        pc = n;
                    }
                    Flow::Branch {
                        taken,
                        target,
                        fall,
                    } => {
                        self.push_pending(env, *taken, target, pc, parent, env.spec.speculative)?;
                        // `may_goto` prints no state after it.
                        if is_jmp {
                            env.log.jump(&st, pc, &env.opts.maps);
                        }
                        pc = fall;
                    }
                    Flow::Callback { entry, start, next } => {
                        self.push_pending(env, *entry, start, pc, parent, env.spec.speculative)?;
                        pc = next;
                    }
                    Flow::CallbackReturn(to) => {
                        // `find_prev_entry`: the state saved when this path last ran the call.
                        if let Some(prev) = self.earlier_entry(to, &st, parent) {
                            check::callback::widen(env.id_gen, prev, &mut st);
                        }
                        pc = to;
                    }
                    Flow::Exit => ended = true,
                }
                // A speculative path ends after a store with a barrier (Spectre v4).
                if !ended && env.spec.speculative && env.spec.stops_after(self.prev) {
                    ended = true;
                }
            }
            if ended {
                self.store.path_done(parent, &mut env.log);
                env.log.path_end();
                self.stack_live.update();
                let Some(p) = self.pending.pop() else {
                    return Ok(());
                };
                env.log.resume(p.log_pos, p.prev, p.speculative);
                st = p.state;
                pc = p.pc;
                parent = p.parent;
                self.prev = p.prev;
                self.seg = p.seg;
                env.spec.speculative = p.speculative;
            }
        }
    }
}

/// Whether an error on a speculative path ends only that path (the kernel's
/// `error_recoverable_with_nospec`: `EPERM`, `EACCES`, `EINVAL`): every rejection of an
/// instruction, but not a limit, and not a feature this verifier does not handle.
fn recoverable(e: &Reject) -> bool {
    let limit = e.message.starts_with("BPF program is too large.")
        || e.message.starts_with("The sequence of ");
    !e.unsupported && !limit
}
