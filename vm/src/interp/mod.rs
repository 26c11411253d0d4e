//! The interpreter.
//!
//! A program is validated and pre-decoded once ([`Vm::new`]); each run gets a fresh stack
//! (512 bytes per frame, up to [`MAX_CALL_FRAMES`] frames), the region table of everything the
//! program may touch, an instruction budget, and the deterministic [`Env`]. In checked mode
//! (the default) every load and store is checked against the regions and a bad access is a
//! [`Fault`] carrying the program counter.

pub mod atomics;
mod compile;
mod exec;
mod helper_ctx;
pub mod host;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use compile::LdImm64Binder;
pub use helper_ctx::HelperCtx;

use crate::env::Env;
use crate::helpers::{HelperError, HelperRegistry};
use crate::isa::{IsaError, RawInsn};
use crate::memory::{Region, RegionKind};

/// Maximum call depth, counting the entry frame (`MAX_CALL_FRAMES` in the kernel).
pub const MAX_CALL_FRAMES: usize = 8;
/// Stack bytes per frame (`MAX_BPF_STACK`).
pub const STACK_FRAME_SIZE: usize = 512;
/// 8-byte words of a run's whole stack (every frame).
pub const STACK_WORDS: usize = MAX_CALL_FRAMES * STACK_FRAME_SIZE / 8;
/// Default instruction budget of a run.
pub const DEFAULT_BUDGET: u64 = 100_000_000;
/// Tail calls one run may make (`MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALL_CNT: u32 = 33;
/// The helper id of `bpf_tail_call`, which the kernel turns into an instruction.
pub const BPF_FUNC_TAIL_CALL: u64 = 12;

/// Why a run stopped abnormally.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum FaultKind {
    /// A load or store outside every region (or a store to a read-only one).
    #[error("invalid {} of {size} bytes at {addr:#x}", if *write { "store" } else { "load" })]
    OutOfBounds {
        /// Effective address.
        addr: u64,
        /// Access size.
        size: u64,
        /// Whether it was a store.
        write: bool,
    },
    /// The instruction budget ran out.
    #[error("instruction budget of {budget} exhausted")]
    BudgetExhausted {
        /// The budget.
        budget: u64,
    },
    /// Too many nested BPF-to-BPF calls.
    #[error("call depth exceeds {max} frames")]
    CallDepth {
        /// The frame limit.
        max: usize,
    },
    /// A call to a helper id nothing registered.
    #[error("unknown helper {id}{}", name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    UnknownHelper {
        /// The helper id called.
        id: u64,
        /// Its kernel name, if the id is a known kernel helper.
        name: Option<String>,
    },
    /// A helper failed.
    #[error("helper {name}: {message}")]
    Helper {
        /// Helper name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// An `ld_imm64` of a map or kernel symbol that no binder resolved.
    #[error("ld_imm64 with src_reg {src} (imm {imm:#x}) is not bound to a map or symbol")]
    Unbound {
        /// The pseudo source.
        src: u8,
        /// The raw immediate.
        imm: u64,
    },
    /// An instruction this engine cannot execute in the current setting.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Control reached an instruction the kernel's verifier refuses when it walks it (a
    /// write to r10, an invalid register, reserved fields): the kernel would have rejected
    /// the program; the message is the verifier's.
    #[error("{0}")]
    Rejected(#[serde(serialize_with = "display")] crate::isa::IsaErrorKind),
    /// Control reached a slot that holds no instruction.
    #[error("invalid instruction")]
    PcOutOfRange,
    /// A legacy packet load fell outside the packet: the program ends with r0 = 0.
    #[error("packet load out of bounds")]
    LdAbsExit,
    /// `bpf_tail_call` through something that is not a program array.
    #[error("tail call through {handle:#x}, which is not a program array of this run")]
    TailCallMap {
        /// The map handle passed in r2.
        handle: u64,
    },
    /// A program array names a program handle the run's [`ProgramTable`] does not know.
    #[error("tail call to program handle {handle}, which no program table entry holds")]
    TailCallTarget {
        /// The handle stored in the program array.
        handle: u32,
    },
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A run-time fault at an instruction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("insn {pc}: {kind}")]
pub struct Fault {
    /// Slot index of the faulting instruction.
    pub pc: usize,
    /// What happened.
    pub kind: FaultKind,
}

/// Result of a successful run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunOutcome {
    /// r0 at the final `exit`.
    pub r0: u64,
    /// Instructions executed.
    pub insns: u64,
}

