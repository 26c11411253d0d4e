//! Running the same input through the kernel (`BPF_PROG_TEST_RUN`) and through bpfbox's
//! interpreter (or another [`Engine`], such as the JIT), and comparing return value, data out, context out and the full contents of
//! every map afterwards.
//!
//! A [`Session`] holds one object twice: loaded in the kernel ([`KernelObject`]) and as
//! bpfbox maps ([`Object::create_maps`]). Both start from the same state (global data,
//! frozen `.rodata`, the same [`Session::prefill`]s) and see the same sequence of runs, so
//! their maps must stay equal.

use std::sync::Arc;

use bpfbox_loader::Object;
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::interp::ProgramTable;
use bpfbox_vm::maps::{Map, MapConfig};
use bpfbox_vm::testrun::{
    build_context, prepare, run_context, RunSetup, Runner, TestRun, TestRunError,
};
use bpfbox_vm::{Env, ProgType, Program, Vm};

use crate::load::{comparable, KernelObject, Verdict};
use crate::sys::{self, TestRunIn};

mod compare;
mod serde_hex;

use compare::compare_outcomes;
pub use compare::{compare_maps, describe, hex};
pub use serde_hex::{hex_bytes, opt_hex_bytes};

/// Room the kernel may need beyond the input for data out (`bpf_xdp_adjust_tail`,
/// `bpf_skb_change_tail`).
const DATA_OUT_SLACK: usize = 4096;
/// Capacity for any context out (`__sk_buff` is 192 bytes).
const CTX_OUT_CAP: usize = 4096;
/// At most this many differing entries are listed per map.
const MAX_MAP_DIFFS: usize = 8;

/// One test-run input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunInput {
    /// Name shown in reports (`ipv4_tcp_80`, a file name, ...).
    pub name: String,
    /// `data_in` (the packet for packet programs).
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
    /// `ctx_in`, if any.
    #[serde(default, with = "opt_hex_bytes")]
    pub ctx: Option<Vec<u8>>,
}

/// What one side produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The program ran.
    Ran {
        /// `retval`.
        retval: u32,
        /// Data out.
        #[serde(with = "hex_bytes")]
        data_out: Vec<u8>,
        /// Context out.
        #[serde(with = "hex_bytes")]
        ctx_out: Vec<u8>,
    },
    /// The test run was refused with an errno (bad input, as the kernel judges it).
    Refused {
        /// The errno.
        errno: i32,
        /// Why (bpfbox side) or the errno's name (kernel side).
        msg: String,
    },
    /// The program faulted or could not run in bpfbox.
    Failed {
        /// What happened.
        msg: String,
    },
}

/// One value that differs between the kernel and bpfbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// What differs (`retval`, `data_out`, `map filter_ports key 50000000`, ...).
    pub what: String,
    /// The kernel's value.
    pub kernel: String,
    /// bpfbox's value.
    pub bpfbox: String,
}

/// The comparison of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunComparison {
    /// Program name.
    pub program: String,
    /// Input name.
    pub input: String,
    /// The kernel's outcome.
    pub kernel: Outcome,
    /// bpfbox's outcome.
    pub bpfbox: Outcome,
    /// Every difference; empty when both agree.
    pub differences: Vec<Difference>,
}

impl RunComparison {
    /// Whether kernel and bpfbox agree on everything compared.
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Why a program is not run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotRun {
    /// Program name.
    pub program: String,
    /// Why.
    pub reason: String,
}

/// Whether the kernel can test-run programs of this type (`prog_ops->test_run`).
pub fn kernel_can_test_run(t: ProgType) -> bool {
    use ProgType::*;
    matches!(
        t,
        SocketFilter
            | SchedCls
            | SchedAct
            | Xdp
            | CgroupSkb
            | LwtIn
            | LwtOut
            | LwtXmit
            | LwtSeg6local
            | RawTracepoint
            | RawTracepointWritable
            | FlowDissector
            | SkLookup
            | Syscall
            | Tracing
            | StructOps
            | Netfilter
    )
}

/// Whether bpfbox's test run builds the context the kernel builds for this type.
pub fn bpfbox_can_test_run(t: ProgType) -> bool {
    use ProgType::*;
    matches!(
        t,
        SocketFilter
            | SchedCls
            | SchedAct
            | Xdp
            | CgroupSkb
            | LwtIn
            | LwtOut
            | LwtXmit
            | RawTracepoint
            | Syscall
    )
}

/// Whether programs of this type take a packet as `data_in`.
pub fn takes_packet(t: ProgType) -> bool {
    use ProgType::*;
    matches!(
        t,
        SocketFilter
            | SchedCls
            | SchedAct
            | Xdp
            | CgroupSkb
            | LwtIn
            | LwtOut
            | LwtXmit
            | LwtSeg6local
            | FlowDissector
    )
}

/// Pins the calling thread to CPU 0 while alive, so the kernel's test runs touch the same
/// per-CPU slot as bpfbox's (which runs as CPU 0); the previous mask is restored on drop.
struct PinCpu0 {
    old: Option<libc::cpu_set_t>,
}

impl PinCpu0 {
    fn new() -> PinCpu0 {
        // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
        let mut old: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: pid 0 is the calling thread and `old` is a valid cpu_set_t of `size` bytes.
        if unsafe { libc::sched_getaffinity(0, size, &mut old) } != 0 {
            return PinCpu0 { old: None };
        }
        // SAFETY: as above; `one` is a valid set holding CPU 0.
        let ok = unsafe {
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut one);
            libc::sched_setaffinity(0, size, &one) == 0
        };
        PinCpu0 {
            old: ok.then_some(old),
        }
    }
}

