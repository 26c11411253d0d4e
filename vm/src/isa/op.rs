//! Raw opcode-field constants, as in `include/uapi/linux/bpf.h`.

/// Class `BPF_LD`.
pub const LD: u8 = 0x00;
/// Class `BPF_LDX`.
pub const LDX: u8 = 0x01;
/// Class `BPF_ST`.
pub const ST: u8 = 0x02;
/// Class `BPF_STX`.
pub const STX: u8 = 0x03;
/// Class `BPF_ALU` (32-bit).
pub const ALU: u8 = 0x04;
/// Class `BPF_JMP`.
pub const JMP: u8 = 0x05;
/// Class `BPF_JMP32`.
pub const JMP32: u8 = 0x06;
/// Class `BPF_ALU64`.
pub const ALU64: u8 = 0x07;

/// Source `BPF_K` (immediate).
pub const K: u8 = 0x00;
/// Source `BPF_X` (register).
pub const X: u8 = 0x08;

/// Size `BPF_W`.
pub const W: u8 = 0x00;
/// Size `BPF_H`.
pub const H: u8 = 0x08;
/// Size `BPF_B`.
pub const B: u8 = 0x10;
/// Size `BPF_DW`.
pub const DW: u8 = 0x18;

/// Mode `BPF_IMM`.
pub const IMM: u8 = 0x00;
/// Mode `BPF_ABS`.
pub const ABS: u8 = 0x20;
/// Mode `BPF_IND`.
pub const IND: u8 = 0x40;
/// Mode `BPF_MEM`.
pub const MEM: u8 = 0x60;
/// Mode `BPF_MEMSX`.
pub const MEMSX: u8 = 0x80;
/// Mode `BPF_ATOMIC`.
pub const ATOMIC: u8 = 0xc0;

/// `BPF_JA`.
pub const JA: u8 = 0x00;
/// `BPF_CALL`.
pub const CALL: u8 = 0x80;
/// `BPF_EXIT`.
pub const EXIT: u8 = 0x90;
/// `BPF_JCOND` (may_goto).
pub const JCOND: u8 = 0xe0;
/// `BPF_NEG`.
pub const NEG: u8 = 0x80;
/// `BPF_MOV`.
pub const MOV: u8 = 0xb0;
/// `BPF_END`.
pub const END: u8 = 0xd0;

/// Atomic `BPF_FETCH` flag.
pub const FETCH: i32 = 0x01;
/// Atomic `BPF_XCHG`.
pub const XCHG: i32 = 0xe0 | FETCH;
/// Atomic `BPF_CMPXCHG`.
pub const CMPXCHG: i32 = 0xf0 | FETCH;
/// Atomic `BPF_LOAD_ACQ`.
pub const LOAD_ACQ: i32 = 0x100;
/// Atomic `BPF_STORE_REL`.
pub const STORE_REL: i32 = 0x110;

/// Class of an opcode.
#[inline]
pub fn class(code: u8) -> u8 {
    code & 0x07
}
