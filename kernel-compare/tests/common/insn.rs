//! Hand-built programs for the kernel differential tests: an instruction constructor, the
//! opcodes the tests use, and a program of a given type.

use bpfbox_vm::{ProgType, Program, RawInsn};

/// One instruction slot.
pub fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn::new(code, dst, src, off, imm)
}

pub const EXIT: u8 = 0x95;
pub const CALL: u8 = 0x85;
pub const MOV64_IMM: u8 = 0xb7;
pub const MOV64_REG: u8 = 0xbf;
pub const ADD64_IMM: u8 = 0x07;
pub const LSH64_IMM: u8 = 0x67;
pub const OR64_REG: u8 = 0x4f;
pub const LDXB: u8 = 0x71;
pub const LDXW: u8 = 0x61;
pub const LDXDW: u8 = 0x79;
pub const STH: u8 = 0x6a;
pub const STW: u8 = 0x62;
pub const STXW: u8 = 0x63;
pub const STXDW: u8 = 0x7b;
pub const JEQ_IMM: u8 = 0x15;
pub const JGT_REG: u8 = 0x2d;
pub const LD_IMM64: u8 = 0x18;
pub const LD_ABS_B: u8 = 0x30;
pub const LD_ABS_H: u8 = 0x28;
pub const LD_ABS_W: u8 = 0x20;
pub const LD_IND_B: u8 = 0x50;

/// A GPL program of type `t` named `name` (syscall programs sleepable, as the kernel
/// requires).
pub fn program(name: &str, t: ProgType, insns: Vec<RawInsn>) -> Program {
    Program {
        name: name.into(),
        section: t.name().into(),
        prog_type: t,
        expected_attach_type: None,
        attach_target: None,
        prog_flags: if t == ProgType::Syscall { 1 << 4 } else { 0 },
        insns,
        license: "GPL".into(),
        kern_version: 0,
        func_info: Vec::new(),
        line_info: Vec::new(),
    }
}
