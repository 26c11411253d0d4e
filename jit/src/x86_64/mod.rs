//! The x86-64 backend: the kernel's register map, one prologue per BPF function, one shared
//! epilogue, and out-of-line stubs (memory slow paths, budget replays, static faults) after
//! the body so the straight-line code stays dense.

mod alu;
mod blind;
mod call;
mod enc;
mod entry;
mod jumps;
mod mem;
mod stubs;

pub(crate) use entry::shared_code;
pub(crate) use jumps::compile;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use bpfbox_vm::interp::FaultKind;
use bpfbox_vm::isa::{CallTarget, Insn};
use bpfbox_vm::{Fault, Vm};

use crate::frontend::{static_fault, Mode, Plan, Site};
use crate::layout::*;
use crate::runtime;
use crate::spare;
use crate::JitError;
use std::mem::ManuallyDrop;

pub(crate) type Asm = VecAssembler<X64Relocation>;

thread_local! {
    static SPARE_LABELS: std::cell::Cell<Vec<Option<DynamicLabel>>> =
        const { std::cell::Cell::new(Vec::new()) };
    static SPARE_FUNCS: std::cell::Cell<Vec<Option<DynamicLabel>>> =
        const { std::cell::Cell::new(Vec::new()) };
    static SPARE_STUBS: std::cell::Cell<Vec<Stub>> = const { std::cell::Cell::new(Vec::new()) };
    static SPARE_ESTIMATES: std::cell::Cell<Vec<usize>> =
        const { std::cell::Cell::new(Vec::new()) };
    static SPARE_GUESSES: std::cell::Cell<Vec<jumps::Guess>> =
        const { std::cell::Cell::new(Vec::new()) };
    /// The assembler of the thread's last finished compile, emptied, for its next one: its
    /// label and relocation tables keep their allocations.
    static SPARE_ASM: std::cell::Cell<Option<Box<Asm>>> = const { std::cell::Cell::new(None) };
}

/// Largest program whose assembler is kept for the next compile (a huge one's tables would
/// hold their memory for the life of the thread).
const SPARE_MAX_SLOTS: usize = 1 << 16;

/// BPF register to x86-64 register number (the kernel's map).
/// Index 11 is no BPF register: it names the scratch register r11 ([`SCRATCH`]).
pub(crate) const REG: [u8; 12] = [0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5, 11];
/// The scratch register r11 as an operand of the instruction emitters (`x(SCRATCH)` = 11).
pub(crate) const SCRATCH: u8 = 11;
/// The register that holds the run context.
pub(crate) const CTX: u8 = 9;
/// The register that holds the instruction meter (checked mode).
pub(crate) const METER: u8 = 12;

/// The BPF register `r` as an x86-64 register number.
#[inline]
pub(crate) fn x(r: u8) -> u8 {
    REG[(r as usize).min(11)]
}

/// What the backend produced for one program.
pub(crate) struct Emitted {
    pub code: Vec<u8>,
    /// Offset of slot 0's body after its prologue (where tail calls enter).
    pub body0: usize,
    /// Native offset of each slot's code, and of the end of the body at index `len`.
    pub offsets: Vec<u32>,
    /// Helper calls through the shared helper stub: the offset just after each `call` (its
    /// return address), with the call's slot and helper id, in code order.
    pub calls: Vec<(u32, u32, u32)>,
    /// Native offset where the out-of-line code starts.
    pub body_end: usize,
}

/// Code emitted after the body.
enum Stub {
    /// Memory access `site` whose inline stack check failed; the address is in r11.
    Mem {
        label: DynamicLabel,
        site: usize,
        ok: DynamicLabel,
        done: DynamicLabel,
        /// Whether the inline check was the stack's (else the first caller region's).
        stack_first: bool,
    },
    /// The meter ran out at the block starting at `pc` charging `charge`.
    Budget {
        label: DynamicLabel,
        pc: usize,
        charge: u32,
    },
    /// A fault known at compile time.
    Static { label: DynamicLabel, fault: usize },
}

