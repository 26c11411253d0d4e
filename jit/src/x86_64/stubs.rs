//! Out-of-line code after the body: static faults, budget replays, memory slow paths.

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
                    dynasm!(self.ops
                        ; .arch x64
                        ; =>label
                        ; add Rq(METER), charge as i32
                    );
                    self.save_regs(0..11);
                    enc::store(&mut self.ops, enc::W::Q, METER, CTX, CTX_LEFT);
                    self.note_call_out(pc);
                    dynasm!(self.ops ; .arch x64 ; mov rdi, r9);
                    self.call_rust(runtime::jit_budget as *const () as usize as u64);
                    self.fault_exit_used = true;
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
                    enc::store_imm(&mut self.ops, enc::W::Q, site as i32, CTX, CTX_SITE);
                    self.note_call_out(s.pc);
                    dynasm!(self.ops ; .arch x64 ; mov rdi, r9);
                    self.call_rust(runtime::jit_mem as *const () as usize as u64);
                    self.jump_if_faulted();
                    self.restore_regs(0..11);
                    dynasm!(self.ops ; .arch x64 ; jmp =>done);
                }
            }
        }
    }
}
