//! A generator of programs the kernel verifier accepts, for differential testing of our
//! interpreter against the kernel.
//!
//! A generated program ([`GenProgram`]) is a tree of statements ([`Stmt`]) per function. Any
//! tree is legal: the emitter ([`GenProgram::insns`]) normalises what the verifier would
//! refuse (a zero divisor immediate, an out-of-range shift immediate, a call that would
//! recurse) instead of asking the strategies to filter, so the same trees come from proptest
//! ([`program_strategy`]), from a seed ([`from_seed`]) and from raw fuzzer bytes
//! ([`from_bytes`]).
//!
//! # Shape (why the kernel accepts it)
//!
//! * Maps, all referenced by index (`BPF_PSEUDO_MAP_IDX[_VALUE]`) so that the same
//!   instructions bind to our maps and, through `fd_array`, to the kernel's:
//!   [`MAP_IN`] and [`MAP_OUT`] (one-entry arrays of [`IO_SIZE`] bytes, read and written
//!   through direct value pointers), [`MAP_HASH`] and [`MAP_ARRAY`] (4-byte keys, 16-byte
//!   values, 4 entries, used through helper calls).
//! * `main` loads r0..r9 and eight stack slots from `MAP_IN`, so every register and every
//!   byte of stack it reads is initialised, and the verifier sees unknown scalars. A
//!   subprogram initialises r0 and r6..r9 from its arguments or constants, and its own slots.
//! * Outside helper blocks every register r0..r9 holds a scalar; r10 is never an operand.
//!   Stack accesses are aligned and inside the eight slots. Conditional jumps skip forward
//!   over whole statements (if / if-else), or close a bounded loop ([`Stmt::Loop`], a trip
//!   counter on the stack), so there is no jump into a helper block. The number of
//!   branches and loops per function is capped to keep path counts small.
//! * After any call r1..r5 are reloaded (the verifier marks them unreadable). A map lookup's
//!   result is null-checked before use; inside that block only r1 (the value pointer) and
//!   scalar registers r0, r6..r9 are used.
//! * `main` ends by writing r0..r9 and its slots to `MAP_OUT` and returning r0, so a
//!   comparison covers every register, the stack and the maps, not just the return value.

mod diff;
mod emit;
pub mod explain;
mod strategy;

use bpfbox_vm::isa::{AluOp, AtomicOp, EndKind, JmpCond, Size};

pub use diff::{
    judge, map_specs, reproducer, run_engine, run_interpreter, EngineFactory, Inspection,
    KernelRun, KernelRunner, Observed, Verdict, PACKET_LEN,
};
pub use emit::{EmitError, Quirks, MAX_IFS_PER_FUNC};
pub use explain::{explain, judge_explained, Known};
pub use strategy::{
    from_bytes, from_seed, program_strategy, shrink_seed, stmt, GenConfig, GenError,
};

/// Index of the input map (one-entry array, [`IO_SIZE`] bytes).
pub const MAP_IN: u32 = 0;
/// Index of the output map (one-entry array, [`IO_SIZE`] bytes).
pub const MAP_OUT: u32 = 1;
/// Index of the hash map the helper statements use.
pub const MAP_HASH: u32 = 2;
/// Index of the array map the helper statements use.
pub const MAP_ARRAY: u32 = 3;
/// Number of general 8-byte stack slots per frame (`r10 - 8` .. `r10 - 64`).
pub const NSLOTS: usize = 8;
/// Bytes of `MAP_IN` and `MAP_OUT`: ten registers, then the eight slots.
pub const IO_SIZE: usize = 8 * (10 + NSLOTS);
/// Value size of [`MAP_HASH`] and [`MAP_ARRAY`].
pub const VALUE_SIZE: usize = 16;
/// Entries of [`MAP_HASH`] and [`MAP_ARRAY`].
pub const MAP_ENTRIES: u32 = 4;
/// Keys are reduced to `0..KEY_SPACE`, so lookups hit, miss, and fill the hash map.
pub const KEY_SPACE: u32 = 8;
/// Most functions a program has (main and subprograms).
pub const MAX_FUNCS: usize = 3;

/// A 32-bit operand: register (r0..r9) or immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Operand {
    /// A register, taken modulo 10.
    Reg(u8),
    /// An immediate.
    Imm(i32),
}

/// A byte-addressed place in a frame's slots: slot `slot % 8`, byte `byte` rounded down to
/// the access size (stack accesses must be aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StackPos {
    /// Slot index (modulo [`NSLOTS`]).
    pub slot: u8,
    /// Byte inside the slot (aligned down to the access size).
    pub byte: u8,
}

