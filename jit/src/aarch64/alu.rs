//! ALU operations and conditional jumps.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi};

use bpfbox_vm::isa::{AluOp, EndKind, JmpCond, Src, Width};

use super::enc::{self, logical_ok};
use super::{x, Backend, Cond, T0, T1};

impl Backend<'_> {
    /// The immediate `i` as the operation of `w64` sees it.
    fn imm_value(i: i32, w64: bool) -> u64 {
        if w64 {
            i as i64 as u64
        } else {
            i as u32 as u64
        }
    }

    /// The source operand in a register: the BPF register, or the immediate in `scratch`.
    fn src_reg(&mut self, src: Src, w64: bool, scratch: u32) -> u32 {
        match src {
            Src::Reg(s) => x(s),
            Src::Imm(i) => {
                enc::mov_imm(&mut self.ops, w64, scratch, Self::imm_value(i, w64));
                scratch
            }
        }
    }

    pub(super) fn alu(&mut self, width: Width, op: AluOp, dst: u8, src: Src) {
        let w64 = width == Width::W64;
        let d = x(dst);
        macro_rules! rr {
            ($ins:ident, $s:expr) => {
                if w64 {
                    dynasm!(self.ops ; .arch aarch64 ; $ins X(d), X(d), X($s));
                } else {
                    dynasm!(self.ops ; .arch aarch64 ; $ins W(d), W(d), W($s));
                }
            };
        }
        macro_rules! logical {
            ($ins:ident) => {
                match src {
                    Src::Imm(i) if logical_ok(Self::imm_value(i, w64), w64) => {
                        let v = Self::imm_value(i, w64);
                        if w64 {
                            dynasm!(self.ops ; .arch aarch64 ; $ins XSP(d), X(d), v);
                        } else {
                            dynasm!(self.ops ; .arch aarch64 ; $ins WSP(d), W(d), v as u32);
                        }
                    }
                    _ => {
                        let s = self.src_reg(src, w64, T0);
                        rr!($ins, s);
                    }
                }
            };
        }
        match op {
            AluOp::Add | AluOp::Sub => match src {
                Src::Imm(i) => {
                    let v = if op == AluOp::Add {
                        i as i64
                    } else {
                        -(i as i64)
                    };
                    enc::add_imm(&mut self.ops, w64, d, d, v, T0);
                }
                Src::Reg(s) => {
                    if op == AluOp::Add {
                        rr!(add, x(s));
                    } else {
                        rr!(sub, x(s));
                    }
                }
            },
            AluOp::And => logical!(and),
            AluOp::Or => logical!(orr),
            AluOp::Xor => logical!(eor),
            AluOp::Mov => match src {
                Src::Reg(s) => {
                    let s = x(s);
                    if w64 {
                        if s != d {
                            dynasm!(self.ops ; .arch aarch64 ; mov X(d), X(s));
                        }
                    } else {
                        dynasm!(self.ops ; .arch aarch64 ; mov W(d), W(s));
                    }
                }
                Src::Imm(i) => enc::mov_imm(&mut self.ops, w64, d, Self::imm_value(i, w64)),
            },
            AluOp::Mul => {
                let s = self.src_reg(src, w64, T0);
                rr!(mul, s);
            }
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.shift(w64, op, d, src),
            AluOp::Div | AluOp::SDiv => {
                // udiv/sdiv give 0 for a zero divisor and INT_MIN for INT_MIN / -1, as BPF.
                let s = self.src_reg(src, w64, T0);
                if op == AluOp::Div {
                    rr!(udiv, s);
                } else {
                    rr!(sdiv, s);
                }
            }
            AluOp::Mod | AluOp::SMod => {
                // d - (d / s) * s: a zero divisor leaves d, INT_MIN % -1 is 0.
                let s = self.src_reg(src, w64, T0);
                match (op == AluOp::SMod, w64) {
                    (false, true) => dynasm!(self.ops ; .arch aarch64 ; udiv X(T1), X(d), X(s)),
                    (false, false) => dynasm!(self.ops ; .arch aarch64 ; udiv W(T1), W(d), W(s)),
                    (true, true) => dynasm!(self.ops ; .arch aarch64 ; sdiv X(T1), X(d), X(s)),
                    (true, false) => dynasm!(self.ops ; .arch aarch64 ; sdiv W(T1), W(d), W(s)),
                }
                if w64 {
                    dynasm!(self.ops ; .arch aarch64 ; msub X(d), X(T1), X(s), X(d));
                } else {
                    dynasm!(self.ops ; .arch aarch64 ; msub W(d), W(T1), W(s), W(d));
                }
            }
            AluOp::MovSx(bits) => {
                let Src::Reg(s) = src else { return };
                let s = x(s);
                match (bits, w64) {
                    (8, true) => dynasm!(self.ops ; .arch aarch64 ; sxtb X(d), W(s)),
                    (16, true) => dynasm!(self.ops ; .arch aarch64 ; sxth X(d), W(s)),
                    (32, true) => dynasm!(self.ops ; .arch aarch64 ; sxtw X(d), W(s)),
                    (8, false) => dynasm!(self.ops ; .arch aarch64 ; sxtb W(d), W(s)),
                    (16, false) => dynasm!(self.ops ; .arch aarch64 ; sxth W(d), W(s)),
                    (_, true) => dynasm!(self.ops ; .arch aarch64 ; mov X(d), X(s)),
                    (_, false) => dynasm!(self.ops ; .arch aarch64 ; mov W(d), W(s)),
                }
            }
        }
    }

    /// Shifts: the register forms mask the count to the width, as BPF does.
    fn shift(&mut self, w64: bool, op: AluOp, d: u32, src: Src) {
        match src {
            Src::Imm(i) => {
                let n = i as u32 & if w64 { 63 } else { 31 };
                if n == 0 {
                    if !w64 {
                        dynasm!(self.ops ; .arch aarch64 ; mov W(d), W(d));
                    }
                    return;
                }
                match (op, w64) {
                    (AluOp::Lsh, true) => dynasm!(self.ops ; .arch aarch64 ; lsl X(d), X(d), n),
                    (AluOp::Lsh, false) => dynasm!(self.ops ; .arch aarch64 ; lsl W(d), W(d), n),
                    (AluOp::Rsh, true) => dynasm!(self.ops ; .arch aarch64 ; lsr X(d), X(d), n),
                    (AluOp::Rsh, false) => dynasm!(self.ops ; .arch aarch64 ; lsr W(d), W(d), n),
                    (_, true) => dynasm!(self.ops ; .arch aarch64 ; asr X(d), X(d), n),
                    (_, false) => dynasm!(self.ops ; .arch aarch64 ; asr W(d), W(d), n),
                }
            }
            Src::Reg(s) => {
                let s = x(s);
                match (op, w64) {
                    (AluOp::Lsh, true) => dynasm!(self.ops ; .arch aarch64 ; lsl X(d), X(d), X(s)),
                    (AluOp::Lsh, false) => dynasm!(self.ops ; .arch aarch64 ; lsl W(d), W(d), W(s)),
                    (AluOp::Rsh, true) => dynasm!(self.ops ; .arch aarch64 ; lsr X(d), X(d), X(s)),
                    (AluOp::Rsh, false) => dynasm!(self.ops ; .arch aarch64 ; lsr W(d), W(d), W(s)),
                    (_, true) => dynasm!(self.ops ; .arch aarch64 ; asr X(d), X(d), X(s)),
                    (_, false) => dynasm!(self.ops ; .arch aarch64 ; asr W(d), W(d), W(s)),
                }
            }
        }
    }

    pub(super) fn neg(&mut self, width: Width, dst: u8) {
        let d = x(dst);
        if width == Width::W64 {
            dynasm!(self.ops ; .arch aarch64 ; neg X(d), X(d));
        } else {
            dynasm!(self.ops ; .arch aarch64 ; neg W(d), W(d));
        }
    }

    pub(super) fn end(&mut self, kind: EndKind, bits: u8, dst: u8) {
        let d = x(dst);
        match (kind, bits) {
            (EndKind::ToLe, 16) => dynasm!(self.ops ; .arch aarch64 ; uxth W(d), W(d)),
            (EndKind::ToLe, 32) => dynasm!(self.ops ; .arch aarch64 ; mov W(d), W(d)),
            (EndKind::ToLe, _) => {}
            (_, 16) => dynasm!(self.ops ; .arch aarch64 ; rev16 W(d), W(d) ; uxth W(d), W(d)),
            (_, 32) => dynasm!(self.ops ; .arch aarch64 ; rev W(d), W(d)),
            _ => dynasm!(self.ops ; .arch aarch64 ; rev X(d), X(d)),
        }
    }

    pub(super) fn jmp(&mut self, width: Width, cond: JmpCond, dst: u8, src: Src, t: DynamicLabel) {
        let d = x(dst);
        let w64 = width == Width::W64;
        if cond == JmpCond::Set {
            match src {
                Src::Imm(i) if logical_ok(Self::imm_value(i, w64), w64) => {
                    let v = Self::imm_value(i, w64);
                    if w64 {
                        dynasm!(self.ops ; .arch aarch64 ; tst X(d), v);
                    } else {
                        dynasm!(self.ops ; .arch aarch64 ; tst W(d), v as u32);
                    }
                }
                Src::Imm(0) => {
                    // Never taken: x & 0 is 0 (0 is no bitmask immediate).
                    return;
                }
                _ => {
                    let s = self.src_reg(src, w64, T0);
                    if w64 {
                        dynasm!(self.ops ; .arch aarch64 ; tst X(d), X(s));
                    } else {
                        dynasm!(self.ops ; .arch aarch64 ; tst W(d), W(s));
                    }
                }
            }
        } else {
            match src {
                Src::Reg(s) => {
                    if w64 {
                        dynasm!(self.ops ; .arch aarch64 ; cmp X(d), X(x(s)));
                    } else {
                        dynasm!(self.ops ; .arch aarch64 ; cmp W(d), W(x(s)));
                    }
                }
                Src::Imm(i) => {
                    // A 32-bit compare sees the immediate truncated; cmp/cmn of the
                    // sign-extended value is the same compare modulo 2^32.
                    enc::cmp_imm(&mut self.ops, w64, d, i as i64, T0)
                }
            }
        }
        let c = match cond {
            JmpCond::Eq => Cond::Eq,
            JmpCond::Ne | JmpCond::Set => Cond::Ne,
            JmpCond::Gt => Cond::Hi,
            JmpCond::Ge => Cond::Hs,
            JmpCond::Lt => Cond::Lo,
            JmpCond::Le => Cond::Ls,
            JmpCond::Sgt => Cond::Gt,
            JmpCond::Sge => Cond::Ge,
            JmpCond::Slt => Cond::Lt,
            JmpCond::Sle => Cond::Le,
        };
        self.b_cond(c, t);
    }
}
