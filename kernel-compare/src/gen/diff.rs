//! Running a generated program in our interpreter and in the kernel, and comparing what each
//! left behind: the return value, `MAP_OUT` (every register and stack slot of `main` at its
//! exit) and the contents of the two helper maps.

use std::os::fd::RawFd;
use std::sync::Arc;

use bpfbox_vm::env::Env;
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::isa::RawInsn;
use bpfbox_vm::maps::{Map, MapConfig, MapRef, MapSpec, MapType};
use bpfbox_vm::testrun::{
    build_context, prepare, run_context, RunResult, RunSetup, Runner, TestRun, TestRunError,
};
use bpfbox_vm::{ProgType, Vm};

use super::{GenProgram, IO_SIZE, MAP_ARRAY, MAP_ENTRIES, MAP_HASH, MAP_IN, MAP_OUT, VALUE_SIZE};
use crate::sys::{self, Fd};

/// Packet the programs run on (they ignore it; XDP test runs need at least 14 bytes).
pub const PACKET_LEN: usize = 64;

/// What a run left behind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Observed {
    /// `retval`: the low 32 bits of r0.
    pub retval: u32,
    /// The value of `MAP_OUT`: r0..r9, then `main`'s eight stack slots, at `main`'s exit.
    pub out: Vec<u8>,
    /// `MAP_ARRAY`'s values.
    pub array: Vec<Vec<u8>>,
    /// `MAP_HASH`'s entries, sorted by key.
    pub hash: Vec<(u32, Vec<u8>)>,
}

