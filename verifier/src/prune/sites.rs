//! Where the checks rely on a scalar's exact value, so its origin must become precise
//! (the kernel's `mark_chain_precision` call sites), and what each instruction records in
//! the path's history for backtracking. Judged from the states around the step, so the
//! checks themselves need no hooks.

use crate::domain::ScalarDomain;
use bpfbox_vm::helpers::catalogue::default_proto;
use bpfbox_vm::helpers::ArgKind;
use bpfbox_vm::isa::{AluOp, CallTarget, Insn, Src};
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::{ProgType, Program};

use super::precision::{linked, Entry, Linked};
use crate::state::{Byte, Reg, RegType, Stack, State};

/// `BPF_FUNC_tail_call`.
const TAIL_CALL: i32 = 12;

/// What was learned about an instruction before its step.
#[derive(Debug, Default)]
pub struct Pre {
    /// Registers of the innermost frame to make precise whatever the step does.
    pub precise: u16,
    /// Registers to make precise if the branch is decided (`is_branch_taken` answered).
    pub if_decided: u16,
    /// A stack slot (frame, index) to make precise: an array map's constant key.
    pub precise_slot: Option<(usize, usize)>,
    /// A fixed-offset stack access: (frame, slot, offset, size).
    stack: Option<(usize, usize, i32, u32)>,
    /// The access reads a spilled register back (`INSN_F_STACK_ACCESS` on a fill).
    fill: bool,
    /// The value a store writes is the scalar zero, from this register.
    zero_src: Option<u8>,
    /// A jump's operands that are stack pointers.
    src_stack: bool,
    dst_stack: bool,
    /// Scalars linked to a branch's operands.
    linked: Vec<Linked>,
    /// Stack slots of the main frame the instruction reads (for stack liveness).
    pub reads: u64,
    /// Stack slots of the main frame it overwrites whole.
    pub writes: u64,
    /// Stack accesses by the instruction itself or by the helper it calls: the frame and
    /// the lowest offset each may touch (for [`crate::fastcall::Fastcall::access`]).
    pub stack_access: Vec<(usize, i64)>,
}

/// The slots covering `size` bytes at `off`.
fn slots_of(off: i32, size: u32) -> u64 {
    let mut m = 0u64;
    for i in 0..size.max(1) as i32 {
        let b = off + i;
        if (-512..0).contains(&b) {
            m |= 1 << Stack::locate(b).0;
        }
    }
    m
}

/// The slots a helper reads through stack-pointer arguments: the key or value size of the
/// map, or the size argument after a memory pointer; every slot when unsure.
fn helper_reads(maps: &[MapSpec], st: &State, args: &[ArgKind]) -> u64 {
    let mut m = 0u64;
    for (i, k) in args.iter().enumerate().take(5) {
        let r = st.reg(i as u8 + 1);
        if r.ty != RegType::Stack {
            continue;
        }
        let Some(off) = r.val_const().map(|v| (r.off as i64 + v as i64) as i32) else {
            return u64::MAX;
        };
        let map = || {
            let m = st.reg(1);
            (m.ty == RegType::MapPtr).then(|| maps.get(m.map)).flatten()
        };
        let size = match k {
            ArgKind::PtrToMapKey => map().map(|m| m.key_size),
            ArgKind::PtrToMapValue => map().map(|m| m.value_size),
            ArgKind::PtrToUninitMem => Some(0),
            ArgKind::PtrToMem => match args.get(i + 1) {
                Some(ArgKind::ConstSize | ArgKind::ConstSizeOrZero) => {
                    let b = st.reg(i as u8 + 2).val.bounds();
                    Some(b.umax.min(512) as u32)
                }
                _ => None,
            },
            _ => None,
        };
        match size {
            Some(0) => {}
            Some(n) => m |= slots_of(off, n),
            None => return u64::MAX,
        }
    }
    m
}

/// Whether the exit of the main program checks R0 against a range (`check_return_code`
/// reaching `enforce_retval`), which relies on R0's exact value.
fn enforces_return_range(p: &Program) -> bool {
    use ProgType::*;
    match p.prog_type {
        CgroupSkb | CgroupSock | SockOps | CgroupDevice | CgroupSysctl | CgroupSockopt
        | CgroupSockAddr | SkLookup | Netfilter | Lsm | Tracing | Ext | StructOps => true,
        Kprobe => p.expected_attach_type.is_some(),
        RawTracepoint => p.attach_target.is_some(),
        _ => false,
    }
}

