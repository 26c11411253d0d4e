//! Packet helpers for XDP (`bpf_xdp_adjust_{head,tail,meta}`) and socket buffers
//! (`bpf_skb_load_bytes`, `bpf_skb_store_bytes`), and redirects.
//!
//! They read and update the private pointer fields of the contexts in [`crate::context`].

use super::maps::{map_arg, EFAULT, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::context::{skb_off, xdp_off, BPF_SKB_MAX_LEN, SKB_SHINFO_SIZE, XDP_FRAME_SIZE};
use crate::interp::HelperCtx;
use crate::maps::MapType;
use crate::program::ProgType;

/// `ETH_HLEN`.
const ETH_HLEN: u64 = 14;

pub(crate) fn rd64(c: &HelperCtx<'_, '_>, addr: u64) -> Result<u64, HelperError> {
    let mut b = [0u8; 8];
    c.read_into(addr, &mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// Writes a pointer field: the 64-bit private copy and the low half in the uapi slot.
fn wr_ptr(
    c: &mut HelperCtx<'_, '_>,
    ctx: u64,
    uapi: u64,
    private: u64,
    v: u64,
) -> Result<(), HelperError> {
    c.write_context(ctx.wrapping_add(private), &v.to_ne_bytes())?;
    c.write_context(ctx.wrapping_add(uapi), &(v as u32).to_ne_bytes())
}

/// `(data, data_end)` of a socket-buffer context.
pub(crate) fn skb_bounds(c: &HelperCtx<'_, '_>, ctx: u64) -> Result<(u64, u64), HelperError> {
    Ok((
        rd64(c, ctx.wrapping_add(skb_off::DATA))?,
        rd64(c, ctx.wrapping_add(skb_off::DATA_END))?,
    ))
}

/// Address of `[off, off + len)` in the packet, if inside it.
pub(crate) fn skb_ptr_checked(data: u64, end: u64, off: u64, len: u64) -> Option<u64> {
    let last = off.checked_add(len)?;
    (last <= end.checked_sub(data)?).then_some(data + off)
}

struct Xdp {
    data: u64,
    end: u64,
    meta: u64,
    hard_start: u64,
    frame_sz: u64,
}

fn xdp(c: &HelperCtx<'_, '_>, ctx: u64) -> Result<Xdp, HelperError> {
    let f = |o: u64| rd64(c, ctx.wrapping_add(o));
    Ok(Xdp {
        data: f(xdp_off::DATA)?,
        end: f(xdp_off::DATA_END)?,
        meta: f(xdp_off::DATA_META)?,
        hard_start: f(xdp_off::HARD_START)?,
        frame_sz: f(xdp_off::FRAME_SZ)?,
    })
}

fn adjust_head(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp(c, a[0])?;
    let off = i64::from(a[1] as i32);
    let metalen = x.data.wrapping_sub(x.meta);
    let data_start = x
        .hard_start
        .wrapping_add(XDP_FRAME_SIZE)
        .wrapping_add(metalen);
    let data = x.data.wrapping_add(off as u64);
    if (off < 0 && data > x.data)
        || (off > 0 && data < x.data)
        || data < data_start
        || data > x.end.saturating_sub(ETH_HLEN)
    {
        return Ok(EINVAL);
    }
    let meta = x.meta.wrapping_add(off as u64);
    if metalen != 0 {
        let m = c.read(x.meta, metalen as usize)?;
        c.write(meta, &m)?;
    }
    wr_ptr(c, a[0], 8, xdp_off::DATA_META, meta)?;
    wr_ptr(c, a[0], 0, xdp_off::DATA, data)?;
    Ok(0)
}

fn adjust_tail(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp(c, a[0])?;
    let off = i64::from(a[1] as i32);
    // The context may be any memory the program passed: no arithmetic on it may panic.
    let hard_end = x
        .hard_start
        .wrapping_add(x.frame_sz)
        .wrapping_sub(SKB_SHINFO_SIZE);
    let end = x.end.wrapping_add(off as u64);
    if (off < 0 && end > x.end) || end > hard_end || end < x.data.wrapping_add(ETH_HLEN) {
        return Ok(EINVAL);
    }
    if off > 0 {
        c.check_writable(x.end, off as usize)?;
        c.write(x.end, &vec![0u8; off as usize])?;
    }
    wr_ptr(c, a[0], 4, xdp_off::DATA_END, end)?;
    Ok(0)
}

fn adjust_meta(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let x = xdp(c, a[0])?;
    let off = i64::from(a[1] as i32);
    let meta = x.meta.wrapping_add(off as u64);
    if (off < 0 && meta > x.meta)
        || meta < x.hard_start.wrapping_add(XDP_FRAME_SIZE)
        || meta > x.data
    {
        return Ok(EINVAL);
    }
    let metalen = x.data - meta;
    if metalen & 3 != 0 || metalen > 32 {
        return Ok(-13i64 as u64);
    }
    wr_ptr(c, a[0], 8, xdp_off::DATA_META, meta)?;
    Ok(0)
}

/// `bpf_skb_change_head(skb, head_room, flags)`: pushes `head_room` zero bytes before the
/// data (the new MAC header), growing `len`; `-EINVAL` for flags or a buffer that would
/// grow past `BPF_SKB_MAX_LEN`. The data pointers are recomputed either way.
fn change_head(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let ctx = a[0];
    let head_room = a[1] & 0xffff_ffff;
    let (data, end) = skb_bounds(c, ctx)?;
    let len = end.wrapping_sub(data) & 0xffff_ffff;
    let new_len = (len + head_room) & 0xffff_ffff;
    if a[2] != 0 || new_len > BPF_SKB_MAX_LEN || new_len < len {
        return Ok(EINVAL);
    }
    let new_data = data.wrapping_sub(head_room);
    // The head grows into the frame's reserve; the write is checked like any other.
    let n = usize::try_from(head_room).unwrap_or(usize::MAX);
    c.check_writable(new_data, n)?;
    let zeros = vec![0u8; n];
    c.write(new_data, &zeros)?;
    wr_ptr(c, ctx, skb_off::UAPI_DATA, skb_off::DATA, new_data)?;
    wr_ptr(
        c,
        ctx,
        skb_off::UAPI_DATA_META,
        skb_off::DATA_META,
        new_data,
    )?;
    let old = rd32(c, ctx.wrapping_add(skb_off::LEN))?;
    c.write_context(
        ctx.wrapping_add(skb_off::LEN),
        &old.wrapping_add(head_room as u32).to_ne_bytes(),
    )?;
    Ok(0)
}

fn rd32(c: &HelperCtx<'_, '_>, addr: u64) -> Result<u32, HelperError> {
    let mut b = [0u8; 4];
    c.read_into(addr, &mut b)?;
    Ok(u32::from_ne_bytes(b))
}

/// A redirect a program requested (`bpf_redirect`, `bpf_redirect_map`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Redirect {
    /// Target interface index, or the map key for `bpf_redirect_map`.
    pub target: u64,
    /// The map's name for `bpf_redirect_map`.
    pub map: Option<String>,
    /// The flags passed.
    pub flags: u64,
}

/// Registers the packet and redirect helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        43,
        "bpf_skb_change_head",
        R::Integer,
        &[A::PtrToCtx, A::Anything, A::Anything],
        change_head,
    );
    reg(
        r,
        44,
        "bpf_xdp_adjust_head",
        R::Integer,
        &[A::PtrToCtx, A::Anything],
        adjust_head,
    );
    reg(
        r,
        65,
        "bpf_xdp_adjust_tail",
        R::Integer,
        &[A::PtrToCtx, A::Anything],
        adjust_tail,
    );
    reg(
        r,
        54,
        "bpf_xdp_adjust_meta",
        R::Integer,
        &[A::PtrToCtx, A::Anything],
        adjust_meta,
    );
    // bpf_skb_load_bytes(skb, offset, to, len): -EFAULT and `to` zeroed when out of range.
    reg(
        r,
        26,
        "bpf_skb_load_bytes",
        R::Integer,
        &[A::PtrToCtx, A::Anything, A::PtrToUninitMem, A::ConstSize],
        |c, a| {
            let len = a[3] & 0xffff_ffff;
            // Checked before anything of the program's size is allocated.
            c.check_writable(a[2], len as usize)?;
            let (data, end) = skb_bounds(c, a[0])?;
            let off = a[1] & 0xffff_ffff;
            let bytes = match skb_ptr_checked(data, end, off, len) {
                Some(p) if off <= i32::MAX as u64 => c.read(p, len as usize)?,
                _ => {
                    c.write(a[2], &vec![0u8; len as usize])?;
                    return Ok(EFAULT);
                }
            };
            c.write(a[2], &bytes)?;
            Ok(0)
        },
    );
    // bpf_skb_store_bytes(skb, offset, from, len, flags).
    reg(
        r,
        9,
        "bpf_skb_store_bytes",
        R::Integer,
        &[
            A::PtrToCtx,
            A::Anything,
            A::PtrToMem,
            A::ConstSize,
            A::Anything,
        ],
        |c, a| {
            if a[4] & !3 != 0 {
                return Ok(EINVAL);
            }
            let off = a[1] & 0xffff_ffff;
            if off > i32::MAX as u64 {
                return Ok(EFAULT);
            }
            let len = a[3] & 0xffff_ffff;
            let (data, end) = skb_bounds(c, a[0])?;
            let Some(p) = skb_ptr_checked(data, end, off, len) else {
                return Ok(-12i64 as u64);
            };
            let bytes = c.read(a[2], len as usize)?;
            c.write(p, &bytes)?;
            Ok(0)
        },
    );
    // bpf_skb_pull_data(skb, len): test-run packets are linear, so a pull within the packet
    // succeeds and one past it is -ENOMEM (pskb_may_pull).
    reg(
        r,
        39,
        "bpf_skb_pull_data",
        R::Integer,
        &[A::PtrToCtx, A::Anything],
        |c, a| {
            let (data, end) = skb_bounds(c, a[0])?;
            Ok(if a[1] & 0xffff_ffff <= end.saturating_sub(data) {
                0
            } else {
                -12i64 as u64
            })
        },
    );
    // bpf_get_hash_recalc(skb): the flow hash. The kernel seeds it randomly at boot, so no
    // value is the kernel's; this one is a fixed-seed jhash of the packet's bytes after the
    // Ethernet header (up to 40), never 0 as in the kernel.
    reg(
        r,
        34,
        "bpf_get_hash_recalc",
        R::Integer,
        &[A::PtrToCtx],
        |c, a| {
            let (data, end) = skb_bounds(c, a[0])?;
            let len = end.saturating_sub(data);
            let start = data + 14.min(len);
            let n = (end - start).min(40) as usize;
            let bytes = c.read(start, n)?;
            let h = crate::maps::hash::jhash(&bytes, 0);
            Ok(u64::from(h.max(1)))
        },
    );
    // bpf_csum_update(skb, csum): test-run socket buffers carry no CHECKSUM_COMPLETE sum.
    reg(
        r,
        40,
        "bpf_csum_update",
        R::Integer,
        &[A::PtrToCtx, A::Anything],
        |_, _| Ok(-524i64 as u64),
    );
    // bpf_redirect(ifindex, flags): XDP_REDIRECT (4) / TC_ACT_REDIRECT (7); bad flags give
    // XDP_ABORTED / TC_ACT_SHOT.
    reg(
        r,
        23,
        "bpf_redirect",
        R::Integer,
        &[A::Anything, A::Anything],
        |c, a| {
            let xdp = c.env().prog_type == ProgType::Xdp;
            let bad = if xdp { a[1] != 0 } else { a[1] & !1 != 0 };
            if bad {
                return Ok(if xdp { 0 } else { 2 });
            }
            record(
                c,
                Redirect {
                    target: a[0] & 0xffff_ffff,
                    map: None,
                    flags: a[1],
                },
            );
            Ok(if xdp { 4 } else { 7 })
        },
    );
    // bpf_redirect_map(map, key, flags): XDP_REDIRECT when the map holds a target at the
    // key (or for a devmap broadcast); otherwise the action in the low two flag bits.
    reg(
        r,
        51,
        "bpf_redirect_map",
        R::Integer,
        &[A::ConstMapPtr, A::Anything, A::Anything],
        redirect_map,
    );
}

