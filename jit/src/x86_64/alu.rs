//! ALU operations and conditional jumps.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Src, Width};

use super::{enc, x, Backend};
use crate::layout::FRAME_SCRATCH;

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;

impl Backend<'_> {
    /// `dst = v` with the shortest encoding.
    pub(super) fn mov_imm64(&mut self, dst: u8, v: u64) {
        let d = x(dst);
        if v == 0 {
            dynasm!(self.ops ; .arch x64 ; xor Rd(d), Rd(d));
        } else if v <= u32::MAX as u64 {
            dynasm!(self.ops ; .arch x64 ; mov Rd(d), v as u32 as i32);
        } else if v as i64 >= i32::MIN as i64 && (v as i64) < 0 {
            dynasm!(self.ops ; .arch x64 ; mov Rq(d), v as i32);
        } else {
            dynasm!(self.ops ; .arch x64 ; mov Rq(d), QWORD v as i64);
        }
    }

    /// `dst op= src`. The common operations are emitted here, inline in the emission's
    /// loop; the rest in [`Backend::alu_other`], whose many registers would otherwise be
    /// saved and restored for every instruction.
    #[inline]
    pub(super) fn alu(&mut self, width: Width, op: AluOp, dst: u8, src: Src) {
        let w64 = width == Width::W64;
        let d = x(dst);
        // Opcode of the register form, extension of the immediate form.
        let (opcode, ext) = match op {
            AluOp::Add => (0x01, 0),
            AluOp::Or => (0x09, 1),
            AluOp::And => (0x21, 4),
            AluOp::Sub => (0x29, 5),
            AluOp::Xor => (0x31, 6),
            AluOp::Mov => match src {
                Src::Reg(s) => {
                    if s != dst || !w64 {
                        enc::alu_rr(&mut self.ops, w64, 0x89, d, x(s));
                    }
                    return;
                }
                Src::Imm(i) if w64 => return self.mov_imm64(dst, i as i64 as u64),
                Src::Imm(i) => return self.mov_imm64(dst, i as u32 as u64),
            },
            _ => return self.alu_other(w64, op, dst, src),
        };
        match src {
            Src::Reg(s) => enc::alu_rr(&mut self.ops, w64, opcode, d, x(s)),
            Src::Imm(i) => enc::alu_ri(&mut self.ops, w64, ext, d, i),
        }
    }

    /// The ALU operations [`Backend::alu`] does not emit itself.
    #[inline(never)]
    fn alu_other(&mut self, w64: bool, op: AluOp, dst: u8, src: Src) {
        let d = x(dst);
        match op {
            // Emitted by `alu` itself.
            AluOp::Add | AluOp::Or | AluOp::And | AluOp::Sub | AluOp::Xor | AluOp::Mov => {
                let width = if w64 { Width::W64 } else { Width::W32 };
                self.alu(width, op, dst, src)
            }
            AluOp::Mul => match (src, w64) {
                (Src::Reg(s), true) => dynasm!(self.ops ; .arch x64 ; imul Rq(d), Rq(x(s))),
                (Src::Reg(s), false) => dynasm!(self.ops ; .arch x64 ; imul Rd(d), Rd(x(s))),
                (Src::Imm(i), true) => dynasm!(self.ops ; .arch x64 ; imul Rq(d), Rq(d), i),
                (Src::Imm(i), false) => dynasm!(self.ops ; .arch x64 ; imul Rd(d), Rd(d), i),
            },
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.shift(w64, op, dst, src),
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => self.div(w64, op, dst, src),
            AluOp::MovSx(bits) => {
                let Src::Reg(s) = src else { return };
                let s = x(s);
                match (bits, w64) {
                    (8, true) => dynasm!(self.ops ; .arch x64 ; movsx Rq(d), Rb(s)),
                    (16, true) => dynasm!(self.ops ; .arch x64 ; movsx Rq(d), Rw(s)),
                    (32, true) => dynasm!(self.ops ; .arch x64 ; movsxd Rq(d), Rd(s)),
                    (8, false) => dynasm!(self.ops ; .arch x64 ; movsx Rd(d), Rb(s)),
                    (16, false) => dynasm!(self.ops ; .arch x64 ; movsx Rd(d), Rw(s)),
                    (_, true) => dynasm!(self.ops ; .arch x64 ; mov Rq(d), Rq(s)),
                    (_, false) => dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(s)),
                }
            }
        }
    }

    fn shift(&mut self, w64: bool, op: AluOp, dst: u8, src: Src) {
        let d = x(dst);
        macro_rules! sh {
            ($ins:ident, $insx:ident) => {
                match src {
                    Src::Imm(i) => {
                        let n = (i as u32 & if w64 { 63 } else { 31 }) as i8;
                        match (w64, n) {
                            (true, 0) => {}
                            (false, 0) => dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(d)),
                            (true, _) => dynasm!(self.ops ; .arch x64 ; $ins Rq(d), BYTE n),
                            (false, _) => dynasm!(self.ops ; .arch x64 ; $ins Rd(d), BYTE n),
                        }
                    }
                    Src::Reg(s) if self.bmi2 => {
                        let s = x(s);
                        if w64 {
                            dynasm!(self.ops ; .arch x64 ; $insx Rq(d), Rq(d), Rq(s));
                        } else {
                            dynasm!(self.ops ; .arch x64 ; $insx Rd(d), Rd(d), Rd(s));
                        }
                    }
                    Src::Reg(s) => {
                        // The count must be in cl: park rcx in r11 around the shift.
                        let s = x(s);
                        let target = if d == RCX { 11 } else { d };
                        if s != RCX {
                            dynasm!(self.ops ; .arch x64 ; mov r11, rcx ; mov rcx, Rq(s));
                        } else if d == RCX {
                            dynasm!(self.ops ; .arch x64 ; mov r11, rcx);
                        }
                        if w64 {
                            dynasm!(self.ops ; .arch x64 ; $ins Rq(target), cl);
                        } else {
                            dynasm!(self.ops ; .arch x64 ; $ins Rd(target), cl ; mov Rd(target), Rd(target));
                        }
                        if d == RCX {
                            dynasm!(self.ops ; .arch x64 ; mov rcx, r11);
                        } else if s != RCX {
                            dynasm!(self.ops ; .arch x64 ; mov rcx, r11);
                        }
                    }
                }
            };
        }
        match op {
            AluOp::Lsh => sh!(shl, shlx),
            AluOp::Rsh => sh!(shr, shrx),
            _ => sh!(sar, sarx),
        }
    }

    /// Division and modulo with the kernel's rules for a zero divisor and `INT_MIN / -1`,
    /// without pushes: rax and rdx are parked in r10 and the frame's scratch slot.
    fn div(&mut self, w64: bool, op: AluOp, dst: u8, src: Src) {
        let d = x(dst);
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let modulo = matches!(op, AluOp::Mod | AluOp::SMod);
        // Constant divisors that need no division.
        if let Src::Imm(i) = src {
            let divisor = if w64 {
                i as i64 as u64
            } else {
                i as u32 as u64
            };
            let minus_one = if w64 {
                divisor == u64::MAX
            } else {
                divisor == u32::MAX as u64
            };
            if divisor == 0 {
                self.div_by_zero(w64, modulo, d);
                return;
            }
            if signed && minus_one {
                self.div_by_minus_one(w64, modulo, d);
                return;
            }
            if w64 {
                dynasm!(self.ops ; .arch x64 ; mov r11, i);
            } else {
                dynasm!(self.ops ; .arch x64 ; mov r11d, i);
            }
        } else if let Src::Reg(s) = src {
            let s = x(s);
            if w64 {
                dynasm!(self.ops ; .arch x64 ; mov r11, Rq(s) ; test r11, r11 ; jz >zero);
            } else {
                dynasm!(self.ops ; .arch x64 ; mov r11d, Rd(s) ; test r11d, r11d ; jz >zero);
            }
            if signed {
                if w64 {
                    dynasm!(self.ops ; .arch x64 ; cmp r11, -1 ; je >minus_one);
                } else {
                    dynasm!(self.ops ; .arch x64 ; cmp r11d, -1 ; je >minus_one);
                }
            }
        }
        if d != RAX {
            dynasm!(self.ops ; .arch x64 ; mov r10, rax);
        }
        if d != RDX {
            dynasm!(self.ops ; .arch x64 ; mov [rsp + FRAME_SCRATCH], rdx);
        }
        match (w64, signed) {
            (true, false) => {
                dynasm!(self.ops ; .arch x64 ; mov rax, Rq(d) ; xor edx, edx ; div r11)
            }
            (true, true) => dynasm!(self.ops ; .arch x64 ; mov rax, Rq(d) ; cqo ; idiv r11),
            (false, false) => {
                dynasm!(self.ops ; .arch x64 ; mov eax, Rd(d) ; xor edx, edx ; div r11d)
            }
            (false, true) => dynasm!(self.ops ; .arch x64 ; mov eax, Rd(d) ; cdq ; idiv r11d),
        }
        let result = if modulo { RDX } else { RAX };
        if d != result {
            if w64 {
                dynasm!(self.ops ; .arch x64 ; mov Rq(d), Rq(result));
            } else {
                dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(result));
            }
        } else if !w64 {
            // Zero-extend (div and idiv of 32 bits already did; this keeps it explicit).
            dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(d));
        }
        if d != RAX {
            dynasm!(self.ops ; .arch x64 ; mov rax, r10);
        }
        if d != RDX {
            dynasm!(self.ops ; .arch x64 ; mov rdx, [rsp + FRAME_SCRATCH]);
        }
        if let Src::Reg(_) = src {
            dynasm!(self.ops ; .arch x64 ; jmp >done ; zero:);
            self.div_by_zero(w64, modulo, d);
            if signed {
                dynasm!(self.ops ; .arch x64 ; jmp >done ; minus_one:);
                self.div_by_minus_one(w64, modulo, d);
            }
            dynasm!(self.ops ; .arch x64 ; done:);
        }
    }

    /// x / 0 = 0; x % 0 = x (zero-extended for 32 bits).
    fn div_by_zero(&mut self, w64: bool, modulo: bool, d: u8) {
        match (modulo, w64) {
            (false, _) => dynasm!(self.ops ; .arch x64 ; xor Rd(d), Rd(d)),
            (true, true) => {}
            (true, false) => dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(d)),
        }
    }

    /// x s/ -1 = -x (INT_MIN stays); x s% -1 = 0.
    fn div_by_minus_one(&mut self, w64: bool, modulo: bool, d: u8) {
        match (modulo, w64) {
            (true, _) => dynasm!(self.ops ; .arch x64 ; xor Rd(d), Rd(d)),
            (false, true) => dynasm!(self.ops ; .arch x64 ; neg Rq(d)),
            (false, false) => dynasm!(self.ops ; .arch x64 ; neg Rd(d)),
        }
    }

    pub(super) fn neg(&mut self, width: Width, dst: u8) {
        let d = x(dst);
        if width == Width::W64 {
            dynasm!(self.ops ; .arch x64 ; neg Rq(d));
        } else {
            dynasm!(self.ops ; .arch x64 ; neg Rd(d));
        }
    }

    pub(super) fn end(&mut self, kind: EndKind, bits: u8, dst: u8) {
        let d = x(dst);
        match (kind, bits) {
            (EndKind::ToLe, 16) => dynasm!(self.ops ; .arch x64 ; movzx Rd(d), Rw(d)),
            (EndKind::ToLe, 32) => dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(d)),
            (EndKind::ToLe, _) => {}
            (_, 16) => dynasm!(self.ops ; .arch x64 ; ror Rw(d), 8 ; movzx Rd(d), Rw(d)),
            (_, 32) => dynasm!(self.ops ; .arch x64 ; bswap Rd(d)),
            _ => dynasm!(self.ops ; .arch x64 ; bswap Rq(d)),
        }
    }

    /// The conditional jump of slot `pc` to slot `target` (sized by [`Backend::jump`]).
    pub(super) fn jmp(
        &mut self,
        width: Width,
        cond: JmpCond,
        dst: u8,
        src: Src,
        pc: usize,
        target: usize,
    ) {
        let d = x(dst);
        let w64 = width == Width::W64;
        if cond == JmpCond::Set {
            match (src, w64) {
                (Src::Reg(s), true) => dynasm!(self.ops ; .arch x64 ; test Rq(d), Rq(x(s))),
                (Src::Reg(s), false) => dynasm!(self.ops ; .arch x64 ; test Rd(d), Rd(x(s))),
                (Src::Imm(i), true) => dynasm!(self.ops ; .arch x64 ; test Rq(d), i),
                (Src::Imm(i), false) => dynasm!(self.ops ; .arch x64 ; test Rd(d), i),
            }
        } else {
            match (src, w64) {
                (Src::Reg(s), w64) => enc::alu_rr(&mut self.ops, w64, 0x39, d, x(s)),
                (Src::Imm(i), w64) if (-128..128).contains(&i) => {
                    enc::alu_reg_imm8(&mut self.ops, w64, 7, d, i as i8)
                }
                (Src::Imm(i), true) => dynasm!(self.ops ; .arch x64 ; cmp Rq(d), DWORD i),
                (Src::Imm(i), false) => dynasm!(self.ops ; .arch x64 ; cmp Rd(d), DWORD i),
            }
        }
        let (t, short) = self.jump(pc, target);
        macro_rules! j {
            ($ins:ident) => {
                if short {
                    dynasm!(self.ops ; .arch x64 ; $ins BYTE =>t)
                } else {
                    dynasm!(self.ops ; .arch x64 ; $ins =>t)
                }
            };
        }
        match cond {
            JmpCond::Eq => j!(je),
            JmpCond::Ne | JmpCond::Set => j!(jne),
            JmpCond::Gt => j!(ja),
            JmpCond::Ge => j!(jae),
            JmpCond::Lt => j!(jb),
            JmpCond::Le => j!(jbe),
            JmpCond::Sgt => j!(jg),
            JmpCond::Sge => j!(jge),
            JmpCond::Slt => j!(jl),
            JmpCond::Sle => j!(jle),
        }
    }
}
