//! The bpf_conformance suite through the running kernel, loaded the way the upstream kernel
//! plugin loads it (see `FORMAT.md`, section 7, in the suite's folder):
//!
//! ```text
//!   0: call local +4            ; the test program, a BPF-to-BPF subprogram
//!   1: lddw r1, map_idx_value 0 ; &result[0] (a one-entry array of u64)
//!   3: stxdw [r1+0], r0         ; the full 64-bit r0, which XDP's retval would cut to 32 bits
//!   4: exit
//!   5: prologue (only when the test has memory): r6 = ctx; r1 = data; r2 = data_end;
//!      exit with r0 = -1 unless data + len <= data_end; r2 = len
//!  14: the test program
//! ```
//!
//! The whole is an XDP program, run once by `BPF_PROG_TEST_RUN` with the test's memory as
//! the packet, zero-padded to the 14 bytes XDP test runs require (the program still sees the
//! unpadded length in r2). A verifier rejection is its own outcome, with the line of the
//! verifier log that says why.

use std::os::fd::RawFd;
use std::path::Path;

use bpfbox_vm::conformance::{prepare, Engine, Unrunnable};
use bpfbox_vm::isa::{AluOp, CallTarget, Insn, JmpCond, LdImm64Kind, RawInsn, Size, Src, Width};
use bpfbox_vm::ProgType;

use crate::sys::{self, Fd};

/// `BPF_XDP`, the expected attach type the upstream plugin loads with.
pub const BPF_XDP: u32 = 37;
/// XDP test runs refuse packets shorter than an Ethernet header.
pub const MIN_PACKET: usize = 14;

fn mov64(dst: u8, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    }
}

/// The bounds-checked prologue for `len` bytes of memory: gives the test r1 = packet data
/// and r2 = `len`, or returns -1 if the packet is shorter.
fn prologue(len: i32) -> Vec<Insn> {
    vec![
        mov64(0, Src::Imm(-1)),
        mov64(6, Src::Reg(1)),
        Insn::Ldx {
            size: Size::W,
            dst: 1,
            src: 6,
            off: 0,
        },
        Insn::Ldx {
            size: Size::W,
            dst: 2,
            src: 6,
            off: 4,
        },
        mov64(3, Src::Reg(1)),
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: 3,
            src: Src::Imm(len),
        },
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Le,
            dst: 3,
            src: Src::Reg(2),
            off: 1,
        },
        Insn::EXIT,
        mov64(2, Src::Imm(len)),
    ]
}

/// The program as loaded: the wrapper, the prologue if `mem_len > 0`, then `prog`. The
/// result map is `fd_array[0]`.
pub fn wrap(prog: &[RawInsn], mem_len: usize) -> Vec<RawInsn> {
    let mut head = vec![
        Insn::Call(CallTarget::Local(4)),
        Insn::LdImm64 {
            dst: 1,
            kind: LdImm64Kind::MapIdxValue,
            imm: 0,
        },
        Insn::Stx {
            size: Size::DW,
            dst: 1,
            src: 0,
            off: 0,
        },
        Insn::EXIT,
    ];
    if mem_len > 0 {
        head.extend(prologue(i32::try_from(mem_len).unwrap_or(i32::MAX)));
    }
    let mut out = Vec::with_capacity(prog.len() + 14);
    for i in &head {
        i.encode_into(&mut out);
    }
    out.extend_from_slice(prog);
    out
}

/// The line of a verifier log that says why it refused: the last line other than the
/// closing statistics.
pub fn verifier_message(log: &str) -> String {
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| {
            !l.is_empty()
                && !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
        })
        .unwrap_or("")
        .to_string()
}

/// What running one program in the kernel gave.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KernelResult {
    /// It ran; the full r0.
    Ran {
        /// r0 as stored by the wrapper.
        r0: u64,
    },
    /// The verifier refused it.
    Rejected {
        /// The log line that says why (e.g. `invalid shift 60`).
        message: String,
        /// errno of `BPF_PROG_LOAD`.
        errno: i32,
        /// The whole log.
        log: String,
    },
    /// Something else failed (a syscall other than the load).
    Error {
        /// What.
        message: String,
    },
}