/// `BPF_F_BROADCAST`.
pub const BPF_F_BROADCAST: u64 = 1 << 3;
/// `BPF_F_EXCLUDE_INGRESS`.
pub const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;

/// `__bpf_xdp_redirect_map` with each map type's flag mask.
fn redirect_map(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(c, a[0])?;
    const ACTIONS: u64 = 3;
    let extra = match map.map_type() {
        MapType::Devmap | MapType::DevmapHash => BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
        MapType::Cpumap | MapType::Xskmap => 0,
        other => {
            return Err(HelperError::Message(format!(
                "bpf_redirect_map on {} map {}, which is not a redirect target map",
                other,
                map.name()
            )))
        }
    };
    let flags = a[2];
    if flags & !(ACTIONS | extra) != 0 {
        return Ok(0);
    }
    let key = a[1] as u32;
    let found = map.redirect_target(key).unwrap_or(false);
    if !found && flags & BPF_F_BROADCAST == 0 {
        return Ok(flags & ACTIONS);
    }
    record(
        c,
        Redirect {
            target: u64::from(key),
            map: Some(map.name().to_string()),
            flags,
        },
    );
    Ok(4)
}

/// The most redirects a run records; the kernel keeps only the last, and a program calling
/// the helper in a loop must not grow host memory without bound.
pub const MAX_REDIRECTS: usize = 1024;

/// Records a redirect, or flags the output limit once [`MAX_REDIRECTS`] are kept.
fn record(c: &mut HelperCtx<'_, '_>, r: Redirect) {
    let env = c.env();
    if env.redirects.len() < MAX_REDIRECTS {
        env.redirects.push(r);
    } else {
        env.output_limit_reached = true;
    }
}