/// The base register's stack slot for a fixed-offset access through it.
fn stack_slot(base: &Reg, off: i16) -> Option<(usize, usize, i32)> {
    if base.ty != RegType::Stack {
        return None;
    }
    let var = base.val_const()?;
    let off = (base.off as i64 + off as i64 + var as i64) as i32;
    if !(-512..0).contains(&off) {
        return None;
    }
    let (spi, _) = Stack::locate(off);
    Some((base.frameno as usize, spi, off))
}

/// Whether a load of `size` bytes at `off` restores the register spilled in its slot
/// (`check_stack_read_fixed_off` keeping its history flag).
fn is_fill(st: &State, frame: usize, spi: usize, off: i32, size: u32) -> bool {
    let Some(slot) = st.frames.get(frame).and_then(|f| f.stack.slots.get(spi)) else {
        return false;
    };
    if !slot.is_spill() {
        return false;
    }
    let spill_size = 1
        + (1..8)
            .rev()
            .take_while(|&i| slot.bytes[i - 1] == Byte::Spill)
            .count() as u32;
    if size == 8 && spill_size == 8 {
        return true;
    }
    if !slot.spilled.is_scalar() {
        return false;
    }
    if size <= spill_size && off % 8 == 0 {
        return true;
    }
    let stack = &st.frames[frame].stack;
    let spills = (0..size as i32)
        .filter(|&i| stack.byte(off + i) == Byte::Spill)
        .count() as u32;
    spills == size && slot.spilled.val_const() == Some(0)
}

/// Whether `base` is a stack pointer with a variable offset.
fn var_off_stack(base: &Reg) -> bool {
    base.ty == RegType::Stack && base.val_const().is_none()
}

/// Whether a variable-offset store of register `src` (the scalar zero) through `base` keeps
/// a zero byte or a spilled zero in its range (`zero_used`).
fn keeps_zero_var_off(st: &State, base: &Reg, off: i16, size: u32, src: u8) -> bool {
    let v = st.reg(src);
    if !var_off_stack(base) || !v.is_scalar() || v.val_const() != Some(0) {
        return false;
    }
    let Some(fr) = st.frames.get(base.frameno as usize) else {
        return false;
    };
    let b = base.val.bounds();
    let lo = (b.smin + base.off as i64 + off as i64).max(-512);
    let hi = (b.smax + base.off as i64 + off as i64 + size as i64).min(0);
    (lo..hi).any(|i| {
        let i = i as i32;
        match fr.stack.byte(i) {
            Byte::Zero => true,
            Byte::Spill => {
                let (s, _) = Stack::locate(i);
                let slot = &fr.stack.slots[s];
                slot.is_spill() && slot.spilled.is_scalar() && slot.spilled.val_const() == Some(0)
            }
            _ => false,
        }
    })
}

trait ConstVal {
    fn val_const(&self) -> Option<u64>;
}

impl ConstVal for Reg {
    fn val_const(&self) -> Option<u64> {
        self.val.as_const()
    }
}

fn scalar_bit(st: &State, r: u8) -> u16 {
    if r < 10 && st.reg(r).is_scalar() {
        1 << r
    } else {
        0
    }
}