/// Runs conformance programs in the kernel. Holds the result map.
#[derive(Debug)]
pub struct KernelEngine {
    result: Fd,
}

impl KernelEngine {
    /// Creates the one-entry result map (4-byte key, 8-byte value).
    pub fn new() -> Result<KernelEngine, sys::SysError> {
        let spec =
            bpfbox_vm::maps::MapSpec::new("conf_result", bpfbox_vm::maps::MapType::Array, 4, 8, 1);
        Ok(KernelEngine {
            result: sys::map_create(&sys::MapCreate::from(&spec))?,
        })
    }

    /// Loads `prog` (wrapped) as XDP and runs it on `mem`.
    pub fn run_program(&self, prog: &[RawInsn], mem: &[u8]) -> KernelResult {
        let insns = wrap(prog, mem.len());
        let fds: [RawFd; 1] = [self.result.raw()];
        let mut load = sys::ProgLoad {
            prog_type: ProgType::Xdp.id(),
            expected_attach_type: BPF_XDP,
            insns: &insns,
            license: "MIT",
            name: "conformance",
            fd_array: &fds,
            ..sys::ProgLoad::default()
        };
        // Load without a log first (the common case), and again with one to say why not.
        let prog = match sys::prog_load(&load) {
            Ok(p) => p,
            Err(e) => {
                load.log_level = sys::BPF_LOG_LEVEL1;
                let log = sys::prog_load(&load)
                    .err()
                    .map(|e| e.log)
                    .unwrap_or_default();
                return KernelResult::Rejected {
                    message: verifier_message(&log),
                    errno: e.errno,
                    log,
                };
            }
        };
        let key = 0u32.to_le_bytes();
        if let Err(e) = sys::map_update(&self.result, &key, &[0; 8], 0) {
            return KernelResult::Error {
                message: e.to_string(),
            };
        }
        let mut packet = mem.to_vec();
        if packet.len() < MIN_PACKET {
            packet.resize(MIN_PACKET, 0);
        }
        let run = sys::prog_test_run(
            &prog.fd,
            &sys::TestRunIn {
                data_in: &packet,
                repeat: 1,
                ..sys::TestRunIn::default()
            },
        );
        if let Err(e) = run {
            return KernelResult::Error {
                message: e.to_string(),
            };
        }
        match sys::map_lookup(&self.result, &key) {
            Ok(Some(v)) => KernelResult::Ran {
                r0: v
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_le_bytes),
            },
            Ok(None) => KernelResult::Error {
                message: "result map has no entry 0".to_string(),
            },
            Err(e) => KernelResult::Error {
                message: e.to_string(),
            },
        }
    }
}

impl Engine for KernelEngine {
    fn run(&self, prog: &[RawInsn], mem: &mut [u8]) -> Result<u64, String> {
        match self.run_program(prog, mem) {
            KernelResult::Ran { r0 } => Ok(r0),
            KernelResult::Rejected { message, .. } => Err(format!("rejected: {message}")),
            KernelResult::Error { message } => Err(message),
        }
    }
}

/// How one test ended in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum KernelOutcome {
    /// r0 matched `-- result`.
    Pass,
    /// It ran and r0 differed.
    Fail {
        /// Expected r0.
        expected: String,
        /// r0 the kernel gave.
        got: String,
    },
    /// The verifier refused the program.
    Rejected {
        /// The verifier's reason.
        message: String,
    },
    /// The file could not be run (parse or assembly problems, unusable files).
    Skip {
        /// Why.
        reason: String,
    },
    /// A syscall other than the load failed.
    Error {
        /// What.
        message: String,
    },
}

/// One scored test.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KernelTestResult {
    /// File name without `.data`.
    pub name: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: KernelOutcome,
}

