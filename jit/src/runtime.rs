//! The Rust side of a run: the `extern "C"` call-outs native code makes (helpers, memory
//! slow paths, budget replays, legacy packet loads, tail calls), each a thin shim over the
//! interpreter's [`Host`], so every one has the interpreter's meaning; and what both
//! backends do before and after the native call (the inline check's limits for r1's region,
//! the run's result from the context).

use std::panic::{catch_unwind, AssertUnwindSafe};

use bpfbox_vm::interp::host::Host;
use bpfbox_vm::interp::FaultKind;
use bpfbox_vm::isa::AtomicOp;
use bpfbox_vm::memory::{Region, StoreShape};
use bpfbox_vm::semantics::{self, AtomicLoadReg};
use bpfbox_vm::{Fault, RunOutcome};

use crate::frontend::SiteKind;
use crate::layout::{RunCtx, STATUS_FAULT, STATUS_OK, STATUS_STATIC_FAULT};
use crate::{ImageMeta, JitProgram};

/// The `may_goto` budget of each frame (`BPF_MAX_LOOPS` in the kernel).
pub(crate) const MAY_GOTO_BUDGET: u64 = 8 * 1024 * 1024;

/// Where r1's region starts (the stack when there is none) and, for the inline check of an
/// access through r1, the number of valid start offsets per size (1, 2, 4, 8 bytes) for
/// loads and then for stores. A region with a store shape gets no inline store limits: the
/// inline check knows no shape, so its stores take the host's check.
pub(crate) fn r1_limits(regions: &[Region], stack_start: u64) -> (u64, [u64; 8]) {
    let mut lim = [0u64; 8];
    let Some(r) = regions.first() else {
        return (stack_start, lim);
    };
    for (i, size) in [1u64, 2, 4, 8].into_iter().enumerate() {
        if r.len() >= size {
            lim[i] = r.len() - size + 1;
            if r.writable() && r.store_shape() == StoreShape::Any {
                lim[4 + i] = lim[i];
            }
        }
    }
    (r.start(), lim)
}

/// The run's result once the native call returned `r0`: the instruction count (checked
/// mode only, from what is `left` of `budget`) and the fault the context holds, if any. An
/// `LD_ABS`/`LD_IND` out of the packet ends the program with r0 = 0, as in the kernel.
pub(crate) fn outcome(
    ctx: &mut RunCtx,
    r0: u64,
    checked: bool,
    budget: u64,
) -> Result<RunOutcome, Fault> {
    let insns = if checked {
        budget.saturating_sub(ctx.left)
    } else {
        0
    };
    let result = match ctx.status {
        STATUS_OK => Ok(RunOutcome { r0, insns }),
        STATUS_STATIC_FAULT => {
            // SAFETY: static faults store the metadata of the image that raised them, which
            // the program (or the images it entered by tail calls) keeps alive for the run.
            let meta = unsafe { &*(ctx.image as *const ImageMeta) };
            Err(meta.faults[ctx.site as usize].clone())
        }
        _ => Err(ctx.fault.take().unwrap_or(Fault {
            pc: ctx.pc as usize,
            kind: FaultKind::Unsupported("fault without detail".into()),
        })),
    };
    match result {
        Err(Fault {
            kind: FaultKind::LdAbsExit,
            ..
        }) => Ok(RunOutcome { r0: 0, insns }),
        other => other,
    }
}

/// The context, host and image of a call-out.
///
/// # Safety
/// `ctx` is the pointer the entry stub received: a live `RunCtx` whose `host` points at the
/// run's `Host` and whose `image` at the metadata of an image alive for the run.
pub(crate) unsafe fn parts<'a>(
    ctx: *mut RunCtx,
) -> (&'a mut RunCtx, &'a mut Host<'a>, &'a ImageMeta) {
    // SAFETY: per the function's contract; the three are distinct objects.
    unsafe {
        let c = &mut *ctx;
        let host = &mut *(c.host as *mut Host<'a>);
        let meta = &*(c.image as *const ImageMeta);
        (c, host, meta)
    }
}

pub(crate) fn fail(c: &mut RunCtx, f: Fault) {
    c.fault = Some(f);
    c.status = STATUS_FAULT;
}

/// Runs a call-out body, turning a panic into a fault instead of unwinding into native code.
pub(crate) fn guarded(ctx: *mut RunCtx, what: &str, f: impl FnOnce() -> u64) -> u64 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            // SAFETY: as for `parts`.
            let c = unsafe { &mut *ctx };
            let pc = c.pc as usize;
            fail(
                c,
                Fault {
                    pc,
                    kind: FaultKind::Unsupported(format!("{what} panicked")),
                },
            );
            0
        }
    }
}

