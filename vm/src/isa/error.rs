//! Why a program or instruction is refused, in the kernel's words.

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