/// Looks at `insn`, at `pc`, before its step (`live`: the registers live before each
/// instruction).
pub fn before(
    prog: &Program,
    maps: &[MapSpec],
    st: &State,
    insn: &Insn,
    pc: usize,
    live: &[u16],
) -> Pre {
    let mut pre = Pre::default();
    stack_use(maps, st, insn, &mut pre);
    stack_accesses(st, insn, &mut pre.stack_access);
    match *insn {
        Insn::Alu {
            op,
            dst,
            src: Src::Reg(s),
            ..
        } if !matches!(op, AluOp::Mov | AluOp::MovSx(_)) && s < 11 && dst < 11 => {
            let (d, sr) = (st.reg(dst), st.reg(s));
            // Pointer arithmetic relies on the scalar operand's range.
            if sr.is_pointer() && d.is_scalar() {
                pre.precise |= scalar_bit(st, dst);
            } else if sr.is_scalar() && d.is_pointer() {
                pre.precise |= scalar_bit(st, s);
            }
        }
        Insn::Ldx { size, src, off, .. } | Insn::LdxSx { size, src, off, .. } if src < 11 => {
            if let Some((f, spi, o)) = stack_slot(st.reg(src), off) {
                pre.stack = Some((f, spi, o, size.bytes()));
                pre.fill = is_fill(st, f, spi, o, size.bytes());
            }
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } if dst < 11 => {
            if let Some((f, spi, o)) = stack_slot(st.reg(dst), off) {
                pre.stack = Some((f, spi, o, size.bytes()));
            }
            let _ = imm;
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } if dst < 11 && src < 11 => {
            if let Some((f, spi, o)) = stack_slot(st.reg(dst), off) {
                pre.stack = Some((f, spi, o, size.bytes()));
                if st.reg(src).is_scalar() && st.reg(src).val_const() == Some(0) {
                    pre.zero_src = Some(src);
                }
            } else if src < 11 && keeps_zero_var_off(st, st.reg(dst), off, size.bytes(), src) {
                // `check_stack_write_var_off` relied on the zero it writes.
                pre.precise |= scalar_bit(st, src);
            }
        }
        Insn::Atomic {
            size, op, dst, off, ..
        } if dst < 11 && op.fetches() => {
            if let Some((f, spi, o)) = stack_slot(st.reg(dst), off) {
                pre.fill = is_fill(st, f, spi, o, size.bytes());
                pre.stack = Some((f, spi, o, size.bytes()));
            }
        }
        Insn::Jmp { dst, src, .. } if dst < 11 => {
            pre.if_decided |= scalar_bit(st, dst);
            pre.dst_stack = st.reg(dst).ty == RegType::Stack;
            if let Src::Reg(s) = src {
                if s < 11 {
                    pre.if_decided |= scalar_bit(st, s);
                    pre.src_stack = st.reg(s).ty == RegType::Stack;
                    if st.reg(s).is_scalar() {
                        linked(st, st.reg(s).id, live, pc, &mut pre.linked);
                    }
                }
            }
            if st.reg(dst).is_scalar() {
                linked(st, st.reg(dst).id, live, pc, &mut pre.linked);
            }
        }
        Insn::Call(CallTarget::Helper(id)) => {
            // A scalar passed where the prototype wants more than "anything" (a size, a
            // NULL pointer) is checked by value.
            if let Some(p) = u32::try_from(id).ok().and_then(default_proto) {
                for (i, a) in p.used_args().iter().enumerate().take(5) {
                    if ArgKind::of(a) != ArgKind::Anything {
                        pre.precise |= scalar_bit(st, i as u8 + 1);
                    }
                }
            }
            // `get_constant_map_key`: an array's constant key spilled on the stack.
            if let Some(p) = u32::try_from(id).ok().and_then(default_proto) {
                let key = p
                    .used_args()
                    .iter()
                    .position(|a| ArgKind::of(a) == ArgKind::PtrToMapKey);
                let map = st.reg(1);
                if let (Some(k), RegType::MapPtr) = (key, map.ty) {
                    let key = st.reg(k as u8 + 1);
                    if let Some((_, slot)) = crate::check::map_key::of_array(maps, map.map, st, key)
                    {
                        pre.precise_slot = slot;
                    }
                }
            }
            if id == crate::check::callback::LOOP {
                // `bpf_loop`'s iterations end by its count.
                pre.precise |= scalar_bit(st, 1);
            }
            if id == TAIL_CALL {
                // `record_func_key`: a constant index within the program array is
                // remembered for the JIT's direct jump, so it must keep its value.
                let (map, key) = (st.reg(2), st.reg(3));
                let max = (map.ty == RegType::MapPtr)
                    .then(|| maps.get(map.map))
                    .flatten()
                    .map(|m| m.max_entries as u64);
                if let (Some(max), Some(v)) = (max, key.val_const()) {
                    if key.ty == RegType::Scalar && v < max {
                        pre.precise |= scalar_bit(st, 3);
                    }
                }
            }
        }
        Insn::Exit { .. }
            if st.cur().in_callback || (st.frames.len() == 1 && enforces_return_range(prog)) =>
        {
            pre.precise |= scalar_bit(st, 0);
        }
        _ => {}
    }
    pre
}

