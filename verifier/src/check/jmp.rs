//! Conditional jumps: which way a branch can go (`is_branch_taken`), what each side learns
//! (bounds on scalars and their linked copies, NULL or not for `*_or_null` pointers, packet
//! ranges from comparisons with `pkt_end`).

use bpfbox_vm::isa::{JmpCond, Src, Width};
use bpfbox_vm::maps::spec::{MapSpec, MapType};

use super::{read, Flow};
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::prune::precision::Linked;
use crate::state::{link, Reg, RegType, State};

/// Largest packet offset the kernel tracks (`MAX_PACKET_OFF`).
const MAX_PACKET_OFF: u64 = 0xffff;

/// `if dst cond src goto pc+1+off`.
#[allow(clippy::too_many_arguments)]
pub fn cond(
    env: &mut Env<'_>,
    st: &mut State,
    pc: usize,
    width: Width,
    cond: JmpCond,
    dst: u8,
    src: Src,
    off: i16,
) -> Result<Flow> {
    // The kernel reads the destination operand first.
    let d = read(st, pc, dst)?.clone();
    let s = match src {
        Src::Reg(r) => {
            let s = read(st, pc, r)?.clone();
            // Packet pointers may be compared with each other (`reg_is_pkt_pointer_any`).
            let packets = is_packet_any(&d) && is_packet_any(&s);
            if s.is_pointer() && !env.privileged() && !packets {
                return Err(Reject::at(
                    pc,
                    format!("R{r} pointer comparison prohibited"),
                ));
            }
            s
        }
        Src::Imm(imm) => Reg::constant(match width {
            Width::W64 => imm as i64 as u64,
            Width::W32 => imm as u32 as u64,
        }),
    };
    let target = (pc as i64 + 1 + off as i64) as usize;
    let fall = pc + 1;
    match taken(&d, &s, cond, width) {
        Some(true) => {
            super::sanitize::branch_not_taken(env, st, fall, dst, src);
            return Ok(Flow::Next(target));
        }
        Some(false) => {
            super::sanitize::branch_not_taken(env, st, target, dst, src);
            return Ok(Flow::Next(fall));
        }
        None => {}
    }
    let both_pointers = d.is_pointer() && s.is_pointer() && width == Width::W64;
    let both_scalars = d.is_scalar() && s.is_scalar();
    let null_check = d.maybe_null
        && width == Width::W64
        && matches!(src, Src::Imm(0))
        && matches!(cond, JmpCond::Eq | JmpCond::Ne);
    let pointer_scalar = !(both_pointers || both_scalars || null_check);
    if pointer_scalar && d.is_pointer() && !env.privileged() {
        return Err(Reject::at(
            pc,
            format!("R{dst} pointer comparison prohibited"),
        ));
    }
    // The scalars linked to the operands, collected before the branch is copied (the
    // ones past the kernel's room lose their id on both sides).
    let mut set = Vec::new();
    if let Src::Reg(_) = src {
        if s.is_scalar() && s.id != 0 {
            link::collect_mut(st, s.id, &env.live_regs, pc, &mut set);
        }
    }
    if d.is_scalar() && d.id != 0 {
        link::collect_mut(st, d.id, &env.live_regs, pc, &mut set);
    }
    let mut other = st.clone();
    branch(env, st, &mut other, dst, src, &d, &s, cond, width);
    // What each side learned of an operand holds for the scalars linked to it.
    for side in [&mut *st, &mut other] {
        let mut operands = Vec::new();
        if let Src::Reg(r) = src {
            operands.push(r);
        }
        operands.push(dst);
        for r in operands {
            let known = side.reg(r).clone();
            if known.is_scalar() && known.id != 0 {
                let from = Linked::Reg {
                    frame: side.frames.len() - 1,
                    reg: r,
                };
                link::sync(side, &known, from, &set);
            }
        }
    }
    Ok(Flow::Branch {
        taken: Box::new(other),
        target,
        fall,
    })
}

