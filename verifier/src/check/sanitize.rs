//! Spectre v1 sanitisation for loads without CAP_PERFMON (`!bypass_spec_v1`): the kernel
//! masks the offset of every `pointer += register` so that a mispredicted bounds check cannot
//! move the pointer out of its object, and refuses the arithmetic it cannot mask
//! (`sanitize_ptr_alu`, `sanitize_check_bounds`, `sanitize_val_alu`). Paths a CPU could take
//! speculatively are walked as well ([`Spec`]): the side of a branch whose outcome is known,
//! and the pointer before a masked offset was added.
//!
//! The mask is a per-instruction fact (`alu_state`, `alu_limit`): every path through an
//! instruction must agree on it, or the arithmetic is refused ("from different maps, paths
//! or scalars").

use std::collections::HashMap;

use bpfbox_vm::isa::{AluOp, Src};

use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType, State};

/// `MAX_BPF_STACK`.
const MAX_BPF_STACK: u32 = 512;

/// The kernel's `alu_state` bits, which only need to compare equal between paths.
const SANITIZE_SRC: u32 = 1;
const SANITIZE_DST: u32 = 2;
const NEG_VALUE: u32 = 4;
const NON_POINTER: u32 = 8;
const IMMEDIATE: u32 = 16;

const PROHIBITED: &str = "pointer arithmetic with it prohibited for !root";

/// What the walk keeps about sanitisation and speculation across paths.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// `alu_state`, `alu_limit` per instruction.
    alu: HashMap<usize, (u32, u32)>,
    /// `explore_alu_limits`: a masked unknown offset was seen, so pruning must compare
    /// scalars exactly to find every path's mask.
    pub explore_alu_limits: bool,
    /// Speculative paths the last step asks for: (start, the state there).
    pub push: Vec<(usize, State)>,
    /// Instructions a speculative path failed at (`nospec`): later speculative paths stop
    /// there.
    pub nospec: Vec<usize>,
    /// Stack stores that get a barrier after them (`nospec_result`, Spectre v4): a
    /// speculative path ends once it has executed one.
    pub nospec_result: Vec<usize>,
    /// Whether the path being walked is speculative.
    pub speculative: bool,
    /// The map each `bpf_tail_call` was first seen with, and whether another path brought
    /// another map (`bpf_map_ptr_poisoned`).
    tail_maps: HashMap<usize, (usize, bool)>,
}

impl Spec {
    /// `update_alu_sanitation_state`: every path must agree on the mask.
    fn record(&mut self, pc: usize, state: u32, limit: u32) -> bool {
        match self.alu.get(&pc) {
            Some(&(s, l)) if s != 0 && (s != state || l != limit) => false,
            _ => {
                self.alu.insert(pc, (state, limit));
                true
            }
        }
    }

    /// `record_func_map` for a tail call at `pc` with map `map`.
    pub fn tail_call_map(&mut self, pc: usize, map: usize) {
        let e = self.tail_maps.entry(pc).or_insert((map, false));
        if e.0 != map {
            e.1 = true;
        }
    }

    /// `do_misc_fixups`: a tail call reached with different maps cannot be sanitised (its
    /// index is masked with one map's size), so an unprivileged load is refused.
    /// `may_goto`: whether the program has `may_goto` loops, whose exploration with exact
    /// scalar comparisons (`explore_alu_limits`) is not modelled closely enough to trust an
    /// acceptance.
    pub fn after_walk(&self, privileged: bool, may_goto: bool) -> Result<()> {
        if privileged {
            return Ok(());
        }
        if may_goto && self.explore_alu_limits {
            return Err(Reject::unsupported(
                0,
                "may_goto loops with masked pointer arithmetic in unprivileged loads",
            ));
        }
        let mut poisoned: Vec<usize> = self
            .tail_maps
            .iter()
            .filter(|(_, &(_, p))| p)
            .map(|(&pc, _)| pc)
            .collect();
        poisoned.sort_unstable();
        match poisoned.first() {
            Some(&pc) => Err(Reject::at(pc, "tail_call abusing map_ptr")),
            None => Ok(()),
        }
    }

    /// Whether a speculative path stops at `pc`.
    pub fn stops_at(&self, pc: usize) -> bool {
        self.nospec.contains(&pc)
    }

    /// Whether a speculative path ends after executing instruction `pc`.
    pub fn stops_after(&self, pc: usize) -> bool {
        self.nospec_result.contains(&pc)
    }
}

