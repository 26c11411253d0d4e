//! Conditional jumps between scalars: deciding a branch (`is_scalar_branch_taken`) and
//! narrowing both operands to each side of it (`regs_refine_cond_op` then
//! `reg_bounds_sync`, as `reg_set_min_max` does).

use bpfbox_vm::isa::{JmpCond, Width};

use super::sync::{mark_unbounded, reg_bounds_sync};
use super::{Bounds, Infeasible, Tnum};

/// The operand views a comparison of `width` reads.
struct View {
    t: Tnum,
    umin: u64,
    umax: u64,
    smin: i64,
    smax: i64,
}

fn view(b: &Bounds, w32: bool) -> View {
    if w32 {
        View {
            t: b.var_off.subreg(),
            umin: b.u32_min as u64,
            umax: b.u32_max as u64,
            smin: b.s32_min as i64,
            smax: b.s32_max as i64,
        }
    } else {
        View {
            t: b.var_off,
            umin: b.umin,
            umax: b.umax,
            smin: b.smin,
            smax: b.smax,
        }
    }
}

/// The constant value at the width, when the tnum pins it (`is_reg_const`).
fn const_at(b: &Bounds, w32: bool) -> Option<u64> {
    let t = if w32 { b.var_off.subreg() } else { b.var_off };
    t.is_const().then_some(t.value)
}

/// Whether the 32-bit ranges of two registers are disjoint (used by 64-bit equality too).
fn disjoint32(a: &Bounds, b: &Bounds) -> bool {
    a.u32_min > b.u32_max || a.u32_max < b.u32_min || a.s32_min > b.s32_max || a.s32_max < b.s32_min
}

/// `Some(true)`: every pair takes the branch; `Some(false)`: none does; `None`: unknown.
pub fn is_branch_taken(a: &Bounds, b: &Bounds, cond: JmpCond, width: Width) -> Option<bool> {
    let w32 = width == Width::W32;
    let (x, y) = (view(a, w32), view(b, w32));
    let differ = || {
        !x.t.overlap(y.t)
            || x.umin > y.umax
            || x.umax < y.umin
            || x.smin > y.smax
            || x.smax < y.smin
            || (!w32 && disjoint32(a, b))
    };
    match cond {
        JmpCond::Eq | JmpCond::Ne => {
            let eq = cond == JmpCond::Eq;
            if x.t.is_const() && y.t.is_const() {
                return Some((x.t.value == y.t.value) == eq);
            }
            if differ() {
                return Some(!eq);
            }
            None
        }
        JmpCond::Set => {
            let (t1, t2) = if const_at(b, w32).is_some() {
                (x.t, y.t)
            } else if const_at(a, w32).is_some() {
                (y.t, x.t)
            } else {
                return None;
            };
            if t1.value & !t1.mask & t2.value != 0 {
                Some(true)
            } else if (t1.mask | t1.value) & t2.value == 0 {
                Some(false)
            } else {
                None
            }
        }
        JmpCond::Gt => order(x.umin > y.umax, x.umax <= y.umin),
        JmpCond::Sgt => order(x.smin > y.smax, x.smax <= y.smin),
        JmpCond::Lt => order(x.umax < y.umin, x.umin >= y.umax),
        JmpCond::Slt => order(x.smax < y.smin, x.smin >= y.smax),
        JmpCond::Ge => order(x.umin >= y.umax, x.umax < y.umin),
        JmpCond::Sge => order(x.smin >= y.smax, x.smax < y.smin),
        JmpCond::Le => order(x.umax <= y.umin, x.umin > y.umax),
        JmpCond::Sle => order(x.smax <= y.smin, x.smin > y.smax),
    }
}

fn order(always: bool, never: bool) -> Option<bool> {
    if always {
        Some(true)
    } else if never {
        Some(false)
    } else {
        None
    }
}

/// The condition a side of the branch establishes: the jump's own condition, or its
/// negation, which for `jset` is "no bit in common" (the kernel's `BPF_JSET | BPF_X`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Eq,
    Ne,
    Set,
    NotSet,
    Le,
    Lt,
    Sle,
    Slt,
}

