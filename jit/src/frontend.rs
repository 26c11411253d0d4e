//! The architecture-independent half of the compiler: which slots start basic blocks and
//! functions, how many instructions each block charges to the meter, which memory accesses
//! are proven in bounds at compile time, and the descriptions of the out-of-line paths a
//! backend emits. A backend walks [`Plan::slots`] in order and emits each instruction.

use bpfbox_vm::interp::host::unbound_fault;
use bpfbox_vm::interp::{FaultKind, STACK_FRAME_SIZE};
use bpfbox_vm::isa::{AtomicOp, CallTarget, Insn, Size};
use bpfbox_vm::{Fault, Vm};

/// How a compiled program treats memory and the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every access checked against the run's regions, the budget metered: for programs
    /// nobody verified.
    Checked,
    /// No checks, no meter, as the kernel's JIT: only for verified programs.
    Trusted,
}

/// A memory access whose check failed inline: the Rust side performs it exactly as the
/// interpreter does (or reports the interpreter's fault).
#[derive(Clone, Copy, Debug)]
pub struct Site {
    /// Slot of the instruction.
    pub pc: usize,
    /// What the instruction does.
    pub kind: SiteKind,
    /// Destination register (or base, for stores and atomics).
    pub dst: u8,
    /// Source register (or base, for loads).
    pub src: u8,
    /// Memory offset.
    pub off: i16,
    /// Access size in bytes.
    pub size: u32,
}

/// The kinds of memory access.
#[derive(Clone, Copy, Debug)]
pub enum SiteKind {
    /// `ldx` (zero-extending) or `ldsx` (sign-extending).
    Load {
        /// Whether the value is sign-extended.
        signed: bool,
    },
    /// `stx` (value from `src`) or `st` (the immediate).
    Store {
        /// The immediate of `st`.
        imm: Option<u64>,
    },
    /// An atomic operation.
    Atomic(AtomicOp),
}

impl Site {
    /// The register the address is computed from.
    pub fn base(&self) -> u8 {
        match self.kind {
            SiteKind::Load { .. } | SiteKind::Atomic(AtomicOp::LoadAcquire) => self.src,
            _ => self.dst,
        }
    }

    /// Whether a region only readable suffices for the inline fast path.
    pub fn read_only(&self) -> bool {
        matches!(
            self.kind,
            SiteKind::Load { .. } | SiteKind::Atomic(AtomicOp::LoadAcquire)
        )
    }
}

/// What the frontend knows about one slot.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// The instruction, or `None` for the second slot of `ld_imm64`.
    pub insn: Option<Insn>,
    /// Instructions charged at this slot when it starts a block (0 otherwise, and always 0
    /// in [`Mode::Trusted`], which has no meter).
    pub charge: u32,
    /// Whether some jump, call or function reference targets this slot.
    pub target: bool,
    /// Whether a BPF-to-BPF call (or function reference) targets it: it gets a prologue.
    pub function: bool,
    /// Whether control can fall into this slot from the previous instruction.
    pub fallthrough_in: bool,
    /// Whether it starts a basic block.
    pub leader: bool,
    /// Whether the kernel refuses the instruction only on a walked path
    /// ([`bpfbox_vm::isa::Decoded::rejected`]): reaching the slot raises
    /// [`Plan::rejected`].
    pub rejected: bool,
}

