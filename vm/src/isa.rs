//! Instruction encoding, decoding and static validation.
//!
//! [`RawInsn`] is one 8-byte slot as it sits in memory. [`Insn`] is a decoded instruction:
//! every field the kernel lets vary is kept, every field the kernel requires to be zero is
//! checked, so `Insn::decode` followed by [`Insn::encode`] gives back the same slots. Decoding
//! follows the kernel's rules (opcode table, reserved fields, `ld_imm64` shape) and reports
//! them in the kernel's words, with the instruction index.

use std::fmt;

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;
/// Number of registers a program may name (r0..r10).
pub const NUM_REGS: u8 = 11;
/// The read-only frame pointer.
pub const FRAME_PTR: u8 = 10;

/// Raw opcode-field constants, as in `include/uapi/linux/bpf.h`.
pub mod op {
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
}

/// `src_reg` values of `ld_imm64` (`BPF_PSEUDO_*`).
pub mod pseudo {
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
}

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

/// Operand width of ALU and jump instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Width {
    /// 32-bit (`BPF_ALU`, `BPF_JMP32`): operands are the low halves, results zero-extend.
    W32,
    /// 64-bit (`BPF_ALU64`, `BPF_JMP`).
    W64,
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// Size in bytes.
    #[inline]
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    fn from_code(code: u8) -> Size {
        match code & 0x18 {
            op::W => Size::W,
            op::H => Size::H,
            op::B => Size::B,
            _ => Size::DW,
        }
    }

    fn code(self) -> u8 {
        match self {
            Size::W => op::W,
            Size::H => op::H,
            Size::B => op::B,
            Size::DW => op::DW,
        }
    }
}

/// Second operand of ALU and conditional-jump instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Src {
    /// A register (`BPF_X`).
    Reg(u8),
    /// A 32-bit immediate (`BPF_K`), sign-extended for 64-bit operations.
    Imm(i32),
}

/// ALU operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum AluOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// Unsigned `/` (x / 0 = 0).
    Div,
    /// Signed `/` (off = 1).
    SDiv,
    /// `|`
    Or,
    /// `&`
    And,
    /// `<<` (count masked).
    Lsh,
    /// Logical `>>` (count masked).
    Rsh,
    /// Unsigned `%` (x % 0 = x).
    Mod,
    /// Signed `%` (off = 1).
    SMod,
    /// `^`
    Xor,
    /// Move.
    Mov,
    /// Sign-extending move of the low 8, 16 or 32 bits (off = 8/16/32, register source only).
    MovSx(u8),
    /// Arithmetic `>>` (count masked).
    Arsh,
}

impl AluOp {
    /// Every operation with a register or immediate operand (all but `MovSx`, whose width
    /// is a parameter), in opcode order.
    pub const BINARY: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

    fn code(self) -> u8 {
        match self {
            AluOp::Add => 0x00,
            AluOp::Sub => 0x10,
            AluOp::Mul => 0x20,
            AluOp::Div | AluOp::SDiv => 0x30,
            AluOp::Or => 0x40,
            AluOp::And => 0x50,
            AluOp::Lsh => 0x60,
            AluOp::Rsh => 0x70,
            AluOp::Mod | AluOp::SMod => 0x90,
            AluOp::Xor => 0xa0,
            AluOp::Mov | AluOp::MovSx(_) => 0xb0,
            AluOp::Arsh => 0xc0,
        }
    }

    fn off(self) -> i16 {
        match self {
            AluOp::SDiv | AluOp::SMod => 1,
            AluOp::MovSx(b) => b as i16,
            _ => 0,
        }
    }
}

/// Byte-order operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EndKind {
    /// `le16/32/64`: convert to little-endian (truncates on a little-endian host).
    ToLe,
    /// `be16/32/64`: convert to big-endian.
    ToBe,
    /// `bswap16/32/64`: unconditional swap (ALU64 class, v4).
    Swap,
}

/// Conditional jump predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum JmpCond {
    /// `==`
    Eq,
    /// Unsigned `>`
    Gt,
    /// Unsigned `>=`
    Ge,
    /// `&` is non-zero
    Set,
    /// `!=`
    Ne,
    /// Signed `>`
    Sgt,
    /// Signed `>=`
    Sge,
    /// Unsigned `<`
    Lt,
    /// Unsigned `<=`
    Le,
    /// Signed `<`
    Slt,
    /// Signed `<=`
    Sle,
}

impl JmpCond {
    /// All conditions, in opcode order.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];

    fn from_op(opv: u8) -> Option<JmpCond> {
        Some(match opv {
            0x10 => JmpCond::Eq,
            0x20 => JmpCond::Gt,
            0x30 => JmpCond::Ge,
            0x40 => JmpCond::Set,
            0x50 => JmpCond::Ne,
            0x60 => JmpCond::Sgt,
            0x70 => JmpCond::Sge,
            0xa0 => JmpCond::Lt,
            0xb0 => JmpCond::Le,
            0xc0 => JmpCond::Slt,
            0xd0 => JmpCond::Sle,
            _ => return None,
        })
    }

