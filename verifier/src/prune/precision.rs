//! Precision backtracking (`mark_chain_precision`): when a check relies on a scalar's exact
//! range, the instructions of the current path are walked backwards through the recorded
//! jump history to find every register and spilled stack slot that value came from, and
//! those are marked precise in the saved states (checkpoints) along the path. Pruning then
//! compares precise scalars by range and ignores the others.

use bpfbox_vm::isa::{AluOp, AtomicOp, CallTarget, Insn, RawInsn, Src};

use crate::check::callback::calls_callback;
use crate::state::{Byte, Reg, RegType, State};

/// Most frames a state has (`MAX_CALL_FRAMES`).
const MAX_FRAMES: usize = 8;
/// r1..r5.
const ARGS: u16 = 0x3e;

/// A register or spilled slot tied to others by a shared scalar id at a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linked {
    /// Register `reg` of frame `frame`.
    Reg {
        /// Frame index.
        frame: usize,
        /// Register number.
        reg: u8,
    },
    /// Stack slot `spi` of frame `frame`.
    Slot {
        /// Frame index.
        frame: usize,
        /// Slot index (`fp-8*(spi+1)`).
        spi: usize,
    },
}

/// One record of the path's instruction history (`struct bpf_insn_hist_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The instruction.
    pub idx: usize,
    /// The instruction executed before it on this path.
    pub prev: usize,
    /// A spill to or fill from this (frame, slot) (`INSN_F_STACK_ACCESS`).
    pub stack: Option<(usize, usize)>,
    /// A jump's source operand was a stack pointer (`INSN_F_SRC_REG_STACK`).
    pub src_stack: bool,
    /// A jump's destination operand was a stack pointer (`INSN_F_DST_REG_STACK`).
    pub dst_stack: bool,
    /// Scalars sharing an id with a branch's operands.
    pub linked: Vec<Linked>,
}

impl Entry {
    /// A plain record of arriving at `idx` from `prev`.
    pub fn new(idx: usize, prev: usize) -> Entry {
        Entry {
            idx,
            prev,
            stack: None,
            src_stack: false,
            dst_stack: false,
            linked: Vec::new(),
        }
    }
}

/// The part of a path a state covers: from `first` (where the previous checkpoint was
/// saved) to `last`, with the history recorded in between.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    /// `first_insn_idx`.
    pub first: usize,
    /// `last_insn_idx`: the instruction executed last (the current one for the walking
    /// state).
    pub last: usize,
    /// The recorded history (`insn_hist_start..insn_hist_end`).
    pub hist: Vec<Entry>,
}

impl Segment {
    /// Records `e`, merging it into the record of the same visit of the same instruction
    /// (`push_insn_history` with `cur_hist_ent`).
    pub fn push(&mut self, e: Entry, same_visit: bool) {
        if same_visit {
            if let Some(top) = self.hist.last_mut().filter(|t| t.idx == e.idx) {
                top.stack = top.stack.or(e.stack);
                top.src_stack |= e.src_stack;
                top.dst_stack |= e.dst_stack;
                if !e.linked.is_empty() {
                    top.linked = e.linked;
                }
                return;
            }
        }
        self.hist.push(e);
    }
}

/// The saved states of the walk, as backtracking walks them.
pub trait Chain {
    /// The segment and parent of saved state `k`.
    fn segment(&self, k: usize) -> (&Segment, Option<usize>);
    /// Saved state `k`, to mark.
    fn state_mut(&mut self, k: usize) -> &mut State;
}

/// Registers and slots still looking for their origin (`struct backtrack_state`).
#[derive(Clone, Debug, Default)]
struct Bt {
    frame: usize,
    regs: [u16; MAX_FRAMES],
    slots: [u64; MAX_FRAMES],
}

impl Bt {
    fn empty(&self) -> bool {
        self.regs.iter().all(|&m| m == 0) && self.slots.iter().all(|&m| m == 0)
    }
    fn has_reg(&self, r: u8) -> bool {
        self.regs[self.frame] & (1 << r) != 0
    }
    fn set_reg(&mut self, r: u8) {
        self.regs[self.frame] |= 1 << r;
    }
    fn clear_reg(&mut self, r: u8) {
        self.regs[self.frame] &= !(1 << r);
    }
    fn sync_linked(&mut self, e: Option<&Entry>) {
        let Some(e) = e else { return };
        let hit = e.linked.iter().any(|l| match *l {
            Linked::Reg { frame, reg } => self.regs[frame] & (1 << reg) != 0,
            Linked::Slot { frame, spi } => self.slots[frame] & (1 << spi) != 0,
        });
        if !hit {
            return;
        }
        for l in &e.linked {
            match *l {
                Linked::Reg { frame, reg } => self.regs[frame] |= 1 << reg,
                Linked::Slot { frame, spi } => self.slots[frame] |= 1 << spi,
            }
        }
    }
}

