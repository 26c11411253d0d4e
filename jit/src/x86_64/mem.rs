//! Loads, stores and atomics. In checked mode an access not proven at compile time computes
//! its address into r11 and tests it inline against the stack; anything else goes out of
//! line (the first caller region, then the interpreter's full rule in Rust).

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use bpfbox_vm::isa::{AtomicOp, Insn};

use super::{enc, x, Backend, Stub, CTX};
use crate::frontend::{Plan, Site, SiteKind};
use crate::layout::{
    size_index, CTX_R1_LIM, CTX_R1_START, CTX_STACK_START, FRAME_CTX, FRAME_SCRATCH, STACK_BYTES,
};

/// A memory operand `[base + disp]`.
#[derive(Clone, Copy)]
struct Mem {
    base: u8,
    disp: i32,
}

impl Backend<'_> {
    pub(super) fn memory(&mut self, pc: usize, insn: &Insn) {
        let site = match *insn {
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => Site {
                pc,
                kind: SiteKind::Load { signed: false },
                dst,
                src,
                off,
                size: size.bytes(),
            },
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => Site {
                pc,
                kind: SiteKind::Load { signed: true },
                dst,
                src,
                off,
                size: size.bytes(),
            },
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => Site {
                pc,
                kind: SiteKind::Store {
                    imm: Some(imm as i64 as u64),
                },
                dst,
                src: 0,
                off,
                size: size.bytes(),
            },
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => Site {
                pc,
                kind: SiteKind::Store { imm: None },
                dst,
                src,
                off,
                size: size.bytes(),
            },
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => Site {
                pc,
                kind: SiteKind::Atomic(op),
                dst,
                src,
                off,
                size: size.bytes(),
            },
            _ => return,
        };
        let base = site.base();
        self.pending_size = site.size;
        if !self.checked || Plan::stack_proven(base, site.off, site.size) {
            self.access(
                &site,
                Mem {
                    base: x(base),
                    disp: site.off as i32,
                },
            );
            return;
        }
        let label = self.ops.new_dynamic_label();
        let ok = self.ops.new_dynamic_label();
        let done = self.ops.new_dynamic_label();
        // The inline check tests the region the base most likely points into: the stack
        // for r10, the first caller region (context, packet, memory) for anything else; the
        // out-of-line path tests the other one, then the interpreter's full rule.
        let stack_first = base == 10;
        enc::lea(&mut self.ops, 11, x(base), site.off as i32);
        dynasm!(self.ops ; .arch x64 ; mov r10, r11);
        if stack_first {
            self.stack_check();
        } else {
            self.region1_check(&site);
        }
        dynasm!(self.ops
            ; .arch x64
            ; jae =>label
            ; =>ok
        );
        self.access(&site, Mem { base: 11, disp: 0 });
        dynasm!(self.ops ; .arch x64 ; =>done);
        self.sites.push(site);
        self.stubs.push(Stub::Mem {
            label,
            site: self.sites.len() - 1,
            ok,
            done,
            stack_first,
        });
    }

    /// Flags `below` when r10 = r11 - stack start is a valid offset for the access.
    pub(super) fn stack_check(&mut self) {
        let size = self.pending_size;
        let limit = (STACK_BYTES as u32 - size + 1) as i32;
        enc::sub_mem(&mut self.ops, 10, CTX, CTX_STACK_START);
        dynasm!(self.ops ; .arch x64 ; cmp r10, limit);
    }

    /// Flags `below` when r10 = r11 - first caller region's start is a valid offset.
    pub(super) fn region1_check(&mut self, site: &Site) {
        let idx = size_index(site.size) + if site.read_only() { 0 } else { 4 };
        enc::sub_mem(&mut self.ops, 10, CTX, CTX_R1_START);
        enc::cmp_mem(&mut self.ops, 10, CTX, CTX_R1_LIM + 8 * idx as i32);
    }

    fn access(&mut self, site: &Site, m: Mem) {
        let d = x(site.dst);
        let s = x(site.src);
        let (b, o) = (m.base, m.disp);
        let w = enc::W::of(site.size);
        match site.kind {
            SiteKind::Load { signed: false } | SiteKind::Atomic(AtomicOp::LoadAcquire) => {
                enc::load(&mut self.ops, w, d, b, o)
            }
            SiteKind::Load { signed: true } => enc::load_sx(&mut self.ops, w, d, b, o),
            SiteKind::Store { imm: Some(v) } if self.plan.blind => {
                self.store_imm_blinded(w, v as i32, b, o)
            }
            SiteKind::Store { imm: Some(v) } => enc::store_imm(&mut self.ops, w, v as i32, b, o),
            SiteKind::Store { imm: None } | SiteKind::Atomic(AtomicOp::StoreRelease) => {
                enc::store(&mut self.ops, w, s, b, o)
            }
            SiteKind::Atomic(op) => self.atomic(op, site.size == 8, d, s, m),
        }
    }

    fn atomic(&mut self, op: AtomicOp, w64: bool, d: u8, s: u8, m: Mem) {
        let _ = d;
        let (b, o) = (m.base, m.disp);
        macro_rules! both {
            ($($t:tt)*) => {
                if w64 {
                    dynasm!(self.ops ; .arch x64 ; $($t)* QWORD [Rq(b) + o], Rq(s));
                } else {
                    dynasm!(self.ops ; .arch x64 ; $($t)* DWORD [Rq(b) + o], Rd(s));
                }
            };
        }
        match op {
            AtomicOp::Add { fetch: false } => both!(lock add),
            AtomicOp::Or { fetch: false } => both!(lock or),
            AtomicOp::And { fetch: false } => both!(lock and),
            AtomicOp::Xor { fetch: false } => both!(lock xor),
            AtomicOp::Add { fetch: true } => both!(lock xadd),
            AtomicOp::Xchg => both!(xchg),
            AtomicOp::Cmpxchg => {
                both!(lock cmpxchg);
                if !w64 {
                    // A 32-bit cmpxchg that matched leaves rax's upper half alone.
                    dynasm!(self.ops ; .arch x64 ; mov eax, eax);
                }
            }
            AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => {
                // A compare-and-swap loop in rax with the new value in r9 (the context
                // pointer, reloaded from the frame afterwards).
                dynasm!(self.ops
                    ; .arch x64
                    ; lea r10, [Rq(b) + o]
                    ; mov r11, Rq(s)
                    ; mov [rsp + FRAME_SCRATCH], rax
                );
                if w64 {
                    dynasm!(self.ops ; .arch x64 ; mov rax, QWORD [r10] ; retry: ; mov r9, rax);
                    match op {
                        AtomicOp::Or { .. } => dynasm!(self.ops ; .arch x64 ; or r9, r11),
                        AtomicOp::And { .. } => dynasm!(self.ops ; .arch x64 ; and r9, r11),
                        _ => dynasm!(self.ops ; .arch x64 ; xor r9, r11),
                    }
                    dynasm!(self.ops ; .arch x64 ; lock cmpxchg QWORD [r10], r9 ; jne <retry ; mov Rq(s), rax);
                } else {
                    dynasm!(self.ops ; .arch x64 ; mov eax, DWORD [r10] ; retry: ; mov r9d, eax);
                    match op {
                        AtomicOp::Or { .. } => dynasm!(self.ops ; .arch x64 ; or r9d, r11d),
                        AtomicOp::And { .. } => dynasm!(self.ops ; .arch x64 ; and r9d, r11d),
                        _ => dynasm!(self.ops ; .arch x64 ; xor r9d, r11d),
                    }
                    dynasm!(self.ops ; .arch x64 ; lock cmpxchg DWORD [r10], r9d ; jne <retry ; mov Rd(s), eax);
                }
                if s != 0 {
                    dynasm!(self.ops ; .arch x64 ; mov rax, [rsp + FRAME_SCRATCH]);
                }
                dynasm!(self.ops ; .arch x64 ; mov Rq(CTX), [rsp + FRAME_CTX]);
            }
            AtomicOp::LoadAcquire | AtomicOp::StoreRelease => {
                unreachable!("handled as plain accesses")
            }
        }
    }
}