    /// The opcode's operation nibble.
    pub fn code(self) -> u8 {
        match self {
            JmpCond::Eq => 0x10,
            JmpCond::Gt => 0x20,
            JmpCond::Ge => 0x30,
            JmpCond::Set => 0x40,
            JmpCond::Ne => 0x50,
            JmpCond::Sgt => 0x60,
            JmpCond::Sge => 0x70,
            JmpCond::Lt => 0xa0,
            JmpCond::Le => 0xb0,
            JmpCond::Slt => 0xc0,
            JmpCond::Sle => 0xd0,
        }
    }

    /// The C operator the kernel's disassembler prints (`s>` for signed).
    pub fn c_op(self) -> &'static str {
        match self {
            JmpCond::Eq => "==",
            JmpCond::Gt => ">",
            JmpCond::Ge => ">=",
            JmpCond::Set => "&",
            JmpCond::Ne => "!=",
            JmpCond::Sgt => "s>",
            JmpCond::Sge => "s>=",
            JmpCond::Lt => "<",
            JmpCond::Le => "<=",
            JmpCond::Slt => "s<",
            JmpCond::Sle => "s<=",
        }
    }

    /// The conformance-syntax mnemonic (`jeq`, `jsgt`, ...).
    pub fn mnemonic(self) -> &'static str {
        match self {
            JmpCond::Eq => "jeq",
            JmpCond::Gt => "jgt",
            JmpCond::Ge => "jge",
            JmpCond::Set => "jset",
            JmpCond::Ne => "jne",
            JmpCond::Sgt => "jsgt",
            JmpCond::Sge => "jsge",
            JmpCond::Lt => "jlt",
            JmpCond::Le => "jle",
            JmpCond::Slt => "jslt",
            JmpCond::Sle => "jsle",
        }
    }
}

