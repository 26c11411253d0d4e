//! The x86-64 backend: the kernel's register map, one prologue per BPF function, one shared
//! epilogue, and out-of-line stubs (memory slow paths, budget replays, static faults) after
//! the body so the straight-line code stays dense.

mod alu;
mod enc;
mod mem;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use bpfbox_vm::interp::{FaultKind, MAX_CALL_FRAMES, STACK_FRAME_SIZE};
use bpfbox_vm::isa::{CallTarget, Insn};
use bpfbox_vm::{Fault, Vm};

use crate::frontend::{static_fault, Mode, Plan, Site};
use crate::layout::*;
use crate::runtime;
use crate::JitError;

pub(crate) type Asm = VecAssembler<X64Relocation>;

/// BPF register to x86-64 register number (the kernel's map).
pub(crate) const REG: [u8; 11] = [0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5];
/// The register that holds the run context.
pub(crate) const CTX: u8 = 9;
/// The register that holds the instruction meter (checked mode).
pub(crate) const METER: u8 = 12;

/// The BPF register `r` as an x86-64 register number.
#[inline]
pub(crate) fn x(r: u8) -> u8 {
    REG[(r as usize).min(10)]
}

/// What the backend produced for one program.
pub(crate) struct Emitted {
    pub code: Vec<u8>,
    /// Offset of slot 0's function (with its prologue): what the shared entry stub calls.
    pub entry: usize,
    /// Offset of slot 0's body after its prologue (where tail calls enter).
    pub body0: usize,
    /// Native offset of each slot's code (`u32::MAX` for slots without code).
    pub offsets: Vec<u32>,
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
    pub ops: Asm,
    vm: &'a Vm,
    plan: &'a Plan,
    /// Address of the image's metadata, stored in the context by call-outs.
    meta: u64,
    checked: bool,
    bmi2: bool,
    body: Vec<Option<DynamicLabel>>,
    func: Vec<Option<DynamicLabel>>,
    epilogue: DynamicLabel,
    fault_exit: DynamicLabel,
    stubs: Vec<Stub>,
    pub sites: Vec<Site>,
    pub faults: Vec<Fault>,
    /// Access size of the memory check being emitted.
    pending_size: u32,
}