impl Observed {
    /// Register `i` (0..=9) at `main`'s exit, from `MAP_OUT`.
    pub fn reg(&self, i: usize) -> Option<u64> {
        let b = self.out.get(8 * i..8 * i + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The full 64-bit r0.
    pub fn r0(&self) -> u64 {
        self.reg(0).unwrap_or(0)
    }

    /// Names of the parts that differ from `other` (`r3`, `slot2`, `retval`, `array[1]`,
    /// `hash`).
    pub fn diff(&self, other: &Observed) -> Vec<String> {
        let mut d = Vec::new();
        if self.retval != other.retval {
            d.push("retval".to_string());
        }
        for i in 0..IO_SIZE / 8 {
            let (a, b) = (
                self.out.get(8 * i..8 * i + 8),
                other.out.get(8 * i..8 * i + 8),
            );
            if a != b {
                d.push(if i < 10 {
                    format!("r{i}")
                } else {
                    format!("slot{}", i - 10)
                });
            }
        }
        for i in 0..self.array.len().max(other.array.len()) {
            if self.array.get(i) != other.array.get(i) {
                d.push(format!("array[{i}]"));
            }
        }
        if self.hash != other.hash {
            d.push("hash".to_string());
        }
        d
    }

    /// A readable multi-line dump.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!("retval {:#x}\n", self.retval);
        for i in 0..IO_SIZE / 8 {
            let v = self.reg(i).unwrap_or(0);
            let name = if i < 10 {
                format!("r{i}")
            } else {
                format!("slot{} (r10{})", i - 10, -8 * (i as i64 - 9))
            };
            let _ = writeln!(s, "{name:<16} {v:#018x}");
        }
        for (i, v) in self.array.iter().enumerate() {
            let _ = writeln!(s, "array[{i}]        {}", hex(v));
        }
        for (k, v) in &self.hash {
            let _ = writeln!(s, "hash[{k}]         {}", hex(v));
        }
        s
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The four maps' specs, in index order ([`MAP_IN`], [`MAP_OUT`], [`MAP_HASH`],
/// [`MAP_ARRAY`]).
pub fn map_specs() -> [MapSpec; 4] {
    [
        MapSpec::new("gen_in", MapType::Array, 4, IO_SIZE as u32, 1),
        MapSpec::new("gen_out", MapType::Array, 4, IO_SIZE as u32, 1),
        MapSpec::new("gen_hash", MapType::Hash, 4, VALUE_SIZE as u32, MAP_ENTRIES),
        MapSpec::new(
            "gen_array",
            MapType::Array,
            4,
            VALUE_SIZE as u32,
            MAP_ENTRIES,
        ),
    ]
}

const ZERO_KEY: [u8; 4] = [0; 4];

/// Runs `insns` (the program's instructions) in the interpreter, as an XDP test run.
pub fn run_interpreter(p: &GenProgram, insns: &[RawInsn]) -> Result<Observed, String> {
    run_interpreter_raw(p, insns, &mut Env::default()).map_err(|e| e.to_string())
}

fn setup_error(what: &str, e: impl std::fmt::Display) -> TestRunError {
    TestRunError::Invalid {
        errno: 0,
        msg: format!("{what}: {e}"),
    }
}

/// [`run_interpreter`] with the run's own error, so a caller can tell a fault's kind and
/// place.
pub(crate) fn run_interpreter_raw(
    p: &GenProgram,
    insns: &[RawInsn],
    env: &mut Env,
) -> Result<Observed, TestRunError> {
    run_engine(p, insns, env, &|_| None).map(|(_, o)| o)
}

/// Builds the engine a generated program runs in from the prepared program (a JIT of it),
/// or `None` for the interpreter.
pub type EngineFactory<'a> = &'a dyn Fn(&Arc<Vm>) -> Option<Box<dyn Runner>>;

/// Runs `insns` as the harness runs every generated program: an XDP test run over a zeroed
/// [`PACKET_LEN`]-byte packet, on the four maps freshly created and filled from `p`, in the
/// interpreter or in the engine `engine` builds. Returns the whole test-run result and what
/// the maps hold afterwards, so that engines can be compared with each other as well as with
/// the kernel.
pub fn run_engine(
    p: &GenProgram,
    insns: &[RawInsn],
    env: &mut Env,
    engine: EngineFactory<'_>,
) -> Result<(RunResult, Observed), TestRunError> {
    let cfg = MapConfig::default();
    let maps: Vec<MapRef> = map_specs()
        .iter()
        .map(|s| Map::create(s, &cfg))
        .collect::<Result<_, _>>()
        .map_err(|e| setup_error("map create", e))?;
    let set = |m: &MapRef, k: u32, v: &[u8]| {
        m.update(&k.to_le_bytes(), v, 0)
            .map_err(|e| setup_error("map update", e))
    };
    set(&maps[MAP_IN as usize], 0, &p.input_value())?;
    for (i, v) in p.array_values().iter().enumerate() {
        set(&maps[MAP_ARRAY as usize], i as u32, v)?;
    }
    for (k, v) in p.hash_entries() {
        set(&maps[MAP_HASH as usize], k, &v)?;
    }
    let table = MapTable::new(maps.clone());
    let input = TestRun {
        data_in: vec![0; PACKET_LEN],
        repeat: 1,
        kernel_compat: true,
        ..TestRun::default()
    };
    let vm = Arc::new(prepare(insns, ProgType::Xdp, &table)?);
    let ctx = build_context(ProgType::Xdp, &input)?;
    env.maps = table;
    let runner = engine(&vm);
    let setup = RunSetup {
        repeat: 1,
        runner: runner.as_deref(),
        ..RunSetup::default()
    };
    let r = run_context(&vm, ProgType::Xdp, ctx, env, &setup)?;
    let out = maps[MAP_OUT as usize]
        .lookup(&ZERO_KEY)
        .map_err(|e| setup_error("map lookup", e))?;
    let array = (0..MAP_ENTRIES)
        .map(|i| maps[MAP_ARRAY as usize].lookup(&i.to_le_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|e| setup_error("map lookup", e))?;
    let mut hash: Vec<(u32, Vec<u8>)> = maps[MAP_HASH as usize]
        .iter()
        .into_iter()
        .filter_map(|(k, v)| Some((u32::from_le_bytes(k.try_into().ok()?), v)))
        .collect();
    hash.sort();
    let observed = Observed {
        retval: r.retval,
        out,
        array,
        hash,
    };
    Ok((r, observed))
}

/// How the kernel took a program.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KernelRun {
    /// Loaded and ran.
    Ran(Observed),
    /// The verifier refused it.
    Rejected {
        /// errno of `BPF_PROG_LOAD`.
        errno: i32,
        /// The verifier log (level 1).
        log: String,
    },
}

/// What the kernel made of a program it accepted.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The verifier log, level 2 (every instruction processed, with register states).
    pub log: String,
    /// The translated image.
    pub xlated: Vec<RawInsn>,
}

/// A kernel-side harness that keeps its four maps and reloads their contents per program.
#[derive(Debug)]
pub struct KernelRunner {
    maps: Vec<Fd>,
}

impl KernelRunner {
    /// Creates the maps in the kernel.
    pub fn new() -> Result<KernelRunner, sys::SysError> {
        let maps = map_specs()
            .iter()
            .map(|s| sys::map_create(&sys::MapCreate::from(s)))
            .collect::<Result<_, _>>()?;
        Ok(KernelRunner { maps })
    }

    fn fd_array(&self) -> Vec<RawFd> {
        self.maps.iter().map(Fd::raw).collect()
    }

    fn reset(&self, p: &GenProgram) -> Result<(), sys::SysError> {
        let m = &self.maps;
        sys::map_update(&m[MAP_IN as usize], &ZERO_KEY, &p.input_value(), 0)?;
        sys::map_update(&m[MAP_OUT as usize], &ZERO_KEY, &[0; IO_SIZE], 0)?;
        for (i, v) in p.array_values().iter().enumerate() {
            sys::map_update(&m[MAP_ARRAY as usize], &(i as u32).to_le_bytes(), v, 0)?;
        }
        let hash = &m[MAP_HASH as usize];
        for k in sys::map_keys(hash, MAP_ENTRIES as usize + 1)? {
            sys::map_delete(hash, &k)?;
        }
        for (k, v) in p.hash_entries() {
            sys::map_update(hash, &k.to_le_bytes(), &v, 0)?;
        }
        Ok(())
    }

    /// Loads `insns` as XDP with a verifier log of level 2 and returns that log and the
    /// translated image (what the kernel runs, after the verifier's rewrites).
    pub fn inspect(&self, insns: &[RawInsn]) -> Result<Inspection, sys::SysError> {
        let fds = self.fd_array();
        let load = sys::ProgLoad {
            prog_type: ProgType::Xdp.id(),
            insns,
            license: "GPL",
            name: "bpfbox_gen",
            fd_array: &fds,
            log_level: sys::BPF_LOG_LEVEL2,
            ..sys::ProgLoad::default()
        };
        let prog = sys::prog_load(&load).map_err(|e| sys::SysError {
            op: "BPF_PROG_LOAD",
            errno: e.errno,
        })?;
        let info = sys::prog_info(&prog.fd)?;
        let xlated = info
            .xlated
            .chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(RawInsn::from_bytes))
            .collect();
        Ok(Inspection {
            log: prog.log,
            xlated,
        })
    }

    /// Loads `insns` as XDP, runs it once on the program's input and reads the maps back.
    pub fn run(&self, p: &GenProgram, insns: &[RawInsn]) -> Result<KernelRun, sys::SysError> {
        let fds = self.fd_array();
        let mut load = sys::ProgLoad {
            prog_type: ProgType::Xdp.id(),
            insns,
            license: "GPL",
            name: "bpfbox_gen",
            fd_array: &fds,
            ..sys::ProgLoad::default()
        };
        let prog = match sys::prog_load(&load) {
            Ok(p) => p,
            Err(e) => {
                // Load again with a log to say why.
                load.log_level = sys::BPF_LOG_LEVEL1;
                let log = match sys::prog_load(&load) {
                    Err(e) => e.log,
                    Ok(_) => "(accepted when loaded again with a log)".to_string(),
                };
                return Ok(KernelRun::Rejected {
                    errno: e.errno,
                    log,
                });
            }
        };
        self.reset(p)?;
        let packet = [0u8; PACKET_LEN];
        let out = sys::prog_test_run(
            &prog.fd,
            &sys::TestRunIn {
                data_in: &packet,
                repeat: 1,
                ..sys::TestRunIn::default()
            },
        )?;
        let m = &self.maps;
        let value = |fd: &Fd, k: u32| -> Result<Vec<u8>, sys::SysError> {
            Ok(sys::map_lookup(fd, &k.to_le_bytes())?.unwrap_or_default())
        };
        let outv = value(&m[MAP_OUT as usize], 0)?;
        let array = (0..MAP_ENTRIES)
            .map(|i| value(&m[MAP_ARRAY as usize], i))
            .collect::<Result<_, _>>()?;
        let hash_fd = &m[MAP_HASH as usize];
        let mut hash = Vec::new();
        for k in sys::map_keys(hash_fd, MAP_ENTRIES as usize + 1)? {
            if let (Ok(kk), Some(v)) = (
                <[u8; 4]>::try_from(k.as_slice()),
                sys::map_lookup(hash_fd, &k)?,
            ) {
                hash.push((u32::from_le_bytes(kk), v));
            }
        }
        hash.sort();
        Ok(KernelRun::Ran(Observed {
            retval: out.retval,
            out: outv,
            array,
            hash,
        }))
    }
}

/// The verdict on one generated program.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// Both ran and left the same state.
    Match,
    /// They differ (or only the interpreter faulted).
    Mismatch {
        /// The kernel's result.
        kernel: Observed,
        /// Ours, or our fault.
        interpreter: Result<Observed, String>,
    },
    /// They differ, and a known kernel behaviour, reproduced on our side, gives the
    /// kernel's result exactly (see [`mod@super::explain`]).
    Explained {
        /// The behaviour.
        known: super::explain::Known,
        /// The kernel's result.
        kernel: Observed,
        /// Ours.
        interpreter: Observed,
    },
    /// The kernel's verifier refused the program: a generator bug.
    Rejected {
        /// errno.
        errno: i32,
        /// The verifier log.
        log: String,
    },
}

