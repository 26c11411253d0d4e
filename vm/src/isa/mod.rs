//! Instruction encoding, decoding and static validation.
//!
//! [`RawInsn`] is one 8-byte slot as it sits in memory. [`Insn`] is a decoded instruction:
//! every field the kernel lets vary is kept, every field the kernel requires to be zero is
//! checked, so `Insn::decode` followed by [`Insn::encode`] gives back the same slots. Decoding
//! follows the kernel's rules (opcode table, reserved fields, `ld_imm64` shape) and reports
//! them in the kernel's words, with the instruction index.

use std::fmt;

mod decode;
mod encode;
mod error;
mod operands;

pub use decode::{decode_program, in_insn_table, Decoded};
pub use error::{IsaError, IsaErrorKind};
pub use operands::*;

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;
/// Number of registers a program may name (r0..r10).
pub const NUM_REGS: u8 = 11;
/// The read-only frame pointer.
pub const FRAME_PTR: u8 = 10;

/// Raw opcode-field constants, as in `include/uapi/linux/bpf.h`.
pub mod op;

/// `src_reg` values of `ld_imm64` (`BPF_PSEUDO_*`).
pub mod pseudo;

/// One 8-byte instruction slot, fields unpacked but uninterpreted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RawInsn {
    /// Opcode byte.
    pub code: u8,
    /// Destination register field (low nibble of byte 1).
    pub dst: u8,
    /// Source register field (high nibble of byte 1).
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl RawInsn {
    /// Builds a slot from its fields (`dst` and `src` are truncated to 4 bits on encoding).
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        RawInsn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Unpacks a little-endian slot.
    pub fn from_bytes(b: [u8; 8]) -> Self {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Packs the slot little-endian.
    pub fn to_bytes(self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }

    /// The slot as one little-endian 64-bit word (the conformance `-- raw` form).
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    /// The slot from one little-endian 64-bit word.
    pub fn from_u64(w: u64) -> Self {
        Self::from_bytes(w.to_le_bytes())
    }
}

/// Splits bytecode into slots. The length must be a multiple of 8.
pub fn slots_from_bytes(bytes: &[u8]) -> Result<Vec<RawInsn>, IsaError> {
    let trailing = bytes.len() % INSN_SIZE;
    if trailing != 0 {
        return Err(IsaError::new(
            bytes.len() / INSN_SIZE,
            IsaErrorKind::TrailingBytes(trailing),
        ));
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            RawInsn::from_bytes(a)
        })
        .collect())
}

/// Packs slots into bytecode.
pub fn slots_to_bytes(slots: &[RawInsn]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_bytes()).collect()
}