pub(crate) struct Backend<'a> {
    /// Boxed, so that taking it from the thread's spare and giving it back moves a
    /// pointer, not the assembler; released (or kept) by `Drop`.
    pub ops: ManuallyDrop<Box<Asm>>,
    /// Whether `Drop` keeps the assembler for the thread's next compile ([`Backend::finish`]
    /// emptied it).
    keep_ops: bool,
    vm: &'a Vm,
    plan: &'a Plan,
    checked: bool,
    /// The plan's [`Plan::blind`], read once per instruction.
    blind: bool,
    bmi2: bool,
    body: Vec<Option<DynamicLabel>>,
    func: Vec<Option<DynamicLabel>>,
    fault_exit: DynamicLabel,
    /// Whether some path jumps to `fault_exit` (it is emitted only then).
    fault_exit_used: bool,
    stubs: Vec<Stub>,
    pub sites: Vec<Site>,
    pub faults: Vec<Fault>,
    /// Access size of the memory check being emitted.
    pending_size: u32,
    /// How this pass sizes forward jumps ([`jumps`]).
    sizing: jumps::Sizing<'a>,
    /// Estimated offsets of the first slots, as far as sizing forward jumps needed them
    /// ([`jumps`]).
    estimates: Vec<usize>,
    /// Forward jumps this pass sized on a guess, checked once the targets are placed: rel8
    /// ones that missed, rel32 ones that would fit rel8.
    guesses: Vec<jumps::Guess>,
    /// Where slot 0's body starts, each slot's native offset, and where the body ends.
    body0: usize,
    offsets: Vec<u32>,
    body_end: usize,
    calls: Vec<(u32, u32, u32)>,
    /// Blinding keys (used when the plan asks for blinding).
    keys: blind::Keys,
    /// Whether prologues set the frame's `may_goto` counter (the image has `may_goto` or a
    /// tail call, whose target may have one and shares the frame).
    may_goto: bool,
}

impl Drop for Backend<'_> {
    fn drop(&mut self) {
        spare::give(&SPARE_LABELS, std::mem::take(&mut self.body));
        spare::give(&SPARE_FUNCS, std::mem::take(&mut self.func));
        spare::give(&SPARE_STUBS, std::mem::take(&mut self.stubs));
        spare::give(&SPARE_ESTIMATES, std::mem::take(&mut self.estimates));
        spare::give(&SPARE_GUESSES, std::mem::take(&mut self.guesses));
        // SAFETY: `ops` is taken only here, and `self` is not used after `drop`.
        let ops = unsafe { ManuallyDrop::take(&mut self.ops) };
        if self.keep_ops {
            SPARE_ASM.with(|s| s.set(Some(ops)));
        }
    }
}

