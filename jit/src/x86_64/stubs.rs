//! Out-of-line code after the body: static faults, budget replays, memory slow paths.
//!
//! Each stub does only what is particular to it (its fault, block or access) and continues
//! in a tail shared by all the stubs of its kind, which spills the registers and calls out
//! to Rust: that keeps checked images small and quick to emit.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use super::{enc, Backend, Stub, CTX, METER};
use crate::layout::*;
use crate::runtime;

impl Backend<'_> {
    pub(super) fn stubs_out(&mut self) {
        let stubs = std::mem::take(&mut self.stubs);
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
        let budget_tail = self.ops.new_dynamic_label();
        let mem_tail = self.ops.new_dynamic_label();
        let (mut budget_used, mut mem_used) = (false, false);
        for stub in stubs {
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
                    dynasm!(self.ops ; .arch x64 ; jmp =>budget_tail);
                    budget_used = true;
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
                    dynasm!(self.ops ; .arch x64 ; call =>mem_tail ; jmp =>done);
                    mem_used = true;
                }
            }
        }
        if budget_used {
            // The budget ran out: replay the block in the interpreter, which stops where it
            // stops, and leave.
            dynasm!(self.ops ; .arch x64 ; =>budget_tail);
            self.save_regs(0..11);
            enc::store(&mut self.ops, enc::W::Q, METER, CTX, CTX_LEFT);
            dynasm!(self.ops ; .arch x64 ; mov rdi, r9);
            self.call_rust(runtime::jit_budget as *const () as usize as u64);
            self.fault_exit_used = true;
            dynasm!(self.ops ; .arch x64 ; jmp =>fault_exit);
        }
        if mem_used {
            // The access, performed (or refused) by the interpreter's rule on the spilled
            // registers; called, so that each stub continues after its own access. The
            // return address and 8 bytes of padding keep the stack 16-aligned for the
            // call out, and put the frame's slots 16 bytes further from rsp.
            let f = runtime::jit_mem as *const () as usize as u64;
            dynasm!(self.ops ; .arch x64 ; =>mem_tail ; sub rsp, 8);
            self.save_regs(0..11);
            dynasm!(self.ops
                ; .arch x64
                ; mov rdi, r9
                ; mov rax, QWORD f as i64
                ; call rax
            );
            enc::load(&mut self.ops, enc::W::Q, CTX, 4, 16 + FRAME_CTX);
            self.jump_if_faulted();
            self.restore_regs(0..11);
            dynasm!(self.ops ; .arch x64 ; add rsp, 8 ; ret);
        }
    }
}