/// Where a register gets a value after a call clobbered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Reload {
    /// A load from the frame's slots.
    Slot {
        /// Access size.
        size: Size,
        /// Sign-extending load (ignored for DW).
        signed: bool,
        /// Where.
        pos: StackPos,
    },
    /// A constant.
    Const(i32),
    /// A copy of r0 or r6..r9 (index modulo 5 into that list).
    Reg(u8),
}

/// How `main` initialises a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum MainInit {
    /// Load from the register's 8 bytes of `MAP_IN`.
    Input {
        /// Access size.
        size: Size,
        /// Sign-extending load (ignored for DW).
        signed: bool,
    },
    /// A 64-bit constant (`lddw`).
    Const(u64),
}

/// How a subprogram initialises r0 or r6..r9, or one of its slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SubInit {
    /// Argument register r1..r5 (index modulo 5).
    Arg(u8),
    /// A constant.
    Const(i32),
}

/// Which helper-accessed map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum MapSel {
    /// [`MAP_HASH`].
    Hash,
    /// [`MAP_ARRAY`].
    Array,
}

impl MapSel {
    /// The map's index.
    pub fn index(self) -> u32 {
        match self {
            MapSel::Hash => MAP_HASH,
            MapSel::Array => MAP_ARRAY,
        }
    }
}

/// An operation on a looked-up map value (pointer in r1). Registers index into
/// r0, r6, r7, r8, r9 (modulo 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ValueOp {
    /// `reg = *(size *)(r1 + off)`, maybe sign-extending.
    Load {
        /// Access size.
        size: Size,
        /// Sign-extending.
        signed: bool,
        /// Destination (index).
        reg: u8,
        /// Offset, reduced into the value.
        off: u8,
    },
    /// `*(size *)(r1 + off) = reg`.
    Store {
        /// Access size.
        size: Size,
        /// Source (index).
        reg: u8,
        /// Offset, reduced into the value.
        off: u8,
    },
    /// `*(size *)(r1 + off) = imm`.
    StoreImm {
        /// Access size.
        size: Size,
        /// Value.
        imm: i32,
        /// Offset, reduced into the value.
        off: u8,
    },
    /// An atomic operation at an aligned offset.
    Atomic {
        /// 64-bit (else 32-bit).
        wide: bool,
        /// Operation.
        op: AtomicOp,
        /// Operand register (index).
        reg: u8,
        /// Offset, aligned and reduced into the value.
        off: u8,
    },
}

