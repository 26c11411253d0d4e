//! Out-of-line code after the body: static faults, budget replays, memory slow paths.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use super::{Backend, CallOut, Cond, Stub, CTX, METER, T0, T1};
use crate::layout::*;

impl Backend<'_> {
    /// Emits every stub the body asked for.
    pub(super) fn stubs_out(&mut self) {
        let stubs = std::mem::take(&mut self.stubs);
        let fault_exit = self.fault_exit;
        let mut static_common: Option<DynamicLabel> = None;
        for stub in stubs {
            match stub {
                Stub::Static { label, fault } => {
                    let common = *static_common.get_or_insert_with(|| self.ops.new_dynamic_label());
                    dynasm!(self.ops ; .arch aarch64 ; =>label);
                    self.mov_imm(true, T1, fault as u64);
                    dynasm!(self.ops ; .arch aarch64 ; b =>common);
                }
                Stub::Budget { label, pc, charge } => {
                    dynasm!(self.ops ; .arch aarch64 ; =>label);
                    if charge < 4096 {
                        dynasm!(self.ops ; .arch aarch64 ; add XSP(METER), XSP(METER), charge);
                    } else {
                        self.mov_imm(true, T0, charge as u64);
                        dynasm!(self.ops ; .arch aarch64 ; add X(METER), X(METER), X(T0));
                    }
                    self.save_regs(0..11);
                    self.st_ctx(METER, CTX_LEFT);
                    self.note_call_out(pc);
                    dynasm!(self.ops ; .arch aarch64 ; mov x0, X(CTX));
                    self.call_out(CallOut::Budget);
                    dynasm!(self.ops ; .arch aarch64 ; b =>fault_exit);
                }
                Stub::Mem {
                    label,
                    site,
                    ok,
                    done,
                    stack_first,
                    slow,
                } => {
                    let s = self.sites[site];
                    dynasm!(self.ops ; .arch aarch64 ; =>label);
                    if stack_first {
                        self.region1_check(&s);
                    } else {
                        self.stack_check(s.size);
                    }
                    self.b_cond(Cond::Lo, ok);
                    if let Some(slow) = slow {
                        dynasm!(self.ops ; .arch aarch64 ; =>slow);
                    }
                    self.save_regs(0..11);
                    self.mov_imm(true, T0, site as u64);
                    self.st_ctx(T0, CTX_SITE);
                    self.note_call_out(s.pc);
                    dynasm!(self.ops ; .arch aarch64 ; mov x0, X(CTX));
                    self.call_out(CallOut::Mem);
                    self.jump_if_faulted();
                    self.restore_regs(0..11);
                    dynasm!(self.ops ; .arch aarch64 ; b =>done);
                }
            }
        }
        if let Some(common) = static_common {
            dynasm!(self.ops ; .arch aarch64 ; =>common);
            self.st_ctx(T1, CTX_SITE);
            self.mov_imm(true, T0, STATUS_STATIC_FAULT);
            self.st_ctx(T0, CTX_STATUS);
            dynasm!(self.ops ; .arch aarch64 ; b =>fault_exit);
        }
    }
}