/// One saved call frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub ret_pc: usize,
    /// Which of the run's programs the caller runs (it differs after a tail call).
    pub code: u32,
    /// r6..r9 and r10 of the caller.
    pub saved: [u64; 5],
    pub may_goto: u64,
}

/// The mutable state of one run.
pub(crate) struct Machine<'r> {
    pub regs: [u64; 16],
    pub frames: Vec<Frame>,
    pub entry_may_goto: u64,
    pub regions: Vec<Region>,
    pub count: u64,
    pub budget: u64,
    pub pc: usize,
    pub env: &'r mut Env,
    pub helpers: &'r HelperRegistry,
    pub overrides: Option<&'r HelperRegistry>,
    /// The entry program and every program a tail call entered, by first entry.
    pub codes: Vec<Arc<compile::Compiled>>,
    /// Index into `codes` of the program running now.
    pub current: u32,
    /// Tail calls made so far.
    pub tail_calls: u32,
    pub programs: Option<&'r ProgramTable>,
    pub checked: bool,
    /// Packet bounds for legacy `LD_ABS`/`LD_IND` loads.
    pub skb: Option<SkbBounds>,
}

impl Machine<'_> {
    pub(crate) fn may_goto_counter(&mut self) -> &mut u64 {
        match self.frames.last_mut() {
            Some(f) => &mut f.may_goto,
            None => &mut self.entry_may_goto,
        }
    }

    pub(crate) fn call_helper(&mut self, id: u64, pc: usize) -> Result<u64, Fault> {
        let found = self
            .overrides
            .and_then(|o| o.get(id))
            .or_else(|| self.helpers.get(id));
        let Some(h) = found else {
            return Err(Fault {
                pc,
                kind: FaultKind::UnknownHelper {
                    id,
                    name: usize::try_from(id)
                        .ok()
                        .and_then(|i| crate::helper_names::HELPER_NAMES.get(i))
                        .map(|n| n.to_string()),
                },
            });
        };
        let func = h.func.clone();
        let name = h.name.clone();
        let args = [
            self.regs[1],
            self.regs[2],
            self.regs[3],
            self.regs[4],
            self.regs[5],
        ];
        let mut ctx = HelperCtx { m: self };
        match func(&mut ctx, args) {
            Ok(v) => Ok(v),
            Err(HelperError::Fault(f)) => Err(*f),
            Err(HelperError::Message(message)) => Err(Fault {
                pc,
                kind: FaultKind::Helper {
                    name: name.into_owned(),
                    message,
                },
            }),
        }
    }

    /// Loads `size` bytes big-endian at packet offset `off` (a signed 32-bit offset, as
    /// the kernel's `bpf_skb_load_helper_*` take it); `None` when the load fails, which ends
    /// the program with r0 = 0.
    pub(crate) fn ld_packet(
        &mut self,
        off: u32,
        size: u8,
        pc: usize,
    ) -> Result<Option<u64>, Fault> {
        let Some(skb) = self.skb else {
            return Err(Fault {
                pc,
                kind: FaultKind::Unsupported("LD_ABS/LD_IND without a socket buffer".into()),
            });
        };
        let Some(addr) = skb.load_addr(off as i32, size) else {
            return Ok(None);
        };
        // The bounds come from the embedder (`RunOptions::skb`), so they are held against
        // the run's regions like any other access before anything is read.
        exec::check_access(&self.regions, addr, u64::from(size), false)
            .map_err(|kind| Fault { pc, kind })?;
        let mut v = 0u64;
        for i in 0..u64::from(size) {
            // SAFETY: the `size` bytes at `addr` lie in one of the run's regions (checked
            // above), memory its owner keeps valid for the run.
            let b = unsafe { std::ptr::read((addr + i) as usize as *const u8) };
            v = (v << 8) | b as u64;
        }
        Ok(Some(v))
    }

    /// The program running now.
    fn code(&self) -> &Arc<compile::Compiled> {
        &self.codes[self.current as usize]
    }

    fn run_from(&mut self, mut pc: usize, stop_depth: usize) -> Result<u64, Fault> {
        loop {
            let code = Arc::clone(self.code());
            let exit = if self.checked {
                exec::run::<true>(self, &code, pc, stop_depth)?
            } else {
                exec::run::<false>(self, &code, pc, stop_depth)?
            };
            match exit {
                exec::Exit::Return(r0) => return Ok(r0),
                // `current` already names the program to continue in.
                exec::Exit::Switch(next) => pc = next,
            }
        }
    }

    /// `bpf_tail_call(ctx, map, index)` as the kernel performs it: an index past the array
    /// or a spent budget falls through without counting; otherwise the call counts, and an
    /// empty slot falls through too. Returns whether control moved to another program.
    pub(crate) fn tail_call(&mut self, map: u64, index: u32, pc: usize) -> Result<bool, Fault> {
        let fault = |kind| Fault { pc, kind };
        let Some(array) = self.env.maps.by_handle(map) else {
            return Err(fault(FaultKind::TailCallMap { handle: map }));
        };
        if array.map_type() != crate::maps::MapType::ProgArray {
            return Err(fault(FaultKind::TailCallMap { handle: map }));
        }
        if index >= array.max_entries() || self.tail_calls >= MAX_TAIL_CALL_CNT {
            return Ok(false);
        }
        self.tail_calls += 1;
        let Some(handle) = array.tail_call_target(index) else {
            return Ok(false);
        };
        let Some(target) = self.programs.and_then(|t| t.get(handle)) else {
            return Err(fault(FaultKind::TailCallTarget { handle }));
        };
        let code = &target.code;
        let at = match self.codes.iter().position(|c| Arc::ptr_eq(c, code)) {
            Some(i) => i,
            None => {
                self.codes.push(Arc::clone(code));
                self.codes.len() - 1
            }
        };
        self.current = at as u32;
        Ok(true)
    }
}

