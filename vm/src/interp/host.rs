//! The interpreter's run state lent to another engine.
//!
//! A JIT executes the program natively but must call the same helper implementations (one
//! registry, per-run overrides), see the same regions, make tail calls through the same
//! program tables and, when the instruction budget runs out in the middle of a block, stop at
//! exactly the instruction the interpreter stops at. [`Host`] is that shared state: it owns
//! one interpreter `Machine` for the run and exposes the operations a native engine calls
//! out to. Everything here has the interpreter's meaning because it is the interpreter.

use std::sync::Arc;

use super::{exec, Fault, FaultKind, Frame, Machine, RunOptions, Vm};
use crate::env::Env;
use crate::isa::{self, Insn, LdImm64Kind};
use crate::memory::{Region, RegionKind};

impl Vm {
    /// The decoded instructions of the program.
    pub fn decoded(&self) -> &isa::Decoded {
        &self.code.decoded
    }

    /// The 64-bit value the `ld_imm64` at slot `pc` loads, as the binder resolved it (a
    /// function reference is its slot index); `None` for an unbound map or symbol reference
    /// or a slot that is not an `ld_imm64`.
    pub fn ld_imm64_value(&self, pc: usize) -> Option<u64> {
        let op = self.code.ops.get(pc)?;
        (op.kind == super::compile::K::LdImm64).then_some(op.imm)
    }

    /// Whether `a` and `b` share one compiled program (a tail call target is identified by it).
    pub fn same_code(a: &Vm, b: &Vm) -> bool {
        Arc::ptr_eq(&a.code, &b.code)
    }
}

/// The unbound `ld_imm64` fault the interpreter raises for `insn`, if it is one.
pub fn unbound_fault(insn: &Insn) -> Option<FaultKind> {
    match *insn {
        Insn::LdImm64 { kind, imm, .. } if kind != LdImm64Kind::Imm => Some(FaultKind::Unbound {
            src: kind.src(),
            imm,
        }),
        _ => None,
    }
}

/// One run's interpreter state, driven by a native engine.
pub struct Host<'r> {
    m: Machine<'r>,
}

impl std::fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("regions", &self.m.regions)
            .field("count", &self.m.count)
            .finish_non_exhaustive()
    }
}