/// `call helper`: r1..r5 in the argument registers, the context sixth; the helper id, slot,
/// frame pointer and meter are in the context.
pub(crate) extern "C" fn jit_helper(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut RunCtx,
) -> u64 {
    guarded(ctx, "helper", || {
        // SAFETY: native code passes the run's context.
        let (c, host, meta) = unsafe { parts(ctx) };
        host.set_current(&meta.vm);
        let budget = host.budget();
        host.set_count(budget.saturating_sub(c.left));
        let r = host.call_helper(
            c.id,
            [r1, r2, r3, r4, r5],
            c.r10,
            crate::layout::depth_of(c.stack_start, c.r10),
            c.pc as usize,
        );
        c.left = budget.saturating_sub(host.count());
        match r {
            Ok(v) => v,
            Err(f) => {
                fail(c, f);
                0
            }
        }
    })
}

/// `call helper` through the shared helper stub: as [`jit_helper`], with the slot and the
/// helper id found from the return address of the call (in `RunCtx::site`).
pub(crate) extern "C" fn jit_helper_at(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut RunCtx,
) -> u64 {
    if !resolve_site(ctx) {
        return 0;
    }
    jit_helper(r1, r2, r3, r4, r5, ctx)
}

/// Sets `RunCtx::pc` and `RunCtx::id` from the call-out's return address (in
/// `RunCtx::site`) through the image's table of shared-stub calls; `false` (with a fault)
/// for an address not in the table.
fn resolve_site(ctx: *mut RunCtx) -> bool {
    // SAFETY: native code passes the run's context.
    let (c, _, meta) = unsafe { parts(ctx) };
    let at = c.site.wrapping_sub(meta.code_addr);
    match meta
        .calls
        .binary_search_by_key(&at, |&(ret, _, _)| u64::from(ret))
    {
        Ok(i) => {
            let (_, pc, id) = meta.calls[i];
            c.pc = u64::from(pc);
            c.id = u64::from(id);
            true
        }
        Err(_) => {
            fail(
                c,
                Fault {
                    pc: 0,
                    kind: FaultKind::Unsupported("call-out from an unknown site".into()),
                },
            );
            false
        }
    }
}

/// `LD_ABS` / `LD_IND` through the shared stub: the packet offset in `off`, the slot and
/// the size found from the return address.
pub(crate) extern "C" fn jit_ld_packet_at(ctx: *mut RunCtx, off: u64) -> u64 {
    if !resolve_site(ctx) {
        return 0;
    }
    // SAFETY: native code passes the run's context.
    let size = unsafe { (*ctx).id };
    jit_ld_packet(ctx, off, size)
}

/// A memory access whose inline check failed: performed (or refused) here exactly as the
/// interpreter does, on the registers spilled to the context.
pub(crate) extern "C" fn jit_mem(ctx: *mut RunCtx) -> u64 {
    guarded(ctx, "memory access", || {
        // SAFETY: native code passes the run's context.
        let (c, host, meta) = unsafe { parts(ctx) };
        let site = meta.sites[c.site as usize];
        if let Err(f) = emulate(c, host, &site) {
            fail(c, f);
        }
        0
    })
}

