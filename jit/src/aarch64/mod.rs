//! The aarch64 backend: the kernel's arm64 register map (R0 x7, R1–R5 x0–x4, R6–R9
//! x19–x22, FP x25), helper calls with no argument moves, one fixed-size frame per BPF
//! function with the callee-saved pairs stored only when the function writes them, an entry
//! stub at the start of every image that builds the entry function's frame and enters slot
//! 0's body (where tail calls enter too), and out-of-line stubs after the body.
//!
//! It follows the runtime contract of `crate::runtime` as the x86-64 backend does:
//! `RunCtx::image` is the image running now (a tail call switches it), the call depth is
//! found from r10, and call-outs record only their slot.
//!
//! It emits into a host-neutral [`VecAssembler`], so images can be produced and inspected
//! (and run under an emulator) on any host; [`program`] runs them natively on an aarch64
//! host or through an [`program::Executor`] elsewhere.

mod alu;
mod calls;
mod enc;
mod entry;
mod mem;
pub mod program;
mod stubs;

use dynasmrt::aarch64::Aarch64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use bpfbox_vm::interp::FaultKind;
use bpfbox_vm::isa::{CallTarget, Insn};
use bpfbox_vm::{Fault, Vm};

use crate::frontend::{static_fault, Mode, Plan, Site};
use crate::layout::*;
use crate::JitError;

pub use program::{
    callout, native_callouts, A64Image, A64Program, CallOut, Executor, Options, N_CALLOUTS,
};

pub(crate) type Asm = VecAssembler<Aarch64Relocation>;

/// BPF register to aarch64 register number (the kernel's map).
pub const REG: [u32; 11] = [7, 0, 1, 2, 3, 4, 19, 20, 21, 22, 25];
/// The register that holds the run context.
pub(crate) const CTX: u32 = 27;
/// The register that holds the instruction meter (checked mode).
pub(crate) const METER: u32 = 26;
/// Scratch registers: an operand value, a checked address, two temporaries, the call-out
/// target.
pub(crate) const T0: u32 = 9;
pub(crate) const TA: u32 = 10;
pub(crate) const T1: u32 = 11;
pub(crate) const T2: u32 = 12;
pub(crate) const TC: u32 = 16;

/// Bytes of every BPF function's native frame: x29/x30, x19/x20, x21/x22, the `may_goto`
/// counter, padding.
const FRAME: i32 = 64;
const FRAME_PAIR1: i32 = 16;
const FRAME_PAIR2: i32 = 32;
const FRAME_GOTO: u32 = 48;
/// Bytes of the entry stub's frame (x19..x30 of the host).
const STUB_FRAME: i32 = 96;

/// The BPF register `r` as an aarch64 register number.
#[inline]
pub(crate) fn x(r: u8) -> u32 {
    REG[(r as usize).min(10)]
}

/// Condition codes the backend branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq,
    Ne,
    Hi,
    Hs,
    Lo,
    Ls,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cond {
    fn inverse(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
        }
    }
}

/// What the backend produced for one program.
pub(crate) struct Emitted {
    pub code: Vec<u8>,
    /// Offset of slot 0's body (where the entry stub and tail calls enter).
    pub body0: usize,
    /// Native offset of each slot's code (`u32::MAX` for slots without code).
    pub offsets: Vec<u32>,
    /// Native offset where the epilogues and out-of-line code start.
    pub body_end: usize,
}

