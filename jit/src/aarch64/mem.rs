//! Loads, stores and atomics. In checked mode an access not proven at compile time computes
//! its address into x10 and tests it inline against the stack (for r10) or the first caller
//! region (for anything else); the out-of-line path tests the other, then calls the
//! interpreter's full rule. Atomics use LSE instructions or LL/SC loops, as chosen.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use bpfbox_vm::isa::{AtomicOp, Insn};

use super::enc::{self, Ld};
use super::{x, Backend, Cond, Stub, T0, T1, T2, TA};
use crate::frontend::{Plan, Site, SiteKind};
use crate::layout::{size_index, CTX_R1_LIM, CTX_R1_START, CTX_STACK_START, STACK_BYTES};

impl Backend<'_> {
    pub(super) fn memory(&mut self, pc: usize, insn: &Insn) {
        let (kind, size, dst, src, off) = match *insn {
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => (SiteKind::Load { signed: false }, size, dst, src, off),
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => (SiteKind::Load { signed: true }, size, dst, src, off),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => (
                SiteKind::Store {
                    imm: Some(imm as i64 as u64),
                },
                size,
                dst,
                0,
                off,
            ),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => (SiteKind::Store { imm: None }, size, dst, src, off),
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => (SiteKind::Atomic(op), size, dst, src, off),
            _ => return,
        };
        let site = Site {
            pc,
            kind,
            dst,
            src,
            off,
            size: size.bytes(),
        };
        let base = site.base();
        // Atomics must also be aligned to be performed inline (r10 always is).
        let aligned =
            !matches!(site.kind, SiteKind::Atomic(_)) || site.off as i64 % site.size as i64 == 0;
        if !self.checked || (aligned && Plan::stack_proven(base, site.off, site.size)) {
            self.access(&site, x(base), site.off as i32);
            return;
        }
        let label = self.ops.new_dynamic_label();
        let ok = self.ops.new_dynamic_label();
        let done = self.ops.new_dynamic_label();
        let stack_first = base == 10;
        enc::add_imm(&mut self.ops, true, TA, x(base), site.off as i64, TA);
        // Atomic and acquire/release instructions fault on a misaligned address where the
        // interpreter performs the access: those go straight to the interpreter's rule.
        let slow = if matches!(site.kind, SiteKind::Atomic(_)) && site.size > 1 {
            let slow = self.ops.new_dynamic_label();
            let mask = (site.size - 1) as u64;
            dynasm!(self.ops ; .arch aarch64 ; tst X(TA), mask);
            self.b_cond(Cond::Ne, slow);
            Some(slow)
        } else {
            None
        };
        if stack_first {
            self.stack_check(site.size);
        } else {
            self.region1_check(&site);
        }
        self.b_cond(Cond::Hs, label);
        dynasm!(self.ops ; .arch aarch64 ; =>ok);
        self.access(&site, TA, 0);
        dynasm!(self.ops ; .arch aarch64 ; =>done);
        self.sites.push(site);
        self.stubs.push(Stub::Mem {
            label,
            site: self.sites.len() - 1,
            ok,
            done,
            stack_first,
            slow,
        });
    }

    /// Flags `lo` when x10 - stack start is a valid offset for an access of `size`.
    pub(super) fn stack_check(&mut self, size: u32) {
        let limit = (STACK_BYTES as u32 - size + 1) as i64;
        self.ld_ctx(T1, CTX_STACK_START);
        dynasm!(self.ops ; .arch aarch64 ; sub X(T1), X(TA), X(T1));
        enc::cmp_imm(&mut self.ops, true, T1, limit, T2);
    }

    /// Flags `lo` when x10 - first caller region's start is a valid offset.
    pub(super) fn region1_check(&mut self, site: &Site) {
        let idx = size_index(site.size) + if site.read_only() { 0 } else { 4 };
        self.ld_ctx(T1, CTX_R1_START);
        dynasm!(self.ops ; .arch aarch64 ; sub X(T1), X(TA), X(T1));
        self.ld_ctx(T2, CTX_R1_LIM + 8 * idx as i32);
        dynasm!(self.ops ; .arch aarch64 ; cmp X(T1), X(T2));
    }

    /// The access itself at `[b + o]`.
    fn access(&mut self, site: &Site, b: u32, o: i32) {
        let d = x(site.dst);
        let s = x(site.src);
        let size = site.size;
        match site.kind {
            SiteKind::Load { signed } => {
                let k = if signed { Ld::Sx } else { Ld::Zx };
                enc::ldst(&mut self.ops, k, size, d, b, o, TA);
            }
            SiteKind::Store { imm: Some(v) } => {
                enc::mov_imm(&mut self.ops, true, T0, v);
                enc::ldst(&mut self.ops, Ld::St, size, T0, b, o, TA);
            }
            SiteKind::Store { imm: None } => enc::ldst(&mut self.ops, Ld::St, size, s, b, o, TA),
            SiteKind::Atomic(op) => {
                // Atomics take a bare base register.
                let a = if o == 0 {
                    b
                } else {
                    enc::add_imm(&mut self.ops, true, TA, b, o as i64, TA);
                    TA
                };
                self.atomic(op, size, d, s, a);
            }
        }
    }

    fn atomic(&mut self, op: AtomicOp, size: u32, d: u32, s: u32, a: u32) {
        let w64 = size == 8;
        match op {
            AtomicOp::LoadAcquire => match size {
                1 => dynasm!(self.ops ; .arch aarch64 ; ldarb W(d), [X(a)]),
                2 => dynasm!(self.ops ; .arch aarch64 ; ldarh W(d), [X(a)]),
                4 => dynasm!(self.ops ; .arch aarch64 ; ldar W(d), [X(a)]),
                _ => dynasm!(self.ops ; .arch aarch64 ; ldar X(d), [X(a)]),
            },
            AtomicOp::StoreRelease => match size {
                1 => dynasm!(self.ops ; .arch aarch64 ; stlrb W(s), [X(a)]),
                2 => dynasm!(self.ops ; .arch aarch64 ; stlrh W(s), [X(a)]),
                4 => dynasm!(self.ops ; .arch aarch64 ; stlr W(s), [X(a)]),
                _ => dynasm!(self.ops ; .arch aarch64 ; stlr X(s), [X(a)]),
            },
            _ if self.lse => self.atomic_lse(op, w64, s, a),
            _ => self.atomic_llsc(op, w64, s, a),
        }
    }

    /// ARMv8.1 LSE: one instruction each (`and` is `clr` of the complement).
    fn atomic_lse(&mut self, op: AtomicOp, w64: bool, s: u32, a: u32) {
        let r0 = x(0);
        match (op, w64) {
            (AtomicOp::Add { fetch: false }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; stadd X(s), [X(a)])
            }
            (AtomicOp::Add { fetch: false }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; stadd W(s), [X(a)])
            }
            (AtomicOp::Or { fetch: false }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; stset X(s), [X(a)])
            }
            (AtomicOp::Or { fetch: false }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; stset W(s), [X(a)])
            }
            (AtomicOp::Xor { fetch: false }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; steor X(s), [X(a)])
            }
            (AtomicOp::Xor { fetch: false }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; steor W(s), [X(a)])
            }
            (AtomicOp::And { fetch: false }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; mvn X(T0), X(s) ; stclr X(T0), [X(a)])
            }
            (AtomicOp::And { fetch: false }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; mvn W(T0), W(s) ; stclr W(T0), [X(a)])
            }
            (AtomicOp::Add { fetch: true }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; ldaddal X(s), X(s), [X(a)])
            }
            (AtomicOp::Add { fetch: true }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; ldaddal W(s), W(s), [X(a)])
            }
            (AtomicOp::Or { fetch: true }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; ldsetal X(s), X(s), [X(a)])
            }
            (AtomicOp::Or { fetch: true }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; ldsetal W(s), W(s), [X(a)])
            }
            (AtomicOp::Xor { fetch: true }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; ldeoral X(s), X(s), [X(a)])
            }
            (AtomicOp::Xor { fetch: true }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; ldeoral W(s), W(s), [X(a)])
            }
            (AtomicOp::And { fetch: true }, true) => {
                dynasm!(self.ops ; .arch aarch64 ; mvn X(T0), X(s) ; ldclral X(T0), X(s), [X(a)])
            }
            (AtomicOp::And { fetch: true }, false) => {
                dynasm!(self.ops ; .arch aarch64 ; mvn W(T0), W(s) ; ldclral W(T0), W(s), [X(a)])
            }
            (AtomicOp::Xchg, true) => dynasm!(self.ops ; .arch aarch64 ; swpal X(s), X(s), [X(a)]),
            (AtomicOp::Xchg, false) => dynasm!(self.ops ; .arch aarch64 ; swpal W(s), W(s), [X(a)]),
            (AtomicOp::Cmpxchg, true) => {
                dynasm!(self.ops ; .arch aarch64 ; casal X(r0), X(s), [X(a)])
            }
            (AtomicOp::Cmpxchg, false) => {
                dynasm!(self.ops ; .arch aarch64 ; casal W(r0), W(s), [X(a)])
            }
            (AtomicOp::LoadAcquire | AtomicOp::StoreRelease, _) => unreachable!("plain accesses"),
        }
    }

    /// LL/SC loops: load-exclusive the old value into x9, compute the new one into x11,
    /// store-exclusive (status in w12) until it succeeds; a full barrier after fetches.
    fn atomic_llsc(&mut self, op: AtomicOp, w64: bool, s: u32, a: u32) {
        let r0 = x(0);
        let fetch = match op {
            AtomicOp::Add { fetch }
            | AtomicOp::Or { fetch }
            | AtomicOp::And { fetch }
            | AtomicOp::Xor { fetch } => fetch,
            _ => true,
        };
        if op == AtomicOp::Cmpxchg {
            // x11 = the expected value; on a mismatch nothing is stored.
            if w64 {
                dynasm!(self.ops ; .arch aarch64
                    ; mov X(T1), X(r0)
                    ; retry:
                    ; ldaxr X(T0), [X(a)]
                    ; cmp X(T0), X(T1)
                    ; b.ne >out
                    ; stlxr W(T2), X(s), [X(a)]
                    ; cbnz W(T2), <retry
                    ; out:
                    ; dmb ish
                    ; mov X(r0), X(T0)
                );
            } else {
                dynasm!(self.ops ; .arch aarch64
                    ; mov W(T1), W(r0)
                    ; retry:
                    ; ldaxr W(T0), [X(a)]
                    ; cmp W(T0), W(T1)
                    ; b.ne >out
                    ; stlxr W(T2), W(s), [X(a)]
                    ; cbnz W(T2), <retry
                    ; out:
                    ; dmb ish
                    ; mov W(r0), W(T0)
                );
            }
            return;
        }
        if w64 {
            dynasm!(self.ops ; .arch aarch64 ; retry: ; ldaxr X(T0), [X(a)]);
            match op {
                AtomicOp::Add { .. } => dynasm!(self.ops ; .arch aarch64 ; add X(T1), X(T0), X(s)),
                AtomicOp::Or { .. } => dynasm!(self.ops ; .arch aarch64 ; orr X(T1), X(T0), X(s)),
                AtomicOp::And { .. } => dynasm!(self.ops ; .arch aarch64 ; and X(T1), X(T0), X(s)),
                AtomicOp::Xor { .. } => dynasm!(self.ops ; .arch aarch64 ; eor X(T1), X(T0), X(s)),
                _ => dynasm!(self.ops ; .arch aarch64 ; mov X(T1), X(s)),
            }
            dynasm!(self.ops ; .arch aarch64
                ; stlxr W(T2), X(T1), [X(a)]
                ; cbnz W(T2), <retry
            );
            if fetch {
                dynasm!(self.ops ; .arch aarch64 ; dmb ish ; mov X(s), X(T0));
            }
        } else {
            dynasm!(self.ops ; .arch aarch64 ; retry: ; ldaxr W(T0), [X(a)]);
            match op {
                AtomicOp::Add { .. } => dynasm!(self.ops ; .arch aarch64 ; add W(T1), W(T0), W(s)),
                AtomicOp::Or { .. } => dynasm!(self.ops ; .arch aarch64 ; orr W(T1), W(T0), W(s)),
                AtomicOp::And { .. } => dynasm!(self.ops ; .arch aarch64 ; and W(T1), W(T0), W(s)),
                AtomicOp::Xor { .. } => dynasm!(self.ops ; .arch aarch64 ; eor W(T1), W(T0), W(s)),
                _ => dynasm!(self.ops ; .arch aarch64 ; mov W(T1), W(s)),
            }
            dynasm!(self.ops ; .arch aarch64
                ; stlxr W(T2), W(T1), [X(a)]
                ; cbnz W(T2), <retry
            );
            if fetch {
                dynasm!(self.ops ; .arch aarch64 ; dmb ish ; mov W(s), W(T0));
            }
        }
    }
}