/// One statement of a generated function.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Stmt {
    /// A two-operand ALU operation (`MovSx` is emitted as [`Stmt::MovSx`]).
    Alu {
        /// ALU64 (else ALU32).
        wide: bool,
        /// Operation.
        op: AluOp,
        /// Destination register (modulo 10).
        dst: u8,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 64-bit.
        wide: bool,
        /// Register.
        dst: u8,
    },
    /// Byte order conversion or swap.
    End {
        /// Kind.
        kind: EndKind,
        /// 16, 32 or 64 (taken from the low bits).
        bits: u8,
        /// Register.
        dst: u8,
    },
    /// Sign-extending move.
    MovSx {
        /// ALU64 (sign-extend 8/16/32 to 64) or ALU32 (8/16 to 32).
        wide: bool,
        /// Source width selector (8, 16, 32; 32 becomes 16 for ALU32).
        bits: u8,
        /// Destination.
        dst: u8,
        /// Source.
        src: u8,
    },
    /// `dst = imm64`.
    LdImm64 {
        /// Destination.
        dst: u8,
        /// Value.
        imm: u64,
    },
    /// Store to the stack.
    Store {
        /// Access size.
        size: Size,
        /// Where.
        pos: StackPos,
        /// Register or immediate.
        src: Operand,
    },
    /// Load from the stack.
    Load {
        /// Access size.
        size: Size,
        /// Sign-extending (ignored for DW).
        signed: bool,
        /// Destination.
        dst: u8,
        /// Where.
        pos: StackPos,
    },
    /// Atomic operation on a stack slot (or its 4-byte half).
    Atomic {
        /// 64-bit (else 32-bit).
        wide: bool,
        /// Operation.
        op: AtomicOp,
        /// Where (byte selects the half for 32-bit).
        pos: StackPos,
        /// Operand register.
        src: u8,
    },
    /// Load-acquire or store-release on the stack (`lock load_acquire` / `store_release`).
    AcqRel {
        /// Store-release (else load-acquire).
        store: bool,
        /// Access size.
        size: Size,
        /// Register loaded or stored.
        reg: u8,
        /// Where.
        pos: StackPos,
    },
    /// `if !(dst cond src) { then } else { els }`: the jump skips `then` when the condition
    /// holds.
    If {
        /// JMP (else JMP32).
        wide: bool,
        /// Condition.
        cond: JmpCond,
        /// First operand.
        dst: u8,
        /// Second operand.
        src: Operand,
        /// Statements run when the condition is false.
        then: Vec<Stmt>,
        /// Statements run when the condition is true.
        els: Vec<Stmt>,
        /// Jump over `els` with `gotol` (`ja32`) instead of `ja`.
        long_ja: bool,
    },
    /// A bounded loop: `body` runs `1 + count % 4` times. The trip counter lives in a
    /// stack slot below the general ones (a known constant the verifier follows through
    /// every iteration), and r9 is spilled around the back-edge test. Loops do not nest
    /// (an inner one runs its body once) and count against the branch cap.
    Loop {
        /// Trip count selector.
        count: u8,
        /// The body.
        body: Vec<Stmt>,
    },
    /// BPF-to-BPF call of a later function (selector reduced modulo the candidates); r1..r5
    /// are its arguments.
    Call {
        /// Callee selector.
        callee: u8,
        /// Reloads of r1..r5 after the call.
        reload: [Reload; 5],
    },
    /// `bpf_map_lookup_elem`, null check, then operations on the value.
    MapLookup {
        /// Map.
        map: MapSel,
        /// Register holding the key (reduced modulo [`KEY_SPACE`]).
        key: u8,
        /// Slot the key is stored in.
        key_slot: u8,
        /// Scalar register (index into r0, r6..r9) r0 is set from before using the value.
        r0_from: u8,
        /// Operations on the value.
        ops: Vec<ValueOp>,
        /// Reloads of r1..r5 afterwards.
        reload: [Reload; 5],
    },
    /// `bpf_map_update_elem` with a key register and a 16-byte value from two slots.
    MapUpdate {
        /// Map.
        map: MapSel,
        /// Register holding the key.
        key: u8,
        /// Slot the key is stored in.
        key_slot: u8,
        /// First of the two slots holding the value.
        val_slot: u8,
        /// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` or the invalid 3 (modulo 4).
        flags: u8,
        /// Reloads of r1..r5 afterwards.
        reload: [Reload; 5],
    },
    /// `bpf_map_delete_elem`.
    MapDelete {
        /// Map.
        map: MapSel,
        /// Register holding the key.
        key: u8,
        /// Slot the key is stored in.
        key_slot: u8,
        /// Reloads of r1..r5 afterwards.
        reload: [Reload; 5],
    },
}

/// A generated function.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Func {
    /// `main`: r0..r9 (slots come from `MAP_IN`). Ignored in subprograms.
    pub main_init: [MainInit; 10],
    /// Subprograms: r0, r6, r7, r8, r9. Ignored in `main`.
    pub sub_init: [SubInit; 5],
    /// Subprograms: the eight slots. Ignored in `main`.
    pub slot_init: [SubInit; NSLOTS],
    /// The body.
    pub body: Vec<Stmt>,
}

/// A generated program with its input: what both engines run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GenProgram {
    /// `funcs[0]` is `main`; at most [`MAX_FUNCS`] are used.
    pub funcs: Vec<Func>,
    /// The value of `MAP_IN` ([`IO_SIZE`] bytes).
    pub input: Vec<u8>,
    /// Initial values of `MAP_ARRAY`'s entries.
    pub array_init: Vec<[u8; VALUE_SIZE]>,
    /// Initial entries of `MAP_HASH` (keys reduced modulo [`KEY_SPACE`]; later duplicates
    /// and entries beyond [`MAP_ENTRIES`] are dropped).
    pub hash_init: Vec<(u32, [u8; VALUE_SIZE])>,
}

impl GenProgram {
    /// The hash map's initial entries after normalisation.
    pub fn hash_entries(&self) -> Vec<(u32, [u8; VALUE_SIZE])> {
        let mut out: Vec<(u32, [u8; VALUE_SIZE])> = Vec::new();
        for &(k, v) in &self.hash_init {
            let k = k % KEY_SPACE;
            if out.len() < MAP_ENTRIES as usize && !out.iter().any(|e| e.0 == k) {
                out.push((k, v));
            }
        }
        out
    }

    /// The array map's initial values (missing entries are zero).
    pub fn array_values(&self) -> Vec<[u8; VALUE_SIZE]> {
        (0..MAP_ENTRIES as usize)
            .map(|i| self.array_init.get(i).copied().unwrap_or([0; VALUE_SIZE]))
            .collect()
    }

    /// The input value, padded or cut to [`IO_SIZE`].
    pub fn input_value(&self) -> Vec<u8> {
        let mut v = self.input.clone();
        v.resize(IO_SIZE, 0);
        v
    }
}