thread_local! {
    /// The slots of the thread's last plan, for its next one.
    static SPARE_SLOTS: std::cell::Cell<Vec<Slot>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The compile plan of a program.
#[derive(Debug)]
pub struct Plan {
    /// One entry per slot.
    pub slots: Vec<Slot>,
    /// The mode.
    pub mode: Mode,
    /// Whether immediates are blinded ([`crate::Options::blind_constants`]); `false` from
    /// [`Plan::new`].
    pub blind: bool,
    /// Whether the program has a `may_goto`.
    pub has_may_goto: bool,
    /// Whether the program makes a tail call.
    pub has_tail_call: bool,
    /// Whether control can reach the end of the program (falling off the last instruction
    /// or jumping to it), which faults.
    pub end_reachable: bool,
    /// Whether control falls off the last instruction.
    pub falls_off_end: bool,
    /// Whether a BPF-to-BPF call (or function reference) targets slot 0.
    pub entry_called: bool,
    /// The walk-time faults of the slots marked [`Slot::rejected`].
    rejected: Vec<(usize, FaultKind)>,
}

/// Whether `insn` ends a basic block: control may leave it for somewhere other than the
/// next slot, or an engine call-out may observe the instruction count after it.
fn ends_block(insn: &Insn) -> bool {
    matches!(
        insn,
        Insn::Ja { .. }
            | Insn::Jmp { .. }
            | Insn::MayGoto { .. }
            | Insn::Call(_)
            | Insn::Callx { .. }
            | Insn::Exit { .. }
            | Insn::LdAbs { .. }
            | Insn::LdInd { .. }
    )
}

/// Whether control never falls through `insn` to the next slot.
fn no_fallthrough(insn: &Insn) -> bool {
    matches!(insn, Insn::Ja { .. } | Insn::Exit { .. })
}

impl Drop for Plan {
    fn drop(&mut self) {
        crate::spare::give(&SPARE_SLOTS, std::mem::take(&mut self.slots));
    }
}

impl Plan {
    /// Analyses `vm`'s program for `mode`.
    pub fn new(vm: &Vm, mode: Mode) -> Plan {
        let decoded = vm.decoded();
        let len = decoded.len;
        let mut slots = crate::spare::take(&SPARE_SLOTS, len);
        slots.resize(
            len,
            Slot {
                insn: None,
                charge: 0,
                target: false,
                function: false,
                fallthrough_in: false,
                leader: false,
                rejected: false,
            },
        );
        if let Some(first) = slots.first_mut() {
            first.leader = true;
        }
        for &s in &decoded.subprogs {
            if s < len {
                slots[s].function = true;
                slots[s].target = true;
                slots[s].leader = true;
            }
        }
        slots[0].function = true;
        let mut prev_falls = false;
        let (mut has_may_goto, mut has_tail_call, mut end_target) = (false, false, false);
        let mut entry_called = false;
        let mut mark = |slots: &mut [Slot], t: Option<i64>, function: bool| {
            if let Some(t) = t.and_then(|t| usize::try_from(t).ok()) {
                if let Some(s) = slots.get_mut(t) {
                    entry_called |= t == 0 && function;
                    s.target = true;
                    s.function |= function;
                    s.leader = true;
                } else if t == len {
                    end_target = true;
                }
            }
        };
        for &(pc, insn) in &decoded.insns {
            let slot = &mut slots[pc];
            slot.insn = Some(insn);
            slot.fallthrough_in = prev_falls;
            // One dispatch per instruction: whether it ends a block, whether control falls
            // through it, and what it targets.
            let (ends, falls) = match insn {
                Insn::Ja { .. } => {
                    mark(&mut slots, insn.jump_target(pc), false);
                    (true, false)
                }
                Insn::Jmp { .. } => {
                    mark(&mut slots, insn.jump_target(pc), false);
                    (true, true)
                }
                Insn::MayGoto { .. } => {
                    has_may_goto = true;
                    mark(&mut slots, insn.jump_target(pc), false);
                    (true, true)
                }
                Insn::Call(CallTarget::Local(_)) => {
                    mark(&mut slots, insn.local_call_target(pc), true);
                    (true, true)
                }
                Insn::Call(CallTarget::Helper(id)) => {
                    has_tail_call |= id as u64 == bpfbox_vm::interp::BPF_FUNC_TAIL_CALL;
                    (true, true)
                }
                Insn::Call(_) | Insn::Callx { .. } | Insn::LdAbs { .. } | Insn::LdInd { .. } => {
                    (true, true)
                }
                Insn::Exit { .. } => (true, false),
                Insn::LdImm64 {
                    kind: bpfbox_vm::isa::LdImm64Kind::Func,
                    ..
                } => {
                    mark(&mut slots, insn.local_call_target(pc), true);
                    (false, true)
                }
                _ => (false, true),
            };
            debug_assert_eq!(ends, ends_block(&insn));
            debug_assert_eq!(!falls, no_fallthrough(&insn));
            let next = pc + insn.slots();
            if ends && next < len {
                slots[next].leader = true;
            }
            prev_falls = falls;
        }
        // A walk-time fault is a block of its own that charges one instruction, as the
        // interpreter counts it before faulting; control never leaves it.
        let mut rejected = Vec::new();
        for (pc, kind) in &decoded.rejected {
            if let Some(slot) = slots.get_mut(*pc) {
                slot.rejected = true;
                rejected.push((*pc, FaultKind::Rejected(kind.clone())));
                slot.leader = true;
            }
        }
        // Charge each block its instruction count at its first slot (only the meter of
        // checked mode reads the charges).
        let mut start: Option<usize> = None;
        let mut count = 0u32;
        let metered = if mode == Mode::Checked { len } else { 0 };
        for pc in 0..metered {
            let leader = slots[pc].leader;
            if leader {
                if let Some(s) = start {
                    slots[s].charge = count;
                }
                start = Some(pc);
                count = 0;
            }
            if slots[pc].insn.is_none() && leader {
                // A jump into the second half of `ld_imm64`, or a walk-time fault: one
                // instruction that faults.
                slots[pc].charge = 1;
                start = None;
                continue;
            }
            if let Some(insn) = slots[pc].insn {
                count += 1;
                if ends_block(&insn) {
                    if let Some(s) = start.take() {
                        slots[s].charge = count;
                    }
                    count = 0;
                }
            }
        }
        if let Some(s) = start {
            slots[s].charge = count;
        }
        Plan {
            slots,
            mode,
            blind: false,
            has_may_goto,
            has_tail_call,
            end_reachable: end_target || prev_falls || decoded.insns.is_empty(),
            falls_off_end: prev_falls || decoded.insns.is_empty(),
            entry_called,
            rejected,
        }
    }

    /// The walk-time fault of slot `pc`, when [`Slot::rejected`].
    pub fn rejected(&self, pc: usize) -> Option<FaultKind> {
        let (_, kind) = self.rejected.iter().find(|(p, _)| *p == pc)?;
        Some(kind.clone())
    }

    /// Whether `[r10 + off, r10 + off + size)` lies in the current 512-byte frame, which is
    /// inside the stack region whatever the call depth.
    pub fn stack_proven(base: u8, off: i16, size: u32) -> bool {
        base == 10 && off as i64 >= -(STACK_FRAME_SIZE as i64) && off as i64 + size as i64 <= 0
    }
}

/// The fault an instruction raises whenever it executes, if any (known at compile time).
pub fn static_fault(vm: &Vm, pc: usize, insn: &Insn) -> Option<Fault> {
    let kind = match *insn {
        Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
            FaultKind::Unsupported(format!("kfunc call (BTF id {})", btf_id as u32))
        }
        Insn::AddrSpaceCast { .. } => {
            FaultKind::Unsupported("addr_space_cast without an arena".into())
        }
        Insn::LdImm64 { .. } if vm.ld_imm64_value(pc).is_none() => unbound_fault(insn)?,
        _ => return None,
    };
    Some(Fault { pc, kind })
}

/// Bytes of an access size.
pub fn bytes(size: Size) -> u32 {
    size.bytes()
}
