//! What the caller tells the verifier, and what it answers.

use std::sync::Arc;

use bpfbox_btf::Btf;
use bpfbox_vm::maps::spec::MapSpec;
use serde::Serialize;

/// `BPF_F_STRICT_ALIGNMENT`.
pub const BPF_F_STRICT_ALIGNMENT: u32 = 1 << 0;
/// `BPF_F_ANY_ALIGNMENT`.
pub const BPF_F_ANY_ALIGNMENT: u32 = 1 << 1;

/// `BPF_F_TEST_STATE_FREQ`: save a checkpoint at every prune point.
pub const BPF_F_TEST_STATE_FREQ: u32 = 1 << 3;

/// How to verify.
#[derive(Clone, Debug)]
pub struct Options {
    /// The object's maps: map-index references in the program index this list.
    pub maps: Vec<MapSpec>,
    /// Whether the load is privileged (CAP_BPF, CAP_PERFMON): bounded loops, calls, pointer
    /// leaks and uninitialised stack reads need it.
    pub privileged: bool,
    /// Log level, the kernel's bits: 1 (instructions, the states at branch points and the
    /// failing path), 2 (every path, the state after every instruction), 4 (the closing
    /// `verification time` and `stack depth` lines). 0 logs only the error and statistics.
    pub log_level: u32,
    /// `prog_flags` beyond the program's own (`BPF_F_STRICT_ALIGNMENT`, ...).
    pub flags: u32,
    /// The program's BTF (the object's `.BTF`), which its `func_info` type ids index.
    pub btf: Option<Arc<Btf>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            maps: Vec::new(),
            privileged: true,
            log_level: 1,
            flags: 0,
            btf: None,
        }
    }
}

/// The statistics the kernel prints at the end of its log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// `processed N insns`.
    pub processed_insns: u64,
    /// `max_states_per_insn`.
    pub max_states_per_insn: u64,
    /// `total_states`.
    pub total_states: u64,
    /// `peak_states`.
    pub peak_states: u64,
    /// `mark_read`.
    pub mark_read: u64,
    /// Stack depth per subprogram.
    pub stack_depth: Vec<u32>,
}

/// The verifier's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether the program is accepted.
    pub accepted: bool,
    /// The failing instruction (slot index), when one is to blame.
    pub insn: Option<usize>,
    /// The error line, in the kernel's words.
    pub error: Option<String>,
    /// Whether the rejection is only because a feature is not supported yet.
    pub unsupported: bool,
    /// The log in the kernel's format.
    pub log: String,
    /// Statistics.
    pub stats: Stats,
    /// What the walk learned for the engines, when the program is accepted.
    pub facts: Option<crate::facts::Facts>,
}