/// The masking chosen before the operation, committed after it.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    mask_to_left: bool,
    state: u32,
    limit: u32,
}

fn op_word(op: AluOp) -> &'static str {
    if op == AluOp::Add {
        "add"
    } else {
        "sub"
    }
}

/// `retrieve_ptr_limit`: how far the pointer may move in the masked direction; `None` for a
/// type that cannot be masked (`Err(true)`) or a pointer already beyond it (`Err(false)`).
fn ptr_limit(env: &Env<'_>, ptr: &Reg, mask_to_left: bool) -> std::result::Result<u32, bool> {
    let b = ptr.val.bounds();
    let (max, limit) = match ptr.ty {
        RegType::Stack => (
            MAX_BPF_STACK + mask_to_left as u32,
            (b.var_off.value as i64 + ptr.off as i64).wrapping_neg() as u32,
        ),
        RegType::MapValue => {
            let vs = env.opts.maps.get(ptr.map).map_or(0, |m| m.value_size);
            let base = if mask_to_left { b.smin as u64 } else { b.umax };
            (vs, (base as u32).wrapping_add(ptr.off as u32))
        }
        _ => return Err(true),
    };
    if limit >= max {
        Err(false)
    } else {
        Ok(limit)
    }
}

/// The operand numbers as the kernel's messages name them.
pub struct Operands {
    /// The instruction's destination register.
    pub dst: u8,
    /// Its source: a register or an immediate.
    pub src: Src,
    /// Whether the pointer is the source operand (`scalar += pointer`).
    pub swapped: bool,
}

impl Operands {
    /// The register a mixed-sign offset is reported in: the instruction's source, even for
    /// `scalar += pointer` (the kernel compares the offset with a copy, never equal to the
    /// destination register).
    fn off_regno(&self) -> u8 {
        match self.src {
            Src::Reg(r) => r,
            Src::Imm(_) => self.dst,
        }
    }

    /// The register an unmaskable pointer is reported in: the destination, for the same
    /// reason.
    fn ptr_regno(&self) -> u8 {
        self.dst
    }
}

/// `sanitize_ptr_alu` before the operation (`commit_window` false). `None` when nothing is
/// sanitised (a privileged load, an immediate operand, an operator other than add and
/// sub). A register offset that is not a constant also asks for the speculative path on
/// which the pointer did not move.
pub fn begin(
    env: &mut Env<'_>,
    st: &State,
    pc: usize,
    op: AluOp,
    ops: &Operands,
    ptr: &Reg,
    off: &Reg,
) -> Result<Option<Window>> {
    if env.privileged() || matches!(ops.src, Src::Imm(_)) || !matches!(op, AluOp::Add | AluOp::Sub)
    {
        return Ok(None);
    }
    let b = off.val.bounds();
    let off_is_imm = off.val.as_const().is_some();
    let off_is_neg = b.smin < 0;
    if env.spec.speculative {
        // Masks are decided on the architectural paths; here only the simulation.
        if !off_is_imm {
            let mut spec = st.clone();
            *spec.reg_mut(ops.dst) = ptr.clone();
            env.spec.push.push((pc + 1, spec));
        }
        return Ok(None);
    }
    if !off_is_imm && (b.smin < 0) != (b.smax < 0) {
        return Err(Reject::at(
            pc,
            format!(
                "R{} has unknown scalar with mixed signed bounds, {PROHIBITED}",
                ops.off_regno()
            ),
        ));
    }
    let mask_to_left = (op == AluOp::Add && off_is_neg) || (op == AluOp::Sub && !off_is_neg);
    let limit = limit_or_reject(env, pc, op, ops, ptr, mask_to_left)?;
    let mut state = if off_is_neg { NEG_VALUE } else { 0 };
    state |= if off_is_imm { IMMEDIATE } else { 0 };
    state |= if ops.swapped {
        SANITIZE_DST
    } else {
        SANITIZE_SRC
    };
    if !off_is_imm {
        env.spec.explore_alu_limits = true;
        // The masked offset may be zero under speculation: the pointer as it was.
        let mut spec = st.clone();
        *spec.reg_mut(ops.dst) = ptr.clone();
        env.spec.push.push((pc + 1, spec));
    }
    Ok(Some(Window {
        mask_to_left,
        state,
        limit,
    }))
}

