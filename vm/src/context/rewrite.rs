//! Load-time rewriting of context pointer loads (the kernel's `convert_ctx_access`).

use super::{skb_off, xdp_off};
use crate::isa::RawInsn;
use crate::program::ProgType;

/// `(uapi offset, private offset)` of the 32-bit fields whose loads read a private copy
/// (XDP's receive queue: the kernel reads it from `xdp->rxq`, not from the input `xdp_md`).
fn redirected_fields(t: ProgType) -> &'static [(i16, i16)] {
    match t {
        ProgType::Xdp => &[
            (xdp_off::INGRESS_IFINDEX as i16, xdp_off::RXQ_IFINDEX as i16),
            (xdp_off::RX_QUEUE_INDEX as i16, xdp_off::RXQ_INDEX as i16),
        ],
        _ => &[],
    }
}

/// `(uapi offset, private offset)` of the pointer fields of a program type's context.
fn pointer_fields(t: ProgType) -> &'static [(i16, i16)] {
    use ProgType::*;
    const XDP: &[(i16, i16)] = &[
        (0, xdp_off::DATA as i16),
        (4, xdp_off::DATA_END as i16),
        (8, xdp_off::DATA_META as i16),
    ];
    const SKB: &[(i16, i16)] = &[
        (skb_off::UAPI_DATA as i16, skb_off::DATA as i16),
        (skb_off::UAPI_DATA_END as i16, skb_off::DATA_END as i16),
        (skb_off::UAPI_DATA_META as i16, skb_off::DATA_META as i16),
    ];
    match t {
        Xdp => XDP,
        SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit | SkSkb => SKB,
        _ => &[],
    }
}

/// Rewrites `LDX W dst, [ctx + f]` of the context's pointer fields (`data`, `data_end`,
/// `data_meta` of `xdp_md` and `__sk_buff`) into `LDX DW dst, [ctx + private]`, so the
/// program gets the full 64-bit pointer, and loads of XDP's receive queue fields into loads
/// of their private copies.
///
/// Which registers hold the context is tracked along the instruction stream: r1 at entry and
/// any register copied from one (`mov64 rX, rY`); a register loses it when written otherwise,
/// and r1-r5 after a call. Only loads straight from such a register are rewritten, as the
/// verifier only accepts context accesses through the unmodified context pointer. The
/// tracking is linear (it does not merge paths at jump targets), which matches compiled code
/// that saves the context once at entry.
pub fn rewrite_ctx_access(prog_type: ProgType, insns: &[RawInsn]) -> Vec<RawInsn> {
    let fields = pointer_fields(prog_type);
    let redirected = redirected_fields(prog_type);
    let mut out = insns.to_vec();
    if fields.is_empty() {
        return out;
    }
    let mut ctx = [false; 16];
    ctx[1] = true;
    let mut skip = false;
    for insn in &mut out {
        if skip {
            skip = false;
            continue;
        }
        let (dst, src) = (usize::from(insn.dst & 15), usize::from(insn.src & 15));
        let class = insn.code & 7;
        match insn.code {
            // LDX W from the context register at a pointer field.
            0x61 if ctx[src] => {
                if let Some(&(_, private)) = fields.iter().find(|f| f.0 == insn.off) {
                    insn.code = 0x79;
                    insn.off = private;
                } else if let Some(&(_, private)) = redirected.iter().find(|f| f.0 == insn.off) {
                    insn.off = private;
                }
                ctx[dst] = false;
            }
            // mov64 dst, src
            0xbf if insn.off == 0 => ctx[dst] = ctx[src],
            // call: r0-r5 clobbered
            0x85 => ctx[..6].fill(false),
            0x18 => {
                ctx[dst] = false;
                skip = true;
            }
            // atomics may write src (fetch) or r0 (cmpxchg)
            0xdb | 0xc3 => {
                ctx[src] = false;
                ctx[0] = false;
            }
            _ if matches!(class, 0 | 1 | 4 | 7) => ctx[dst] = false,
            _ => {}
        }
        if matches!(class, 0) && insn.code != 0x18 {
            ctx[0] = false;
        }
    }
    out
}
