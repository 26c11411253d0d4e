//! Out-of-line code after the body: static faults, budget replays, memory slow paths.
//!
//! Each stub does only what is particular to it (its fault, block or access) and continues
//! in a tail shared by all the stubs of its kind, which spills the registers and calls out
//! to Rust. The tails of budget replays and memory slow paths are the same for every image,
//! so they live in the shared code ([`shared_tails`]), reached through the run context:
//! that keeps checked images small and quick to emit.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use super::{enc, Asm, Backend, Stub, CTX, METER};
use crate::layout::*;
use crate::runtime;

impl Backend<'_> {
    pub(super) fn stubs_out(&mut self) {
        let mut stubs = std::mem::take(&mut self.stubs);
        let fault_exit = self.fault_exit;
        // Static faults share one tail that records them, placed first so that each stub
        // (passing its index in r11) jumps back to it, with rel8 while it is near.
        let mut common = None;
        if stubs.iter().any(|s| matches!(s, Stub::Static { .. })) {
            self.fault_exit_used = true;
            common = Some(self.ops.offset().0);
            enc::store(&mut self.ops, enc::W::Q, 11, CTX, CTX_SITE);
            enc::store_imm(
                &mut self.ops,
                enc::W::Q,
                STATUS_STATIC_FAULT as i32,
                CTX,
                CTX_STATUS,
            );
            dynasm!(self.ops ; .arch x64 ; jmp =>fault_exit);
        }
        for stub in stubs.drain(..) {
            match stub {
                Stub::Static { label, fault } => {
                    dynasm!(self.ops ; .arch x64 ; =>label ; mov r11d, fault as i32);
                    let at = self.ops.offset().0;
                    let to = common.unwrap_or(at);
                    // rel8 counts from the end of the 2-byte jump.
                    let rel = to as i64 - (at as i64 + 2);
                    if rel >= -128 {
                        self.ops.push(0xeb);
                        self.ops.push(rel as i8 as u8);
                    } else {
                        self.ops.push(0xe9);
                        self.ops
                            .extend(((to as i64 - (at as i64 + 5)) as i32).to_le_bytes());
                    }
                }
                Stub::Budget { label, pc, charge } => {
                    // Undo the block's charge; the replay counts it instruction by
                    // instruction.
                    dynasm!(self.ops
                        ; .arch x64
                        ; =>label
                        ; add Rq(METER), charge as i32
                    );
                    self.note_call_out(pc);
                    enc::jmp_mem(&mut self.ops, CTX, CTX_BUDGET_TAIL);
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
                    enc::store_imm(&mut self.ops, enc::W::Q, site as i32, CTX, CTX_SITE);
                    self.note_call_out(s.pc);
                    enc::call_mem(&mut self.ops, CTX, CTX_MEM_TAIL);
                    dynasm!(self.ops ; .arch x64 ; jmp =>done);
                }
            }
        }
        // Emptied, it keeps its room for the thread's next compile.
        self.stubs = stubs;
    }
}

/// Emits the tails shared by every image's stubs into the shared code; returns the offsets
/// of the budget tail and the memory tail.
pub(super) fn shared_tails(ops: &mut Asm) -> (usize, usize) {
    let save_regs = |ops: &mut Asm| {
        for r in 0..11u8 {
            enc::store(ops, enc::W::Q, super::x(r), CTX, CTX_REGS + 8 * r as i32);
        }
    };
    // The budget ran out: replay the block in the interpreter, which stops where it stops,
    // and leave.
    let budget_tail = ops.offset().0;
    save_regs(ops);
    enc::store(ops, enc::W::Q, METER, CTX, CTX_LEFT);
    let f = runtime::jit_budget as *const () as usize as u64;
    dynasm!(ops
        ; .arch x64
        ; mov rdi, r9
        ; mov rax, QWORD f as i64
        ; call rax
    );
    enc::load(ops, enc::W::Q, CTX, 4, FRAME_CTX);
    fault_exit(ops);
    // The access, performed (or refused) by the interpreter's rule on the spilled
    // registers; called, so that each stub continues after its own access. The return
    // address and 8 bytes of padding keep the stack 16-aligned for the call out, and put
    // the frame's slots 16 bytes further from rsp.
    let mem_tail = ops.offset().0;
    let f = runtime::jit_mem as *const () as usize as u64;
    dynasm!(ops ; .arch x64 ; sub rsp, 8);
    save_regs(ops);
    dynasm!(ops
        ; .arch x64
        ; mov rdi, r9
        ; mov rax, QWORD f as i64
        ; call rax
    );
    enc::load(ops, enc::W::Q, CTX, 4, 16 + FRAME_CTX);
    enc::alu_mem_imm8(ops, 7, CTX, CTX_STATUS, 0);
    dynasm!(ops ; .arch x64 ; jne >fault);
    for r in 0..11u8 {
        enc::load(ops, enc::W::Q, super::x(r), CTX, CTX_REGS + 8 * r as i32);
    }
    dynasm!(ops ; .arch x64 ; add rsp, 8 ; ret ; fault:);
    fault_exit(ops);
    (budget_tail, mem_tail)
}

/// Back to the entry stub with its stack pointer (what an image's fault exit does).
fn fault_exit(ops: &mut Asm) {
    enc::load(ops, enc::W::Q, 4, CTX, CTX_SAVED_RSP);
    enc::jmp_mem(ops, CTX, CTX_FAULT_RET);
}