impl<'a> Backend<'a> {
    /// A backend for one pass, sizing forward jumps as `sizing` says.
    fn new(vm: &'a Vm, plan: &'a Plan, sizing: jumps::Sizing<'a>) -> Backend<'a> {
        let len = plan.slots.len();
        // Sized for the common case so that the buffers rarely grow: a few bytes per slot
        // (more in checked mode, with its inline checks and out-of-line paths) and a label
        // per jump target.
        let bytes = if plan.mode == Mode::Checked { 48 } else { 16 } * len + 256;
        let mut ops = match SPARE_ASM.with(std::cell::Cell::take) {
            Some(mut spare) => {
                spare.reserve_ops(bytes);
                spare
            }
            None => Box::new(Asm::new_with_capacity(
                0,
                bytes,
                4,
                0,
                len / 2 + 8,
                4,
                len / 2 + 8,
            )),
        };
        // Labels are made as jumps, calls and the emission reach their slots.
        let mut body = spare::take(&SPARE_LABELS, len + 1);
        body.resize(len + 1, None);
        let mut func = spare::take(&SPARE_FUNCS, len);
        func.resize(len, None);
        let checked = plan.mode == Mode::Checked;
        // Blocks and memory accesses bound the out-of-line paths of checked mode.
        let (mut blocks, mut accesses) = (0, 0);
        if checked {
            for s in &plan.slots {
                blocks += usize::from(s.charge > 0);
                accesses += usize::from(matches!(
                    s.insn,
                    Some(
                        Insn::Ldx { .. }
                            | Insn::LdxSx { .. }
                            | Insn::St { .. }
                            | Insn::Stx { .. }
                            | Insn::Atomic { .. }
                    )
                ));
            }
        }
        body[len] = Some(ops.new_dynamic_label());
        let fault_exit = ops.new_dynamic_label();
        Backend {
            ops: ManuallyDrop::new(ops),
            keep_ops: false,
            vm,
            plan,
            checked,
            blind: plan.blind,
            bmi2: std::is_x86_feature_detected!("bmi2"),
            body,
            func,
            fault_exit,
            fault_exit_used: false,
            // Sized once: growing them cost several copies per compile.
            stubs: spare::take(&SPARE_STUBS, blocks + accesses + 2),
            sites: Vec::with_capacity(accesses),
            faults: Vec::new(),
            pending_size: 1,
            sizing,
            estimates: spare::take(&SPARE_ESTIMATES, 0),
            // Room for the forward jumps of most programs.
            guesses: spare::take(&SPARE_GUESSES, len / 4 + 4),
            body0: 0,
            offsets: Vec::new(),
            body_end: 0,
            calls: Vec::new(),
            may_goto: plan.has_may_goto || plan.has_tail_call,
            // Seeding costs a hash-key read: only when the plan blinds.
            keys: if plan.blind {
                blind::Keys::new()
            } else {
                blind::Keys::unused()
            },
        }
    }

    /// `jmp` to slot `target` from slot `pc`, rel8 when it fits.
    fn jmp_to(&mut self, pc: usize, target: usize) {
        let (t, short) = self.jump(pc, target);
        if short {
            dynasm!(self.ops ; .arch x64 ; jmp BYTE =>t);
        } else {
            dynasm!(self.ops ; .arch x64 ; jmp =>t);
        }
    }

    /// The label of slot `pc` (every jump target has one).
    fn label(&mut self, pc: usize) -> DynamicLabel {
        let pc = pc.min(self.body.len() - 1);
        match self.body[pc] {
            Some(l) => l,
            None => {
                let l = self.ops.new_dynamic_label();
                self.body[pc] = Some(l);
                l
            }
        }
    }

    /// The label of the function entry (prologue) at slot `pc`, if the plan has one there.
    fn func_label(&mut self, pc: usize) -> Option<DynamicLabel> {
        if !self.plan.slots.get(pc)?.function {
            return None;
        }
        Some(*self.func[pc].get_or_insert_with(|| self.ops.new_dynamic_label()))
    }

    /// A label that raises `fault` (emitted out of line).
    fn static_fault(&mut self, fault: Fault) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.faults.push(fault);
        self.stubs.push(Stub::Static {
            label,
            fault: self.faults.len() - 1,
        });
        label
    }

    /// A jump to the out-of-line fault of `insn` at `pc`, which faults whenever it runs
    /// ([`static_fault`]); `false` (and nothing emitted) when it has none.
    fn static_fault_jump(&mut self, pc: usize, insn: &Insn) -> bool {
        let Some(f) = static_fault(self.vm, pc, insn) else {
            return false;
        };
        let l = self.static_fault(f);
        dynasm!(self.ops ; .arch x64 ; jmp =>l);
        true
    }

    /// Emits `insn` blinded, or its fault if it always faults; `false` when neither applies
    /// (the caller emits it as usual).
    #[cold]
    fn blinded_or_faulted(&mut self, pc: usize, insn: &Insn) -> bool {
        // A blinded `ld_imm64` whose value is unbound still faults.
        let unbound = matches!(insn, Insn::LdImm64 { .. })
            && self.vm.ld_imm64_value(pc).is_none()
            && self.static_fault_jump(pc, insn);
        unbound || self.blinded(pc, insn)
    }

    /// Stores the slot into the context before a call-out.
    fn note_call_out(&mut self, pc: usize) {
        enc::store_imm(&mut self.ops, enc::W::Q, pc as i32, CTX, CTX_PC);
    }

    /// Calls the Rust function at `f` and reloads the context register.
    fn call_rust(&mut self, f: u64) {
        dynasm!(self.ops
            ; .arch x64
            ; mov rax, QWORD f as i64
            ; call rax
        );
        enc::load(&mut self.ops, enc::W::Q, CTX, 4, FRAME_CTX);
    }

    fn jump_if_faulted(&mut self) {
        let fault_exit = self.fault_exit;
        self.fault_exit_used = true;
        enc::alu_mem_imm8(&mut self.ops, 7, CTX, CTX_STATUS, 0);
        dynasm!(self.ops ; .arch x64 ; jne =>fault_exit);
    }

