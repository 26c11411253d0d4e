//! Code shared by every image, assembled and mapped once per process: the entry stub, the
//! epilogue every `exit` jumps to, the helper stub every helper call calls, and the stub of
//! the legacy packet loads and tail calls. Images reach
//! the last two through the run context, so a call site needs no address of its own.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use super::{enc, Asm, CTX, METER};
use crate::layout::*;
use crate::runtime;
use crate::JitError;

/// The shared code and where its parts start.
pub(crate) struct SharedCode {
    pub code: Vec<u8>,
    /// The entry stub (`extern "C" fn(*mut RunCtx) -> u64`).
    pub entry: usize,
    /// The epilogue.
    pub epilogue: usize,
    /// The helper stub.
    pub helper: usize,
    /// The `LD_ABS` / `LD_IND` stub.
    pub ld_packet: usize,
    /// The tail call stub.
    pub tail_call: usize,
    /// Offset of the tail every budget stub jumps to ([`super::stubs`]).
    pub budget_tail: usize,
    /// Offset of the tail every memory slow-path stub calls ([`super::stubs`]).
    pub mem_tail: usize,
}

/// Assembles the shared code.
///
/// The entry stub saves the host's callee-saved registers, sets up the BPF registers from
/// the context, builds the entry function's frame (as `Backend::prologue` builds it for
/// other functions) and jumps to `RunCtx::entry_fn` (slot 0's body); the epilogue returns
/// into it. A fault anywhere returns through its second half with the stack pointer it
/// saved.
pub(crate) fn shared_code() -> Result<SharedCode, JitError> {
    let mut ops = Asm::new(0);
    let entry = ops.offset().0;
    dynasm!(ops
        ; .arch x64
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; mov r9, rdi
        ; mov [rsp], r9
        ; mov [r9 + CTX_SAVED_RSP], rsp
        ; lea rax, [>fault_ret]
        ; mov [r9 + CTX_FAULT_RET], rax
        ; mov r12, [r9 + CTX_LEFT]
        ; mov rbp, [r9 + CTX_R10]
        ; mov r10, rbp
        ; mov rdi, [r9 + CTX_ARGS]
        ; mov rsi, [r9 + CTX_ARGS + 8]
        ; mov rdx, [r9 + CTX_ARGS + 16]
        ; mov rcx, [r9 + CTX_ARGS + 24]
        ; mov r8, [r9 + CTX_ARGS + 32]
        ; xor eax, eax
        ; xor ebx, ebx
        ; xor r13d, r13d
        ; xor r14d, r14d
        ; xor r15d, r15d
        ; lea r11, [>back]
        ; push r11
        ; push rbx
        ; push r13
        ; push r14
        ; push r15
        ; push r10
        ; sub rsp, FRAME_LOCALS
        ; mov [rsp + FRAME_CTX], r9
        ; mov QWORD [rsp + FRAME_MAY_GOTO], runtime::MAY_GOTO_BUDGET as i32
        ; jmp QWORD [r9 + CTX_ENTRY_FN]
        ; back:
        ; mov r9, [rsp]
        ; mov [r9 + CTX_LEFT], r12
        ; fault_ret:
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
    );
    // The epilogue of every BPF function: restores the caller's r6..r9 and r10.
    let epilogue = ops.offset().0;
    dynasm!(ops
        ; .arch x64
        ; add rsp, BYTE FRAME_LOCALS as i8
        ; pop rbp
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop rbx
        ; ret
    );
    // The helper stub, entered by `call` from a BPF function's body (so the frame's
    // context slot is one word further up): spills what the Rust side reads, keeps r1..r5
    // across the call as the interpreter does, and returns r0.
    let helper = ops.offset().0;
    enc::store(&mut ops, enc::W::Q, METER, CTX, CTX_LEFT);
    enc::store(&mut ops, enc::W::Q, 5, CTX, CTX_R10);
    dynasm!(ops ; .arch x64 ; mov r11, [rsp]);
    enc::store(&mut ops, enc::W::Q, 11, CTX, CTX_SITE);
    for r in 1..6u8 {
        enc::store(
            &mut ops,
            enc::W::Q,
            super::x(r),
            CTX,
            CTX_REGS + 8 * r as i32,
        );
    }
    dynasm!(ops
        ; .arch x64
        ; sub rsp, BYTE 8
        ; mov rax, QWORD runtime::jit_helper_at as *const () as usize as i64
        ; call rax
        ; add rsp, BYTE 8
    );
    enc::load(&mut ops, enc::W::Q, CTX, 4, 8 + FRAME_CTX);
    enc::load(&mut ops, enc::W::Q, METER, CTX, CTX_LEFT);
    enc::alu_mem_imm8(&mut ops, 7, CTX, CTX_STATUS, 0);
    dynasm!(ops ; .arch x64 ; jne >fault);
    for r in 1..6u8 {
        enc::load(
            &mut ops,
            enc::W::Q,
            super::x(r),
            CTX,
            CTX_REGS + 8 * r as i32,
        );
    }
    dynasm!(ops ; .arch x64 ; ret ; fault:);
    enc::load(&mut ops, enc::W::Q, 4, CTX, CTX_SAVED_RSP);
    enc::jmp_mem(&mut ops, CTX, CTX_FAULT_RET);
    // The `LD_ABS` / `LD_IND` stub: as the helper stub, with the packet offset in r11.
    let ld_packet = ops.offset().0;
    enc::store(&mut ops, enc::W::Q, METER, CTX, CTX_LEFT);
    dynasm!(ops ; .arch x64 ; mov rax, [rsp]);
    enc::store(&mut ops, enc::W::Q, 0, CTX, CTX_SITE);
    for r in 1..6u8 {
        enc::store(
            &mut ops,
            enc::W::Q,
            super::x(r),
            CTX,
            CTX_REGS + 8 * r as i32,
        );
    }
    dynasm!(ops
        ; .arch x64
        ; mov rdi, r9
        ; mov rsi, r11
        ; sub rsp, BYTE 8
        ; mov rax, QWORD runtime::jit_ld_packet_at as *const () as usize as i64
        ; call rax
        ; add rsp, BYTE 8
    );
    enc::load(&mut ops, enc::W::Q, CTX, 4, 8 + FRAME_CTX);
    enc::alu_mem_imm8(&mut ops, 7, CTX, CTX_STATUS, 0);
    dynasm!(ops ; .arch x64 ; jne >ld_fault);
    for r in 1..6u8 {
        enc::load(
            &mut ops,
            enc::W::Q,
            super::x(r),
            CTX,
            CTX_REGS + 8 * r as i32,
        );
    }
    dynasm!(ops ; .arch x64 ; ret ; ld_fault:);
    enc::load(&mut ops, enc::W::Q, 4, CTX, CTX_SAVED_RSP);
    enc::jmp_mem(&mut ops, CTX, CTX_FAULT_RET);
    // The tail call stub: r2 (rsi) is the program array and r3 (rdx) the index; it
    // continues in the target's body with the caller's frame (dropping its own return
    // address), or returns when there is no target.
    let tail_call = ops.offset().0;
    enc::store(&mut ops, enc::W::Q, METER, CTX, CTX_LEFT);
    for r in 0..6u8 {
        enc::store(
            &mut ops,
            enc::W::Q,
            super::x(r),
            CTX,
            CTX_REGS + 8 * r as i32,
        );
    }
    dynasm!(ops ; .arch x64 ; mov rax, [rsp]);
    enc::store(&mut ops, enc::W::Q, 0, CTX, CTX_SITE);
    dynasm!(ops
        ; .arch x64
        ; mov rdi, r9
        ; sub rsp, BYTE 8
        ; mov rax, QWORD runtime::jit_tail_call_at as *const () as usize as i64
        ; call rax
        ; add rsp, BYTE 8
        ; mov r11, rax
    );
    enc::load(&mut ops, enc::W::Q, CTX, 4, 8 + FRAME_CTX);
    enc::alu_mem_imm8(&mut ops, 7, CTX, CTX_STATUS, 0);
    dynasm!(ops ; .arch x64 ; jne >tail_fault);
    for r in 0..6u8 {
        enc::load(
            &mut ops,
            enc::W::Q,
            super::x(r),
            CTX,
            CTX_REGS + 8 * r as i32,
        );
    }
    dynasm!(ops
        ; .arch x64
        ; test r11, r11
        ; jz >fall
        ; add rsp, BYTE 8
        ; jmp r11
        ; fall:
        ; ret
        ; tail_fault:
    );
    enc::load(&mut ops, enc::W::Q, 4, CTX, CTX_SAVED_RSP);
    enc::jmp_mem(&mut ops, CTX, CTX_FAULT_RET);
    let (budget_tail, mem_tail) = super::stubs::shared_tails(&mut ops);
    let code = ops
        .finalize()
        .map_err(|e| JitError::Assemble(e.to_string()))?;
    Ok(SharedCode {
        code,
        entry,
        epilogue,
        helper,
        ld_packet,
        tail_call,
        budget_tail,
        mem_tail,
    })
}