fn limit_or_reject(
    env: &Env<'_>,
    pc: usize,
    op: AluOp,
    ops: &Operands,
    ptr: &Reg,
    mask_to_left: bool,
) -> Result<u32> {
    ptr_limit(env, ptr, mask_to_left).map_err(|unmaskable| {
        let msg = if unmaskable {
            format!(
                "R{} has pointer with unsupported alu operation, {PROHIBITED}",
                ops.ptr_regno()
            )
        } else {
            format!(
                "R{} tried to {} beyond pointer bounds, {PROHIBITED}",
                ops.dst,
                op_word(op)
            )
        };
        Reject::at(pc, msg)
    })
}

/// `sanitize_check_bounds` and `sanitize_ptr_alu` after the operation (`commit_window`):
/// the result must stay inside its object, and the narrowed mask must be the one every
/// other path through `pc` uses.
pub fn commit(
    env: &mut Env<'_>,
    pc: usize,
    op: AluOp,
    ops: &Operands,
    window: Option<Window>,
    result: &Reg,
) -> Result<()> {
    if env.privileged() {
        return Ok(());
    }
    check_bounds(env, pc, ops.dst, result)?;
    let Some(w) = window else {
        return Ok(());
    };
    let now = limit_or_reject(env, pc, op, ops, result, w.mask_to_left)?;
    let limit = (w.limit as i64 - now as i64).unsigned_abs() as u32;
    if !env.spec.record(pc, w.state, limit) {
        return Err(paths(pc, ops.dst, op));
    }
    Ok(())
}

fn paths(pc: usize, dst: u8, op: AluOp) -> Reject {
    Reject::at(
        pc,
        format!(
            "R{dst} tried to {} from different maps, paths or scalars, {PROHIBITED}",
            op_word(op)
        ),
    )
}

/// `sanitize_check_bounds`: a stack pointer must stay constant and inside the frame, a
/// map value pointer inside the value.
fn check_bounds(env: &Env<'_>, pc: usize, dst: u8, r: &Reg) -> Result<()> {
    let b = r.val.bounds();
    match r.ty {
        RegType::Stack => {
            let off = (r.off as i64).wrapping_add(b.var_off.value as i64) as i32;
            if b.var_off.mask != 0 {
                return Err(Reject::at(
                    pc,
                    format!(
                        "R{dst} variable stack access prohibited for !root, var_off=({:#x}; {:#x}) off={off}",
                        b.var_off.value, b.var_off.mask
                    ),
                ));
            }
            if off >= 0 || off < -(MAX_BPF_STACK as i32) {
                return Err(Reject::at(
                    pc,
                    format!(
                        "R{dst} stack pointer arithmetic goes out of range, prohibited for !root; off={off}"
                    ),
                ));
            }
        }
        RegType::MapValue => {
            let vs = env.opts.maps.get(r.map).map_or(0, |m| m.value_size);
            let msg =
                |o: i64| format!("invalid access to map value, value_size={vs} off={o} size=1");
            if let Err(e) = super::mem::region(pc, dst, r, r.off, 1, vs, msg) {
                return Err(Reject::at(
                    pc,
                    format!(
                        "{}\nR{dst} pointer arithmetic of map value goes out of range, prohibited for !root",
                        e.message
                    ),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `sanitize_val_alu`: scalar add and sub by a register record that the instruction needs
/// no mask, which a path where it moved a pointer contradicts.
pub fn val_alu(env: &mut Env<'_>, pc: usize, op: AluOp, dst: u8, src: Src) -> Result<()> {
    if env.privileged() || matches!(src, Src::Imm(_)) || !matches!(op, AluOp::Add | AluOp::Sub) {
        return Ok(());
    }
    if !env.spec.record(pc, NON_POINTER, 0) {
        return Err(paths(pc, dst, op));
    }
    Ok(())
}

/// `sanitize_speculative_path` for a branch whose outcome is known: the other side is
/// walked speculatively, with the compared registers unknown.
pub fn branch_not_taken(env: &mut Env<'_>, st: &State, other: usize, dst: u8, src: Src) {
    if env.privileged() {
        return;
    }
    let mut spec = st.clone();
    *spec.reg_mut(dst) = Reg::unknown();
    if let Src::Reg(r) = src {
        *spec.reg_mut(r) = Reg::unknown();
    }
    env.spec.push.push((other, spec));
}
