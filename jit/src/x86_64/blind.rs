//! Constant blinding, as the kernel's `bpf_jit_blind_constants`: no immediate of the
//! program appears in the code as written. Each one is emitted XORed with a fresh random
//! key and XORed back at run time through the scratch register r11 (or in place, for a
//! register move or a store), so a program cannot plant chosen bytes in executable memory.
//! Shift counts (masked to 6 bits) and memory and jump offsets stay as they are, as in the
//! kernel.

use dynasmrt::{dynasm, DynasmApi};

use bpfbox_vm::isa::{AluOp, Insn, Src, Width};

use super::{enc, x, Backend, SCRATCH};

/// A xorshift generator seeded from the process's random hash keys.
pub(super) struct Keys(u64);

impl Keys {
    pub(super) fn new() -> Keys {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Keys(seed | 1)
    }

    /// Keys of a backend that does not blind (never drawn).
    pub(super) fn unused() -> Keys {
        Keys(1)
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut v = self.0;
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        self.0 = v;
        v
    }
}

impl Backend<'_> {
    /// Emits `insn` blinded if it carries an immediate that needs it; `false` when it does
    /// not (the caller emits it as usual).
    pub(super) fn blinded(&mut self, pc: usize, insn: &Insn) -> bool {
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src: Src::Imm(i),
            } => match op {
                AluOp::Lsh | AluOp::Rsh | AluOp::Arsh | AluOp::MovSx(_) => false,
                AluOp::Mov => {
                    let k = self.keys.next() as i32;
                    let d = x(dst);
                    if width == Width::W64 {
                        dynasm!(self.ops ; .arch x64 ; mov Rq(d), DWORD i ^ k ; xor Rq(d), DWORD k);
                    } else {
                        dynasm!(self.ops ; .arch x64 ; mov Rd(d), DWORD i ^ k ; xor Rd(d), DWORD k);
                    }
                    true
                }
                _ => {
                    self.scratch_imm(i);
                    self.alu(width, op, dst, Src::Reg(SCRATCH));
                    true
                }
            },
            Insn::Jmp {
                width,
                cond,
                dst,
                src: Src::Imm(i),
                ..
            } => {
                let t = insn.jump_target(pc).unwrap_or(0) as usize;
                self.scratch_imm(i);
                self.jmp(width, cond, dst, Src::Reg(SCRATCH), pc, t);
                true
            }
            Insn::LdImm64 { dst, .. } => {
                let v = self.vm.ld_imm64_value(pc).unwrap_or(0);
                let k = self.keys.next();
                let d = x(dst);
                dynasm!(self.ops
                    ; .arch x64
                    ; mov Rq(d), QWORD (v ^ k) as i64
                    ; mov r11, QWORD k as i64
                    ; xor Rq(d), r11
                );
                true
            }
            _ => false,
        }
    }

    /// r11 = the sign-extended immediate `i`, blinded.
    fn scratch_imm(&mut self, i: i32) {
        let k = self.keys.next() as i32;
        dynasm!(self.ops ; .arch x64 ; mov r11, DWORD i ^ k ; xor r11, DWORD k);
    }

    /// `[base + disp] = imm` of width `w`, blinded: the key-XORed value stored, then XORed
    /// in place with the key.
    pub(super) fn store_imm_blinded(&mut self, w: enc::W, imm: i32, base: u8, disp: i32) {
        let k = self.keys.next() as i32;
        enc::store_imm(&mut self.ops, w, imm ^ k, base, disp);
        enc::xor_imm(&mut self.ops, w, k, base, disp);
    }

    /// r11d = `imm`, blinded (the packet offset of `LD_ABS`).
    pub(super) fn scratch_imm32(&mut self, imm: i32) {
        let k = self.keys.next() as i32;
        dynasm!(self.ops ; .arch x64 ; mov r11d, imm ^ k ; xor r11d, k);
    }
}