/// The frame and lowest offset of each stack access of `insn`: a load, store or atomic
/// through a stack pointer, or a helper's argument pointing into a stack (the smallest
/// value of a variable offset).
fn stack_accesses(st: &State, insn: &Insn, out: &mut Vec<(usize, i64)>) {
    let mut at = |base: u8, off: i16| {
        let Some(r) = st.frames.last().and_then(|f| f.regs.get(base as usize)) else {
            return;
        };
        if r.ty == RegType::Stack {
            let lowest = r.off as i64 + off as i64 + r.val.bounds().smin;
            out.push((r.frameno as usize, lowest));
        }
    };
    match *insn {
        Insn::Ldx { src, off, .. } | Insn::LdxSx { src, off, .. } => at(src, off),
        Insn::St { dst, off, .. } | Insn::Stx { dst, off, .. } | Insn::Atomic { dst, off, .. } => {
            at(dst, off)
        }
        Insn::Call(CallTarget::Helper(id)) => {
            let n = u32::try_from(id)
                .ok()
                .and_then(default_proto)
                .map_or(5, |p| p.used_args().len());
            for r in 1..=n.min(5) as u8 {
                at(r, 0);
            }
        }
        _ => {}
    }
}

/// The main-frame stack slots `insn` reads and overwrites whole (`bpf_mark_stack_read`,
/// `bpf_mark_stack_write`); calls into BPF code count as reading every slot.
fn stack_use(maps: &[MapSpec], st: &State, insn: &Insn, pre: &mut Pre) {
    let access = |base: u8, off: i16| {
        (base < 11)
            .then(|| stack_slot(st.reg(base), off))
            .flatten()
            .filter(|&(f, _, _)| f == 0)
    };
    match *insn {
        Insn::Ldx { size, src, off, .. } | Insn::LdxSx { size, src, off, .. } => {
            if let Some((_, _, o)) = access(src, off) {
                pre.reads |= slots_of(o, size.bytes());
            } else if src < 11 && var_off_stack(st.reg(src)) {
                // A variable-offset read may read any slot.
                pre.reads = u64::MAX;
            }
        }
        Insn::St { size, dst, off, .. } | Insn::Stx { size, dst, off, .. } => {
            if let Some((_, spi, o)) = access(dst, off) {
                if size.bytes() == 8 && o % 8 == 0 {
                    pre.writes |= 1 << spi;
                }
            }
        }
        Insn::Atomic { size, dst, off, .. } => {
            if let Some((_, spi, o)) = access(dst, off) {
                pre.reads |= slots_of(o, size.bytes());
                if size.bytes() == 8 && o % 8 == 0 {
                    pre.writes |= 1 << spi;
                }
            }
        }
        Insn::Call(CallTarget::Helper(id)) => {
            pre.reads |= match u32::try_from(id).ok().and_then(default_proto) {
                Some(p) => {
                    let kinds: Vec<ArgKind> = p.used_args().iter().map(ArgKind::of).collect();
                    helper_reads(maps, st, &kinds)
                }
                None => u64::MAX,
            };
        }
        Insn::Call(_) | Insn::Callx { .. } => pre.reads = u64::MAX,
        _ => {}
    }
}

/// What the step of `insn` at `pc` (reached from `prev`) adds to the history, and which
/// registers it relied on, now that it ran: `after` is the state it left, `branched`
/// whether both sides of a conditional jump remain.
pub fn after(
    pre: Pre,
    pc: usize,
    prev: usize,
    after: &State,
    insn: &Insn,
    branched: bool,
) -> (Option<Entry>, u16, Option<(usize, usize)>) {
    let mut precise = pre.precise;
    let slot = pre.precise_slot;
    let mut e = Entry::new(pc, prev);
    let mut record = false;
    match insn {
        Insn::Jmp { .. } => {
            if !branched {
                precise |= pre.if_decided;
            } else if pre.linked.len() > 1 {
                e.linked = pre.linked;
                record = true;
            }
            if pre.src_stack || pre.dst_stack {
                e.src_stack = pre.src_stack;
                e.dst_stack = pre.dst_stack;
                record = true;
            }
        }
        Insn::Ldx { .. } | Insn::LdxSx { .. } | Insn::Atomic { .. } => {
            if let (Some((f, spi, _, _)), true) = (pre.stack, pre.fill) {
                e.stack = Some((f, spi));
                record = true;
            }
        }
        Insn::St { .. } | Insn::Stx { .. } => {
            if let Some((f, spi, _, _)) = pre.stack {
                let spilled = after
                    .frames
                    .get(f)
                    .and_then(|fr| fr.stack.slots.get(spi))
                    .is_some_and(|s| s.is_spill());
                if spilled {
                    e.stack = Some((f, spi));
                    record = true;
                } else if let Some(r) = pre.zero_src {
                    // Zeros written as data rely on the register being zero.
                    precise |= 1 << r;
                }
            }
        }
        _ => {}
    }
    (record.then_some(e), precise, slot)
}
