//! `struct xdp_md`, as `xdp_is_valid_access` sees it.

use super::{CtxError, Field};
use crate::state::RegType;

/// `BPF_XDP_DEVMAP`: only these programs may read `egress_ifindex`.
const XDP_DEVMAP: u32 = 38;
const DATA: i32 = 0;
const DATA_END: i32 = 4;
const DATA_META: i32 = 8;
const EGRESS_IFINDEX: i32 = 20;
const SIZE: i32 = 24;

pub(super) fn access(
    attach: Option<u32>,
    off: i32,
    size: u32,
    write: bool,
) -> Result<Field, CtxError> {
    let invalid = Err(CtxError::Invalid { off, size });
    if off == EGRESS_IFINDEX && attach != Some(XDP_DEVMAP) {
        return invalid;
    }
    if write || !(0..SIZE).contains(&off) || off % size as i32 != 0 || size != 4 {
        return invalid;
    }
    Ok(match off {
        DATA => Field::Pointer(RegType::Packet),
        DATA_END => Field::Pointer(RegType::PacketEnd),
        DATA_META => Field::Pointer(RegType::PacketMeta),
        _ => Field::Scalar,
    })
}
