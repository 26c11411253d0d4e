//! Calls: helpers (r1..r5 already in x0..x4, no argument moves), tail calls, BPF-to-BPF
//! calls with the call depth limit, and the legacy packet loads, each a call-out through
//! the context's table.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use bpfbox_vm::interp::{FaultKind, MAX_CALL_FRAMES, STACK_FRAME_SIZE};
use bpfbox_vm::Fault;

use super::{enc, x, Backend, CallOut, Cond, CTX, METER, T0, T1};
use crate::layout::*;
use crate::JitError;

impl Backend<'_> {
    /// `call` of a helper by id (`Err`) or through a register (`Ok`, `callx`): r1..r5 are
    /// already in x0..x4, the context goes sixth.
    pub(super) fn helper(&mut self, pc: usize, target: Result<u8, u32>) {
        if self.checked {
            self.st_ctx(METER, CTX_LEFT);
        }
        self.st_ctx(x(10), CTX_R10);
        match target {
            Ok(reg) => self.st_ctx(x(reg), CTX_ID),
            Err(id) => {
                self.mov_imm(true, T0, id as u64);
                self.st_ctx(T0, CTX_ID);
            }
        }
        // The interpreter keeps r1..r5 across a helper call.
        self.save_regs(1..6);
        self.note_call_out(pc);
        dynasm!(self.ops ; .arch aarch64 ; mov x5, X(CTX));
        self.call_out(CallOut::Helper);
        dynasm!(self.ops ; .arch aarch64 ; mov X(x(0)), x0);
        if self.checked {
            self.ld_ctx(METER, CTX_LEFT);
        }
        self.jump_if_faulted();
        self.restore_regs(1..6);
    }

    pub(super) fn tail_call(&mut self, pc: usize) {
        if self.checked {
            self.st_ctx(METER, CTX_LEFT);
        }
        self.save_regs(0..6);
        self.note_call_out(pc);
        // x1 and x2 already hold r2 (the program array) and r3 (the index).
        dynasm!(self.ops ; .arch aarch64 ; mov x0, X(CTX));
        self.call_out(CallOut::TailCall);
        dynasm!(self.ops ; .arch aarch64 ; mov X(T1), x0);
        self.jump_if_faulted();
        self.restore_regs(0..6);
        dynasm!(self.ops
            ; .arch aarch64
            ; cbz X(T1), >fall
            ; br X(T1)
            ; fall:
        );
    }

    /// A BPF-to-BPF call: the callee's frame is 512 bytes below. Checked mode faults a
    /// call beyond the last frame, found from r10 (trusted code was verified, which bounds
    /// the depth), as the x86-64 backend does.
    pub(super) fn local_call(&mut self, pc: usize, target: usize) -> Result<(), JitError> {
        let Some(f) = self.func.get(target).copied().flatten() else {
            return Err(JitError::BadCall { pc, target });
        };
        if self.checked {
            let depth = self.static_fault(Fault {
                pc,
                kind: FaultKind::CallDepth {
                    max: MAX_CALL_FRAMES,
                },
            });
            self.ld_ctx(T0, CTX_STACK_START);
            dynasm!(self.ops
                ; .arch aarch64
                ; sub X(T0), X(x(10)), X(T0)
                ; cmp XSP(T0), STACK_FRAME_SIZE as u32
            );
            self.b_cond(Cond::Ls, depth);
        }
        dynasm!(self.ops
            ; .arch aarch64
            ; sub XSP(x(10)), XSP(x(10)), STACK_FRAME_SIZE as u32
            ; bl =>f
            ; add XSP(x(10)), XSP(x(10)), STACK_FRAME_SIZE as u32
        );
        Ok(())
    }

    /// `LD_ABS` (`src` = None) / `LD_IND`: r0 = the packet bytes, big-endian.
    pub(super) fn ld_packet(&mut self, pc: usize, src: Option<u8>, imm: i32, size: u32) {
        if self.checked {
            self.st_ctx(METER, CTX_LEFT);
        }
        match src {
            Some(s) => enc::add_imm(&mut self.ops, false, T1, x(s), imm as i64, T1),
            None => self.mov_imm(false, T1, imm as u32 as u64),
        }
        self.save_regs(1..6);
        self.note_call_out(pc);
        dynasm!(self.ops
            ; .arch aarch64
            ; mov x0, X(CTX)
            ; mov x1, X(T1)
        );
        self.mov_imm(true, 2, size as u64);
        self.call_out(CallOut::LdPacket);
        dynasm!(self.ops ; .arch aarch64 ; mov X(x(0)), x0);
        self.jump_if_faulted();
        self.restore_regs(1..6);
    }
}