/// `SKF_NET_OFF`: legacy packet loads at offsets from here on read from the network header.
pub const SKF_NET_OFF: i32 = -0x100000;
/// `SKF_LL_OFF`: legacy packet loads at offsets from here on read from the MAC header.
pub const SKF_LL_OFF: i32 = -0x200000;

/// The socket buffer legacy `LD_ABS`/`LD_IND` loads read: linear data, and the MAC and
/// network headers that the negative `SKF_LL_OFF`/`SKF_NET_OFF` bases address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkbBounds {
    /// `skb->data`.
    pub data: u64,
    /// Bytes of linear data from `data`.
    pub len: u64,
    /// The MAC header (`skb_mac_header`).
    pub mac: u64,
    /// The network header (`skb_network_header`).
    pub network: u64,
}

impl SkbBounds {
    /// The address of a `size`-byte load at signed offset `off`, as the kernel resolves it
    /// (`bpf_skb_load_helper_*` and `bpf_internal_load_pointer_neg_helper`): from `data`
    /// when non-negative, from the network header at `SKF_NET_OFF + k`, from the MAC header
    /// at `SKF_LL_OFF + k`; the bytes must end at or before the packet's tail.
    pub fn load_addr(&self, off: i32, size: u8) -> Option<u64> {
        let tail = self.data.checked_add(self.len)?;
        let ptr = if off >= 0 {
            self.data + off as u64
        } else if off >= SKF_NET_OFF {
            self.network + (off - SKF_NET_OFF) as u64
        } else if off >= SKF_LL_OFF {
            self.mac + (off - SKF_LL_OFF) as u64
        } else {
            return None;
        };
        let end = ptr.checked_add(u64::from(size))?;
        (ptr >= self.mac.min(self.data) && end <= tail).then_some(ptr)
    }
}