/// What each side of an undecided branch learns: `st` falls through, `other` jumps.
#[allow(clippy::too_many_arguments)]
fn branch(
    env: &Env<'_>,
    st: &mut State,
    other: &mut State,
    dst: u8,
    src: Src,
    d: &Reg,
    s: &Reg,
    cond: JmpCond,
    width: Width,
) {
    if d.is_scalar() && s.is_scalar() {
        refine(st, dst, src, d, s, cond, width, false);
        refine(other, dst, src, d, s, cond, width, true);
        return;
    }
    if d.maybe_null
        && width == Width::W64
        && matches!(src, Src::Imm(0))
        && matches!(cond, JmpCond::Eq | JmpCond::Ne)
    {
        let eq_taken = cond == JmpCond::Eq;
        mark_null(st, d.id, d.ref_obj_id, !eq_taken, &env.opts.maps);
        mark_null(other, d.id, d.ref_obj_id, eq_taken, &env.opts.maps);
        return;
    }
    if d.is_pointer() && s.is_pointer() && width == Width::W64 {
        let src_reg = match src {
            Src::Reg(r) => r,
            Src::Imm(_) => dst,
        };
        packet_ranges(st, other, (dst, d), (src_reg, s), cond);
        // A pointer equal to one that is not NULL is not NULL either, on the equal side.
        if let Src::Reg(r) = src {
            if d.maybe_null != s.maybe_null && matches!(cond, JmpCond::Eq | JmpCond::Ne) {
                let eq_side = if cond == JmpCond::Eq { other } else { st };
                let regno = if s.maybe_null { r } else { dst };
                not_null(eq_side.reg_mut(regno), &env.opts.maps);
            }
        }
    }
}

/// `is_branch_taken`.
fn taken(d: &Reg, s: &Reg, cond: JmpCond, width: Width) -> Option<bool> {
    if d.is_scalar() && s.is_scalar() {
        return d.val.branch_taken(&s.val, cond, width);
    }
    if d.is_pointer() && s.is_pointer() {
        return None;
    }
    let (p, k) = if d.is_pointer() { (d, s) } else { (s, d) };
    let zero = match width {
        Width::W64 => k.val.as_const() == Some(0),
        Width::W32 => k.val.as_const().is_some_and(|v| v as u32 == 0),
    };
    // Only these types are known not to be NULL (`reg_not_null`): a context or stack
    // pointer compared with 0 still explores both sides.
    let not_null = matches!(
        p.ty,
        RegType::MapPtr
            | RegType::MapValue
            | RegType::MapKey
            | RegType::Mem
            | RegType::RdonlyMem
            | RegType::Socket
            | RegType::TcpSock
            | RegType::SockCommon
    );
    if !zero || p.maybe_null || !not_null {
        return None;
    }
    match cond {
        JmpCond::Eq => Some(false),
        JmpCond::Ne => Some(true),
        _ => None,
    }
}

/// Narrows the operands on one side of the branch.
#[allow(clippy::too_many_arguments)]
fn refine(
    st: &mut State,
    dst: u8,
    src: Src,
    d: &Reg,
    s: &Reg,
    cond: JmpCond,
    width: Width,
    is_taken: bool,
) {
    let mut dv = d.val;
    let mut sv = s.val;
    // A side the refinement finds contradictory is still explored, with the registers as
    // the refinement leaves them, as the kernel does when `is_branch_taken` could not
    // decide the branch.
    let _ = dv.refine(&mut sv, cond, width, is_taken);
    st.reg_mut(dst).val = dv;
    if let Src::Reg(r) = src {
        st.reg_mut(r).val = sv;
    }
}

/// Every register and spilled register of every frame.
pub fn for_each_reg(st: &mut State, mut f: impl FnMut(&mut Reg)) {
    for fr in &mut st.frames {
        for r in fr.regs.iter_mut() {
            f(r);
        }
        for s in fr.stack.slots.iter_mut() {
            if s.is_spill() {
                f(&mut s.spilled);
            }
        }
    }
}

