//! Out-of-line code after the body: static faults, budget replays, memory slow paths.
//!
//! Each stub does only what is particular to it (its fault, block or access) and continues
//! in a tail shared by all the stubs of its kind, which spills the registers and calls out
//! to Rust. The tails of budget replays and memory slow paths are the same for every image,
//! so they live in the shared code ([`shared_tails`]), reached through the run context:
//! that keeps checked images small and quick to emit.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use super::{enc, Asm, Backend, Stub, CTX, METER};
use crate::layout::*;
use crate::runtime;

impl Backend<'_> {
    pub(super) fn stubs_out(&mut self) {
        let mut stubs = std::mem::take(&mut self.stubs);
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
        for stub in stubs.drain(..) {
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
                    dynasm!(self.ops ; .arch x64 ; =>label);
                    // A copy of the template with its two immediates set: the stubs are
                    // as many as the blocks.
                    match budget_template() {
                        Some(t) => {
                            let mut b = t.bytes;
                            b[t.charge_at..t.charge_at + 4]
                                .copy_from_slice(&(charge as i32).to_le_bytes());
                            b[t.pc_at..t.pc_at + 4].copy_from_slice(&(pc as i32).to_le_bytes());
                            self.ops.extend(b.iter().take(t.len).copied());
                        }
                        None => budget_stub(&mut self.ops, charge, pc),
                    }
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
                    enc::store_imm(&mut self.ops, enc::W::Q, site as i32, CTX, CTX_SITE);
                    self.note_call_out(s.pc);
                    enc::call_mem(&mut self.ops, CTX, CTX_MEM_TAIL);
                    dynasm!(self.ops ; .arch x64 ; jmp =>done);
                }
            }
        }
        // Emptied, it keeps its room for the thread's next compile.
        self.stubs = stubs;
    }
}

/// A budget stub: undoes its block's charge (the replay counts it instruction by
/// instruction), stores the block's slot and continues in the shared budget tail.
fn budget_stub(ops: &mut Asm, charge: u32, pc: usize) {
    dynasm!(ops ; .arch x64 ; add Rq(METER), charge as i32);
    enc::store_imm(ops, enc::W::Q, pc as i32, CTX, CTX_PC);
    enc::jmp_mem(ops, CTX, CTX_BUDGET_TAIL);
}

/// The bytes of [`budget_stub`] and where its two 32-bit immediates are.
struct BudgetTemplate {
    bytes: [u8; 32],
    len: usize,
    charge_at: usize,
    pc_at: usize,
}

/// The template of a budget stub, made once from [`budget_stub`] itself: `None` if its
/// encoding depended on the values (then each stub is encoded as usual).
fn budget_template() -> Option<&'static BudgetTemplate> {
    static TEMPLATE: std::sync::OnceLock<Option<BudgetTemplate>> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let encode = |charge: u32, pc: usize| {
                let mut ops = Asm::new(0);
                budget_stub(&mut ops, charge, pc);
                ops.finalize().ok()
            };
            // Two encodings whose immediates differ in every byte: the template is valid
            // when they differ exactly in two 4-byte fields.
            let (a, b) = (encode(0x0101_0101, 0x0202_0202)?, encode(0x7f7f_7f7f, 3)?);
            if a.len() != b.len() || a.len() > 32 {
                return None;
            }
            let find = |v: u32| a.windows(4).position(|w| w == v.to_le_bytes());
            let (charge_at, pc_at) = (find(0x0101_0101)?, find(0x0202_0202)?);
            let mut t = BudgetTemplate {
                bytes: [0; 32],
                len: a.len(),
                charge_at,
                pc_at,
            };
            t.bytes[..a.len()].copy_from_slice(&a);
            // Check: the template with b's values set is b.
            let mut c = t.bytes;
            c[charge_at..charge_at + 4].copy_from_slice(&0x7f7f_7f7fu32.to_le_bytes());
            c[pc_at..pc_at + 4].copy_from_slice(&3u32.to_le_bytes());
            (c[..b.len()] == b[..]).then_some(t)
        })
        .as_ref()
}

/// Emits the tails shared by every image's stubs into the shared code; returns the offsets
/// of the budget tail and the memory tail.
pub(super) fn shared_tails(ops: &mut Asm) -> (usize, usize) {
    let save_regs = |ops: &mut Asm| {
        for r in 0..11u8 {
            enc::store(ops, enc::W::Q, super::x(r), CTX, CTX_REGS + 8 * r as i32);
        }
    };
    // The budget ran out: replay the block in the interpreter, which stops where it stops,
    // and leave.
    let budget_tail = ops.offset().0;
    save_regs(ops);
    enc::store(ops, enc::W::Q, METER, CTX, CTX_LEFT);
    let f = runtime::jit_budget as *const () as usize as u64;
    dynasm!(ops
        ; .arch x64
        ; mov rdi, r9
        ; mov rax, QWORD f as i64
        ; call rax
    );
    enc::load(ops, enc::W::Q, CTX, 4, FRAME_CTX);
    fault_exit(ops);
    // The access, performed (or refused) by the interpreter's rule on the spilled
    // registers; called, so that each stub continues after its own access. The return
    // address and 8 bytes of padding keep the stack 16-aligned for the call out, and put
    // the frame's slots 16 bytes further from rsp.
    let mem_tail = ops.offset().0;
    let f = runtime::jit_mem as *const () as usize as u64;
    dynasm!(ops ; .arch x64 ; sub rsp, 8);
    save_regs(ops);
    dynasm!(ops
        ; .arch x64
        ; mov rdi, r9
        ; mov rax, QWORD f as i64
        ; call rax
    );
    enc::load(ops, enc::W::Q, CTX, 4, 16 + FRAME_CTX);
    enc::alu_mem_imm8(ops, 7, CTX, CTX_STATUS, 0);
    dynasm!(ops ; .arch x64 ; jne >fault);
    for r in 0..11u8 {
        enc::load(ops, enc::W::Q, super::x(r), CTX, CTX_REGS + 8 * r as i32);
    }
    dynasm!(ops ; .arch x64 ; add rsp, 8 ; ret ; fault:);
    fault_exit(ops);
    (budget_tail, mem_tail)
}

/// Back to the entry stub with its stack pointer (what an image's fault exit does).
fn fault_exit(ops: &mut Asm) {
    enc::load(ops, enc::W::Q, 4, CTX, CTX_SAVED_RSP);
    enc::jmp_mem(ops, CTX, CTX_FAULT_RET);
}