impl<'r> Host<'r> {
    /// The state of a run of `vm` whose stack is the `stack_len` bytes at `stack` (region 0,
    /// as in the interpreter), with the caller's `regions` after it. `checked` is the memory
    /// checking of code the host runs itself (callbacks and budget replays).
    ///
    /// # Safety
    ///
    /// `[stack, stack + stack_len)` must be valid for reads and writes for the host's whole
    /// life, as [`Region::new`] requires.
    pub unsafe fn new(
        vm: &'r Vm,
        stack: *mut u8,
        stack_len: usize,
        regions: &[Region],
        env: &'r mut Env,
        opts: RunOptions<'r>,
        checked: bool,
    ) -> Host<'r> {
        let mut all = Vec::with_capacity(regions.len() + 1);
        // SAFETY: the caller vouches for the stack (this function's contract).
        all.push(unsafe { Region::new(stack, stack_len, true, RegionKind::Stack) });
        all.extend_from_slice(regions);
        Host {
            m: Machine {
                regs: [0; 16],
                frames: Vec::with_capacity(super::MAX_CALL_FRAMES),
                entry_may_goto: exec::MAY_GOTO_BUDGET,
                regions: all,
                count: 0,
                budget: vm.budget,
                pc: 0,
                env,
                helpers: &vm.helpers,
                overrides: opts.overrides,
                codes: vec![Arc::clone(&vm.code)],
                current: 0,
                tail_calls: 0,
                programs: opts.programs,
                checked,
                skb: opts.skb,
            },
        }
    }

    /// The live regions, the stack first.
    pub fn regions(&self) -> &[Region] {
        &self.m.regions
    }

    /// The instruction budget of the run.
    pub fn budget(&self) -> u64 {
        self.m.budget
    }

    /// Instructions counted so far.
    pub fn count(&self) -> u64 {
        self.m.count
    }

    /// Sets the instruction count (a native engine keeps its own meter between call-outs).
    pub fn set_count(&mut self, count: u64) {
        self.m.count = count;
    }

    /// Whether `[addr, addr + size)` may be read (or written), by the interpreter's rule:
    /// the first region holding the range decides.
    pub fn check(&self, addr: u64, size: u64, write: bool) -> Result<(), FaultKind> {
        exec::check_access(&self.m.regions, addr, size, write)
    }

    /// Makes `vm` the program running now (after a tail call or a return into another
    /// program), so callbacks and replays run its code.
    pub fn set_current(&mut self, vm: &Vm) {
        let at = match self.m.codes.iter().position(|c| Arc::ptr_eq(c, &vm.code)) {
            Some(i) => i,
            None => {
                self.m.codes.push(Arc::clone(&vm.code));
                self.m.codes.len() - 1
            }
        };
        self.m.current = at as u32;
    }

    /// Puts `depth` frames on the interpreter's call stack, so a callback started now sees
    /// the native engine's call depth.
    fn set_depth(&mut self, depth: usize) {
        let current = self.m.current;
        self.m.frames.truncate(depth);
        while self.m.frames.len() < depth {
            self.m.frames.push(Frame {
                ret_pc: usize::MAX,
                code: current,
                saved: [0; 5],
                may_goto: 0,
            });
        }
    }

    /// Calls helper `id` (or the callx target) at slot `pc` with r1..r5 = `args`, the frame
    /// pointer `r10` and `depth` frames below, as the interpreter's `call` does.
    pub fn call_helper(
        &mut self,
        id: u64,
        args: [u64; 5],
        r10: u64,
        depth: usize,
        pc: usize,
    ) -> Result<u64, Fault> {
        self.set_depth(depth);
        self.m.regs[1..6].copy_from_slice(&args);
        self.m.regs[10] = r10;
        self.m.pc = pc;
        self.m.call_helper(id, pc)
    }

    /// A legacy packet load of `size` bytes at packet offset `off`: `Ok(None)` when it falls
    /// outside the packet (the kernel then ends the program with r0 = 0).
    pub fn ld_packet(&mut self, off: u32, size: u8, pc: usize) -> Result<Option<u64>, Fault> {
        self.m.pc = pc;
        self.m.ld_packet(off, size, pc)
    }

    /// `bpf_tail_call(ctx, map, index)` at slot `pc`: the program to continue in, or `None`
    /// when the call falls through.
    pub fn tail_call(&mut self, map: u64, index: u32, pc: usize) -> Result<Option<Arc<Vm>>, Fault> {
        self.m.pc = pc;
        if !self.m.tail_call(map, index, pc)? {
            return Ok(None);
        }
        // `tail_call` found the target through the same array and table.
        let target = self
            .m
            .env
            .maps
            .by_handle(map)
            .and_then(|a| a.tail_call_target(index))
            .and_then(|h| self.m.programs.and_then(|t| t.get(h)));
        Ok(target.cloned())
    }

    /// Runs the straight-line code from slot `start` with `left` instructions of budget and
    /// `regs` (r0..r10) and returns the fault that ends it: the budget running out where the
    /// interpreter's does, or an earlier memory fault. `left` must be less than the number
    /// of instructions before the next jump, call or exit.
    pub fn replay_until_budget(
        &mut self,
        regs: [u64; 11],
        start: usize,
        left: u64,
        depth: usize,
    ) -> Fault {
        self.set_depth(depth);
        self.m.regs[..11].copy_from_slice(&regs);
        self.m.count = self.m.budget.saturating_sub(left);
        let code = Arc::clone(&self.m.codes[self.m.current as usize]);
        let result = if self.m.checked {
            exec::run::<true>(&mut self.m, &code, start, depth)
        } else {
            exec::run::<false>(&mut self.m, &code, start, depth)
        };
        match result {
            Err(f) => f,
            // The block ends in a control transfer, so the replay cannot return normally.
            Ok(_) => Fault {
                pc: start,
                kind: FaultKind::Unsupported("budget replay left its block".into()),
            },
        }
    }
}