impl Drop for PinCpu0 {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            // SAFETY: `old` is a valid cpu_set_t of the size passed, read by
            // sched_getaffinity when the guard was made; pid 0 is the calling thread.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), old);
            }
        }
    }
}

/// Turns a prepared program into the engine that runs it (or says why it cannot).
pub type CompileFn = dyn Fn(&Arc<Vm>) -> Result<Box<dyn Runner>, String> + Send + Sync;

/// The engine that runs bpfbox's side of a comparison in place of the interpreter (a JIT
/// of the same program): its name for reports and how it compiles a prepared program.
#[derive(Clone)]
pub struct Engine {
    /// Name shown in reports (`jit`, `jit-trusted`).
    pub name: String,
    /// Whether the engine has no checks of its own (a trusted JIT): it runs only inputs the
    /// kernel's test run accepted, whose accesses the kernel's verifier proved in bounds,
    /// and the interpreter runs the others (the kernel refuses, for example, a context
    /// smaller than the program reads, which would be out of bounds unchecked).
    pub unchecked: bool,
    compile: Arc<CompileFn>,
}

impl Engine {
    /// An engine named `name` that compiles each program with `compile`; `unchecked` as
    /// [`Engine::unchecked`].
    pub fn new(name: impl Into<String>, unchecked: bool, compile: Arc<CompileFn>) -> Engine {
        Engine {
            name: name.into(),
            unchecked,
            compile,
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("name", &self.name).finish()
    }
}

/// One object in the kernel and in bpfbox, ready to run inputs on both.
pub struct Session<'a> {
    programs: &'a [Program],
    map_names: Vec<String>,
    kernel: &'a KernelObject,
    ours: Result<MapTable, String>,
    /// Maps bpfbox could not create (by index), with why: the programs using them do not run.
    failed_maps: Vec<(usize, String)>,
    /// Our programs by index (the handle our program arrays hold), for tail calls.
    table: ProgramTable,
    /// With an [`Engine`]: each program's compiled form by handle, or why it did not compile.
    runners: Vec<Option<Result<Box<dyn Runner>, String>>>,
    /// Whether that engine is [`Engine::unchecked`].
    unchecked: bool,
    env: Env,
}