/// Atomic read-modify-write, load-acquire and store-release operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum AtomicOp {
    /// `+=`, optionally fetching the old value into `src`.
    Add {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `|=`.
    Or {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `&=`.
    And {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `^=`.
    Xor {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// Exchange: `src` gets the old value.
    Xchg,
    /// Compare with r0 and exchange; r0 gets the old value.
    Cmpxchg,
    /// `dst = load_acquire(*(src + off))` (note: registers as in the kernel's encoding).
    LoadAcquire,
    /// `store_release(*(dst + off), src)`.
    StoreRelease,
}

impl AtomicOp {
    fn from_imm(imm: i32) -> Option<AtomicOp> {
        let fetch = imm & op::FETCH != 0;
        Some(match imm {
            0x00 | 0x01 => AtomicOp::Add { fetch },
            0x40 | 0x41 => AtomicOp::Or { fetch },
            0x50 | 0x51 => AtomicOp::And { fetch },
            0xa0 | 0xa1 => AtomicOp::Xor { fetch },
            op::XCHG => AtomicOp::Xchg,
            op::CMPXCHG => AtomicOp::Cmpxchg,
            op::LOAD_ACQ => AtomicOp::LoadAcquire,
            op::STORE_REL => AtomicOp::StoreRelease,
            _ => return None,
        })
    }

    /// The `imm` encoding.
    pub fn imm(self) -> i32 {
        let f = |fetch: bool| if fetch { op::FETCH } else { 0 };
        match self {
            AtomicOp::Add { fetch } => f(fetch),
            AtomicOp::Or { fetch } => 0x40 | f(fetch),
            AtomicOp::And { fetch } => 0x50 | f(fetch),
            AtomicOp::Xor { fetch } => 0xa0 | f(fetch),
            AtomicOp::Xchg => op::XCHG,
            AtomicOp::Cmpxchg => op::CMPXCHG,
            AtomicOp::LoadAcquire => op::LOAD_ACQ,
            AtomicOp::StoreRelease => op::STORE_REL,
        }
    }

    /// Whether the instruction writes a register with the old memory value.
    pub fn fetches(self) -> bool {
        match self {
            AtomicOp::Add { fetch }
            | AtomicOp::Or { fetch }
            | AtomicOp::And { fetch }
            | AtomicOp::Xor { fetch } => fetch,
            AtomicOp::Xchg | AtomicOp::Cmpxchg => true,
            AtomicOp::LoadAcquire | AtomicOp::StoreRelease => false,
        }
    }
}

/// What a `call` instruction targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum CallTarget {
    /// A helper by id (`src_reg = 0`).
    Helper(i32),
    /// A BPF-to-BPF call, `imm` slots relative to the next instruction (`src_reg = 1`).
    Local(i32),
    /// A kfunc by BTF id; `off` indexes the module BTF in `fd_array` (`src_reg = 2`).
    Kfunc {
        /// BTF id of the kernel function.
        btf_id: i32,
        /// Module BTF index (0 for vmlinux).
        off: i16,
    },
}

/// What the 64-bit immediate of `ld_imm64` means (`src_reg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum LdImm64Kind {
    /// A plain 64-bit constant.
    Imm,
    /// A map by file descriptor (low half = fd).
    MapFd,
    /// Address of a map value: low half = fd, high half = offset.
    MapValue,
    /// Address of a kernel variable by BTF id.
    BtfId,
    /// Address of a subprogram, low half = relative slot offset.
    Func,
    /// A map by index into `fd_array`.
    MapIdx,
    /// Address of a map value by index: low half = index, high half = offset.
    MapIdxValue,
}

impl LdImm64Kind {
    fn from_src(src: u8) -> Option<Self> {
        Some(match src {
            0 => LdImm64Kind::Imm,
            pseudo::MAP_FD => LdImm64Kind::MapFd,
            pseudo::MAP_VALUE => LdImm64Kind::MapValue,
            pseudo::BTF_ID => LdImm64Kind::BtfId,
            pseudo::FUNC => LdImm64Kind::Func,
            pseudo::MAP_IDX => LdImm64Kind::MapIdx,
            pseudo::MAP_IDX_VALUE => LdImm64Kind::MapIdxValue,
            _ => return None,
        })
    }

    /// The `src_reg` encoding.
    pub fn src(self) -> u8 {
        match self {
            LdImm64Kind::Imm => 0,
            LdImm64Kind::MapFd => pseudo::MAP_FD,
            LdImm64Kind::MapValue => pseudo::MAP_VALUE,
            LdImm64Kind::BtfId => pseudo::BTF_ID,
            LdImm64Kind::Func => pseudo::FUNC,
            LdImm64Kind::MapIdx => pseudo::MAP_IDX,
            LdImm64Kind::MapIdxValue => pseudo::MAP_IDX_VALUE,
        }
    }
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

/// Why a program or instruction was refused, with the kernel's wording where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IsaErrorKind {
    /// Bytecode length is not a multiple of 8.
    #[error("program length is not a multiple of 8 ({0} trailing bytes)")]
    TrailingBytes(usize),
    /// The program has no instructions.
    #[error("empty program")]
    Empty,
    /// Opcode not in the kernel's instruction table.
    #[error("unknown opcode {0:02x}")]
    UnknownOpcode(u8),
    /// A register number above r10.
    #[error("R{0} is invalid")]
    InvalidReg(u8),
    /// An instruction writes r10.
    #[error("frame pointer is read only")]
    FramePointerWrite,
    /// Reserved fields set, in the kernel's words (`BPF_ALU uses reserved fields`, ...).
    #[error("{0} uses reserved fields")]
    Reserved(&'static str),
    /// Invalid ALU operation nibble.
    #[error("invalid BPF_ALU opcode {0:x}")]
    InvalidAluOp(u8),
    /// Invalid jump operation nibble.
    #[error("invalid BPF_JMP/JMP32 opcode {0:x}")]
    InvalidJmpOp(u8),
    /// Malformed `may_goto`.
    #[error("invalid may_goto off {off} imm {imm}")]
    InvalidMayGoto {
        /// The offset field.
        off: i16,
        /// The imm field.
        imm: i32,
    },
    /// `addr_space_cast` with an unsupported immediate.
    #[error("addr_space_cast insn can only convert between address space 1 and 0")]
    AddrSpaceCast,
    /// Unknown atomic operation.
    #[error("BPF_ATOMIC uses invalid atomic opcode {0:02x}")]
    InvalidAtomicOp(i32),
    /// Read-modify-write atomic of size B or H.
    #[error("invalid atomic operand size")]
    InvalidAtomicSize,
    /// `ld_imm64` whose size is not DW.
    #[error("invalid BPF_LD_IMM insn")]
    InvalidLdImm,
    /// `ld_imm64` missing or malformed second slot.
    #[error("invalid bpf_ld_imm64 insn")]
    InvalidLdImm64,
    /// `ld_imm64` with an unknown pseudo source.
    #[error("unrecognized bpf_ld_imm64 insn")]
    UnrecognizedLdImm64,
    /// A jump leaves the program (or its subprogram).
    #[error("jump out of range from insn {from} to {to}")]
    JumpOutOfRange {
        /// Jumping instruction.
        from: usize,
        /// Target slot.
        to: i64,
    },
    /// A jump lands on the second slot of an `ld_imm64`.
    #[error("jump into the middle of ldimm64 insn {0}")]
    JumpIntoLdImm64(usize),
    /// A local call targets a slot outside the program.
    #[error("call to invalid destination")]
    InvalidCallTarget,
    /// The last instruction of a subprogram can fall through.
    #[error("last insn is not an exit or jmp")]
    LastInsnNotExit,
}

impl IsaErrorKind {
    /// Whether the kernel finds this fault only on a path its verifier walks (`do_check`:
    /// register numbers, `r10` writes, most reserved fields) rather than in its passes over
    /// every instruction before the walk (`resolve_pseudo_ldimm64`, `check_subprogs`,
    /// `check_cfg`: opcodes, `BPF_LDX` fields, the `ld_imm64` shape, jump ranges). Code the
    /// walk never reaches may hold the first kind and the program still loads.
    pub fn checked_when_walked(&self) -> bool {
        match self {
            IsaErrorKind::InvalidReg(_)
            | IsaErrorKind::FramePointerWrite
            | IsaErrorKind::InvalidAluOp(_)
            | IsaErrorKind::InvalidJmpOp(_)
            | IsaErrorKind::InvalidMayGoto { .. }
            | IsaErrorKind::AddrSpaceCast
            | IsaErrorKind::InvalidAtomicOp(_)
            | IsaErrorKind::InvalidAtomicSize
            | IsaErrorKind::InvalidLdImm => true,
            IsaErrorKind::Reserved(what) => *what != "BPF_LDX",
            _ => false,
        }
    }
}

/// A decoding or validation error at an instruction index (in slots).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("insn {pc}: {kind}")]
pub struct IsaError {
    /// Index of the offending slot.
    pub pc: usize,
    /// What is wrong.
    pub kind: IsaErrorKind,
}

impl IsaError {
    /// An error at `pc`.
    pub fn new(pc: usize, kind: IsaErrorKind) -> Self {
        IsaError { pc, kind }
    }
}

fn reg(r: u8) -> Result<u8, IsaErrorKind> {
    if r >= NUM_REGS {
        Err(IsaErrorKind::InvalidReg(r))
    } else {
        Ok(r)
    }
}

fn wreg(r: u8) -> Result<u8, IsaErrorKind> {
    let r = reg(r)?;
    if r == FRAME_PTR {
        Err(IsaErrorKind::FramePointerWrite)
    } else {
        Ok(r)
    }
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

    /// Decodes the instruction starting at `slots[pc]`, with the kernel's per-instruction rules.
    pub fn decode(slots: &[RawInsn], pc: usize) -> Result<Insn, IsaError> {
        let Some(&r) = slots.get(pc) else {
            return Err(IsaError::new(pc, IsaErrorKind::InvalidLdImm64));
        };
        Self::decode_one(r, slots.get(pc + 1).copied()).map_err(|k| IsaError::new(pc, k))
    }

    fn decode_one(r: RawInsn, next: Option<RawInsn>) -> Result<Insn, IsaErrorKind> {
        let code = r.code;
        match op::class(code) {
            op::ALU | op::ALU64 => Self::decode_alu(r),
            op::JMP | op::JMP32 => Self::decode_jmp(r),
            op::LDX => {
                let mode = code & 0xe0;
                if (mode != op::MEM && mode != op::MEMSX) || r.imm != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_LDX"));
                }
                let size = Size::from_code(code);
                if mode == op::MEMSX && size == Size::DW {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                let src = reg(r.src)?;
                let dst = wreg(r.dst)?;
                if mode == op::MEM {
                    Ok(Insn::Ldx {
                        size,
                        dst,
                        src,
                        off: r.off,
                    })
                } else {
                    Ok(Insn::LdxSx {
                        size,
                        dst,
                        src,
                        off: r.off,
                    })
                }
            }
            op::ST => {
                if code & 0xe0 != op::MEM {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_ST"));
                }
                Ok(Insn::St {
                    size: Size::from_code(code),
                    dst: reg(r.dst)?,
                    off: r.off,
                    imm: r.imm,
                })
            }
            op::STX => {
                let mode = code & 0xe0;
                let size = Size::from_code(code);
                if mode == op::ATOMIC {
                    let aop =
                        AtomicOp::from_imm(r.imm).ok_or(IsaErrorKind::InvalidAtomicOp(r.imm))?;
                    let acq_rel = matches!(aop, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
                    if !acq_rel && size != Size::W && size != Size::DW {
                        return Err(if matches!(size, Size::B | Size::H) {
                            IsaErrorKind::InvalidAtomicSize
                        } else {
                            IsaErrorKind::UnknownOpcode(code)
                        });
                    }
                    let (dst, src) = match aop {
                        // The loaded value goes to dst; src is the base.
                        AtomicOp::LoadAcquire => (wreg(r.dst)?, reg(r.src)?),
                        AtomicOp::Cmpxchg => (reg(r.dst)?, reg(r.src)?),
                        _ if aop.fetches() => (reg(r.dst)?, wreg(r.src)?),
                        _ => (reg(r.dst)?, reg(r.src)?),
                    };
                    return Ok(Insn::Atomic {
                        size,
                        op: aop,
                        dst,
                        src,
                        off: r.off,
                    });
                }
                if mode != op::MEM {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.imm != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_STX"));
                }
                Ok(Insn::Stx {
                    size,
                    dst: reg(r.dst)?,
                    src: reg(r.src)?,
                    off: r.off,
                })
            }
            _ => {
                // BPF_LD
                let mode = code & 0xe0;
                let size = Size::from_code(code);
                match mode {
                    op::IMM => {
                        if size != Size::DW {
                            return Err(IsaErrorKind::UnknownOpcode(code));
                        }
                        let Some(n) = next else {
                            return Err(IsaErrorKind::InvalidLdImm64);
                        };
                        if n.code != 0 || n.dst != 0 || n.src != 0 || n.off != 0 {
                            return Err(IsaErrorKind::InvalidLdImm64);
                        }
                        let kind = LdImm64Kind::from_src(r.src)
                            .ok_or(IsaErrorKind::UnrecognizedLdImm64)?;
                        if matches!(kind, LdImm64Kind::MapFd | LdImm64Kind::MapIdx) && n.imm != 0 {
                            return Err(IsaErrorKind::UnrecognizedLdImm64);
                        }
                        if r.off != 0 {
                            return Err(IsaErrorKind::Reserved("BPF_LD_IMM64"));
                        }
                        Ok(Insn::LdImm64 {
                            dst: wreg(r.dst)?,
                            kind,
                            imm: (r.imm as u32 as u64) | ((n.imm as u32 as u64) << 32),
                        })
                    }
                    op::ABS | op::IND => {
                        if size == Size::DW {
                            return Err(IsaErrorKind::UnknownOpcode(code));
                        }
                        if r.dst != 0 || r.off != 0 || (mode == op::ABS && r.src != 0) {
                            return Err(IsaErrorKind::Reserved("BPF_LD_[ABS|IND]"));
                        }
                        if mode == op::ABS {
                            Ok(Insn::LdAbs { size, imm: r.imm })
                        } else {
                            Ok(Insn::LdInd {
                                size,
                                src: reg(r.src)?,
                                imm: r.imm,
                            })
                        }
                    }
                    _ => Err(IsaErrorKind::UnknownOpcode(code)),
                }
            }
        }
    }

    fn decode_alu(r: RawInsn) -> Result<Insn, IsaErrorKind> {
        let code = r.code;
        let width = if op::class(code) == op::ALU64 {
            Width::W64
        } else {
            Width::W32
        };
        let is_x = code & op::X != 0;
        let opv = code & 0xf0;
        match opv {
            op::NEG => {
                if is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != 0 || r.off != 0 || r.imm != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_NEG"));
                }
                Ok(Insn::Neg {
                    width,
                    dst: wreg(r.dst)?,
                })
            }
            op::END => {
                let kind = match (width, is_x) {
                    (Width::W32, false) => EndKind::ToLe,
                    (Width::W32, true) => EndKind::ToBe,
                    (Width::W64, false) => EndKind::Swap,
                    (Width::W64, true) => return Err(IsaErrorKind::UnknownOpcode(code)),
                };
                if r.src != 0 || r.off != 0 || !matches!(r.imm, 16 | 32 | 64) {
                    return Err(IsaErrorKind::Reserved("BPF_END"));
                }
                Ok(Insn::End {
                    kind,
                    bits: r.imm as u8,
                    dst: wreg(r.dst)?,
                })
            }
            op::MOV => {
                if is_x {
                    let aop = match (width, r.off) {
                        (Width::W32, 0) | (Width::W64, 0) if r.imm == 0 => AluOp::Mov,
                        (Width::W32, 8 | 16) | (Width::W64, 8 | 16 | 32) if r.imm == 0 => {
                            AluOp::MovSx(r.off as u8)
                        }
                        (Width::W64, 1) => {
                            if r.imm != 1 && r.imm != 1 << 16 {
                                return Err(IsaErrorKind::AddrSpaceCast);
                            }
                            return Ok(Insn::AddrSpaceCast {
                                dst: wreg(r.dst)?,
                                src: reg(r.src)?,
                                imm: r.imm,
                            });
                        }
                        _ => return Err(IsaErrorKind::Reserved("BPF_MOV")),
                    };
                    let src = reg(r.src)?;
                    Ok(Insn::Alu {
                        width,
                        op: aop,
                        dst: wreg(r.dst)?,
                        src: Src::Reg(src),
                    })
                } else {
                    if r.src != 0 || r.off != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_MOV"));
                    }
                    Ok(Insn::Alu {
                        width,
                        op: AluOp::Mov,
                        dst: wreg(r.dst)?,
                        src: Src::Imm(r.imm),
                    })
                }
            }
            0xe0 | 0xf0 => Err(IsaErrorKind::UnknownOpcode(code)),
            _ => {
                let signed = match r.off {
                    0 => false,
                    1 if opv == 0x30 || opv == 0x90 => true,
                    _ => return Err(IsaErrorKind::Reserved("BPF_ALU")),
                };
                let aop = match (opv, signed) {
                    (0x00, _) => AluOp::Add,
                    (0x10, _) => AluOp::Sub,
                    (0x20, _) => AluOp::Mul,
                    (0x30, false) => AluOp::Div,
                    (0x30, true) => AluOp::SDiv,
                    (0x40, _) => AluOp::Or,
                    (0x50, _) => AluOp::And,
                    (0x60, _) => AluOp::Lsh,
                    (0x70, _) => AluOp::Rsh,
                    (0x90, false) => AluOp::Mod,
                    (0x90, true) => AluOp::SMod,
                    (0xa0, _) => AluOp::Xor,
                    (0xc0, _) => AluOp::Arsh,
                    _ => return Err(IsaErrorKind::InvalidAluOp(opv)),
                };
                let src = if is_x {
                    if r.imm != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_ALU"));
                    }
                    Src::Reg(reg(r.src)?)
                } else {
                    if r.src != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_ALU"));
                    }
                    Src::Imm(r.imm)
                };
                Ok(Insn::Alu {
                    width,
                    op: aop,
                    dst: wreg(r.dst)?,
                    src,
                })
            }
        }
    }

    fn decode_jmp(r: RawInsn) -> Result<Insn, IsaErrorKind> {
        let code = r.code;
        let jmp32 = op::class(code) == op::JMP32;
        let is_x = code & op::X != 0;
        let opv = code & 0xf0;
        let width = if jmp32 { Width::W32 } else { Width::W64 };
        match opv {
            op::JA => {
                if is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != 0 || r.dst != 0 || (!jmp32 && r.imm != 0) || (jmp32 && r.off != 0) {
                    return Err(IsaErrorKind::Reserved("BPF_JA"));
                }
                Ok(if jmp32 {
                    Insn::Ja {
                        off: r.imm,
                        long: true,
                    }
                } else {
                    Insn::Ja {
                        off: r.off as i32,
                        long: false,
                    }
                })
            }
            op::CALL => {
                if jmp32 {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if is_x {
                    // callx: register in dst, everything else reserved.
                    if r.src != 0 || r.off != 0 || r.imm != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_CALL"));
                    }
                    return Ok(Insn::Callx { reg: reg(r.dst)? });
                }
                if (r.src != pseudo::KFUNC_CALL && r.off != 0)
                    || (r.src != 0 && r.src != pseudo::CALL && r.src != pseudo::KFUNC_CALL)
                    || r.dst != 0
                {
                    return Err(IsaErrorKind::Reserved("BPF_CALL"));
                }
                Ok(Insn::Call(match r.src {
                    0 => CallTarget::Helper(r.imm),
                    pseudo::CALL => CallTarget::Local(r.imm),
                    _ => CallTarget::Kfunc {
                        btf_id: r.imm,
                        off: r.off,
                    },
                }))
            }
            op::EXIT => {
                if jmp32 || is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.imm != 0 || r.src != 0 || r.dst != 0 {
                    return Err(IsaErrorKind::Reserved("BPF_EXIT"));
                }
                Ok(Insn::Exit { off: r.off })
            }
            op::JCOND => {
                if jmp32 || is_x {
                    return Err(IsaErrorKind::UnknownOpcode(code));
                }
                if r.src != pseudo::MAY_GOTO || r.dst != 0 || r.imm != 0 || r.off == 0 {
                    return Err(IsaErrorKind::InvalidMayGoto {
                        off: r.off,
                        imm: r.imm,
                    });
                }
                Ok(Insn::MayGoto { off: r.off })
            }
            _ => {
                let cond = JmpCond::from_op(opv).ok_or(IsaErrorKind::UnknownOpcode(code))?;
                let dst = reg(r.dst)?;
                let src = if is_x {
                    if r.imm != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_JMP/JMP32"));
                    }
                    Src::Reg(reg(r.src)?)
                } else {
                    if r.src != 0 {
                        return Err(IsaErrorKind::Reserved("BPF_JMP/JMP32"));
                    }
                    Src::Imm(r.imm)
                };
                Ok(Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off: r.off,
                })
            }
        }
    }

    /// Encodes the instruction into its slot (and the second slot for `ld_imm64`).
    pub fn encode(&self) -> ([RawInsn; 2], usize) {
        let one = |r: RawInsn| ([r, RawInsn::default()], 1);
        match *self {
            Insn::Alu {
                width,
                op: aop,
                dst,
                src,
            } => {
                let class = match width {
                    Width::W32 => op::ALU,
                    Width::W64 => op::ALU64,
                };
                let (s, sreg, imm) = match src {
                    Src::Reg(r) => (op::X, r, 0),
                    Src::Imm(i) => (op::K, 0, i),
                };
                one(RawInsn::new(
                    class | s | aop.code(),
                    dst,
                    sreg,
                    aop.off(),
                    imm,
                ))
            }
            Insn::Neg { width, dst } => {
                let class = if width == Width::W64 {
                    op::ALU64
                } else {
                    op::ALU
                };
                one(RawInsn::new(class | op::NEG, dst, 0, 0, 0))
            }
            Insn::End { kind, bits, dst } => {
                let code = match kind {
                    EndKind::ToLe => op::ALU | op::END,
                    EndKind::ToBe => op::ALU | op::END | op::X,
                    EndKind::Swap => op::ALU64 | op::END,
                };
                one(RawInsn::new(code, dst, 0, 0, bits as i32))
            }
            Insn::AddrSpaceCast { dst, src, imm } => {
                one(RawInsn::new(op::ALU64 | op::X | op::MOV, dst, src, 1, imm))
            }
            Insn::Ja { off, long } => {
                if long {
                    one(RawInsn::new(op::JMP32 | op::JA, 0, 0, 0, off))
                } else {
                    one(RawInsn::new(op::JMP | op::JA, 0, 0, off as i16, 0))
                }
            }
            Insn::MayGoto { off } => one(RawInsn::new(op::JMP | op::JCOND, 0, 0, off, 0)),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let class = if width == Width::W64 {
                    op::JMP
                } else {
                    op::JMP32
                };
                let (s, sreg, imm) = match src {
                    Src::Reg(r) => (op::X, r, 0),
                    Src::Imm(i) => (op::K, 0, i),
                };
                one(RawInsn::new(class | s | cond.code(), dst, sreg, off, imm))
            }
            Insn::Call(t) => {
                let (src, off, imm) = match t {
                    CallTarget::Helper(i) => (0, 0, i),
                    CallTarget::Local(i) => (pseudo::CALL, 0, i),
                    CallTarget::Kfunc { btf_id, off } => (pseudo::KFUNC_CALL, off, btf_id),
                };
                one(RawInsn::new(op::JMP | op::CALL, 0, src, off, imm))
            }
            Insn::Callx { reg } => one(RawInsn::new(op::JMP | op::CALL | op::X, reg, 0, 0, 0)),
            Insn::Exit { off } => one(RawInsn::new(op::JMP | op::EXIT, 0, 0, off, 0)),
            Insn::LdImm64 { dst, kind, imm } => (
                [
                    RawInsn::new(
                        op::LD | op::IMM | op::DW,
                        dst,
                        kind.src(),
                        0,
                        imm as u32 as i32,
                    ),
                    RawInsn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
                ],
                2,
            ),
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::LDX | op::MEM | size.code(),
                dst,
                src,
                off,
                0,
            )),
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::LDX | op::MEMSX | size.code(),
                dst,
                src,
                off,
                0,
            )),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => one(RawInsn::new(
                op::ST | op::MEM | size.code(),
                dst,
                0,
                off,
                imm,
            )),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::STX | op::MEM | size.code(),
                dst,
                src,
                off,
                0,
            )),
            Insn::Atomic {
                size,
                op: aop,
                dst,
                src,
                off,
            } => one(RawInsn::new(
                op::STX | op::ATOMIC | size.code(),
                dst,
                src,
                off,
                aop.imm(),
            )),
            Insn::LdAbs { size, imm } => {
                one(RawInsn::new(op::LD | op::ABS | size.code(), 0, 0, 0, imm))
            }
            Insn::LdInd { size, src, imm } => {
                one(RawInsn::new(op::LD | op::IND | size.code(), 0, src, 0, imm))
            }
        }
    }

    /// Appends the encoded slots to `out`.
    pub fn encode_into(&self, out: &mut Vec<RawInsn>) {
        let (s, n) = self.encode();
        out.extend_from_slice(&s[..n]);
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

/// A program decoded and checked as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// `(slot index, instruction)` in slot order; the second slot of `ld_imm64` is skipped.
    pub insns: Vec<(usize, Insn)>,
    /// Number of slots.
    pub len: usize,
    /// Slot indices where subprograms start (always includes 0), sorted.
    pub subprogs: Vec<usize>,
    /// Instructions the kernel refuses only when its verifier walks them
    /// ([`IsaErrorKind::checked_when_walked`]), by slot index, in slot order. They are not in
    /// `insns`; executing one is a fault with the kernel's words.
    pub rejected: Vec<(usize, IsaErrorKind)>,
}