    fn save_regs(&mut self, regs: std::ops::Range<u8>) {
        for r in regs {
            enc::store(&mut self.ops, enc::W::Q, x(r), CTX, CTX_REGS + 8 * r as i32);
        }
    }

    fn restore_regs(&mut self, regs: std::ops::Range<u8>) {
        for r in regs {
            enc::load(&mut self.ops, enc::W::Q, x(r), CTX, CTX_REGS + 8 * r as i32);
        }
    }

    /// A BPF function's prologue (the epilogue is shared: [`entry::shared_code`]): saves the caller's r6..r9 and r10 (which the call site
    /// left in r10), a fresh `may_goto` budget, the context pointer.
    fn prologue(&mut self) {
        dynasm!(self.ops
            ; .arch x64
            ; push rbx
            ; push r13
            ; push r14
            ; push r15
            ; push r10
            ; sub rsp, BYTE FRAME_LOCALS as i8
        );
        enc::store(&mut self.ops, enc::W::Q, CTX, 4, FRAME_CTX);
        if self.may_goto {
            let budget = runtime::MAY_GOTO_BUDGET as i32;
            enc::store_imm(&mut self.ops, enc::W::Q, budget, 4, FRAME_MAY_GOTO);
        }
    }

    /// The exit of a fault: back to the entry stub with its stack pointer.
    fn fault_exit_out(&mut self) {
        if !self.fault_exit_used {
            return;
        }
        let f = self.fault_exit;
        dynasm!(self.ops ; .arch x64 ; =>f);
        enc::load(&mut self.ops, enc::W::Q, 4, CTX, CTX_SAVED_RSP);
        enc::jmp_mem(&mut self.ops, CTX, CTX_FAULT_RET);
    }

    /// Emits the whole program: body, out-of-line stubs, fault exit.
    fn emit(&mut self) -> Result<(), JitError> {
        let len = self.plan.slots.len();
        let mut offsets = std::mem::take(&mut self.offsets);
        offsets.clear();
        offsets.resize(len + 1, 0);
        let mut body0 = 0;
        // Falling off the end (or jumping there) is the interpreter's invalid instruction,
        // raised out of line.
        if self.plan.end_reachable {
            let l = self.static_fault(Fault {
                pc: len,
                kind: FaultKind::PcOutOfRange,
            });
            self.body[len] = Some(l);
        }
        // The plan outlives the backend: its instructions are used in place (a copy of
        // each would be stored and reloaded piecewise, a store-forwarding stall per slot).
        let plan = self.plan;
        for (pc, (slot, offset)) in plan.slots.iter().zip(offsets.iter_mut()).enumerate() {
            // Only jump targets (every function entry is one) and slot 0 have labels and
            // prologues: one test spares the other slots the rest.
            if slot.target || pc == 0 {
                // The entry stub builds slot 0's frame; it has a prologue only when a
                // BPF-to-BPF call enters it too.
                if slot.function && (pc != 0 || plan.entry_called) {
                    let f = *self.func[pc].get_or_insert_with(|| self.ops.new_dynamic_label());
                    if slot.fallthrough_in {
                        self.jmp_to(pc.saturating_sub(1), pc);
                    }
                    dynasm!(self.ops ; .arch x64 ; =>f);
                    self.prologue();
                }
                // Every jump target gets its label here (a backward jump finds it placed).
                let l = self.label(pc);
                dynasm!(self.ops ; .arch x64 ; =>l);
                if pc == 0 {
                    body0 = self.ops.offset().0;
                }
            } else {
                debug_assert!(self.body[pc].is_none(), "slot {pc} has a label but no jump");
            }
            *offset = self.ops.offset().0 as u32;
            let (charge, target) = (slot.charge, slot.target);
            if self.checked && charge > 0 {
                let label = self.ops.new_dynamic_label();
                if charge <= 127 {
                    dynasm!(self.ops ; .arch x64 ; sub Rq(METER), BYTE charge as i8);
                } else {
                    dynasm!(self.ops ; .arch x64 ; sub Rq(METER), charge as i32);
                }
                dynasm!(self.ops ; .arch x64 ; jb =>label);
                self.stubs.push(Stub::Budget { label, pc, charge });
            }
            match &slot.insn {
                None => {
                    if let Some(kind) = slot.rejected.then(|| plan.rejected(pc)).flatten() {
                        let l = self.static_fault(Fault { pc, kind });
                        dynasm!(self.ops ; .arch x64 ; jmp =>l);
                    } else if target {
                        let l = self.static_fault(Fault {
                            pc,
                            kind: FaultKind::PcOutOfRange,
                        });
                        dynasm!(self.ops ; .arch x64 ; jmp =>l);
                    }
                }
                Some(insn) => self.insn(pc, insn)?,
            }
        }
        if self.plan.falls_off_end {
            let end = self.label(len);
            dynasm!(self.ops ; .arch x64 ; jmp =>end);
        }
        offsets[len] = self.ops.offset().0 as u32;
        self.body_end = self.ops.offset().0;
        self.body0 = body0;
        self.offsets = offsets;
        self.stubs_out();
        self.fault_exit_out();
        Ok(())
    }

