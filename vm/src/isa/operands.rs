//! The operand kinds of a decoded instruction: widths, sizes, sources, ALU operations,
//! byte-swap kinds, jump conditions, atomic operations, call targets, `ld_imm64` kinds.

use super::{op, pseudo};

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

    pub(super) fn from_code(code: u8) -> Size {
        match code & 0x18 {
            op::W => Size::W,
            op::H => Size::H,
            op::B => Size::B,
            _ => Size::DW,
        }
    }

    pub(super) fn code(self) -> u8 {
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

    pub(super) fn code(self) -> u8 {
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

    pub(super) fn off(self) -> i16 {
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

    pub(super) fn from_op(opv: u8) -> Option<JmpCond> {
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
    pub(super) fn from_imm(imm: i32) -> Option<AtomicOp> {
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
    pub(super) fn from_src(src: u8) -> Option<Self> {
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
