//! `src_reg` values of `ld_imm64` (`BPF_PSEUDO_*`).

/// `BPF_PSEUDO_MAP_FD`.
pub const MAP_FD: u8 = 1;
/// `BPF_PSEUDO_MAP_VALUE`.
pub const MAP_VALUE: u8 = 2;
/// `BPF_PSEUDO_BTF_ID`.
pub const BTF_ID: u8 = 3;
/// `BPF_PSEUDO_FUNC`.
pub const FUNC: u8 = 4;
/// `BPF_PSEUDO_MAP_IDX`.
pub const MAP_IDX: u8 = 5;
/// `BPF_PSEUDO_MAP_IDX_VALUE`.
pub const MAP_IDX_VALUE: u8 = 6;
/// `BPF_PSEUDO_CALL`: call `src_reg` for a BPF-to-BPF call.
pub const CALL: u8 = 1;
/// `BPF_PSEUDO_KFUNC_CALL`: call `src_reg` for a kfunc.
pub const KFUNC_CALL: u8 = 2;
/// `BPF_MAY_GOTO`: the `src_reg` of a `may_goto`.
pub const MAY_GOTO: u8 = 0;
