//! Frames: each BPF function's prologue, the epilogues (one per set of callee-saved pairs),
//! the fault exit, and the image's entry stub, which builds the entry function's frame.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use super::{x, Backend, CTX, FRAME, FRAME_GOTO, FRAME_PAIR1, FRAME_PAIR2, METER, STUB_FRAME, T0};
use crate::layout::*;
use crate::runtime;

impl Backend<'_> {
    /// A BPF function's prologue: the frame, the callee-saved pairs it writes, a fresh
    /// `may_goto` budget (when the image needs one). The entry stub builds the same frame
    /// for slot 0.
    pub(super) fn prologue(&mut self, pairs: u8) {
        dynasm!(self.ops
            ; .arch aarch64
            ; stp x29, x30, [sp, -FRAME]!
            ; mov x29, sp
        );
        if pairs & 1 != 0 {
            dynasm!(self.ops ; .arch aarch64 ; stp x19, x20, [sp, FRAME_PAIR1]);
        }
        if pairs & 2 != 0 {
            dynasm!(self.ops ; .arch aarch64 ; stp x21, x22, [sp, FRAME_PAIR2]);
        }
        if self.may_goto {
            self.may_goto_budget();
        }
    }

    fn may_goto_budget(&mut self) {
        self.mov_imm(true, T0, runtime::MAY_GOTO_BUDGET);
        dynasm!(self.ops ; .arch aarch64 ; str X(T0), [sp, FRAME_GOTO]);
    }

    pub(super) fn epilogues_out(&mut self) {
        for pairs in 0..4u8 {
            let Some(l) = self.epilogues[pairs as usize] else {
                continue;
            };
            dynasm!(self.ops ; .arch aarch64 ; =>l);
            if pairs & 1 != 0 {
                dynasm!(self.ops ; .arch aarch64 ; ldp x19, x20, [sp, FRAME_PAIR1]);
            }
            if pairs & 2 != 0 {
                dynasm!(self.ops ; .arch aarch64 ; ldp x21, x22, [sp, FRAME_PAIR2]);
            }
            dynasm!(self.ops
                ; .arch aarch64
                ; ldp x29, x30, [sp], FRAME
                ; ret
            );
        }
        let f = self.fault_exit;
        dynasm!(self.ops ; .arch aarch64 ; =>f);
        self.ld_ctx(T0, CTX_SAVED_RSP);
        dynasm!(self.ops ; .arch aarch64 ; mov sp, XSP(T0));
        self.ld_ctx(T0, CTX_FAULT_RET);
        dynasm!(self.ops ; .arch aarch64 ; br X(T0));
    }

    /// The entry stub (`extern "C" fn(*mut RunCtx) -> u64`): saves the host's callee-saved
    /// registers, loads the BPF registers from the context, builds the entry function's
    /// frame (as [`Backend::prologue`] does, returning into the stub) and enters slot 0's
    /// body; a fault anywhere returns through its second half with the stack pointer it
    /// saved.
    pub(super) fn entry_stub(&mut self, body0: DynamicLabel) {
        dynasm!(self.ops
            ; .arch aarch64
            ; stp x29, x30, [sp, -STUB_FRAME]!
            ; mov x29, sp
            ; stp x19, x20, [sp, 16]
            ; stp x21, x22, [sp, 32]
            ; stp x23, x24, [sp, 48]
            ; stp x25, x26, [sp, 64]
            ; stp x27, x28, [sp, 80]
            ; mov X(CTX), x0
            ; mov XSP(T0), sp
        );
        self.st_ctx(T0, CTX_SAVED_RSP);
        dynasm!(self.ops ; .arch aarch64 ; adr X(T0), >fault_ret);
        self.st_ctx(T0, CTX_FAULT_RET);
        self.ld_ctx(METER, CTX_LEFT);
        self.ld_ctx(x(10), CTX_R10);
        for r in 1..6u8 {
            self.ld_ctx(x(r), CTX_ARGS + 8 * (r as i32 - 1));
        }
        for r in [0u8, 6, 7, 8, 9] {
            dynasm!(self.ops ; .arch aarch64 ; mov X(x(r)), xzr);
        }
        dynasm!(self.ops
            ; .arch aarch64
            ; adr x30, >back
            ; stp x29, x30, [sp, -FRAME]!
            ; mov x29, sp
            ; stp x19, x20, [sp, FRAME_PAIR1]
            ; stp x21, x22, [sp, FRAME_PAIR2]
        );
        self.may_goto_budget();
        dynasm!(self.ops ; .arch aarch64 ; b =>body0 ; back:);
        self.st_ctx(METER, CTX_LEFT);
        dynasm!(self.ops
            ; .arch aarch64
            ; mov x0, X(x(0))
            ; fault_ret:
            ; ldp x19, x20, [sp, 16]
            ; ldp x21, x22, [sp, 32]
            ; ldp x23, x24, [sp, 48]
            ; ldp x25, x26, [sp, 64]
            ; ldp x27, x28, [sp, 80]
            ; ldp x29, x30, [sp], STUB_FRAME
            ; ret
        );
    }
}