/// Code emitted after the body.
enum Stub {
    /// Memory access `site` whose inline check failed; the address is in x10.
    Mem {
        label: DynamicLabel,
        site: usize,
        ok: DynamicLabel,
        done: DynamicLabel,
        stack_first: bool,
        /// Where a misaligned atomic enters, past the second check.
        slow: Option<DynamicLabel>,
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
    pub ops: Asm,
    vm: &'a Vm,
    plan: &'a Plan,
    checked: bool,
    lse: bool,
    /// Conditional branches to labels go through an inverted short branch around `b`
    /// (set when a first attempt found a target out of `b.cond` range).
    long: bool,
    body: Vec<Option<DynamicLabel>>,
    func: Vec<Option<DynamicLabel>>,
    /// The callee-saved pairs each function's prologue stores (bit 0: x19/x20, bit 1:
    /// x21/x22), indexed by the function's first slot.
    pairs: Vec<u8>,
    /// The epilogue of each callee-saved pair mask.
    epilogues: [Option<DynamicLabel>; 4],
    /// Pair mask of the function being emitted.
    cur_pairs: u8,
    /// Whether prologues set the frame's `may_goto` counter (the image has `may_goto` or a
    /// tail call, whose target may have one and shares the frame).
    may_goto: bool,
    fault_exit: DynamicLabel,
    stubs: Vec<Stub>,
    pub sites: Vec<Site>,
    pub faults: Vec<Fault>,
}

/// Which callee-saved pairs each function writes (bit 0: r6/r7, bit 1: r8/r9).
fn written_pairs(plan: &Plan) -> Vec<u8> {
    let len = plan.slots.len();
    let mut pairs = vec![0u8; len];
    let mut cur = 0;
    let mut tail_call = vec![false; len];
    for pc in 0..len {
        if plan.slots[pc].function {
            cur = pc;
        }
        let Some(insn) = plan.slots[pc].insn else {
            continue;
        };
        let written: Option<u8> = match insn {
            Insn::Alu { dst, .. }
            | Insn::Neg { dst, .. }
            | Insn::End { dst, .. }
            | Insn::LdImm64 { dst, .. }
            | Insn::Ldx { dst, .. }
            | Insn::LdxSx { dst, .. } => Some(dst),
            Insn::Atomic { src, dst, .. } => {
                // A fetch writes src (load-acquire writes dst).
                pairs[cur] |= mask_of(dst);
                Some(src)
            }
            Insn::Call(CallTarget::Helper(id))
                if id as u64 == bpfbox_vm::interp::BPF_FUNC_TAIL_CALL =>
            {
                tail_call[cur] = true;
                None
            }
            _ => None,
        };
        if let Some(r) = written {
            pairs[cur] |= mask_of(r);
        }
    }
    for (p, t) in pairs.iter_mut().zip(tail_call) {
        if t {
            *p = 3;
        }
    }
    pairs
}

fn mask_of(r: u8) -> u8 {
    match r {
        6 | 7 => 1,
        8 | 9 => 2,
        _ => 0,
    }
}

impl<'a> Backend<'a> {
    pub(crate) fn new(vm: &'a Vm, plan: &'a Plan, lse: bool, long: bool) -> Self {
        let mut ops = Asm::new(0);
        let len = plan.slots.len();
        let mut body = vec![None; len + 1];
        let mut func = vec![None; len];
        for (pc, s) in plan.slots.iter().enumerate() {
            if s.target || pc == 0 {
                body[pc] = Some(ops.new_dynamic_label());
            }
            if s.function {
                func[pc] = Some(ops.new_dynamic_label());
            }
        }
        body[len] = Some(ops.new_dynamic_label());
        let checked = plan.mode == Mode::Checked;
        let mut pairs = written_pairs(plan);
        if checked {
            // Unverified code may leave a function by any jump: keep every frame alike.
            pairs.iter_mut().for_each(|p| *p = 3);
        }
        if let Some(p) = pairs.first_mut() {
            // The entry function's frame is what tail call targets return through.
            *p = 3;
        }
        let fault_exit = ops.new_dynamic_label();
        Backend {
            ops,
            vm,
            plan,
            checked,
            lse,
            long,
            body,
            func,
            pairs,
            epilogues: [None; 4],
            cur_pairs: 3,
            may_goto: plan.has_may_goto || plan.has_tail_call,
            fault_exit,
            stubs: Vec::new(),
            sites: Vec::new(),
            faults: Vec::new(),
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

    fn epilogue_label(&mut self, pairs: u8) -> DynamicLabel {
        let i = (pairs & 3) as usize;
        match self.epilogues[i] {
            Some(l) => l,
            None => {
                let l = self.ops.new_dynamic_label();
                self.epilogues[i] = Some(l);
                l
            }
        }
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

    /// `b.cond label`, or the inverted short branch around `b label` in long mode.
    pub(crate) fn b_cond(&mut self, c: Cond, l: DynamicLabel) {
        if self.long {
            let skip = self.ops.new_dynamic_label();
            self.emit_bcond(c.inverse(), skip);
            dynasm!(self.ops ; .arch aarch64 ; b =>l ; =>skip);
        } else {
            self.emit_bcond(c, l);
        }
    }

    fn emit_bcond(&mut self, c: Cond, l: DynamicLabel) {
        match c {
            Cond::Eq => dynasm!(self.ops ; .arch aarch64 ; b.eq =>l),
            Cond::Ne => dynasm!(self.ops ; .arch aarch64 ; b.ne =>l),
            Cond::Hi => dynasm!(self.ops ; .arch aarch64 ; b.hi =>l),
            Cond::Hs => dynasm!(self.ops ; .arch aarch64 ; b.hs =>l),
            Cond::Lo => dynasm!(self.ops ; .arch aarch64 ; b.lo =>l),
            Cond::Ls => dynasm!(self.ops ; .arch aarch64 ; b.ls =>l),
            Cond::Gt => dynasm!(self.ops ; .arch aarch64 ; b.gt =>l),
            Cond::Ge => dynasm!(self.ops ; .arch aarch64 ; b.ge =>l),
            Cond::Lt => dynasm!(self.ops ; .arch aarch64 ; b.lt =>l),
            Cond::Le => dynasm!(self.ops ; .arch aarch64 ; b.le =>l),
        }
    }

    /// `cbz`/`cbnz` (64-bit) to a label, with the long-mode fallback.
    pub(crate) fn cb(&mut self, nonzero: bool, r: u32, l: DynamicLabel) {
        let (nz, target) = if self.long {
            (!nonzero, self.ops.new_dynamic_label())
        } else {
            (nonzero, l)
        };
        if nz {
            dynasm!(self.ops ; .arch aarch64 ; cbnz X(r), =>target);
        } else {
            dynasm!(self.ops ; .arch aarch64 ; cbz X(r), =>target);
        }
        if self.long {
            dynasm!(self.ops ; .arch aarch64 ; b =>l ; =>target);
        }
    }

    fn mov_imm(&mut self, w64: bool, rd: u32, v: u64) {
        enc::mov_imm(&mut self.ops, w64, rd, v);
    }

    fn ld_ctx(&mut self, rt: u32, off: i32) {
        enc::ld_ctx(&mut self.ops, rt, CTX, off);
    }

    fn st_ctx(&mut self, rt: u32, off: i32) {
        enc::st_ctx(&mut self.ops, rt, CTX, off, T2);
    }

    /// Stores the slot into the context before a call-out (`RunCtx::image` is already
    /// the running image's).
    fn note_call_out(&mut self, pc: usize) {
        self.mov_imm(true, T0, pc as u64);
        self.st_ctx(T0, CTX_PC);
    }

    /// Calls call-out `k` through the context's table.
    fn call_out(&mut self, k: CallOut) {
        self.ld_ctx(TC, CTX_CALLOUTS + 8 * k as i32);
        dynasm!(self.ops ; .arch aarch64 ; blr X(TC));
    }

    fn jump_if_faulted(&mut self) {
        self.ld_ctx(T0, CTX_STATUS);
        let f = self.fault_exit;
        self.cb(true, T0, f);
    }

    /// Spills BPF registers `regs` to `RunCtx::regs`.
    fn save_regs(&mut self, regs: std::ops::Range<u8>) {
        for r in regs {
            self.st_ctx(x(r), CTX_REGS + 8 * r as i32);
        }
    }

    fn restore_regs(&mut self, regs: std::ops::Range<u8>) {
        for r in regs {
            self.ld_ctx(x(r), CTX_REGS + 8 * r as i32);
        }
    }

    /// Compiles the whole program.
    pub(crate) fn compile(mut self) -> Result<(Emitted, Vec<Site>, Vec<Fault>), JitError> {
        let len = self.plan.slots.len();
        let mut offsets = vec![u32::MAX; len];
        let mut body0 = 0;
        let main = self.label(0);
        self.entry_stub(main);
        // The entry function's frame is the stub's (its pairs are always stored).
        self.cur_pairs = self.pairs.first().copied().unwrap_or(3);
        for (pc, offset) in offsets.iter_mut().enumerate() {
            let slot = self.plan.slots[pc];
            // Slot 0 has a prologue only when a BPF-to-BPF call enters it too.
            let func = if pc == 0 && !self.plan.entry_called {
                None
            } else {
                self.func[pc]
            };
            if let Some(f) = func {
                if slot.fallthrough_in {
                    let b = self.label(pc);
                    dynasm!(self.ops ; .arch aarch64 ; b =>b);
                }
                dynasm!(self.ops ; .arch aarch64 ; =>f);
                self.cur_pairs = self.pairs[pc];
                self.prologue(self.cur_pairs);
            }
            if let Some(l) = self.body[pc] {
                dynasm!(self.ops ; .arch aarch64 ; =>l);
            }
            if pc == 0 {
                body0 = self.ops.offset().0;
            }
            *offset = self.ops.offset().0 as u32;
            if self.checked && slot.charge > 0 {
                let label = self.ops.new_dynamic_label();
                let charge = slot.charge;
                if charge < 4096 {
                    dynasm!(self.ops ; .arch aarch64 ; subs X(METER), XSP(METER), charge);
                } else {
                    self.mov_imm(true, T0, charge as u64);
                    dynasm!(self.ops ; .arch aarch64 ; subs X(METER), X(METER), X(T0));
                }
                self.b_cond(Cond::Lo, label);
                self.stubs.push(Stub::Budget { label, pc, charge });
            }
            match slot.insn {
                None => {
                    if let Some(kind) = slot.rejected.then(|| self.plan.rejected(pc)).flatten() {
                        let l = self.static_fault(Fault { pc, kind });
                        dynasm!(self.ops ; .arch aarch64 ; b =>l);
                    } else if slot.target {
                        let l = self.static_fault(Fault {
                            pc,
                            kind: FaultKind::PcOutOfRange,
                        });
                        dynasm!(self.ops ; .arch aarch64 ; b =>l);
                    }
                }
                Some(insn) => self.insn(pc, &insn)?,
            }
        }
        let end = self.label(len);
        dynasm!(self.ops ; .arch aarch64 ; =>end);
        let l = self.static_fault(Fault {
            pc: len,
            kind: FaultKind::PcOutOfRange,
        });
        dynasm!(self.ops ; .arch aarch64 ; b =>l);
        let body_end = self.ops.offset().0;
        // Every function's exit branches to the epilogue of its pair mask.
        self.epilogues_out();
        self.stubs_out();
        let code = self
            .ops
            .finalize()
            .map_err(|e| JitError::Assemble(e.to_string()))?;
        Ok((
            Emitted {
                code,
                body0,
                offsets,
                body_end,
            },
            self.sites,
            self.faults,
        ))
    }

    fn insn(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        if let Some(f) = static_fault(self.vm, pc, insn) {
            let l = self.static_fault(f);
            dynasm!(self.ops ; .arch aarch64 ; b =>l);
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
                let t = self.label(insn.jump_target(pc).unwrap_or(0) as usize);
                dynasm!(self.ops ; .arch aarch64 ; b =>t);
            }
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => {
                let t = self.label(insn.jump_target(pc).unwrap_or(0) as usize);
                self.jmp(width, cond, dst, src, t);
            }
            Insn::MayGoto { .. } => {
                let t = self.label(insn.jump_target(pc).unwrap_or(0) as usize);
                dynasm!(self.ops ; .arch aarch64 ; ldr X(T0), [sp, FRAME_GOTO]);
                self.cb(false, T0, t);
                dynasm!(self.ops
                    ; .arch aarch64
                    ; sub XSP(T0), XSP(T0), 1
                    ; str X(T0), [sp, FRAME_GOTO]
                );
            }
            Insn::Call(CallTarget::Helper(id))
                if id as u64 == bpfbox_vm::interp::BPF_FUNC_TAIL_CALL =>
            {
                self.tail_call(pc)
            }
            Insn::Call(CallTarget::Helper(id)) => self.helper(pc, Err(id as u32)),
            Insn::Callx { reg } => self.helper(pc, Ok(reg)),
            Insn::Call(CallTarget::Local(_)) => {
                let target = insn.local_call_target(pc).unwrap_or(0) as usize;
                self.local_call(pc, target)?
            }
            Insn::Call(CallTarget::Kfunc { .. }) | Insn::AddrSpaceCast { .. } => {
                unreachable!("static faults are handled above")
            }
            Insn::Exit { .. } => {
                let e = self.epilogue_label(self.cur_pairs);
                dynasm!(self.ops ; .arch aarch64 ; b =>e);
            }
            Insn::LdImm64 { dst, .. } => {
                let v = self.vm.ld_imm64_value(pc).unwrap_or(0);
                self.mov_imm(true, x(dst), v);
            }
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