    /// The code and tables of an emitted program whose jumps all fit.
    fn finish(mut self) -> Result<(Emitted, Vec<Site>, Vec<Fault>), JitError> {
        let code = self
            .ops
            .take()
            .map_err(|e| JitError::Assemble(e.to_string()))?;
        self.keep_ops = self.func.len() <= SPARE_MAX_SLOTS;
        Ok((
            Emitted {
                code,
                body0: self.body0,
                offsets: std::mem::take(&mut self.offsets),
                calls: std::mem::take(&mut self.calls),
                body_end: self.body_end,
            },
            std::mem::take(&mut self.sites),
            std::mem::take(&mut self.faults),
        ))
    }

    fn insn(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        if self.blind && self.blinded_or_faulted(pc, insn) {
            return Ok(());
        }
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width, op, dst, src),
            Insn::Neg { width, dst } => self.neg(width, dst),
            Insn::End { kind, bits, dst } => self.end(kind, bits, dst),
            Insn::Ja { .. } => {
                let t = insn.jump_target(pc).unwrap_or(0) as usize;
                self.jmp_to(pc, t);
            }
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => {
                let t = insn.jump_target(pc).unwrap_or(0) as usize;
                self.jmp(width, cond, dst, src, pc, t);
            }
            Insn::MayGoto { .. } => {
                let t = insn.jump_target(pc).unwrap_or(0) as usize;
                enc::alu_mem_imm8(&mut self.ops, 7, 4, FRAME_MAY_GOTO, 0);
                let (t, short) = self.jump(pc, t);
                if short {
                    dynasm!(self.ops ; .arch x64 ; je BYTE =>t);
                } else {
                    dynasm!(self.ops ; .arch x64 ; je =>t);
                }
                enc::alu_mem_imm8(&mut self.ops, 5, 4, FRAME_MAY_GOTO, 1);
            }
            Insn::Call(CallTarget::Helper(id))
                if id as u64 == bpfbox_vm::interp::BPF_FUNC_TAIL_CALL =>
            {
                self.tail_call(pc)
            }
            Insn::Call(CallTarget::Helper(id)) => self.helper(pc, id as u32),
            Insn::Callx { reg } => self.callx(pc, reg),
            Insn::Call(CallTarget::Local(_)) => {
                let target = insn.local_call_target(pc).unwrap_or(0) as usize;
                self.local_call(pc, target)?
            }
            // Only these fault whenever they run (a fault known at compile time).
            Insn::Call(CallTarget::Kfunc { .. }) | Insn::AddrSpaceCast { .. } => {
                self.static_fault_jump(pc, insn);
            }
            // The shared epilogue, outside the image.
            Insn::Exit { .. } => enc::jmp_mem(&mut self.ops, CTX, CTX_EPILOGUE),
            Insn::LdImm64 { dst, .. } => match self.vm.ld_imm64_value(pc) {
                Some(v) => self.mov_imm64(dst, v),
                None => {
                    if !self.static_fault_jump(pc, insn) {
                        self.mov_imm64(dst, 0);
                    }
                }
            },
            Insn::Ldx { .. }
            | Insn::LdxSx { .. }
            | Insn::St { .. }
            | Insn::Stx { .. }
            | Insn::Atomic { .. } => self.memory(pc, insn),
            Insn::LdAbs { size, imm } => self.ld_packet(pc, None, imm, size.bytes()),
            Insn::LdInd { size, src, imm } => self.ld_packet(pc, Some(src), imm, size.bytes()),
        }
        Ok(())
    }
}