impl<'a> Backend<'a> {
    pub(crate) fn new(vm: &'a Vm, plan: &'a Plan, meta: u64) -> Backend<'a> {
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
        let epilogue = ops.new_dynamic_label();
        let fault_exit = ops.new_dynamic_label();
        Backend {
            ops,
            vm,
            plan,
            meta,
            checked: plan.mode == Mode::Checked,
            bmi2: std::is_x86_feature_detected!("bmi2"),
            body,
            func,
            epilogue,
            fault_exit,
            stubs: Vec::new(),
            sites: Vec::new(),
            faults: Vec::new(),
            pending_size: 1,
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

    /// Stores the slot and the image into the context before a call-out.
    fn note_call_out(&mut self, pc: usize) {
        let meta = self.meta as i64;
        dynasm!(self.ops
            ; .arch x64
            ; mov QWORD [Rq(CTX) + CTX_PC], pc as i32
            ; mov rax, QWORD meta
            ; mov [Rq(CTX) + CTX_IMAGE], rax
        );
    }

    /// Calls the Rust function at `f` and reloads the context register.
    fn call_rust(&mut self, f: u64) {
        dynasm!(self.ops
            ; .arch x64
            ; mov rax, QWORD f as i64
            ; call rax
            ; mov Rq(CTX), [rsp + FRAME_CTX]
        );
    }

    fn jump_if_faulted(&mut self) {
        let fault_exit = self.fault_exit;
        dynasm!(self.ops
            ; .arch x64
            ; cmp QWORD [Rq(CTX) + CTX_STATUS], 0
            ; jne =>fault_exit
        );
    }

    fn save_regs(&mut self, regs: std::ops::Range<u8>) {
        for r in regs {
            dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_REGS + 8 * r as i32], Rq(x(r)));
        }
    }

    fn restore_regs(&mut self, regs: std::ops::Range<u8>) {
        for r in regs {
            dynasm!(self.ops ; .arch x64 ; mov Rq(x(r)), [Rq(CTX) + CTX_REGS + 8 * r as i32]);
        }
    }

    /// A BPF function's prologue: saves the caller's r6..r9 and r10 (which the call site
    /// left in r10), a fresh `may_goto` budget, the context pointer.
    fn prologue(&mut self) {
        dynasm!(self.ops
            ; .arch x64
            ; push rbx
            ; push r13
            ; push r14
            ; push r15
            ; push r10
            ; sub rsp, FRAME_LOCALS
            ; mov QWORD [rsp + FRAME_MAY_GOTO], runtime::MAY_GOTO_BUDGET as i32
            ; mov [rsp + FRAME_CTX], Rq(CTX)
        );
    }

    fn epilogue(&mut self) {
        let l = self.epilogue;
        dynasm!(self.ops
            ; .arch x64
            ; =>l
            ; add rsp, FRAME_LOCALS
            ; pop rbp
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop rbx
            ; ret
        );
        let f = self.fault_exit;
        dynasm!(self.ops
            ; .arch x64
            ; =>f
            ; mov rsp, [Rq(CTX) + CTX_SAVED_RSP]
            ; jmp QWORD [Rq(CTX) + CTX_FAULT_RET]
        );
    }

    /// Compiles the whole program.
    pub(crate) fn compile(mut self) -> Result<(Emitted, Vec<Site>, Vec<Fault>), JitError> {
        let len = self.plan.slots.len();
        let mut offsets = vec![u32::MAX; len];
        let mut body0 = 0;
        let mut entry = 0;
        for (pc, offset) in offsets.iter_mut().enumerate() {
            let slot = self.plan.slots[pc].clone();
            if let Some(f) = self.func[pc] {
                if slot.fallthrough_in {
                    let b = self.label(pc);
                    dynasm!(self.ops ; .arch x64 ; jmp =>b);
                }
                if pc == 0 {
                    entry = self.ops.offset().0;
                }
                dynasm!(self.ops ; .arch x64 ; =>f);
                self.prologue();
            }
            if let Some(l) = self.body[pc] {
                dynasm!(self.ops ; .arch x64 ; =>l);
            }
            if pc == 0 {
                body0 = self.ops.offset().0;
            }
            *offset = self.ops.offset().0 as u32;
            if self.checked && slot.charge > 0 {
                let label = self.ops.new_dynamic_label();
                let charge = slot.charge;
                if charge <= 127 {
                    dynasm!(self.ops ; .arch x64 ; sub Rq(METER), BYTE charge as i8);
                } else {
                    dynasm!(self.ops ; .arch x64 ; sub Rq(METER), charge as i32);
                }
                dynasm!(self.ops ; .arch x64 ; jb =>label);
                self.stubs.push(Stub::Budget { label, pc, charge });
            }
            match slot.insn {
                None => {
                    if let Some(kind) = slot.rejected.clone() {
                        let l = self.static_fault(Fault { pc, kind });
                        dynasm!(self.ops ; .arch x64 ; jmp =>l);
                    } else if slot.target {
                        let l = self.static_fault(Fault {
                            pc,
                            kind: FaultKind::PcOutOfRange,
                        });
                        dynasm!(self.ops ; .arch x64 ; jmp =>l);
                    }
                }
                Some(insn) => self.insn(pc, &insn)?,
            }
        }
        // Falling off the end (or jumping there) is the interpreter's invalid instruction.
        let end = self.label(len);
        dynasm!(self.ops ; .arch x64 ; =>end);
        let l = self.static_fault(Fault {
            pc: len,
            kind: FaultKind::PcOutOfRange,
        });
        dynasm!(self.ops ; .arch x64 ; jmp =>l);
        let body_end = self.ops.offset().0;
        self.epilogue();
        self.stubs_out();
        let code = self
            .ops
            .finalize()
            .map_err(|e| JitError::Assemble(e.to_string()))?;
        Ok((
            Emitted {
                code,
                entry,
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
            dynasm!(self.ops ; .arch x64 ; jmp =>l);
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
                dynasm!(self.ops ; .arch x64 ; jmp =>t);
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
                dynasm!(self.ops
                    ; .arch x64
                    ; cmp QWORD [rsp + FRAME_MAY_GOTO], 0
                    ; je =>t
                    ; sub QWORD [rsp + FRAME_MAY_GOTO], 1
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
                let e = self.epilogue;
                dynasm!(self.ops ; .arch x64 ; jmp =>e);
            }
            Insn::LdImm64 { dst, .. } => {
                let v = self.vm.ld_imm64_value(pc).unwrap_or(0);
                self.mov_imm64(dst, v);
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

    /// `call` of a helper by id (`Err`) or through a register (`Ok`, `callx`).
    fn helper(&mut self, pc: usize, target: Result<u8, u32>) {
        if self.checked {
            dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_LEFT], Rq(METER));
        }
        dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_R10], rbp);
        match target {
            Ok(reg) => dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_ID], Rq(x(reg))),
            Err(id) => dynasm!(self.ops
                ; .arch x64
                ; mov r11d, id as i32
                ; mov [Rq(CTX) + CTX_ID], r11
            ),
        }
        // The interpreter keeps r1..r5 across a helper call.
        self.save_regs(1..6);
        self.note_call_out(pc);
        self.call_rust(runtime::jit_helper as *const () as usize as u64);
        if self.checked {
            dynasm!(self.ops ; .arch x64 ; mov Rq(METER), [Rq(CTX) + CTX_LEFT]);
        }
        self.jump_if_faulted();
        self.restore_regs(1..6);
    }

    fn tail_call(&mut self, pc: usize) {
        if self.checked {
            dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_LEFT], Rq(METER));
        }
        self.save_regs(0..6);
        self.note_call_out(pc);
        // rsi and rdx already hold r2 (the program array) and r3 (the index).
        dynasm!(self.ops ; .arch x64 ; mov rdi, Rq(CTX));
        self.call_rust(runtime::jit_tail_call as *const () as usize as u64);
        dynasm!(self.ops ; .arch x64 ; mov r11, rax);
        self.jump_if_faulted();
        self.restore_regs(0..6);
        dynasm!(self.ops
            ; .arch x64
            ; test r11, r11
            ; jz >fall
            ; jmp r11
            ; fall:
        );
    }

    fn local_call(&mut self, pc: usize, target: usize) -> Result<(), JitError> {
        let depth = self.static_fault(Fault {
            pc,
            kind: FaultKind::CallDepth {
                max: MAX_CALL_FRAMES,
            },
        });
        let Some(f) = self.func.get(target).copied().flatten() else {
            return Err(JitError::BadCall { pc, target });
        };
        dynasm!(self.ops
            ; .arch x64
            ; cmp QWORD [Rq(CTX) + CTX_DEPTH], (MAX_CALL_FRAMES - 1) as i32
            ; jae =>depth
            ; add QWORD [Rq(CTX) + CTX_DEPTH], 1
            ; mov r10, rbp
            ; sub rbp, STACK_FRAME_SIZE as i32
            ; call =>f
            ; sub QWORD [Rq(CTX) + CTX_DEPTH], 1
        );
        Ok(())
    }

    /// `LD_ABS` (`src` = None) / `LD_IND`: r0 = the packet bytes, big-endian.
    fn ld_packet(&mut self, pc: usize, src: Option<u8>, imm: i32, size: u32) {
        if self.checked {
            dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_LEFT], Rq(METER));
        }
        match src {
            Some(s) => dynasm!(self.ops
                ; .arch x64
                ; mov r11d, Rd(x(s))
                ; add r11d, imm
            ),
            None => dynasm!(self.ops ; .arch x64 ; mov r11d, imm),
        }
        self.save_regs(1..6);
        self.note_call_out(pc);
        dynasm!(self.ops
            ; .arch x64
            ; mov rdi, Rq(CTX)
            ; mov rsi, r11
            ; mov edx, size as i32
        );
        self.call_rust(runtime::jit_ld_packet as *const () as usize as u64);
        self.jump_if_faulted();
        self.restore_regs(1..6);
    }

    fn stubs_out(&mut self) {
        let stubs = std::mem::take(&mut self.stubs);
        let fault_exit = self.fault_exit;
        // Static faults share one tail that records them; each passes its index in r11.
        let mut static_common: Option<DynamicLabel> = None;
        for stub in stubs {
            match stub {
                Stub::Static { label, fault } => {
                    let common = *static_common.get_or_insert_with(|| self.ops.new_dynamic_label());
                    dynasm!(self.ops
                        ; .arch x64
                        ; =>label
                        ; mov r11d, fault as i32
                        ; jmp =>common
                    );
                }
                Stub::Budget { label, pc, charge } => {
                    dynasm!(self.ops
                        ; .arch x64
                        ; =>label
                        ; add Rq(METER), charge as i32
                    );
                    self.save_regs(0..11);
                    dynasm!(self.ops ; .arch x64 ; mov [Rq(CTX) + CTX_LEFT], Rq(METER));
                    self.note_call_out(pc);
                    dynasm!(self.ops ; .arch x64 ; mov rdi, Rq(CTX));
                    self.call_rust(runtime::jit_budget as *const () as usize as u64);
                    dynasm!(self.ops ; .arch x64 ; jmp =>fault_exit);
                }
                Stub::Mem {
                    label,
                    site,
                    ok,
                    done,
                    stack_first,
                } => {
                    let s = self.sites[site];
                    dynasm!(self.ops ; .arch x64 ; =>label ; mov r10, r11);
                    if stack_first {
                        self.region1_check(&s);
                    } else {
                        self.pending_size = s.size;
                        self.stack_check();
                    }
                    dynasm!(self.ops ; .arch x64 ; jb =>ok);
                    self.save_regs(0..11);
                    dynasm!(self.ops ; .arch x64 ; mov QWORD [Rq(CTX) + CTX_SITE], site as i32);
                    self.note_call_out(s.pc);
                    dynasm!(self.ops ; .arch x64 ; mov rdi, Rq(CTX));
                    self.call_rust(runtime::jit_mem as *const () as usize as u64);
                    self.jump_if_faulted();
                    self.restore_regs(0..11);
                    dynasm!(self.ops ; .arch x64 ; jmp =>done);
                }
            }
        }
        if let Some(common) = static_common {
            let meta = self.meta as i64;
            dynasm!(self.ops
                ; .arch x64
                ; =>common
                ; mov rax, QWORD meta
                ; mov [Rq(CTX) + CTX_IMAGE], rax
                ; mov [Rq(CTX) + CTX_SITE], r11
                ; mov QWORD [Rq(CTX) + CTX_STATUS], STATUS_STATIC_FAULT as i32
                ; jmp =>fault_exit
            );
        }
    }
}