impl std::fmt::Display for KernelTestResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            KernelOutcome::Pass => write!(f, "PASS {}", self.name),
            KernelOutcome::Fail { expected, got } => {
                write!(f, "FAIL {}: expected {expected}, got {got}", self.name)
            }
            KernelOutcome::Rejected { message } => write!(f, "REJECTED {}: {message}", self.name),
            KernelOutcome::Skip { reason } => write!(f, "SKIP {}: {reason}", self.name),
            KernelOutcome::Error { message } => write!(f, "ERROR {}: {message}", self.name),
        }
    }
}

/// Totals of a kernel run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelSummary {
    /// Passed.
    pub passed: usize,
    /// Ran with a wrong r0.
    pub failed: usize,
    /// Refused by the verifier.
    pub rejected: usize,
    /// Not run.
    pub skipped: usize,
    /// Syscall failures.
    pub errors: usize,
}

impl KernelSummary {
    /// Adds one result.
    pub fn add(&mut self, r: &KernelTestResult) {
        match r.outcome {
            KernelOutcome::Pass => self.passed += 1,
            KernelOutcome::Fail { .. } => self.failed += 1,
            KernelOutcome::Rejected { .. } => self.rejected += 1,
            KernelOutcome::Skip { .. } => self.skipped += 1,
            KernelOutcome::Error { .. } => self.errors += 1,
        }
    }
}

impl std::fmt::Display for KernelSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} rejected by the verifier, {} skipped, {} errors",
            self.passed, self.failed, self.rejected, self.skipped, self.errors
        )
    }
}

/// Scores one file's text in the kernel. Files with an `-- error` section pass when the
/// verifier's reason equals the expected text.
pub fn run_text(name: &str, text: &str, engine: &KernelEngine) -> KernelTestResult {
    let result = |outcome| KernelTestResult {
        name: name.to_string(),
        outcome,
    };
    let (file, prog) = match prepare(text) {
        Ok(p) => p,
        Err(Unrunnable::Skip(reason) | Unrunnable::AssemblyError(reason)) => {
            return result(KernelOutcome::Skip { reason })
        }
    };
    let outcome = match (engine.run_program(&prog, &file.mem), &file.error) {
        (KernelResult::Ran { r0 }, None) if r0 == file.expected() => KernelOutcome::Pass,
        (KernelResult::Ran { r0 }, None) => KernelOutcome::Fail {
            expected: format!("{:#x}", file.expected()),
            got: format!("{r0:#x}"),
        },
        (KernelResult::Ran { r0 }, Some(err)) => KernelOutcome::Fail {
            expected: format!("error `{err}`"),
            got: format!("{r0:#x}"),
        },
        (KernelResult::Rejected { message, .. }, Some(err))
            if message.trim_end() == err.trim_end() =>
        {
            KernelOutcome::Pass
        }
        (KernelResult::Rejected { message, .. }, _) => KernelOutcome::Rejected { message },
        (KernelResult::Error { message }, _) => KernelOutcome::Error { message },
    };
    result(outcome)
}

/// Scores one file on disk in the kernel.
pub fn run_file(path: &Path, engine: &KernelEngine) -> KernelTestResult {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read(path) {
        Ok(bytes) => run_text(&name, &String::from_utf8_lossy(&bytes), engine),
        Err(e) => KernelTestResult {
            name,
            outcome: KernelOutcome::Skip {
                reason: format!("cannot read: {e}"),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_calls_the_program_after_the_prologue() {
        let prog = [
            RawInsn::new(0xb7, 0, 0, 0, 7),
            RawInsn::new(0x95, 0, 0, 0, 0),
        ];
        let w = wrap(&prog, 0);
        assert_eq!(w.len(), 7);
        assert_eq!(w[0].code, 0x85);
        assert_eq!(w[0].imm, 4);
        assert_eq!(&w[5..], &prog);
        let w = wrap(&prog, 20);
        assert_eq!(w.len(), 16);
        assert_eq!(&w[14..], &prog);
    }

    #[test]
    fn verifier_message_skips_statistics() {
        let log = "0: (b7) r0 = 0\ninvalid shift 60\nprocessed 3 insns (limit 1000000)\n";
        assert_eq!(verifier_message(log), "invalid shift 60");
    }
}