/// Whether `code` is in the kernel's instruction table (`bpf_opcode_in_insntable`), extended
/// with `callx` (0x8d), which RFC 9669 defines and the kernel does not accept.
pub fn in_insn_table(code: u8) -> bool {
    let class = op::class(code);
    let opv = code & 0xf0;
    let x = code & op::X != 0;
    match class {
        op::ALU | op::ALU64 => match opv {
            op::NEG => !x,
            op::END => class == op::ALU || !x,
            0xe0 | 0xf0 => false,
            _ => true,
        },
        op::JMP => match opv {
            op::JA | op::EXIT | op::JCOND => !x,
            op::CALL => true,
            _ => JmpCond::from_op(opv).is_some(),
        },
        op::JMP32 => match opv {
            op::JA => !x,
            _ => JmpCond::from_op(opv).is_some(),
        },
        op::STX => matches!(code & 0xe0, op::MEM | op::ATOMIC),
        op::ST => code & 0xe0 == op::MEM,
        op::LDX => match code & 0xe0 {
            op::MEM => true,
            op::MEMSX => code & 0x18 != op::DW,
            _ => false,
        },
        _ => match code & 0xe0 {
            op::IMM => code & 0x18 == op::DW,
            op::ABS | op::IND => code & 0x18 != op::DW,
            _ => false,
        },
    }
}

