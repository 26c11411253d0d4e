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
    /// Whether the load has CAP_PERFMON (or CAP_SYS_ADMIN): the kernel's `allow_ptr_leaks`,
    /// `allow_uninit_stack` and `bypass_spec_v1`/`v4`. Without it pointers may not leak,
    /// uninitialised stack may not be read, and pointer arithmetic is sanitised.
    pub privileged: bool,
    /// Whether the load has CAP_BPF (or CAP_SYS_ADMIN): the kernel's `bpf_capable`. Without
    /// it no back-edges, no calls, 4,096 instructions at most, fewer helpers.
    pub bpf_capable: bool,
    /// Log level, the kernel's bits: 1 (instructions, the states at branch points and the
    /// failing path), 2 (every path, the state after every instruction), 4 (the closing
    /// `verification time` and `stack depth` lines). 0 logs only the error and statistics.
    pub log_level: u32,
    /// `prog_flags` beyond the program's own (`BPF_F_STRICT_ALIGNMENT`, ...).
    pub flags: u32,
    /// The program's BTF (the object's `.BTF`), which its `func_info` type ids index.
    pub btf: Option<Arc<Btf>>,
    /// By map index, the value of element 0 of each map filled and frozen before the load
    /// (libbpf's `.rodata` and `.kconfig`); `None` or missing for other maps. The kernel
    /// reads a frozen read-only map while verifying: constant strings, and loads that
    /// become constants.
    pub frozen_values: Vec<Option<Vec<u8>>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            maps: Vec::new(),
            privileged: true,
            bpf_capable: true,
            log_level: 1,
            flags: 0,
            btf: None,
            frozen_values: Vec::new(),
        }
    }
}

/// The capability levels a load can have, as the kernel tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privilege {
    /// CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): everything allowed.
    Full,
    /// CAP_BPF without CAP_PERFMON: `bpf_capable`, but unprivileged pointer rules.
    BpfOnly,
    /// Neither: the unprivileged load (`kernel.unprivileged_bpf_disabled` = 0 needed).
    None,
}

impl Privilege {
    /// `(privileged, bpf_capable)`: the kernel's CAP_PERFMON and CAP_BPF.
    pub fn caps(self) -> (bool, bool) {
        match self {
            Privilege::Full => (true, true),
            Privilege::BpfOnly => (false, true),
            Privilege::None => (false, false),
        }
    }

    /// The label used on the command line and in reports.
    pub fn label(self) -> &'static str {
        match self {
            Privilege::Full => "full",
            Privilege::BpfOnly => "bpf-only",
            Privilege::None => "none",
        }
    }
}

impl Options {
    /// Sets the capability level.
    pub fn with_privilege(mut self, p: Privilege) -> Options {
        (self.privileged, self.bpf_capable) = p.caps();
        self
    }

    /// The capability level (CAP_PERFMON without CAP_BPF counts as [`Privilege::None`] for
    /// what only CAP_BPF allows, and is reported as such).
    pub fn privilege(&self) -> Privilege {
        match (self.privileged, self.bpf_capable) {
            (true, true) => Privilege::Full,
            (false, true) => Privilege::BpfOnly,
            _ => Privilege::None,
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