/// A decoded, validated instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Insn {
    /// Two-operand ALU operation.
    Alu {
        /// 32- or 64-bit.
        width: Width,
        /// Operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: u8,
        /// Second operand.
        src: Src,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit.
        width: Width,
        /// Register.
        dst: u8,
    },
    /// Byte swap / endianness conversion of the low `bits` (16, 32 or 64).
    End {
        /// Which conversion.
        kind: EndKind,
        /// 16, 32 or 64.
        bits: u8,
        /// Register.
        dst: u8,
    },
    /// `addr_space_cast` between arena address spaces (ALU64 mov with off = 1).
    AddrSpaceCast {
        /// Destination.
        dst: u8,
        /// Source.
        src: u8,
        /// `1` (as(1) to as(0)) or `1 << 16` (as(0) to as(1)).
        imm: i32,
    },
    /// Unconditional jump: `ja` (16-bit offset) or `gotol` (32-bit offset in imm).
    Ja {
        /// Slots relative to the next instruction.
        off: i32,
        /// `gotol` (JMP32 class, offset in imm).
        long: bool,
    },
    /// `may_goto`: jumps once the loop budget is exhausted, else falls through.
    MayGoto {
        /// Slots relative to the next instruction.
        off: i16,
    },
    /// Conditional jump.
    Jmp {
        /// 32- or 64-bit comparison.
        width: Width,
        /// Predicate.
        cond: JmpCond,
        /// First operand.
        dst: u8,
        /// Second operand.
        src: Src,
        /// Slots relative to the next instruction.
        off: i16,
    },
    /// Call of a helper, local function or kfunc.
    Call(CallTarget),
    /// Call through a register holding a helper id (`callx`, opcode 0x8d, register in dst).
    Callx {
        /// Register holding the target.
        reg: u8,
    },
    /// Return from the current function. The kernel ignores `off` (it checks only `imm`,
    /// `src` and `dst`), and it is kept so that decoding and encoding round-trip.
    Exit {
        /// The ignored offset field.
        off: i16,
    },
    /// 64-bit immediate load, occupying two slots.
    LdImm64 {
        /// Destination.
        dst: u8,
        /// What the immediate means.
        kind: LdImm64Kind,
        /// Low half from the first slot's imm, high half from the second's.
        imm: u64,
    },
    /// `dst = *(size *)(src + off)`, zero-extended.
    Ldx {
        /// Access size.
        size: Size,
        /// Destination.
        dst: u8,
        /// Base register.
        src: u8,
        /// Offset.
        off: i16,
    },
    /// `dst = *(s8/s16/s32 *)(src + off)`, sign-extended.
    LdxSx {
        /// Access size (B, H or W).
        size: Size,
        /// Destination.
        dst: u8,
        /// Base register.
        src: u8,
        /// Offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = imm`.
    St {
        /// Access size.
        size: Size,
        /// Base register.
        dst: u8,
        /// Offset.
        off: i16,
        /// Value (truncated to the size; sign-extended for DW).
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    Stx {
        /// Access size.
        size: Size,
        /// Base register.
        dst: u8,
        /// Value register.
        src: u8,
        /// Offset.
        off: i16,
    },
    /// Atomic operation on `*(size *)(dst + off)`.
    Atomic {
        /// W or DW for read-modify-write; any size for acquire/release.
        size: Size,
        /// Operation.
        op: AtomicOp,
        /// Base register (or destination, for load-acquire: see [`AtomicOp::LoadAcquire`]).
        dst: u8,
        /// Operand register.
        src: u8,
        /// Offset.
        off: i16,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)(skb->data + imm))`.
    LdAbs {
        /// B, H or W.
        size: Size,
        /// Packet offset.
        imm: i32,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)(skb->data + src + imm))`.
    LdInd {
        /// B, H or W.
        size: Size,
        /// Offset register.
        src: u8,
        /// Added offset.
        imm: i32,
    },
}

impl Insn {
    /// `exit` as compilers emit it (offset 0).
    pub const EXIT: Insn = Insn::Exit { off: 0 };

    /// Number of slots the instruction occupies (2 for `ld_imm64`, else 1).
    #[inline]
    pub fn slots(&self) -> usize {
        match self {
            Insn::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The jump target slot of a jump at `pc`, if this is a jump (not a call).
    pub fn jump_target(&self, pc: usize) -> Option<i64> {
        let next = pc as i64 + 1;
        match *self {
            Insn::Ja { off, .. } => Some(next + off as i64),
            Insn::Jmp { off, .. } | Insn::MayGoto { off } => Some(next + off as i64),
            _ => None,
        }
    }

    /// The callee slot of a BPF-to-BPF call (or `ld_imm64` of a function) at `pc`.
    pub fn local_call_target(&self, pc: usize) -> Option<i64> {
        match *self {
            Insn::Call(CallTarget::Local(imm)) => Some(pc as i64 + 1 + imm as i64),
            Insn::LdImm64 {
                kind: LdImm64Kind::Func,
                imm,
                ..
            } => Some(pc as i64 + 1 + imm as u32 as i32 as i64),
            _ => None,
        }
    }
}

impl fmt::Display for Width {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Width::W32 => "32",
            Width::W64 => "64",
        })
    }
}