impl<'a> Session<'a> {
    /// Creates bpfbox's maps for `obj` (sized for `ncpus` possible CPUs, as the kernel's).
    pub fn new(obj: &'a Object, kernel: &'a KernelObject, ncpus: u32) -> Session<'a> {
        let (table, failed) = obj.create_maps_partial(&MapConfig { ncpus });
        let failed_maps: Vec<(usize, String)> = failed
            .into_iter()
            .map(|(i, e)| (i, e.to_string()))
            .collect();
        let ours = Ok(table);
        let map_names = (0..obj.maps().len())
            .map(|i| {
                obj.map_info(i)
                    .map_or_else(|| obj.maps()[i].name.clone(), |m| m.name.clone())
            })
            .collect();
        let mut s = Session::with_maps(obj.programs(), map_names, kernel, ours, ncpus);
        s.failed_maps = failed_maps;
        // Program-array initialisers: the kernel side got program fds; ours get handles.
        if let Ok(maps) = &s.ours {
            for slot in obj.program_slots() {
                let handle = obj.programs().iter().position(|p| p.name == slot.program);
                if let (Some(h), Some(m)) = (handle, maps.get(slot.map)) {
                    let _ = m.update(&slot.key.to_ne_bytes(), &(h as u32).to_ne_bytes(), 0);
                }
            }
        }
        s
    }

    /// A session over bare programs and the maps of `kernel` (as made by
    /// [`KernelObject::from_programs`]): bpfbox's maps are created from the same specs.
    pub fn from_programs(
        programs: &'a [Program],
        kernel: &'a KernelObject,
        ncpus: u32,
    ) -> Session<'a> {
        let cfg = MapConfig { ncpus };
        let ours = kernel
            .maps
            .iter()
            .map(|m| Map::create(&m.spec, &cfg).map_err(|e| format!("map {}: {e}", m.spec.name)))
            .collect::<Result<Vec<_>, _>>()
            .map(MapTable::new);
        let map_names = kernel.maps.iter().map(|m| m.spec.name.clone()).collect();
        Session::with_maps(programs, map_names, kernel, ours, ncpus)
    }

    fn with_maps(
        programs: &'a [Program],
        map_names: Vec<String>,
        kernel: &'a KernelObject,
        ours: Result<MapTable, String>,
        ncpus: u32,
    ) -> Session<'a> {
        let env = Env {
            ncpus,
            cpu: 0,
            ..Env::default()
        };
        let mut table = ProgramTable::new();
        if let Ok(maps) = &ours {
            for (i, p) in programs.iter().enumerate() {
                if let Ok(vm) = prepare(&p.insns, p.prog_type, maps) {
                    table.insert(i as u32, std::sync::Arc::new(vm));
                }
            }
        }
        Session {
            programs,
            map_names,
            kernel,
            ours,
            failed_maps: Vec::new(),
            table,
            runners: Vec::new(),
            unchecked: false,
            env,
        }
    }

    /// Runs bpfbox's side through `engine` from now on: every program is compiled once here
    /// (tail calls still enter the table's programs, compiled by the engine as it needs).
    pub fn set_engine(&mut self, engine: &Engine) {
        self.unchecked = engine.unchecked;
        self.runners = (0..self.programs.len())
            .map(|h| {
                self.table
                    .get(h as u32)
                    .map(|vm| (engine.compile)(vm).map_err(|e| format!("{}: {e}", engine.name)))
            })
            .collect();
    }

    fn program(&self, name: &str) -> Option<&'a Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// Why bpfbox cannot run this object's programs, if it cannot (e.g. a map type it does
    /// not support).
    pub fn bpfbox_error(&self) -> Option<&str> {
        self.ours.as_ref().err().map(String::as_str)
    }

    /// Writes the same entry into map `map` (by name) on both sides. For per-CPU maps a
    /// value of `value_size` bytes is given to every CPU.
    pub fn prefill(&mut self, map: &str, key: &[u8], value: &[u8]) -> Result<(), String> {
        let idx = self
            .map_names
            .iter()
            .position(|m| m == map)
            .or_else(|| self.kernel.maps.iter().position(|m| m.spec.name == map))
            .ok_or_else(|| format!("no map named `{map}`"))?;
        if let Some((_, e)) = self.failed_maps.iter().find(|(i, _)| *i == idx) {
            return Err(format!("bpfbox could not create map `{map}`: {e}"));
        }
        let km = &self.kernel.maps[idx];
        let fd = km
            .fd
            .as_ref()
            .ok_or_else(|| format!("map `{map}` was not created in the kernel"))?;
        let spec = &km.spec;
        let stride = (spec.value_size as usize).div_ceil(8) * 8;
        // The kernel's own sizes, not ours: it reads a copy for every possible CPU.
        let sizes = sys::elem_sizes(fd).map_err(|e| format!("kernel map `{map}`: {e}"))?;
        let value = if spec.map_type.is_percpu() && value.len() == spec.value_size as usize {
            let mut all = vec![0u8; sizes.value];
            for c in all.chunks_mut(stride) {
                c[..value.len()].copy_from_slice(value);
            }
            all
        } else {
            value.to_vec()
        };
        let value = value.as_slice();
        sys::map_update(fd, key, value, 0).map_err(|e| format!("kernel map `{map}`: {e}"))?;
        if let Ok(t) = &self.ours {
            if let Some(m) = t.get(idx) {
                m.update(key, value, 0)
                    .map_err(|e| format!("bpfbox map `{map}`: {e}"))?;
            }
        }
        Ok(())
    }

    /// Why `program` cannot be run on both sides, if so.
    pub fn not_runnable(&self, program: &str) -> Option<String> {
        let Some(k) = self.kernel.program(program) else {
            return Some(format!("no program `{program}`"));
        };
        if k.verdict != Verdict::Accepted {
            return Some(format!(
                "the kernel did not load it ({})",
                k.verdict.label()
            ));
        }
        let p = self.program(program)?;
        if !kernel_can_test_run(p.prog_type) {
            return Some(format!(
                "the kernel cannot test-run {} programs",
                p.prog_type.name()
            ));
        }
        if !bpfbox_can_test_run(p.prog_type) {
            return Some(format!(
                "bpfbox cannot test-run {} programs yet",
                p.prog_type.name()
            ));
        }
        if let Err(e) = &self.ours {
            return Some(format!("bpfbox cannot create the object's maps: {e}"));
        }
        let used = bpfbox_loader::maps_used(p);
        if let Some((_, e)) = self.failed_maps.iter().find(|(i, _)| used.contains(i)) {
            return Some(format!("bpfbox cannot create a map it uses: {e}"));
        }
        None
    }

    /// Runs `input` through `program` on both sides and compares everything.
    pub fn run(&mut self, program: &str, input: &RunInput) -> Result<RunComparison, NotRun> {
        if let Some(reason) = self.not_runnable(program) {
            return Err(NotRun {
                program: program.to_string(),
                reason,
            });
        }
        let (Some(p), Some(k), Ok(maps)) = (
            self.program(program),
            self.kernel.program(program),
            self.ours.as_ref(),
        ) else {
            return Err(NotRun {
                program: program.to_string(),
                reason: "not loaded".into(),
            });
        };
        let Some(fd) = k.fd.as_ref() else {
            return Err(NotRun {
                program: program.to_string(),
                reason: "not loaded".into(),
            });
        };
        let packet = takes_packet(p.prog_type);
        let ctx_in = input
            .ctx
            .clone()
            .or_else(|| default_ctx(p.prog_type, &input.data));
        let req = TestRunIn {
            data_in: &input.data,
            data_out_cap: packet.then_some(input.data.len() + DATA_OUT_SLACK),
            ctx_in: ctx_in.as_deref(),
            ctx_out_cap: packet.then_some(CTX_OUT_CAP),
            // Raw tracepoint and syscall test runs refuse a repeat count.
            repeat: u32::from(packet),
            ..TestRunIn::default()
        };
        let kernel = {
            let _pin = PinCpu0::new();
            match sys::prog_test_run(fd, &req) {
                Ok(o) => Outcome::Ran {
                    retval: o.retval,
                    data_out: o.data_out,
                    // A syscall program's context comes back in place.
                    ctx_out: if p.prog_type == ProgType::Syscall {
                        o.ctx_in_after
                    } else {
                        o.ctx_out
                    },
                },
                Err(e) => Outcome::Refused {
                    errno: e.errno,
                    msg: sys::errno_name(e.errno),
                },
            }
        };
        let run = TestRun {
            data_in: input.data.clone(),
            ctx_in,
            repeat: 1,
            kernel_compat: true,
            regions: Vec::new(),
        };
        let handle = self.programs.iter().position(|q| q.name == p.name);
        let kernel_ran = matches!(kernel, Outcome::Ran { .. });
        let runner = handle
            .and_then(|h| self.runners.get(h))
            .and_then(Option::as_ref)
            .filter(|_| kernel_ran || !self.unchecked);
        let result = match (handle.and_then(|h| self.table.get(h as u32)), runner) {
            (Some(_), Some(Err(msg))) => Err(Err(msg.clone())),
            (Some(vm), runner) => build_context(p.prog_type, &run)
                .and_then(|ctx| {
                    self.env.maps = maps.clone();
                    let setup = RunSetup {
                        repeat: 1,
                        programs: Some(&self.table),
                        runner: runner.and_then(|r| r.as_ref().ok()).map(|r| &**r),
                        // Nothing consumes the kernel's ring buffers between test runs either.
                        keep_ringbuf: true,
                        expected_attach_type: p.expected_attach_type,
                        ..RunSetup::default()
                    };
                    run_context(vm, p.prog_type, ctx, &mut self.env, &setup)
                })
                .map_err(Ok),
            // Validation failed: run it the plain way for the error.
            (None, _) => bpfbox_vm::testrun::test_run(p, maps, &mut self.env, &run).map_err(Ok),
        };
        let ours = match result {
            Ok(r) => Outcome::Ran {
                retval: r.retval,
                data_out: if packet { r.data_out } else { Vec::new() },
                ctx_out: r.ctx_out,
            },
            Err(Ok(TestRunError::Invalid { errno, msg })) => Outcome::Refused { errno, msg },
            Err(Ok(e)) => Outcome::Failed { msg: e.to_string() },
            // The engine could not compile the program.
            Err(Err(msg)) => Outcome::Failed { msg },
        };
        let mut differences = compare_outcomes(&kernel, &ours);
        let skip: Vec<usize> = self.failed_maps.iter().map(|(i, _)| *i).collect();
        differences.extend(compare_maps(self.kernel, maps, &skip));
        Ok(RunComparison {
            program: program.to_string(),
            input: input.name.clone(),
            kernel,
            bpfbox: ours,
            differences,
        })
    }
}

/// The context both sides get when the input has none. For XDP it is an `xdp_md` whose
/// `data_end` covers the packet: given a context out but no context in, the kernel zeroes
/// the context it builds, and a zero `data_end` moves the whole packet into fragments.
fn default_ctx(t: ProgType, data: &[u8]) -> Option<Vec<u8>> {
    if t != ProgType::Xdp {
        return None;
    }
    let mut md = vec![0u8; 24];
    md[4..8].copy_from_slice(&(data.len() as u32).to_ne_bytes());
    Some(md)
}
