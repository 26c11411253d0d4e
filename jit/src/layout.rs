//! Memory layouts the native code and the Rust side agree on: the per-run context the code
//! reaches through one register, the BPF stack, and the native frame of a BPF function.
//!
//! Both backends use these; only the register that holds the context differs.

use bpfbox_vm::interp::{MAX_CALL_FRAMES, STACK_FRAME_SIZE};

/// Bytes of BPF stack a run gets: one 512-byte frame per call level, as in the interpreter.
pub const STACK_BYTES: usize = MAX_CALL_FRAMES * STACK_FRAME_SIZE;

/// Native frame of every BPF function, above the saved registers: the `may_goto` counter,
/// the context pointer (reloaded after every call out to Rust), a scratch slot, padding.
pub const FRAME_MAY_GOTO: i32 = 0;
/// Offset of the saved context pointer in the native frame.
pub const FRAME_CTX: i32 = 8;
/// Offset of the scratch slot in the native frame.
pub const FRAME_SCRATCH: i32 = 16;
/// Bytes the prologue reserves below the saved registers (keeps the stack 16-aligned).
pub const FRAME_LOCALS: i32 = 32;

/// Status of a run after the native code returned.
pub const STATUS_OK: u64 = 0;
/// A call-out stored a fault in [`RunCtx::fault`].
pub const STATUS_FAULT: u64 = 1;
/// The code jumped to a fault it knew at compile time; [`RunCtx::site`] points at it.
pub const STATUS_STATIC_FAULT: u64 = 2;

/// The per-run context. The fields before `host` are read and written by native code at
/// the offsets below; keep them `u64`. The ones call sites touch come first, so that their
/// offsets fit an 8-bit displacement.
#[repr(C)]
pub struct RunCtx {
    /// Instructions left in the budget (checked mode's meter, spilled around call-outs).
    pub left: u64,
    /// Slot of the instruction calling out (or of the block start, for a budget replay).
    pub pc: u64,
    /// The `ImageMeta` of the image running now (a tail call switches it).
    pub image: u64,
    /// One of the `STATUS_*` values.
    pub status: u64,
    /// The memory site (or static fault) of the call-out; for a helper call through the
    /// shared helper stub, the return address of its `call`.
    pub site: u64,
    /// Address of the shared epilogue every `exit` jumps to.
    pub epilogue: u64,
    /// Address of the shared helper stub every helper call calls.
    pub helper: u64,
    /// Address of the shared stub every `LD_ABS` / `LD_IND` calls.
    pub ld_packet: u64,
    /// Address of the shared stub every tail call calls.
    pub tail_call: u64,
    /// r0..r10 spilled for a call-out that reads or writes them.
    pub regs: [u64; 11],
    /// BPF r10 at a helper call; the stack top at entry.
    pub r10: u64,
    /// Helper id of a helper call (or the callx operand).
    pub id: u64,
    /// First byte of the BPF stack.
    pub stack_start: u64,
    /// Start of the first caller region (the fast out-of-line check).
    pub r1_start: u64,
    /// `len - size + 1` of that region for loads of 1, 2, 4, 8 bytes, then for stores (0 when
    /// no access of that size and kind may go there).
    pub r1_lim: [u64; 8],
    /// Native stack pointer of the entry stub, restored on a fault exit.
    pub saved_rsp: u64,
    /// r1..r5 at entry.
    pub args: [u64; 5],
    /// Address of the entry stub's fault return.
    pub fault_ret: u64,
    /// Address of the shared tail of budget replays (x86-64).
    pub budget_tail: u64,
    /// Address of the shared tail of memory slow paths (x86-64).
    pub mem_tail: u64,
    /// Address of slot 0's body, which the entry stub enters after building its frame (the
    /// call-outs derive the BPF call depth from r10: each frame is 512 bytes below its
    /// caller's).
    pub entry_fn: u64,
    /// Addresses of the call-outs the aarch64 backend branches to through the context
    /// (indexed by [`crate::aarch64::CallOut`]; unused by x86-64 code).
    pub callouts: [u64; crate::aarch64::N_CALLOUTS],
    /// Rust side only: the run's host state (`*mut Host`).
    pub host: *mut (),
    /// Rust side only: the program (`*const JitProgram`).
    pub prog: *const (),
    /// Rust side only: the fault a call-out raised.
    pub fault: Option<bpfbox_vm::Fault>,
    /// Rust side only: images tail calls entered, kept alive for the run.
    pub entered: Vec<std::sync::Arc<crate::Image>>,
}

macro_rules! off {
    ($name:ident, $field:ident) => {
        #[doc = concat!("Offset of `RunCtx::", stringify!($field), "`.")]
        pub const $name: i32 = std::mem::offset_of!(RunCtx, $field) as i32;
    };
}
off!(CTX_LEFT, left);
off!(CTX_SAVED_RSP, saved_rsp);
off!(CTX_EPILOGUE, epilogue);
off!(CTX_HELPER, helper);
off!(CTX_LD_PACKET, ld_packet);
off!(CTX_TAIL_CALL, tail_call);
off!(CTX_PC, pc);
off!(CTX_IMAGE, image);
off!(CTX_R10, r10);
off!(CTX_STACK_START, stack_start);
off!(CTX_R1_START, r1_start);
off!(CTX_R1_LIM, r1_lim);
off!(CTX_REGS, regs);
off!(CTX_ARGS, args);
off!(CTX_ID, id);
off!(CTX_STATUS, status);
off!(CTX_FAULT_RET, fault_ret);
off!(CTX_BUDGET_TAIL, budget_tail);
off!(CTX_MEM_TAIL, mem_tail);
off!(CTX_SITE, site);
off!(CTX_ENTRY_FN, entry_fn);
off!(CTX_CALLOUTS, callouts);

// The fields native code addresses with an 8-bit displacement.
const _: () = assert!(CTX_TAIL_CALL < 128 && CTX_REGS + 5 * 8 < 128);

/// The BPF call depth of a frame whose r10 is `r10`, in a run whose stack starts at
/// `stack_start`.
pub fn depth_of(stack_start: u64, r10: u64) -> usize {
    let top = stack_start + STACK_BYTES as u64;
    (top.saturating_sub(r10) / STACK_FRAME_SIZE as u64) as usize
}

/// Index of an access size in [`RunCtx::r1_lim`] (add 4 for stores).
pub fn size_index(size: u32) -> usize {
    match size {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => 3,
    }
}