/// Compares a kernel run with an interpreter run.
pub fn judge(kernel: KernelRun, interp: Result<Observed, String>) -> Verdict {
    match kernel {
        KernelRun::Rejected { errno, log } => Verdict::Rejected { errno, log },
        KernelRun::Ran(k) => match interp {
            Ok(i) if i == k => Verdict::Match,
            other => Verdict::Mismatch {
                kernel: k,
                interpreter: other,
            },
        },
    }
}

/// The text of a reproducer: the program in our assembler's syntax (which `bpfbox asm`
/// reads back), its input and maps, and both results.
pub fn reproducer(
    label: &str,
    p: &GenProgram,
    insns: &[RawInsn],
    kernel: &Observed,
    interp: &Result<Observed, String>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "# bpfbox fuzz-kernel reproducer: {label}");
    let _ = writeln!(
        s,
        "# Run as XDP on {PACKET_LEN} zero bytes. Maps by index (fd_array): 0 gen_in, 1 gen_out \
(arrays, 1 x {IO_SIZE} bytes), 2 gen_hash (hash, 4-byte keys, {VALUE_SIZE}-byte values, \
{MAP_ENTRIES} entries), 3 gen_array (array, same sizes)."
    );
    let _ = writeln!(s, "# gen_in[0] = {}", hex(&p.input_value()));
    for (i, v) in p.array_values().iter().enumerate() {
        let _ = writeln!(s, "# gen_array[{i}] = {}", hex(v));
    }
    for (k, v) in p.hash_entries() {
        let _ = writeln!(s, "# gen_hash[{k}] = {}", hex(&v));
    }
    let d = match interp {
        Ok(i) => kernel.diff(i).join(", "),
        Err(e) => format!("interpreter fault: {e}"),
    };
    let _ = writeln!(s, "# differs in: {d}");
    let _ = writeln!(s, "#\n# kernel:");
    for l in kernel.render().lines() {
        let _ = writeln!(s, "#   {l}");
    }
    let _ = writeln!(s, "# interpreter:");
    match interp {
        Ok(i) => {
            for l in i.render().lines() {
                let _ = writeln!(s, "#   {l}");
            }
        }
        Err(e) => {
            let _ = writeln!(s, "#   fault: {e}");
        }
    }
    match bpfbox_vm::disasm::disassemble_conformance(insns) {
        Ok(t) => s.push_str(&t),
        Err(e) => {
            let _ = writeln!(s, "# cannot disassemble: {e}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> Observed {
        Observed {
            retval: 7,
            out: (0..IO_SIZE as u8).collect(),
            array: vec![vec![1; VALUE_SIZE]; MAP_ENTRIES as usize],
            hash: vec![(3, vec![2; VALUE_SIZE])],
        }
    }

    #[test]
    fn a_difference_anywhere_is_a_mismatch_and_is_named() {
        let k = observed();
        assert_eq!(
            judge(KernelRun::Ran(k.clone()), Ok(k.clone())),
            Verdict::Match
        );
        let mut i = k.clone();
        i.out[3 * 8] ^= 1;
        i.out[(10 + 2) * 8] ^= 0x80;
        i.array[1][0] = 9;
        i.hash.clear();
        assert_eq!(k.diff(&i), ["r3", "slot2", "array[1]", "hash"]);
        assert!(matches!(
            judge(KernelRun::Ran(k.clone()), Ok(i)),
            Verdict::Mismatch { .. }
        ));
        assert!(matches!(
            judge(KernelRun::Ran(k), Err("fault".into())),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn the_interpreter_runs_what_the_generator_makes() {
        let p = super::super::from_seed(1, super::super::GenConfig::default()).expect("gen");
        let insns = p.insns().expect("emit");
        let o = run_interpreter(&p, &insns).expect("runs");
        assert_eq!(o.out.len(), IO_SIZE);
        assert_eq!(o.array.len(), MAP_ENTRIES as usize);
        assert_eq!(o.r0() as u32, o.retval);
    }
}