fn emulate(c: &mut RunCtx, host: &Host<'_>, site: &crate::frontend::Site) -> Result<(), Fault> {
    let regs = &mut c.regs;
    let size = site.size as u64;
    let addr = regs[site.base() as usize].wrapping_add(site.off as i64 as u64);
    let fault = |kind| Fault { pc: site.pc, kind };
    let load = |host: &Host<'_>| -> Result<u64, Fault> {
        host.check(addr, size, false).map_err(fault)?;
        let mut b = [0u8; 8];
        // SAFETY: `check` found the range inside a live region of the run.
        unsafe {
            std::ptr::copy_nonoverlapping(addr as usize as *const u8, b.as_mut_ptr(), size as usize)
        };
        Ok(u64::from_le_bytes(b))
    };
    let store = |host: &Host<'_>, v: u64| -> Result<(), Fault> {
        host.check(addr, size, true).map_err(fault)?;
        let b = v.to_le_bytes();
        // SAFETY: `check` found the range inside a live writable region of the run.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), addr as usize as *mut u8, size as usize)
        };
        Ok(())
    };
    let sz = match size {
        1 => bpfbox_vm::isa::Size::B,
        2 => bpfbox_vm::isa::Size::H,
        4 => bpfbox_vm::isa::Size::W,
        _ => bpfbox_vm::isa::Size::DW,
    };
    match site.kind {
        SiteKind::Load { signed } => {
            let raw = load(host)?;
            regs[site.dst as usize] = if signed {
                semantics::load_sext(sz, raw)
            } else {
                semantics::load_zext(sz, raw)
            };
        }
        SiteKind::Store { imm } => {
            let v = imm.unwrap_or(regs[site.src as usize]);
            store(host, v)?;
        }
        SiteKind::Atomic(op) => {
            use bpfbox_vm::interp::atomics;
            host.check(addr, size, atomics::may_store(op))
                .map_err(fault)?;
            // SAFETY: `check` found the range inside a live region of the run, writable
            // when the operation may store; program memory is only accessed through raw
            // pointers.
            let res = unsafe { atomics::atomic_at(addr, op, sz, regs[site.src as usize], regs[0]) };
            if let Some((which, v)) = res.load {
                let r = match which {
                    AtomicLoadReg::Src => site.src,
                    AtomicLoadReg::R0 => 0,
                    AtomicLoadReg::Dst => site.dst,
                };
                regs[r as usize] = v;
            }
            debug_assert!(op != AtomicOp::LoadAcquire || res.store.is_none());
        }
    }
    Ok(())
}

/// The meter ran out inside a block: replay its first instructions in the interpreter to
/// stop exactly where it stops.
pub(crate) extern "C" fn jit_budget(ctx: *mut RunCtx) -> u64 {
    guarded(ctx, "budget replay", || {
        // SAFETY: native code passes the run's context.
        let (c, host, meta) = unsafe { parts(ctx) };
        host.set_current(&meta.vm);
        let depth = crate::layout::depth_of(c.stack_start, c.regs[10]);
        let f = host.replay_until_budget(c.regs, c.pc as usize, c.left, depth);
        fail(c, f);
        0
    })
}

/// `LD_ABS` / `LD_IND` of `size` bytes at packet offset `off`.
pub(crate) extern "C" fn jit_ld_packet(ctx: *mut RunCtx, off: u64, size: u64) -> u64 {
    guarded(ctx, "packet load", || {
        // SAFETY: native code passes the run's context.
        let (c, host, _) = unsafe { parts(ctx) };
        let pc = c.pc as usize;
        match host.ld_packet(off as u32, size as u8, pc) {
            Ok(Some(v)) => v,
            Ok(None) => {
                fail(
                    c,
                    Fault {
                        pc,
                        kind: FaultKind::LdAbsExit,
                    },
                );
                0
            }
            Err(f) => {
                fail(c, f);
                0
            }
        }
    })
}

/// `bpf_tail_call` through the shared stub: as [`jit_tail_call`], with the slot found from
/// the return address.
pub(crate) extern "C" fn jit_tail_call_at(ctx: *mut RunCtx, map: u64, index: u64) -> u64 {
    if !resolve_site(ctx) {
        return 0;
    }
    jit_tail_call(ctx, map, index)
}

/// `bpf_tail_call(ctx, map, index)`: the native address to continue at, or 0 to fall
/// through.
pub(crate) extern "C" fn jit_tail_call(ctx: *mut RunCtx, map: u64, index: u64) -> u64 {
    guarded(ctx, "tail call", || {
        // SAFETY: native code passes the run's context.
        let (c, host, meta) = unsafe { parts(ctx) };
        host.set_current(&meta.vm);
        let pc = c.pc as usize;
        let target = match host.tail_call(map, index as u32, pc) {
            Ok(Some(t)) => t,
            Ok(None) => return 0,
            Err(f) => {
                fail(c, f);
                return 0;
            }
        };
        // SAFETY: `prog` is the program whose `run` set up this context.
        let prog = unsafe { &*(c.prog as *const JitProgram) };
        match prog.image_for(&target) {
            Ok(image) => {
                let at = image.body0_addr();
                // Call-outs from now on find the target's metadata.
                c.image = &image.meta as *const ImageMeta as u64;
                c.entered.push(image);
                at
            }
            Err(e) => {
                fail(
                    c,
                    Fault {
                        pc,
                        kind: FaultKind::Unsupported(format!("tail call target: {e}")),
                    },
                );
                0
            }
        }
    })
}