/// The entry stub every image is entered through (`extern "C" fn(*mut RunCtx) -> u64`):
/// saves the host's callee-saved registers, sets up the BPF registers from the context and
/// calls the function at `RunCtx::entry_fn`. A fault anywhere returns through its second
/// half with the stack pointer it saved.
pub(crate) fn entry_stub() -> Result<Vec<u8>, JitError> {
    let mut ops = Asm::new(0);
    dynasm!(ops
        ; .arch x64
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; mov r9, rdi
        ; mov [rsp], r9
        ; mov [r9 + CTX_SAVED_RSP], rsp
        ; lea rax, [>fault_ret]
        ; mov [r9 + CTX_FAULT_RET], rax
        ; mov r12, [r9 + CTX_LEFT]
        ; mov rbp, [r9 + CTX_R10]
        ; mov r10, rbp
        ; mov rdi, [r9 + CTX_ARGS]
        ; mov rsi, [r9 + CTX_ARGS + 8]
        ; mov rdx, [r9 + CTX_ARGS + 16]
        ; mov rcx, [r9 + CTX_ARGS + 24]
        ; mov r8, [r9 + CTX_ARGS + 32]
        ; xor eax, eax
        ; xor ebx, ebx
        ; xor r13d, r13d
        ; xor r14d, r14d
        ; xor r15d, r15d
        ; call QWORD [r9 + CTX_ENTRY_FN]
        ; mov r9, [rsp]
        ; mov [r9 + CTX_LEFT], r12
        ; fault_ret:
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
    );
    ops.finalize()
        .map_err(|e| JitError::Assemble(e.to_string()))
}

impl Backend<'_> {}