/// Options of one run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Helpers that replace the VM's for this run only.
    pub overrides: Option<&'a HelperRegistry>,
    /// The packet legacy `LD_ABS`/`LD_IND` loads read.
    pub skb: Option<SkbBounds>,
    /// Programs that `bpf_tail_call` may enter, by the handles program arrays hold.
    pub programs: Option<&'a ProgramTable>,
}

/// The programs tail calls can reach, by the `u32` handle a program array stores (the
/// kernel stores program pointers set from file descriptors; the embedder picks handles).
#[derive(Clone, Default)]
pub struct ProgramTable {
    progs: HashMap<u32, Arc<Vm>>,
}

impl fmt::Debug for ProgramTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut handles: Vec<_> = self.progs.keys().collect();
        handles.sort();
        f.debug_struct("ProgramTable")
            .field("handles", &handles)
            .finish()
    }
}

impl ProgramTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `vm` reachable as `handle`, replacing any program there.
    pub fn insert(&mut self, handle: u32, vm: Arc<Vm>) {
        self.progs.insert(handle, vm);
    }

    /// The program at `handle`.
    pub fn get(&self, handle: u32) -> Option<&Arc<Vm>> {
        self.progs.get(&handle)
    }

    /// Number of programs.
    pub fn len(&self) -> usize {
        self.progs.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.progs.is_empty()
    }
}

/// A validated, pre-decoded program with its helpers and settings.
pub struct Vm {
    code: Arc<compile::Compiled>,
    helpers: HelperRegistry,
    budget: u64,
    checked: bool,
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("slots", &self.code.ops.len())
            .field("budget", &self.budget)
            .field("checked", &self.checked)
            .finish_non_exhaustive()
    }
}

impl Vm {
    /// Validates and pre-decodes `slots` with the default helpers.
    pub fn new(slots: &[RawInsn]) -> Result<Vm, IsaError> {
        Self::with_binder(slots, None)
    }

    /// Like [`Vm::new`], resolving map and symbol `ld_imm64` forms through `binder`.
    pub fn with_binder(
        slots: &[RawInsn],
        binder: Option<&dyn LdImm64Binder>,
    ) -> Result<Vm, IsaError> {
        Ok(Vm {
            code: Arc::new(compile::compile(slots, binder)?),
            helpers: HelperRegistry::with_defaults(),
            budget: DEFAULT_BUDGET,
            checked: true,
        })
    }

    /// The helpers this VM calls.
    pub fn helpers(&self) -> &HelperRegistry {
        &self.helpers
    }

    /// Mutable access to the helpers, to register or override.
    pub fn helpers_mut(&mut self) -> &mut HelperRegistry {
        &mut self.helpers
    }

    /// Replaces the helper registry.
    pub fn set_helpers(&mut self, helpers: HelperRegistry) {
        self.helpers = helpers;
    }

