//! `regsafe`: whether every path that was safe from an old register is safe from the current
//! one, so the current path may stop.

use super::idmap::IdMap;
use super::Exact;
use crate::domain::ScalarDomain;
use crate::state::{Reg, RegType};

/// `regs_exact`: the same register up to a renaming of ids.
pub fn regs_exact(old: &Reg, cur: &Reg, ids: &mut IdMap) -> bool {
    same_fields(old, cur)
        && old.val == cur.val
        && ids.check(old.full_id(), cur.full_id())
        && ids.check(old.ref_obj_id, cur.ref_obj_id)
}

/// The fields the kernel compares before the variable offset: type, fixed offset and the
/// type's own data (map, size, packet range).
fn same_fields(old: &Reg, cur: &Reg) -> bool {
    old.ty == cur.ty
        && old.maybe_null == cur.maybe_null
        && old.off == cur.off
        && old.map == cur.map
        && old.range == cur.range
        && old.mem_size == cur.mem_size
        && old.ringbuf == cur.ringbuf
        && old.frameno == cur.frameno
        && old.subprog == cur.subprog
        && old.delta == cur.delta
}

/// The current value lies inside the old one (`range_within` and `tnum_in`).
fn within(old: &Reg, cur: &Reg) -> bool {
    cur.val.within(&old.val)
}

/// Links by an added constant must agree: an old one needs the same constant in the
/// current register, and an old plain link cannot be met by one with a constant.
pub fn scalar_links_compatible(old: &Reg, cur: &Reg) -> bool {
    use crate::state::Delta;
    match (old.delta, cur.delta) {
        (Delta::None, Delta::None) => true,
        (Delta::None, _) => old.id == 0,
        (_, Delta::None) => false,
        (o, c) => o.off() == c.off(),
    }
}

/// `regsafe`. `precision` says whether precision marks are tracked: without them every
/// scalar counts as precise, which only prunes less.
///
/// `exact_scalars` is the walk's `explore_alu_limits`: scalars, precise or not, must then be
/// the same value (up to a renaming of ids), so that every path's pointer-arithmetic mask is
/// seen; the rest of the comparison is unchanged.
pub fn regsafe(
    old: &Reg,
    cur: &Reg,
    ids: &mut IdMap,
    exact: Exact,
    precision: bool,
    exact_scalars: bool,
) -> bool {
    if exact == Exact::Exact {
        return regs_exact(old, cur, ids);
    }
    if old.ty == RegType::NotInit && (exact == Exact::Not || cur.ty == RegType::NotInit) {
        // The explored state never read it.
        return true;
    }
    // Types, `_or_null` included, must match: a NULL check on the old register would have
    // marked others with its id, which a non-null current one cannot show.
    if old.ty != cur.ty || old.maybe_null != cur.maybe_null {
        return false;
    }
    match old.ty {
        RegType::NotInit => true,
        RegType::Scalar => {
            if exact_scalars {
                return same_fields(old, cur)
                    && old.val == cur.val
                    && ids.check_scalar(old.full_id(), cur.full_id());
            }
            if precision && !old.precise && exact == Exact::Not {
                return true;
            }
            if !scalar_links_compatible(old, cur) {
                return false;
            }
            ids.check_scalar(old.full_id(), cur.full_id()) && within(old, cur)
        }
        RegType::MapKey | RegType::MapValue | RegType::Mem | RegType::RdonlyMem => {
            same_fields(old, cur)
                && within(old, cur)
                && ids.check(old.id, cur.id)
                && ids.check(old.ref_obj_id, cur.ref_obj_id)
        }
        RegType::Packet | RegType::PacketMeta => {
            // At least the old range, so accesses safe before stay in bounds.
            if old.range < 0 || cur.range < 0 {
                if old.range != cur.range {
                    return false;
                }
            } else if old.range > cur.range {
                return false;
            }
            old.off == cur.off && ids.check(old.id, cur.id) && within(old, cur)
        }
        // fp-8 of one frame is not fp-8 of another.
        RegType::Stack => regs_exact(old, cur, ids) && old.frameno == cur.frameno,
        RegType::Ctx
        | RegType::MapPtr
        | RegType::PacketEnd
        | RegType::FlowKeys
        | RegType::Socket
        | RegType::SockCommon
        | RegType::TcpSock
        | RegType::XdpSock
        | RegType::Func
        | RegType::ConstDynptr => regs_exact(old, cur, ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scalar;

    fn range(lo: u64, hi: u64) -> Reg {
        Reg::scalar(Scalar::from_urange(lo, hi))
    }

    /// `regsafe` with fresh ids: precision tracking on or off, scalars compared exactly or
    /// not.
    fn safe(old: &Reg, cur: &Reg, exact: Exact, precision: bool, exact_scalars: bool) -> bool {
        regsafe(
            old,
            cur,
            &mut IdMap::new(0),
            exact,
            precision,
            exact_scalars,
        )
    }

    #[test]
    fn scalars_need_inclusion_only_when_precise() {
        let mut old = range(0, 10);
        let cur = range(3, 20);
        assert!(safe(&old, &cur, Exact::Not, true, false));
        old.precise = true;
        assert!(!safe(&old, &cur, Exact::Not, true, false));
        assert!(regsafe(
            &old,
            &range(3, 5),
            &mut IdMap::new(0),
            Exact::Not,
            true,
            false
        ));
        // Without precision tracking every scalar is compared.
        old.precise = false;
        assert!(!safe(&old, &cur, Exact::Not, false, false));
    }

    /// `explore_alu_limits`: an imprecise scalar no longer stands for any other.
    #[test]
    fn exact_scalars_compare_imprecise_values() {
        let old = range(0, 15);
        assert!(regsafe(
            &old,
            &range(3, 5),
            &mut IdMap::new(0),
            Exact::Not,
            true,
            false
        ));
        assert!(!regsafe(
            &old,
            &range(3, 5),
            &mut IdMap::new(0),
            Exact::Not,
            true,
            true
        ));
        assert!(regsafe(
            &old,
            &range(0, 15),
            &mut IdMap::new(0),
            Exact::Not,
            true,
            true
        ));
    }

    #[test]
    fn not_init_old_accepts_anything_unless_range_within() {
        let old = Reg::not_init();
        let cur = range(0, 1);
        assert!(safe(&old, &cur, Exact::Not, true, false));
        assert!(!safe(&old, &cur, Exact::RangeWithin, true, false));
        assert!(safe(&old, &old, Exact::RangeWithin, true, false));
    }

    #[test]
    fn packet_range_must_not_shrink() {
        let mut old = Reg::pointer(RegType::Packet);
        old.range = 8;
        let mut cur = old.clone();
        cur.range = 4;
        assert!(!safe(&old, &cur, Exact::Not, true, false));
        cur.range = 14;
        assert!(safe(&old, &cur, Exact::Not, true, false));
    }

    #[test]
    fn null_and_non_null_never_match() {
        let mut old = Reg::pointer(RegType::MapValue);
        old.maybe_null = true;
        old.id = 1;
        let cur = Reg::pointer(RegType::MapValue);
        assert!(!safe(&old, &cur, Exact::Not, true, false));
    }
}