/// The relation `a ? b` that holds on one side, with the operands swapped when needed so
/// that only "less" forms remain.
fn relation(cond: JmpCond, taken: bool) -> (Rel, bool) {
    use JmpCond::*;
    let c = if taken {
        cond
    } else {
        match cond {
            Eq => Ne,
            Ne => Eq,
            Set => return (Rel::NotSet, false),
            Ge => Lt,
            Gt => Le,
            Le => Gt,
            Lt => Ge,
            Sge => Slt,
            Sgt => Sle,
            Sle => Sgt,
            Slt => Sge,
        }
    };
    match c {
        Eq => (Rel::Eq, false),
        Ne => (Rel::Ne, false),
        Set => (Rel::Set, false),
        Le => (Rel::Le, false),
        Lt => (Rel::Lt, false),
        Sle => (Rel::Sle, false),
        Slt => (Rel::Slt, false),
        Ge => (Rel::Le, true),
        Gt => (Rel::Lt, true),
        Sge => (Rel::Sle, true),
        Sgt => (Rel::Slt, true),
    }
}

/// `regs_refine_cond_op`: narrow `r1` and `r2` to the pairs satisfying `rel`.
fn refine_cond(r1: &mut Bounds, r2: &mut Bounds, rel: Rel, w32: bool) {
    match rel {
        Rel::Eq => {
            if w32 {
                r1.u32_min = r1.u32_min.max(r2.u32_min);
                r1.u32_max = r1.u32_max.min(r2.u32_max);
                r1.s32_min = r1.s32_min.max(r2.s32_min);
                r1.s32_max = r1.s32_max.min(r2.s32_max);
                r2.u32_min = r1.u32_min;
                r2.u32_max = r1.u32_max;
                r2.s32_min = r1.s32_min;
                r2.s32_max = r1.s32_max;
                let t = r1.var_off.subreg().intersect(r2.var_off.subreg());
                r1.var_off = r1.var_off.with_subreg(t);
                r2.var_off = r2.var_off.with_subreg(t);
            } else {
                r1.umin = r1.umin.max(r2.umin);
                r1.umax = r1.umax.min(r2.umax);
                r1.smin = r1.smin.max(r2.smin);
                r1.smax = r1.smax.min(r2.smax);
                r2.umin = r1.umin;
                r2.umax = r1.umax;
                r2.smin = r1.smin;
                r2.smax = r1.smax;
                r1.var_off = r1.var_off.intersect(r2.var_off);
                r2.var_off = r1.var_off;
            }
        }
        Rel::Ne | Rel::Set | Rel::NotSet => {
            let (reg, val) = match (const_at(r2, w32), const_at(r1, w32)) {
                (Some(v), _) => (r1, v),
                (None, Some(v)) => (r2, v),
                (None, None) => return,
            };
            match rel {
                Rel::Ne if w32 => {
                    let v = val as u32;
                    if reg.u32_min == v {
                        reg.u32_min = reg.u32_min.wrapping_add(1);
                    }
                    if reg.u32_max == v {
                        reg.u32_max = reg.u32_max.wrapping_sub(1);
                    }
                    if reg.s32_min == v as i32 {
                        reg.s32_min = reg.s32_min.wrapping_add(1);
                    }
                    if reg.s32_max == v as i32 {
                        reg.s32_max = reg.s32_max.wrapping_sub(1);
                    }
                }
                Rel::Ne => {
                    if reg.umin == val {
                        reg.umin = reg.umin.wrapping_add(1);
                    }
                    if reg.umax == val {
                        reg.umax = reg.umax.wrapping_sub(1);
                    }
                    if reg.smin == val as i64 {
                        reg.smin = reg.smin.wrapping_add(1);
                    }
                    if reg.smax == val as i64 {
                        reg.smax = reg.smax.wrapping_sub(1);
                    }
                }
                Rel::Set => {
                    // Only a single bit is learned for certain.
                    if !val.is_power_of_two() {
                        return;
                    }
                    if w32 {
                        let t = reg.var_off.subreg().or(Tnum::constant(val));
                        reg.var_off = reg.var_off.with_subreg(t);
                    } else {
                        reg.var_off = reg.var_off.or(Tnum::constant(val));
                    }
                }
                _ => {
                    // Forget the ranges first: on a dead branch the narrowed tnum could
                    // contradict them.
                    mark_unbounded(reg);
                    if w32 {
                        let t = reg.var_off.subreg().and(Tnum::constant(!val));
                        reg.var_off = reg.var_off.with_subreg(t);
                    } else {
                        reg.var_off = reg.var_off.and(Tnum::constant(!val));
                    }
                }
            }
        }
        Rel::Le => {
            if w32 {
                r1.u32_max = r1.u32_max.min(r2.u32_max);
                r2.u32_min = r1.u32_min.max(r2.u32_min);
            } else {
                r1.umax = r1.umax.min(r2.umax);
                r2.umin = r1.umin.max(r2.umin);
            }
        }
        Rel::Lt => {
            if w32 {
                r1.u32_max = r1.u32_max.min(r2.u32_max.wrapping_sub(1));
                r2.u32_min = r1.u32_min.wrapping_add(1).max(r2.u32_min);
            } else {
                r1.umax = r1.umax.min(r2.umax.wrapping_sub(1));
                r2.umin = r1.umin.wrapping_add(1).max(r2.umin);
            }
        }
        Rel::Sle => {
            if w32 {
                r1.s32_max = r1.s32_max.min(r2.s32_max);
                r2.s32_min = r1.s32_min.max(r2.s32_min);
            } else {
                r1.smax = r1.smax.min(r2.smax);
                r2.smin = r1.smin.max(r2.smin);
            }
        }
        Rel::Slt => {
            if w32 {
                r1.s32_max = r1.s32_max.min(r2.s32_max.wrapping_sub(1));
                r2.s32_min = r1.s32_min.wrapping_add(1).max(r2.s32_min);
            } else {
                r1.smax = r1.smax.min(r2.smax.wrapping_sub(1));
                r2.smin = r1.smin.wrapping_add(1).max(r2.smin);
            }
        }
    }
}

