//! The hot loop.
//!
//! One function, monomorphised for checked and unchecked memory access. Registers live in a
//! local array of 16 so that masking a register number with 15 removes the bounds check; the
//! decoder guarantees every register number is below 11.

use super::compile::{atomic_op, op_size, Compiled, Op, K};
use super::{Fault, FaultKind, Frame, Machine, MAX_CALL_FRAMES, STACK_FRAME_SIZE};
use crate::memory::Region;
use crate::semantics::{self, AtomicLoadReg};

/// The `may_goto` budget of each frame (`BPF_MAX_LOOPS` in the kernel).
pub(crate) const MAY_GOTO_BUDGET: u64 = 8 * 1024 * 1024;

#[inline(always)]
fn r(i: u8) -> usize {
    (i & 15) as usize
}

pub(crate) use crate::memory::check_access;

/// [`check_access`] for the hot loop. The first region (the stack, which most accesses hit)
/// is tested inline; the scan of the others stays out of line so the loop's registers are
/// not spent on it. The answer is the same.
#[inline(always)]
fn accessible(regions: &[Region], addr: u64, size: u64, write: bool) -> bool {
    match regions.first() {
        Some(first) if first.allows(addr, size, write) => true,
        _ => scan_regions(regions, addr, size, write),
    }
}

#[inline(never)]
fn scan_regions(regions: &[Region], addr: u64, size: u64, write: bool) -> bool {
    check_access(regions, addr, size, write).is_ok()
}

macro_rules! load {
    ($m:expr, $CHECKED:ident, $pc:expr, $addr:expr, $t:ty) => {{
        let addr: u64 = $addr;
        if $CHECKED {
            let size = std::mem::size_of::<$t>() as u64;
            if !accessible(&$m.regions, addr, size, false) {
                let kind = FaultKind::OutOfBounds {
                    addr,
                    size,
                    write: false,
                };
                return Err(Fault { pc: $pc, kind });
            }
        }
        // SAFETY: in checked mode the range lies inside a live region, and regions are made
        // only from memory their maker vouched for (`Region::new` is unsafe); in unchecked
        // mode the caller of `set_unchecked` promised every access is in bounds.
        unsafe { std::ptr::read_unaligned(addr as usize as *const $t) }
    }};
}

macro_rules! store {
    ($m:expr, $CHECKED:ident, $pc:expr, $addr:expr, $t:ty, $v:expr) => {{
        let addr: u64 = $addr;
        if $CHECKED {
            let size = std::mem::size_of::<$t>() as u64;
            if !accessible(&$m.regions, addr, size, true) {
                let kind = FaultKind::OutOfBounds {
                    addr,
                    size,
                    write: true,
                };
                return Err(Fault { pc: $pc, kind });
            }
        }
        // SAFETY: as for loads, and the region is writable.
        unsafe { std::ptr::write_unaligned(addr as usize as *mut $t, $v as $t) }
    }};
}

/// How [`run`] left the loop without a fault.
pub(crate) enum Exit {
    /// The `exit` of frame `stop_depth`, with r0.
    Return(u64),
    /// A tail call entered another program, or an `exit` returned into a caller running
    /// another program: continue in `Machine::current` at this pc.
    Switch(usize),
}