/// Backtracking met something it does not follow (`-ENOTSUPP`): every scalar is made
/// precise instead.
struct NotFollowed;

/// Whether an `exit` followed by `s` on a path was a callback's return to its helper call
/// (not a subprogram's return to the instruction after its call).
fn returned_to_callback_call(insns: &[RawInsn], s: usize) -> bool {
    let after_static_call = s > 0 && insns[s - 1].code == 0x85 && insns[s - 1].src == 1;
    s < insns.len() && calls_callback(&insns[s]) && !after_static_call
}

/// `backtrack_insn`: moves the marks from what instruction `idx` wrote to what it read.
/// `subseq` is the instruction the path ran after `idx`.
fn backtrack_insn(
    insns: &[RawInsn],
    idx: usize,
    subseq: Option<usize>,
    hist: Option<&Entry>,
    bt: &mut Bt,
) -> Result<(), NotFollowed> {
    let Ok(insn) = Insn::decode(insns, idx) else {
        // The second slot of an `ld_imm64`, reached from the instruction after it: the
        // kernel reads it as a load into its destination field.
        let second = idx > 0 && insns[idx - 1].code == 0x18;
        if second && insns[idx].dst < 11 {
            bt.clear_reg(insns[idx].dst);
            return Ok(());
        }
        return Err(NotFollowed);
    };
    bt.sync_linked(hist);
    match insn {
        // The path entered a callback from its helper call: back to the caller's frame,
        // where r1-r5 were the helper's, not the callback's.
        Insn::Call(CallTarget::Helper(_))
            if calls_callback(&insns[idx]) && subseq.is_some_and(|s| s != idx + 1) =>
        {
            if bt.frame == 0 || bt.regs[bt.frame] & !ARGS != 0 || bt.slots[bt.frame] != 0 {
                return Err(NotFollowed);
            }
            bt.regs[bt.frame] = 0;
            bt.frame -= 1;
        }
        // A callback returned to its helper call: into the callback's frame. Its r0 is not
        // the caller's, nor are r1-r5.
        Insn::Exit { .. } if subseq.is_some_and(|s| returned_to_callback_call(insns, s)) => {
            bt.regs[bt.frame] &= !(ARGS | 1);
            if bt.frame + 1 >= MAX_FRAMES {
                return Err(NotFollowed);
            }
            bt.frame += 1;
        }
        Insn::Alu { op, dst, src, .. } => {
            if !bt.has_reg(dst) {
                return Ok(());
            }
            if matches!(op, AluOp::Mov | AluOp::MovSx(_)) {
                bt.clear_reg(dst);
                if let Src::Reg(s) = src {
                    if s != 10 {
                        bt.set_reg(s);
                    }
                }
            } else if let Src::Reg(s) = src {
                if s != 10 {
                    bt.set_reg(s);
                }
            }
        }
        Insn::Neg { .. } | Insn::End { .. } => {}
        Insn::AddrSpaceCast { .. } => return Err(NotFollowed),
        Insn::Ldx { dst, .. } | Insn::LdxSx { dst, .. } => {
            load(bt, dst, hist);
        }
        Insn::Atomic { op, dst, src, .. } => {
            if op.fetches() || op == AtomicOp::LoadAcquire {
                let r = match op {
                    AtomicOp::Cmpxchg => 0,
                    AtomicOp::LoadAcquire => dst,
                    _ => src,
                };
                load(bt, r, hist);
            } else {
                store(bt, dst, Some(src), hist)?;
            }
        }
        Insn::St { dst, .. } => store(bt, dst, None, hist)?,
        Insn::Stx { dst, src, .. } => store(bt, dst, Some(src), hist)?,
        Insn::Call(CallTarget::Helper(_)) => {
            bt.clear_reg(0);
            if bt.regs[bt.frame] & ARGS != 0 {
                // The arguments were read by the call, not written by it.
                return Err(NotFollowed);
            }
        }
        // Calls into and returns from BPF functions and kernel functions: not followed.
        Insn::Call(_) | Insn::Callx { .. } | Insn::Exit { .. } => return Err(NotFollowed),
        Insn::Ja { .. } | Insn::MayGoto { .. } => {}
        Insn::Jmp { dst, src, .. } => {
            if let Src::Reg(s) = src {
                if bt.has_reg(dst) || bt.has_reg(s) {
                    if !hist.is_some_and(|h| h.src_stack) {
                        bt.set_reg(s);
                    }
                    if !hist.is_some_and(|h| h.dst_stack) {
                        bt.set_reg(dst);
                    }
                }
            }
        }
        Insn::LdImm64 { dst, .. } => bt.clear_reg(dst),
        Insn::LdAbs { .. } | Insn::LdInd { .. } => {
            if bt.has_reg(0) {
                return Err(NotFollowed);
            }
        }
    }
    Ok(())
}