/// `mark_ptr_or_null_regs`: on this side, the pointers with `id` are NULL (`is_null`, they
/// become the scalar 0) or valid. A NULL acquired pointer (`ref_obj_id == id`) holds no
/// reference any more.
fn mark_null(st: &mut State, id: u32, ref_obj_id: u32, is_null: bool, maps: &[MapSpec]) {
    if id == 0 {
        return;
    }
    if is_null && ref_obj_id == id {
        st.refs.release(id);
    }
    for_each_reg(st, |x| {
        if x.maybe_null && x.id == id {
            if is_null {
                *x = Reg::constant(0);
            } else {
                not_null(x, maps);
                x.id = 0;
            }
        }
    });
}

/// `mark_ptr_not_null_reg`: the pointer is valid; a socket map's element is the socket
/// itself.
fn not_null(x: &mut Reg, maps: &[MapSpec]) {
    x.maybe_null = false;
    if x.ty == RegType::MapValue {
        match maps.get(x.map).map(|m| m.map_type) {
            Some(MapType::Sockmap | MapType::Sockhash) => x.ty = RegType::Socket,
            Some(MapType::Xskmap) => x.ty = RegType::XdpSock,
            _ => {}
        }
    }
}

/// A packet pointer found at or beyond `pkt_end` on one side of a comparison
/// (`AT_PKT_END`, `BEYOND_PKT_END`): no byte past it may be read.
const AT_PKT_END: i32 = -1;
const BEYOND_PKT_END: i32 = -2;

/// `try_match_pkt_pointers`: packet pointers compared with `pkt_end`, metadata pointers with
/// the start of the packet.
fn packet_ranges(
    fall: &mut State,
    taken: &mut State,
    (dst, d): (u8, &Reg),
    (src, s): (u8, &Reg),
    cond: JmpCond,
) {
    use JmpCond::*;
    // `pkt' cmp pkt_end`, and `pkt_meta' cmp pkt` where `pkt` is the packet's start itself
    // (`reg_is_init_pkt_pointer`).
    let init_pkt =
        |r: &Reg| r.ty == RegType::Packet && r.id == 0 && r.off == 0 && r.val.as_const() == Some(0);
    let (pkt, pkt_reg, pkt_on_left) = match (d.ty, s.ty) {
        (RegType::Packet, RegType::PacketEnd) => (d, dst, true),
        (RegType::PacketEnd, RegType::Packet) => (s, src, false),
        (RegType::PacketMeta, _) if init_pkt(s) => (d, dst, true),
        (_, RegType::PacketMeta) if init_pkt(d) => (s, src, false),
        _ => return,
    };
    // Which side learns pkt + off <= end, and whether the bound is open on the right.
    let (side_taken, open) = match (cond, pkt_on_left) {
        (Gt, true) => (false, false),
        (Gt, false) => (true, true),
        (Lt, true) => (true, true),
        (Lt, false) => (false, false),
        (Ge, true) => (false, true),
        (Ge, false) => (true, false),
        (Le, true) => (true, false),
        (Le, false) => (false, true),
        _ => return,
    };
    // On the other side the compared register itself is at (`>=`) or past (`>`) the end
    // (`mark_pkt_end`).
    let (st, other) = if side_taken {
        (taken, fall)
    } else {
        (fall, taken)
    };
    if pkt.ty == RegType::Packet {
        other.reg_mut(pkt_reg).range = if open { AT_PKT_END } else { BEYOND_PKT_END };
    }
    if pkt.off < 0 || (pkt.off == 0 && open) {
        return;
    }
    let umax = pkt.val.bounds().umax;
    if umax > MAX_PACKET_OFF || umax + pkt.off as u64 > MAX_PACKET_OFF {
        return;
    }
    let range = pkt.off + i32::from(open);
    let (id, ty) = (pkt.id, pkt.ty);
    for_each_reg(st, |x| {
        if x.ty == ty && x.id == id {
            x.range = x.range.max(range);
        }
    });
}

/// `reg_is_pkt_pointer_any`: packet data, meta or end.
fn is_packet_any(r: &Reg) -> bool {
    matches!(
        r.ty,
        RegType::Packet | RegType::PacketMeta | RegType::PacketEnd
    )
}