/// Whether the kernel's invariants hold (`reg_bounds_sanity_check`): ordered ranges, and a
/// constant tnum (of either width) matching its bounds.
pub fn is_consistent(b: &Bounds) -> bool {
    if b.umin > b.umax || b.smin > b.smax || b.u32_min > b.u32_max || b.s32_min > b.s32_max {
        return false;
    }
    if b.var_off.is_const() {
        let v = b.var_off.value;
        if b.umin != v || b.umax != v || b.smin != v as i64 || b.smax != v as i64 {
            return false;
        }
    }
    if b.var_off.subreg_is_const() {
        let v = b.var_off.value as u32;
        if b.u32_min != v || b.u32_max != v || b.s32_min != v as i32 || b.s32_max != v as i32 {
            return false;
        }
    }
    true
}

/// Narrow `a` and `b` to the pairs that take (`taken`) or fall through `a cond b`, each
/// reduced. When a result breaks the kernel's invariants (the side is dead but the
/// domain could not tell beforehand), that register is left as the kernel leaves it,
/// tnum kept and bounds forgotten, and `Err(Infeasible)` is returned.
pub fn refine(
    a: &mut Bounds,
    b: &mut Bounds,
    cond: JmpCond,
    width: Width,
    taken: bool,
) -> Result<(), Infeasible> {
    let (rel, swap) = relation(cond, taken);
    let w32 = width == Width::W32;
    if swap {
        refine_cond(b, a, rel, w32);
    } else {
        refine_cond(a, b, rel, w32);
    }
    reg_bounds_sync(a);
    reg_bounds_sync(b);
    let mut ok = true;
    for r in [a, b] {
        if !is_consistent(r) {
            mark_unbounded(r);
            ok = false;
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Infeasible)
    }
}