fn load(bt: &mut Bt, r: u8, hist: Option<&Entry>) {
    if !bt.has_reg(r) {
        return;
    }
    bt.clear_reg(r);
    if let Some((frame, spi)) = hist.and_then(|h| h.stack) {
        bt.slots[frame] |= 1 << spi;
    }
}

fn store(bt: &mut Bt, dst: u8, src: Option<u8>, hist: Option<&Entry>) -> Result<(), NotFollowed> {
    if bt.has_reg(dst) {
        // A pointer register marked precise: not followed.
        return Err(NotFollowed);
    }
    let Some((frame, spi)) = hist.and_then(|h| h.stack) else {
        return Ok(());
    };
    if bt.slots[frame] & (1 << spi) == 0 {
        return Ok(());
    }
    bt.slots[frame] &= !(1 << spi);
    if let Some(s) = src {
        bt.set_reg(s);
    }
    Ok(())
}

/// `get_prev_insn_idx`: the instruction before `idx` in a segment, popping the history
/// record that says where `idx` was reached from; `None` at the segment's start.
fn prev_insn(seg: &Segment, idx: usize, end: &mut usize) -> Option<usize> {
    let cnt = *end;
    if idx == seg.first && (cnt == 0 || (cnt == 1 && seg.hist[0].idx == idx)) {
        return None;
    }
    if cnt > 0 && seg.hist[cnt - 1].idx == idx {
        *end -= 1;
        Some(seg.hist[cnt - 1].prev)
    } else {
        idx.checked_sub(1)
    }
}

/// A spilled scalar (`is_spilled_scalar_reg`).
fn spilled_scalar(st: &State, frame: usize, spi: usize) -> Option<&Reg> {
    let slot = st.frames.get(frame)?.stack.slots.get(spi)?;
    (slot.bytes[7] == Byte::Spill && slot.spilled.is_scalar()).then_some(&slot.spilled)
}

/// Marks every scalar of every saved state from `parent` up precise
/// (`mark_all_scalars_precise`).
fn mark_all_precise(chain: &mut dyn Chain, mut parent: Option<usize>) {
    while let Some(k) = parent {
        for fr in &mut chain.state_mut(k).frames {
            for r in fr.regs.iter_mut().take(10) {
                if r.ty == RegType::Scalar {
                    r.precise = true;
                }
            }
            for s in &mut fr.stack.slots {
                if s.bytes[7] == Byte::Spill && s.spilled.is_scalar() {
                    s.spilled.precise = true;
                }
            }
        }
        parent = chain.segment(k).1;
    }
}

/// What to find the origin of: registers and stack slots of the current state's frames.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Per frame, a mask of registers.
    pub regs: Vec<u16>,
    /// Per frame, a mask of stack slots.
    pub slots: Vec<u64>,
}

impl Request {
    /// Register `r` of the innermost of `frames` frames.
    pub fn reg(frames: usize, r: u8) -> Request {
        let mut q = Request {
            regs: vec![0; frames],
            slots: vec![0; frames],
        };
        q.regs[frames - 1] = 1 << r;
        q
    }

    /// Whether nothing is requested.
    pub fn is_empty(&self) -> bool {
        self.regs.iter().all(|&m| m == 0) && self.slots.iter().all(|&m| m == 0)
    }
}