/// Runs from `pc` until an `exit` returns from frame `stop_depth`.
pub(crate) fn run<const CHECKED: bool>(
    m: &mut Machine<'_>,
    code: &Compiled,
    mut pc: usize,
    stop_depth: usize,
) -> Result<Exit, Fault> {
    let ops: &[Op] = &code.ops;
    let mut regs = m.regs;
    let budget = m.budget;
    // Instructions left before the budget runs out. Counting down needs one register where
    // count and budget took two; the count is `budget - left` (it never exceeds the budget).
    let mut left = budget.saturating_sub(m.count);

    macro_rules! sync_out {
        () => {
            m.regs = regs;
            m.count = budget - left;
        };
    }
    macro_rules! fault {
        ($pc:expr, $kind:expr) => {{
            sync_out!();
            return Err(Fault {
                pc: $pc,
                kind: $kind,
            });
        }};
    }
    macro_rules! alu {
        ($op:expr, |$d:ident, $s:ident| $e:expr, imm) => {{
            let $d = regs[r($op.dst)];
            let $s = $op.imm;
            regs[r($op.dst)] = $e;
        }};
        ($op:expr, |$d:ident, $s:ident| $e:expr, reg) => {{
            let $d = regs[r($op.dst)];
            let $s = regs[r($op.src)];
            regs[r($op.dst)] = $e;
        }};
    }
    // A taken jump leaves its arm with `continue`: this keeps it a predicted branch. Merged
    // with the fall-through, LLVM turns it into a conditional move, and then fetching the next
    // op has to wait for the comparison on every jump.
    macro_rules! jmp {
        ($op:expr, |$a:ident, $b:ident| $e:expr, imm) => {{
            let $a = regs[r($op.dst)];
            let $b = $op.imm;
            if $e {
                pc = $op.off as usize;
                continue;
            }
        }};
        ($op:expr, |$a:ident, $b:ident| $e:expr, reg) => {{
            let $a = regs[r($op.dst)];
            let $b = regs[r($op.src)];
            if $e {
                pc = $op.off as usize;
                continue;
            }
        }};
    }

    loop {
        let Some(&op) = ops.get(pc) else {
            fault!(pc, FaultKind::PcOutOfRange);
        };
        if left == 0 {
            fault!(pc, FaultKind::BudgetExhausted { budget });
        }
        left -= 1;
        let at = pc;
        pc += 1;
        match op.kind {
            K::Add64I => alu!(op, |d, s| d.wrapping_add(s), imm),
            K::Add64R => alu!(op, |d, s| d.wrapping_add(s), reg),
            K::Sub64I => alu!(op, |d, s| d.wrapping_sub(s), imm),
            K::Sub64R => alu!(op, |d, s| d.wrapping_sub(s), reg),
            K::Mul64I => alu!(op, |d, s| d.wrapping_mul(s), imm),
            K::Mul64R => alu!(op, |d, s| d.wrapping_mul(s), reg),
            K::Div64I => alu!(op, |d, s| d.checked_div(s).unwrap_or(0), imm),
            K::Div64R => alu!(op, |d, s| d.checked_div(s).unwrap_or(0), reg),
            K::SDiv64I => alu!(op, |d, s| semantics::sdiv64(d, s), imm),
            K::SDiv64R => alu!(op, |d, s| semantics::sdiv64(d, s), reg),
            K::Or64I => alu!(op, |d, s| d | s, imm),
            K::Or64R => alu!(op, |d, s| d | s, reg),
            K::And64I => alu!(op, |d, s| d & s, imm),
            K::And64R => alu!(op, |d, s| d & s, reg),
            K::Lsh64I => alu!(op, |d, s| d << s, imm),
            K::Lsh64R => alu!(op, |d, s| d << (s & 63), reg),
            K::Rsh64I => alu!(op, |d, s| d >> s, imm),
            K::Rsh64R => alu!(op, |d, s| d >> (s & 63), reg),
            K::Mod64I => alu!(op, |d, s| d.checked_rem(s).unwrap_or(d), imm),
            K::Mod64R => alu!(op, |d, s| d.checked_rem(s).unwrap_or(d), reg),
            K::SMod64I => alu!(op, |d, s| semantics::smod64(d, s), imm),
            K::SMod64R => alu!(op, |d, s| semantics::smod64(d, s), reg),
            K::Xor64I => alu!(op, |d, s| d ^ s, imm),
            K::Xor64R => alu!(op, |d, s| d ^ s, reg),
            K::Mov64I => regs[r(op.dst)] = op.imm,
            K::Mov64R => regs[r(op.dst)] = regs[r(op.src)],
            K::MovSx64R => {
                let sh = op.imm as u32;
                regs[r(op.dst)] = ((regs[r(op.src)] << sh) as i64 >> sh) as u64;
            }
            K::Arsh64I => alu!(op, |d, s| ((d as i64) >> s) as u64, imm),
            K::Arsh64R => alu!(op, |d, s| ((d as i64) >> (s & 63)) as u64, reg),
            K::Add32I => alu!(op, |d, s| (d as u32).wrapping_add(s as u32) as u64, imm),
            K::Add32R => alu!(op, |d, s| (d as u32).wrapping_add(s as u32) as u64, reg),
            K::Sub32I => alu!(op, |d, s| (d as u32).wrapping_sub(s as u32) as u64, imm),
            K::Sub32R => alu!(op, |d, s| (d as u32).wrapping_sub(s as u32) as u64, reg),
            K::Mul32I => alu!(op, |d, s| (d as u32).wrapping_mul(s as u32) as u64, imm),
            K::Mul32R => alu!(op, |d, s| (d as u32).wrapping_mul(s as u32) as u64, reg),
            K::Div32I => alu!(
                op,
                |d, s| semantics::alu32(crate::isa::AluOp::Div, d, s),
                imm
            ),
            K::Div32R => alu!(
                op,
                |d, s| semantics::alu32(crate::isa::AluOp::Div, d, s),
                reg
            ),
            K::SDiv32I => alu!(op, |d, s| semantics::sdiv32(d as u32, s as u32) as u64, imm),
            K::SDiv32R => alu!(op, |d, s| semantics::sdiv32(d as u32, s as u32) as u64, reg),
            K::Or32I => alu!(op, |d, s| (d as u32 | s as u32) as u64, imm),
            K::Or32R => alu!(op, |d, s| (d as u32 | s as u32) as u64, reg),
            K::And32I => alu!(op, |d, s| (d as u32 & s as u32) as u64, imm),
            K::And32R => alu!(op, |d, s| (d as u32 & s as u32) as u64, reg),
            K::Lsh32I => alu!(op, |d, s| ((d as u32) << s) as u64, imm),
            K::Lsh32R => alu!(op, |d, s| ((d as u32) << (s & 31)) as u64, reg),
            K::Rsh32I => alu!(op, |d, s| ((d as u32) >> s) as u64, imm),
            K::Rsh32R => alu!(op, |d, s| ((d as u32) >> (s & 31)) as u64, reg),
            K::Mod32I => alu!(
                op,
                |d, s| semantics::alu32(crate::isa::AluOp::Mod, d, s),
                imm
            ),
            K::Mod32R => alu!(
                op,
                |d, s| semantics::alu32(crate::isa::AluOp::Mod, d, s),
                reg
            ),
            K::SMod32I => alu!(op, |d, s| semantics::smod32(d as u32, s as u32) as u64, imm),
            K::SMod32R => alu!(op, |d, s| semantics::smod32(d as u32, s as u32) as u64, reg),
            K::Xor32I => alu!(op, |d, s| (d as u32 ^ s as u32) as u64, imm),
            K::Xor32R => alu!(op, |d, s| (d as u32 ^ s as u32) as u64, reg),
            K::Mov32I => regs[r(op.dst)] = op.imm,
            K::Mov32R => regs[r(op.dst)] = regs[r(op.src)] as u32 as u64,
            K::MovSx32R => {
                let sh = op.imm as u32;
                regs[r(op.dst)] = (((regs[r(op.src)] as u32) << sh) as i32 >> sh) as u32 as u64;
            }
            K::Arsh32I => alu!(op, |d, s| ((d as i32) >> s) as u32 as u64, imm),
            K::Arsh32R => alu!(op, |d, s| ((d as i32) >> (s & 31)) as u32 as u64, reg),
            K::Neg64 => regs[r(op.dst)] = regs[r(op.dst)].wrapping_neg(),
            K::Neg32 => regs[r(op.dst)] = (regs[r(op.dst)] as u32).wrapping_neg() as u64,
            K::Zext16 => regs[r(op.dst)] = regs[r(op.dst)] as u16 as u64,
            K::Zext32 => regs[r(op.dst)] = regs[r(op.dst)] as u32 as u64,
            K::Nop => {}
            K::Swap16 => regs[r(op.dst)] = (regs[r(op.dst)] as u16).swap_bytes() as u64,
            K::Swap32 => regs[r(op.dst)] = (regs[r(op.dst)] as u32).swap_bytes() as u64,
            K::Swap64 => regs[r(op.dst)] = regs[r(op.dst)].swap_bytes(),
            K::Ja => pc = op.off as usize,
            K::Jeq64I => jmp!(op, |a, b| a == b, imm),
            K::Jeq64R => jmp!(op, |a, b| a == b, reg),
            K::Jgt64I => jmp!(op, |a, b| a > b, imm),
            K::Jgt64R => jmp!(op, |a, b| a > b, reg),
            K::Jge64I => jmp!(op, |a, b| a >= b, imm),
            K::Jge64R => jmp!(op, |a, b| a >= b, reg),
            K::Jset64I => jmp!(op, |a, b| a & b != 0, imm),
            K::Jset64R => jmp!(op, |a, b| a & b != 0, reg),
            K::Jne64I => jmp!(op, |a, b| a != b, imm),
            K::Jne64R => jmp!(op, |a, b| a != b, reg),
            K::Jsgt64I => jmp!(op, |a, b| (a as i64) > (b as i64), imm),
            K::Jsgt64R => jmp!(op, |a, b| (a as i64) > (b as i64), reg),
            K::Jsge64I => jmp!(op, |a, b| (a as i64) >= (b as i64), imm),
            K::Jsge64R => jmp!(op, |a, b| (a as i64) >= (b as i64), reg),
            K::Jlt64I => jmp!(op, |a, b| a < b, imm),
            K::Jlt64R => jmp!(op, |a, b| a < b, reg),
            K::Jle64I => jmp!(op, |a, b| a <= b, imm),
            K::Jle64R => jmp!(op, |a, b| a <= b, reg),
            K::Jslt64I => jmp!(op, |a, b| (a as i64) < (b as i64), imm),
            K::Jslt64R => jmp!(op, |a, b| (a as i64) < (b as i64), reg),
            K::Jsle64I => jmp!(op, |a, b| (a as i64) <= (b as i64), imm),
            K::Jsle64R => jmp!(op, |a, b| (a as i64) <= (b as i64), reg),
            K::Jeq32I => jmp!(op, |a, b| a as u32 == b as u32, imm),
            K::Jeq32R => jmp!(op, |a, b| a as u32 == b as u32, reg),
            K::Jgt32I => jmp!(op, |a, b| a as u32 > b as u32, imm),
            K::Jgt32R => jmp!(op, |a, b| a as u32 > b as u32, reg),
            K::Jge32I => jmp!(op, |a, b| a as u32 >= b as u32, imm),
            K::Jge32R => jmp!(op, |a, b| a as u32 >= b as u32, reg),
            K::Jset32I => jmp!(op, |a, b| a as u32 & b as u32 != 0, imm),
            K::Jset32R => jmp!(op, |a, b| a as u32 & b as u32 != 0, reg),
            K::Jne32I => jmp!(op, |a, b| a as u32 != b as u32, imm),
            K::Jne32R => jmp!(op, |a, b| a as u32 != b as u32, reg),
            K::Jsgt32I => jmp!(op, |a, b| (a as i32) > (b as i32), imm),
            K::Jsgt32R => jmp!(op, |a, b| (a as i32) > (b as i32), reg),
            K::Jsge32I => jmp!(op, |a, b| (a as i32) >= (b as i32), imm),
            K::Jsge32R => jmp!(op, |a, b| (a as i32) >= (b as i32), reg),
            K::Jlt32I => jmp!(op, |a, b| (a as u32) < (b as u32), imm),
            K::Jlt32R => jmp!(op, |a, b| (a as u32) < (b as u32), reg),
            K::Jle32I => jmp!(op, |a, b| a as u32 <= b as u32, imm),
            K::Jle32R => jmp!(op, |a, b| a as u32 <= b as u32, reg),
            K::Jslt32I => jmp!(op, |a, b| (a as i32) < (b as i32), imm),
            K::Jslt32R => jmp!(op, |a, b| (a as i32) < (b as i32), reg),
            K::Jsle32I => jmp!(op, |a, b| (a as i32) <= (b as i32), imm),
            K::Jsle32R => jmp!(op, |a, b| (a as i32) <= (b as i32), reg),
            K::MayGoto => {
                let frame_budget = m.may_goto_counter();
                if *frame_budget == 0 {
                    pc = op.off as usize;
                } else {
                    *frame_budget -= 1;
                }
            }
            K::TailCall => {
                sync_out!();
                m.pc = at;
                if m.tail_call(regs[2], regs[3] as u32, at)? {
                    return Ok(Exit::Switch(0));
                }
            }
            K::CallHelper | K::Callx => {
                let id = if op.kind == K::Callx {
                    regs[r(op.dst)]
                } else {
                    op.imm
                };
                sync_out!();
                m.pc = at;
                let r0 = m.call_helper(id, at)?;
                regs = m.regs;
                left = budget.saturating_sub(m.count);
                regs[0] = r0;
            }
            K::CallLocal => {
                if m.frames.len() + 1 >= MAX_CALL_FRAMES {
                    fault!(
                        at,
                        FaultKind::CallDepth {
                            max: MAX_CALL_FRAMES
                        }
                    );
                }
                m.frames.push(Frame {
                    ret_pc: pc,
                    code: m.current,
                    saved: [regs[6], regs[7], regs[8], regs[9], regs[10]],
                    may_goto: MAY_GOTO_BUDGET,
                });
                regs[10] = regs[10].wrapping_sub(STACK_FRAME_SIZE as u64);
                pc = op.off as usize;
            }
            K::CallKfunc => fault!(
                at,
                FaultKind::Unsupported(format!("kfunc call (BTF id {})", op.imm as u32))
            ),
            K::Exit => {
                if m.frames.len() <= stop_depth {
                    sync_out!();
                    return Ok(Exit::Return(regs[0]));
                }
                let Some(f) = m.frames.pop() else {
                    fault!(at, FaultKind::PcOutOfRange);
                };
                regs[6] = f.saved[0];
                regs[7] = f.saved[1];
                regs[8] = f.saved[2];
                regs[9] = f.saved[3];
                regs[10] = f.saved[4];
                pc = f.ret_pc;
                if f.code != m.current {
                    m.current = f.code;
                    sync_out!();
                    return Ok(Exit::Switch(pc));
                }
            }
            K::LdImm64 => {
                regs[r(op.dst)] = op.imm;
                pc += 1;
            }
            K::LdImm64Unbound => fault!(
                at,
                FaultKind::Unbound {
                    src: op.src,
                    imm: op.imm
                }
            ),
            K::Ldx8 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, u8) as u64;
            }
            K::Ldx16 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, u16) as u64;
            }
            K::Ldx32 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, u32) as u64;
            }
            K::Ldx64 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, u64);
            }
            K::Ldxs8 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, i8) as i64 as u64;
            }
            K::Ldxs16 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, i16) as i64 as u64;
            }
            K::Ldxs32 => {
                let a = regs[r(op.src)].wrapping_add(op.off as i64 as u64);
                regs[r(op.dst)] = load!(m, CHECKED, at, a, i32) as i64 as u64;
            }
            K::St8 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u8, op.imm);
            }
            K::St16 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u16, op.imm);
            }
            K::St32 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u32, op.imm);
            }
            K::St64 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u64, op.imm);
            }
            K::Stx8 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u8, regs[r(op.src)]);
            }
            K::Stx16 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u16, regs[r(op.src)]);
            }
            K::Stx32 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u32, regs[r(op.src)]);
            }
            K::Stx64 => {
                let a = regs[r(op.dst)].wrapping_add(op.off as i64 as u64);
                store!(m, CHECKED, at, a, u64, regs[r(op.src)]);
            }
            K::Atomic => {
                let aop = atomic_op(op.imm);
                let size = op_size(op.size);
                // Load-acquire addresses through src; everything else through dst.
                let base = if aop == crate::isa::AtomicOp::LoadAcquire {
                    regs[r(op.src)]
                } else {
                    regs[r(op.dst)]
                };
                let a = base.wrapping_add(op.off as i64 as u64);
                let write = super::atomics::may_store(aop);
                let n = super::atomics::bytes(size);
                if CHECKED && !accessible(&m.regions, a, n, write) {
                    let kind = FaultKind::OutOfBounds {
                        addr: a,
                        size: n,
                        write,
                    };
                    return Err(Fault { pc: at, kind });
                }
                // SAFETY: in checked mode the range lies in a live region (writable when the
                // operation may store); in unchecked mode the caller of `set_unchecked`
                // promised every access is in bounds. Program memory is only ever accessed
                // through raw pointers.
                let res =
                    unsafe { super::atomics::atomic_at(a, aop, size, regs[r(op.src)], regs[0]) };
                if let Some((which, v)) = res.load {
                    let reg = match which {
                        AtomicLoadReg::Src => op.src,
                        AtomicLoadReg::R0 => 0,
                        AtomicLoadReg::Dst => op.dst,
                    };
                    regs[r(reg)] = v;
                }
            }
            K::LdAbs | K::LdInd => {
                let base = if op.kind == K::LdInd {
                    regs[r(op.src)] as u32
                } else {
                    0
                };
                let off = base.wrapping_add(op.imm as u32);
                sync_out!();
                match m.ld_packet(off, op.size, at)? {
                    Some(v) => {
                        regs = m.regs;
                        regs[0] = v;
                    }
                    // The kernel ends the whole program with r0 = 0 when the load falls
                    // outside the packet; the outermost run turns this into a normal exit.
                    None => {
                        return Err(Fault {
                            pc: at,
                            kind: FaultKind::LdAbsExit,
                        })
                    }
                }
            }
            K::AddrSpaceCast => fault!(
                at,
                FaultKind::Unsupported("addr_space_cast without an arena".into())
            ),
            K::Invalid => fault!(at, FaultKind::PcOutOfRange),
            K::Rejected => {
                let kind = code
                    .decoded
                    .rejected
                    .get(op.imm as usize)
                    .map_or(FaultKind::PcOutOfRange, |(_, k)| {
                        FaultKind::Rejected(k.clone())
                    });
                fault!(at, kind)
            }
        }
    }
}
