//! Calls: helpers (through one stub shared by every image, so a call site is a 4-byte
//! indirect `call`), `callx`, tail calls, BPF-to-BPF calls and legacy packet loads.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use bpfbox_vm::interp::{FaultKind, MAX_CALL_FRAMES, STACK_FRAME_SIZE};
use bpfbox_vm::Fault;

use super::{enc, x, Backend, CTX, METER};
use crate::layout::*;
use crate::runtime;
use crate::JitError;

impl Backend<'_> {
    /// `call` of helper `id`: an indirect `call` of the shared helper stub
    /// ([`super::entry::shared_code`]), which finds the slot and the id from its return
    /// address ([`super::Emitted::calls`]).
    pub(super) fn helper(&mut self, pc: usize, id: u32) {
        enc::call_mem(&mut self.ops, CTX, CTX_HELPER);
        let ret = self.ops.offset().0 as u32;
        self.calls.push((ret, pc as u32, id));
    }

    /// `callx reg`: the helper whose id the register holds.
    pub(super) fn callx(&mut self, pc: usize, reg: u8) {
        enc::store(&mut self.ops, enc::W::Q, METER, CTX, CTX_LEFT);
        enc::store(&mut self.ops, enc::W::Q, 5, CTX, CTX_R10);
        enc::store(&mut self.ops, enc::W::Q, x(reg), CTX, CTX_ID);
        // The interpreter keeps r1..r5 across a helper call.
        self.save_regs(1..6);
        self.note_call_out(pc);
        self.call_rust(runtime::jit_helper as *const () as usize as u64);
        enc::load(&mut self.ops, enc::W::Q, METER, CTX, CTX_LEFT);
        self.jump_if_faulted();
        self.restore_regs(1..6);
    }

    /// `bpf_tail_call` through the shared stub, which continues in the target (or returns
    /// here when there is none).
    pub(super) fn tail_call(&mut self, pc: usize) {
        enc::call_mem(&mut self.ops, CTX, CTX_TAIL_CALL);
        let ret = self.ops.offset().0 as u32;
        self.calls.push((ret, pc as u32, 0));
    }

    /// A BPF-to-BPF call: the callee's frame is 512 bytes below (its prologue saves the
    /// caller's r10, left in r10 here). Checked mode faults a call beyond the last frame,
    /// found from r10 (trusted code was verified, which bounds the depth).
    pub(super) fn local_call(&mut self, pc: usize, target: usize) -> Result<(), JitError> {
        let Some(f) = self.func_label(target) else {
            return Err(JitError::BadCall { pc, target });
        };
        if self.checked {
            let depth = self.static_fault(Fault {
                pc,
                kind: FaultKind::CallDepth {
                    max: MAX_CALL_FRAMES,
                },
            });
            dynasm!(self.ops ; .arch x64 ; mov r11, rbp);
            enc::sub_mem(&mut self.ops, 11, CTX, CTX_STACK_START);
            dynasm!(self.ops
                ; .arch x64
                ; cmp r11, STACK_FRAME_SIZE as i32
                ; jbe =>depth
            );
        }
        dynasm!(self.ops
            ; .arch x64
            ; mov r10, rbp
            ; sub rbp, STACK_FRAME_SIZE as i32
            ; call =>f
        );
        Ok(())
    }

    /// `LD_ABS` (`src` = None) / `LD_IND`: r0 = the packet bytes, big-endian, through the
    /// shared stub (the offset in r11; the slot and size found from the return address).
    pub(super) fn ld_packet(&mut self, pc: usize, src: Option<u8>, imm: i32, size: u32) {
        match src {
            Some(s) => {
                if self.plan.blind {
                    self.scratch_imm32(imm);
                    dynasm!(self.ops ; .arch x64 ; add r11d, Rd(x(s)));
                } else {
                    dynasm!(self.ops ; .arch x64 ; mov r11d, Rd(x(s)));
                    if imm != 0 {
                        dynasm!(self.ops ; .arch x64 ; add r11d, imm);
                    }
                }
            }
            None if self.plan.blind => self.scratch_imm32(imm),
            None => dynasm!(self.ops ; .arch x64 ; mov r11d, imm),
        }
        enc::call_mem(&mut self.ops, CTX, CTX_LD_PACKET);
        let ret = self.ops.offset().0 as u32;
        self.calls.push((ret, pc as u32, size));
    }
}