/// `__mark_chain_precision`: walks back from the walking state's segment `cur` (whose
/// last instruction is not itself backtracked) through its saved ancestors from `parent`,
/// marking what `req` asks for precise where it was last written. Returns how many marks
/// were set.
pub fn mark_chain(
    insns: &[RawInsn],
    chain: &mut dyn Chain,
    cur: &Segment,
    parent: Option<usize>,
    req: &Request,
) -> u64 {
    let frames = req.regs.len().min(MAX_FRAMES);
    if frames == 0 || req.is_empty() {
        return 0;
    }
    let mut bt = Bt {
        frame: frames - 1,
        ..Bt::default()
    };
    for f in 0..frames {
        bt.regs[f] = req.regs[f] & 0x3ff;
        bt.slots[f] = req.slots[f];
    }
    let mut marked = 0;
    let mut seg: Segment = cur.clone();
    let mut up = parent;
    let mut skip_first = true;
    let mut subseq: Option<usize> = None;
    let mut i = seg.last;
    loop {
        let mut end = seg.hist.len();
        loop {
            if skip_first {
                skip_first = false;
            } else {
                let top = end
                    .checked_sub(1)
                    .map(|t| &seg.hist[t])
                    .filter(|e| e.idx == i);
                if backtrack_insn(insns, i, subseq, top, &mut bt).is_err() {
                    mark_all_precise(chain, parent);
                    return marked;
                }
            }
            if bt.empty() {
                return marked;
            }
            subseq = Some(i);
            match prev_insn(&seg, i, &mut end) {
                // The second slot of an `ld_imm64` belongs to the first.
                Some(p) if p > 0 && p < insns.len() && insns[p - 1].code == 0x18 => i = p - 1,
                Some(p) if p < insns.len() => i = p,
                Some(_) => {
                    mark_all_precise(chain, parent);
                    return marked;
                }
                None => break,
            }
        }
        let Some(k) = up else { break };
        let st = chain.state_mut(k);
        for f in (0..=bt.frame).rev() {
            let Some(fr) = st.frames.get_mut(f) else {
                bt.regs[f] = 0;
                bt.slots[f] = 0;
                continue;
            };
            for r in 0..10u8 {
                if bt.regs[f] & (1 << r) == 0 {
                    continue;
                }
                let reg = &mut fr.regs[r as usize];
                if reg.ty != RegType::Scalar || reg.precise {
                    bt.regs[f] &= !(1 << r);
                } else {
                    reg.precise = true;
                    marked += 1;
                }
            }
            for spi in 0..64usize {
                if bt.slots[f] & (1 << spi) == 0 {
                    continue;
                }
                if spi >= fr.stack.slots.len() {
                    mark_all_precise(chain, parent);
                    return marked;
                }
                let slot = &mut fr.stack.slots[spi];
                if !(slot.bytes[7] == Byte::Spill && slot.spilled.is_scalar())
                    || slot.spilled.precise
                {
                    bt.slots[f] &= !(1 << spi);
                } else {
                    slot.spilled.precise = true;
                    marked += 1;
                }
            }
        }
        if bt.empty() {
            return marked;
        }
        let (s, p) = chain.segment(k);
        subseq = Some(seg.first);
        seg = s.clone();
        up = p;
        i = seg.last;
    }
    if !bt.empty() {
        mark_all_precise(chain, parent);
    }
    marked
}

/// `propagate_precision`: after the walking state was pruned against `old`, what is
/// precise in `old` must be precise where the walking state's values came from.
pub fn request_from(old: &State) -> Request {
    let n = old.frames.len();
    let mut q = Request {
        regs: vec![0; n],
        slots: vec![0; n],
    };
    for (f, fr) in old.frames.iter().enumerate() {
        for (r, reg) in fr.regs.iter().enumerate().take(10) {
            if reg.ty == RegType::Scalar && reg.precise {
                q.regs[f] |= 1 << r;
            }
        }
        for spi in 0..fr.stack.slots.len().min(64) {
            if spilled_scalar(old, f, spi).is_some_and(|r| r.precise) {
                q.slots[f] |= 1 << spi;
            }
        }
    }
    q
}

/// `mark_all_scalars_imprecise`: a new checkpoint starts with no precision of its own.
pub fn forget_precision(st: &mut State) {
    for fr in &mut st.frames {
        for r in fr.regs.iter_mut() {
            r.precise = false;
        }
        for s in &mut fr.stack.slots {
            s.spilled.precise = false;
        }
    }
}

/// `collect_linked_regs`: the live registers and spilled slots sharing scalar id `id` at
/// `pc` (see [`crate::state::link::collect`]).
pub fn linked(st: &State, id: u32, live: &[u16], pc: usize, out: &mut Vec<Linked>) {
    crate::state::link::collect(st, id, live, pc, out);
}