/// Decodes every instruction of a program and applies the kernel's whole-program structural
/// rules, in the kernel's order so that a program with several faults gets the same first
/// complaint:
/// 1. subprogram starts from local calls and function pointers (`call to invalid destination`);
/// 2. per subprogram, every jump stays inside it and its last instruction is `exit` or `ja`;
/// 3. the `ld_imm64` shape, `BPF_LDX` reserved fields and the opcode table;
/// 4. no jump lands on the second slot of an `ld_imm64`;
/// 5. every instruction's fields, in slot order. The kernel checks these only on the paths
///    its verifier walks, so an instruction that fails them lands in [`Decoded::rejected`]
///    instead of failing the program.
pub fn decode_program(slots: &[RawInsn]) -> Result<Decoded, IsaError> {
    if slots.is_empty() {
        return Err(IsaError::new(0, IsaErrorKind::Empty));
    }
    let len = slots.len() as i64;
    // 1. Subprograms, from the raw slots as the kernel finds them.
    let mut subprogs = vec![0usize];
    for (pc, r) in slots.iter().enumerate() {
        let is_call = r.code == op::JMP | op::CALL && r.src == pseudo::CALL;
        let is_func = r.code == op::LD | op::IMM | op::DW && r.src == pseudo::FUNC;
        if is_call || is_func {
            let t = pc as i64 + 1 + r.imm as i64;
            if t < 0 || t >= len {
                return Err(IsaError::new(pc, IsaErrorKind::InvalidCallTarget));
            }
            subprogs.push(t as usize);
        }
    }
    subprogs.sort_unstable();
    subprogs.dedup();
    // 2. Jump ranges and fall-through, per subprogram.
    for (i, &start) in subprogs.iter().enumerate() {
        let end = subprogs.get(i + 1).copied().unwrap_or(slots.len());
        for (pc, r) in slots.iter().enumerate().take(end).skip(start) {
            let class = op::class(r.code);
            let opv = r.code & 0xf0;
            if (class == op::JMP || class == op::JMP32) && opv != op::EXIT && opv != op::CALL {
                let off = if r.code == op::JMP32 | op::JA {
                    r.imm as i64
                } else {
                    r.off as i64
                };
                let to = pc as i64 + 1 + off;
                if to < start as i64 || to >= end as i64 {
                    return Err(IsaError::new(
                        pc,
                        IsaErrorKind::JumpOutOfRange { from: pc, to },
                    ));
                }
            }
        }
        let last = slots[end - 1].code;
        if last != op::JMP | op::EXIT && last != op::JMP32 | op::JA && last != op::JMP | op::JA {
            return Err(IsaError::new(end - 1, IsaErrorKind::LastInsnNotExit));
        }
    }
    // 3. ld_imm64 shape, LDX reserved fields, the opcode table.
    let mut second_half = vec![false; slots.len()];
    let mut pc = 0;
    while pc < slots.len() {
        let r = slots[pc];
        let err = |kind| Err(IsaError::new(pc, kind));
        if op::class(r.code) == op::LDX {
            let mode = r.code & 0xe0;
            if (mode != op::MEM && mode != op::MEMSX) || r.imm != 0 {
                return err(IsaErrorKind::Reserved("BPF_LDX"));
            }
        }
        if r.code == op::LD | op::IMM | op::DW {
            match slots.get(pc + 1) {
                Some(n) if n.code == 0 && n.dst == 0 && n.src == 0 && n.off == 0 => {
                    let ok = match r.src {
                        0 | pseudo::BTF_ID | pseudo::FUNC => true,
                        pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => true,
                        pseudo::MAP_FD | pseudo::MAP_IDX => n.imm == 0,
                        _ => false,
                    };
                    if !ok {
                        return err(IsaErrorKind::UnrecognizedLdImm64);
                    }
                }
                _ => return err(IsaErrorKind::InvalidLdImm64),
            }
            second_half[pc + 1] = true;
            pc += 2;
            continue;
        }
        if !in_insn_table(r.code) {
            return err(IsaErrorKind::UnknownOpcode(r.code));
        }
        pc += 1;
    }
    // 4. Jumps and calls into the second half of an ld_imm64.
    for (pc, r) in slots.iter().enumerate() {
        if second_half[pc] {
            continue;
        }
        let class = op::class(r.code);
        let opv = r.code & 0xf0;
        let target = if (class == op::JMP || class == op::JMP32) && opv != op::EXIT {
            if opv == op::CALL && r.src != pseudo::CALL {
                continue;
            }
            let off = if r.code == op::JMP32 | op::JA || opv == op::CALL {
                r.imm as i64
            } else {
                r.off as i64
            };
            pc as i64 + 1 + off
        } else {
            continue;
        };
        if (0..len).contains(&target) && second_half[target as usize] {
            return Err(IsaError::new(
                pc,
                IsaErrorKind::JumpIntoLdImm64(target as usize - 1),
            ));
        }
    }
    // 5. Every instruction's fields.
    let mut insns = Vec::with_capacity(slots.len());
    let mut rejected = Vec::new();
    let mut pc = 0;
    while pc < slots.len() {
        match Insn::decode(slots, pc) {
            Ok(insn) => {
                insns.push((pc, insn));
                pc += insn.slots();
            }
            Err(e) if e.kind.checked_when_walked() => {
                rejected.push((pc, e.kind));
                // Step 3 checked the shape of every ld_imm64, so its second slot is there.
                pc += if slots[pc].code == op::LD | op::IMM | op::DW {
                    2
                } else {
                    1
                };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Decoded {
        insns,
        len: slots.len(),
        subprogs,
        rejected,
    })
}

impl fmt::Display for Width {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Width::W32 => "32",
            Width::W64 => "64",
        })
    }
}