    /// Sets the instruction budget of each run.
    pub fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
    }

    /// The instruction budget of each run.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Whether memory accesses are checked.
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// Turns memory checking back on.
    pub fn set_checked(&mut self) {
        self.checked = true;
    }

    /// Turns memory checking off.
    ///
    /// # Safety
    /// Every load and store the program performs, on every input it will be run with, must
    /// stay inside memory that is live for the run (its stack, context, packet, map values or
    /// registered regions), as the verifier proves for programs it accepts. Otherwise the run
    /// reads or writes arbitrary host memory.
    pub unsafe fn set_unchecked(&mut self) {
        self.checked = false;
    }

    /// Number of instruction slots.
    pub fn len(&self) -> usize {
        self.code.ops.len()
    }

    /// Whether the program is empty (never true: validation rejects empty programs).
    pub fn is_empty(&self) -> bool {
        self.code.ops.is_empty()
    }

    /// Runs with the uBPF/conformance contract: r1 = `mem` (writable), r2 = its length.
    pub fn run_mem(&self, mem: &mut [u8]) -> Result<RunOutcome, Fault> {
        let mut env = Env::default();
        let ptr = mem.as_mut_ptr();
        let len = mem.len();
        // SAFETY: `mem` is exclusively borrowed for the whole run.
        let regions = [unsafe { Region::new(ptr, len, true, RegionKind::Memory) }];
        let r1 = if len == 0 { 0 } else { ptr as u64 };
        self.run(
            [r1, len as u64, 0, 0, 0],
            &regions,
            &mut env,
            RunOptions::default(),
        )
    }

    /// Runs the BPF function starting at slot `pc` (a subprogram, as callbacks are) with
    /// r1..r5 = `args`: how timers and other deferred callbacks are fired outside a run.
    pub fn run_function(
        &self,
        pc: usize,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        if pc != 0 && !self.code.decoded.subprogs.contains(&pc) {
            return Err(Fault {
                pc,
                kind: FaultKind::PcOutOfRange,
            });
        }
        let mut stack = vec![0u64; STACK_WORDS];
        self.run_at(&mut stack, pc, args, regions, env, opts)
    }

    /// Runs with r1..r5 = `args`, the given regions (besides the stack) and environment.
    ///
    /// The caller keeps every region's memory alive and otherwise untouched for the duration
    /// of the call; the program may write to the writable ones.
    pub fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        let mut stack = vec![0u64; STACK_WORDS];
        self.run_at(&mut stack, 0, args, regions, env, opts)
    }

    /// As [`Vm::run`], on the caller's stack of [`STACK_WORDS`] words instead of a fresh
    /// one, so that two engines run on the same addresses (differential tests compare
    /// results that hold stack addresses). The program sees the stack as it is: a run's own
    /// stack starts zeroed.
    pub fn run_on_stack(
        &self,
        stack: &mut [u64; STACK_WORDS],
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        self.run_at(stack, 0, args, regions, env, opts)
    }

    fn run_at(
        &self,
        // u64 storage keeps the stack 8-byte aligned, as the kernel's is; STACK_WORDS long.
        stack: &mut [u64],
        start: usize,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        let stack_bytes = stack.len() * 8;
        let stack_ptr = stack.as_mut_ptr() as *mut u8;
        let mut all = Vec::with_capacity(regions.len() + 1);
        // SAFETY: the stack is exclusively borrowed for the whole run.
        all.push(unsafe { Region::new(stack_ptr, stack_bytes, true, RegionKind::Stack) });
        all.extend_from_slice(regions);
        let mut regs = [0u64; 16];
        regs[1..6].copy_from_slice(&args);
        regs[10] = stack_ptr as u64 + stack_bytes as u64;
        let mut m = Machine {
            regs,
            frames: Vec::with_capacity(MAX_CALL_FRAMES),
            entry_may_goto: exec::MAY_GOTO_BUDGET,
            regions: all,
            count: 0,
            budget: self.budget,
            pc: 0,
            env,
            helpers: &self.helpers,
            overrides: opts.overrides,
            codes: vec![Arc::clone(&self.code)],
            current: 0,
            tail_calls: 0,
            programs: opts.programs,
            checked: self.checked,
            skb: opts.skb,
        };
        let result = m.run_from(start, 0);
        let insns = m.count;
        drop(m);
        match result {
            Ok(r0) => Ok(RunOutcome { r0, insns }),
            Err(Fault {
                kind: FaultKind::LdAbsExit,
                ..
            }) => Ok(RunOutcome { r0: 0, insns }),
            Err(f) => Err(f),
        }
    }
}
