//! The object-level API: load a BPF object, build a VM over it, run its programs on
//! contexts, and read or prefill its maps — shaped like aya's `Ebpf` and cilium/ebpf's
//! `Collection`, without a kernel.
//!
//! ```
//! use bpfbox::{Context, Object, Vm};
//!
//! # fn main() -> Result<(), bpfbox::Error> {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/obj/example_xdp.o");
//! let object = Object::from_file(path)?;
//! let mut vm = Vm::builder().seed(7).build(&object)?;
//! // An IPv4/UDP frame to port 53: the example drops DNS and counts per protocol.
//! let mut frame = vec![0u8; 42];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]);
//! frame[14] = 0x45;
//! frame[23] = 17;
//! frame[36..38].copy_from_slice(&53u16.to_be_bytes());
//! let result = vm.run("xdp_filter_dns", Context::xdp(&frame))?;
//! assert_eq!(result.action, Some("XDP_DROP"));
//! assert_eq!(vm.array::<u64>("proto_count")?.get(17), Some(1));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use bpfbox_loader::{LoadError, MapKind, Object, ProgramError};
use bpfbox_vm::context::Context;

use crate::run_context::{context_kind, context_name, pull_l2};
use bpfbox_vm::helper_names::helper_id;
use bpfbox_vm::helpers::{HelperError, HelperRegistry, MapTable};
use bpfbox_vm::interp::HelperCtx;
use bpfbox_vm::interp::ProgramTable;
use bpfbox_vm::isa::IsaError;
use bpfbox_vm::maps::view::{ArrayView, HashMapView, PerCpuView, QueueView, RingBufReader};
use bpfbox_vm::maps::{MapConfig, MapError, MapRef};
use bpfbox_vm::testrun::{self, RunResult, RunSetup, TestRun, TestRunError};
use bpfbox_vm::{Env, Program};

/// What went wrong loading, building or running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object could not be parsed or its maps created.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The program exists but could not be loaded (needs CO-RE, ksyms, ...).
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// No program of that name.
    #[error("object '{object}' has no program '{name}' (programs: {available})")]
    NoProgram {
        /// The object's name.
        object: String,
        /// The name asked for.
        name: String,
        /// The names it has, comma-separated.
        available: String,
    },
    /// No map of that name.
    #[error("object '{object}' has no map '{name}'")]
    NoMap {
        /// The object's name.
        object: String,
        /// The name asked for.
        name: String,
    },
    /// A program failed validation.
    #[error("program '{program}': {source}")]
    Isa {
        /// The program.
        program: String,
        /// Why.
        source: IsaError,
    },
    /// A run failed: bad input, or a fault inside the program.
    #[error("program '{program}': {source}")]
    Run {
        /// The program.
        program: String,
        /// Why.
        source: TestRunError,
    },
    /// A map operation failed (or a typed view does not fit the map).
    #[error("map '{map}': {source}")]
    Map {
        /// The map.
        map: String,
        /// Why.
        source: MapError,
    },
    /// The JIT could not compile a program.
    #[error("program '{program}': {source}")]
    Jit {
        /// The program.
        program: String,
        /// Why.
        source: bpfbox_jit::JitError,
    },
    /// A helper override names no kernel helper.
    #[error("unknown helper '{0}'")]
    UnknownHelper(String),
    /// A map the program uses could not be created (only the programs using it are refused).
    #[error("program '{program}': {reason}")]
    MapUnavailable {
        /// The program.
        program: String,
        /// The map's creation error.
        reason: String,
    },
    /// The program calls a helper bpfbox does not implement (only that program is refused).
    #[error(
        "program '{program}': insn {insn}: helper {name} (id {id}) is not supported by bpfbox"
    )]
    UnsupportedHelper {
        /// The program.
        program: String,
        /// The call instruction.
        insn: usize,
        /// Helper id.
        id: u32,
        /// Its kernel name (or `helper_<id>`).
        name: String,
    },
    /// bpfbox's verifier refuses the program, as the kernel's would (build with
    /// `.verify(false)` to run it anyway).
    #[error("program '{program}': the verifier refuses it{}: {message}", insn.map(|i| format!(" at insn {i}")).unwrap_or_default())]
    Rejected {
        /// The program.
        program: String,
        /// The failing instruction.
        insn: Option<usize>,
        /// The error, in the kernel's words.
        message: String,
    },
    /// The context given is not the kind the program takes.
    #[error("program '{program}' is a {prog_type} program and takes {expected}; the context given is {given}")]
    WrongContext {
        /// The program.
        program: String,
        /// Its type.
        prog_type: &'static str,
        /// The context it takes.
        expected: &'static str,
        /// The context given.
        given: &'static str,
    },
}

/// Which engine runs programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// The interpreter.
    #[default]
    Interpreter,
    /// The native JIT (`bpfbox-jit`): checked by default, trusted (no checks, no meter)
    /// after [`VmBuilder::unchecked`].
    Jit,
}

type OverrideFn =
    Arc<dyn Fn(&mut HelperCtx<'_, '_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync>;

/// Configures a [`Vm`]: engine, memory checking, budget, the deterministic environment
/// (clock, task, CPU, random seed) and helper overrides.
#[derive(Clone)]
pub struct VmBuilder {
    engine: Engine,
    checked: bool,
    budget: u64,
    env: Env,
    kernel_compat: bool,
    verify: bool,
    overrides: Vec<(String, OverrideFn)>,
}

impl std::fmt::Debug for VmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmBuilder")
            .field("engine", &self.engine)
            .field("checked", &self.checked)
            .field("budget", &self.budget)
            .field("env", &self.env)
            .field("kernel_compat", &self.kernel_compat)
            .field("verify", &self.verify)
            .field(
                "overrides",
                &self.overrides.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for VmBuilder {
    fn default() -> Self {
        VmBuilder {
            engine: Engine::default(),
            checked: true,
            budget: bpfbox_vm::interp::DEFAULT_BUDGET,
            env: Env::default(),
            kernel_compat: true,
            verify: true,
            overrides: Vec::new(),
        }
    }
}

impl VmBuilder {
    /// Whether [`VmBuilder::build`] runs bpfbox's verifier on every program first (the
    /// default): a program the kernel's verifier would refuse is then refused when run, with
    /// the kernel's message ([`Error::Rejected`]). A program using a feature the verifier
    /// does not handle yet still runs, in checked mode unless the builder says otherwise;
    /// [`Vm::verdict`] tells which.
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// The engine: the interpreter (the default) or the JIT.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Checks every load and store against the run's memory (the default).
    pub fn checked(mut self) -> Self {
        self.checked = true;
        self
    }

    /// Runs without memory checks, at full speed.
    ///
    /// # Safety
    /// Every load and store of every program, on every input it will be given, must stay
    /// inside memory the run owns, as the kernel's verifier proves for programs it accepts.
    /// Otherwise a run reads or writes arbitrary host memory.
    pub unsafe fn unchecked(mut self) -> Self {
        self.checked = false;
        self
    }

    /// Instructions each run may execute before it stops with a budget fault.
    pub fn budget(mut self, insns: u64) -> Self {
        self.budget = insns;
        self
    }

    /// The clock: `bpf_ktime_get_ns` starts at `start_ns` and advances `step_ns` per read.
    pub fn clock(mut self, start_ns: u64, step_ns: u64) -> Self {
        self.env.clock_ns = start_ns;
        self.env.clock_step_ns = step_ns;
        self
    }

    /// The current task's thread id (the kernel's pid) and process id (tgid).
    pub fn pid_tgid(mut self, pid: u32, tgid: u32) -> Self {
        self.env.pid = pid;
        self.env.tgid = tgid;
        self
    }

    /// The current task's user and group ids.
    pub fn uid_gid(mut self, uid: u32, gid: u32) -> Self {
        self.env.uid = uid;
        self.env.gid = gid;
        self
    }

    /// The current task's name (`bpf_get_current_comm`), cut to 15 bytes.
    pub fn comm(mut self, comm: &str) -> Self {
        let mut c = [0u8; 16];
        let n = comm.len().min(15);
        c[..n].copy_from_slice(&comm.as_bytes()[..n]);
        self.env.comm = c;
        self
    }

    /// The CPU programs run on.
    pub fn cpu(mut self, cpu: u32) -> Self {
        self.env.cpu = cpu;
        self
    }

    /// Number of possible CPUs: the number of copies per-CPU maps keep.
    pub fn ncpus(mut self, ncpus: u32) -> Self {
        self.env.ncpus = ncpus.max(1);
        self
    }

    /// Seeds `bpf_get_prandom_u32`.
    pub fn seed(mut self, seed: u64) -> Self {
        // xorshift must not start at zero.
        self.env.prandom_state = if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        };
        self
    }

    /// Whether [`Vm::test_run`] enforces the kernel's `BPF_PROG_TEST_RUN` input rules (the
    /// default), so a test that passes here passes under the kernel.
    pub fn kernel_compat(mut self, on: bool) -> Self {
        self.kernel_compat = on;
        self
    }

    /// Replaces helper `name` (`bpf_get_prandom_u32` or `get_prandom_u32`) for every run.
    pub fn helper(
        mut self,
        name: &str,
        f: impl Fn(&mut HelperCtx<'_, '_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    ) -> Self {
        self.overrides.push((name.to_string(), Arc::new(f)));
        self
    }

    /// Creates the object's maps (global data filled, `.rodata` frozen, initialisers
    /// applied), validates every loadable program and binds program arrays.
    pub fn build(self, object: &Object) -> Result<Vm, Error> {
        // A map the engine cannot create fails only the programs that use it, as the kernel
        // loads an object's programs one by one.
        let (maps, failed_maps) = object.create_maps_partial(&MapConfig {
            ncpus: self.env.ncpus,
        });
        let mut overrides = HelperRegistry::kernel();
        for (name, f) in &self.overrides {
            let id = helper_id(name).ok_or_else(|| Error::UnknownHelper(name.to_string()))?;
            let f = Arc::clone(f);
            overrides.override_fn(id as u32, move |c, a| f(c, a));
        }
        let mut engines = Vec::with_capacity(object.programs().len());
        let mut missing = Vec::with_capacity(object.programs().len());
        let mut jits = Vec::with_capacity(object.programs().len());
        let mut table = ProgramTable::new();
        let mut unusable = Vec::with_capacity(object.programs().len());
        let verify_as = bpfbox_kernel_compare::verify::VerifyAs {
            log_level: 1,
            ..Default::default()
        };
        let verdicts: Vec<Option<bpfbox_verifier::Verdict>> = object
            .programs()
            .iter()
            .map(|p| {
                self.verify
                    .then(|| bpfbox_kernel_compare::verify::verify(object, p, &verify_as))
            })
            .collect();
        for (handle, prog) in object.programs().iter().enumerate() {
            let used = bpfbox_loader::maps_used(prog);
            unusable.push(
                failed_maps
                    .iter()
                    .find(|(i, _)| used.contains(i))
                    .map(|(_, e)| e.to_string()),
            );
            // A program that fails validation fails when it is run, not the whole object:
            // the kernel loads an object's programs one by one.
            let mut vm = match testrun::prepare(&prog.insns, prog.prog_type, &maps) {
                Ok(vm) => vm,
                Err(e) => {
                    engines.push(Err(e));
                    missing.push(None);
                    jits.push(None);
                    continue;
                }
            };
            vm.set_budget(self.budget);
            if !self.checked {
                // SAFETY: the caller of `VmBuilder::unchecked` promised in-bounds accesses.
                unsafe { vm.set_unchecked() };
            }
            missing.push(vm.helpers().first_missing(&prog.insns).map(|(insn, id)| {
                let name = bpfbox_vm::helper_names::HELPER_NAMES
                    .get(id as usize)
                    .map_or_else(|| format!("helper_{id}"), |n| n.to_string());
                (insn, id, name)
            }));
            let vm = Arc::new(vm);
            table.insert(handle as u32, Arc::clone(&vm));
            if self.engine == Engine::Jit {
                jits.push(Some(Arc::new(compile_jit(&vm, self.checked).map_err(
                    |e| Error::Jit {
                        program: prog.name.clone(),
                        source: e,
                    },
                )?)));
            } else {
                jits.push(None);
            }
            engines.push(Ok(vm));
        }
        let mut env = self.env;
        env.maps = maps.clone();
        let vm = Vm {
            object_name: object.name().to_string(),
            programs: object.programs().to_vec(),
            errors: object.program_errors().to_vec(),
            engines,
            missing,
            unusable,
            verdicts,
            jits,
            table,
            maps,
            map_names: (0..object.maps().len())
                .map(|i| {
                    object
                        .map_info(i)
                        .map(|m| m.name.clone())
                        .unwrap_or_default()
                })
                .collect(),
            data_sections: (0..object.maps().len())
                .map(|i| {
                    object
                        .map_info(i)
                        .filter(|m| {
                            matches!(
                                m.kind,
                                MapKind::Data | MapKind::Rodata | MapKind::Bss | MapKind::Kconfig
                            )
                        })
                        .map(|m| m.section.clone())
                })
                .collect(),
            env,
            overrides: (!self.overrides.is_empty()).then_some(overrides),
            kernel_compat: self.kernel_compat,
        };
        for slot in object.program_slots() {
            let map = vm.map_names.get(slot.map).cloned().unwrap_or_default();
            vm.set_tail_call(&map, slot.key, &slot.program)?;
        }
        Ok(vm)
    }
}

/// Compiles `vm` for [`Engine::Jit`]: checked, or trusted when the builder was made
/// unchecked.
fn compile_jit(
    vm: &Arc<bpfbox_vm::Vm>,
    checked: bool,
) -> Result<bpfbox_jit::JitProgram, bpfbox_jit::JitError> {
    if checked {
        bpfbox_jit::JitProgram::compile(Arc::clone(vm))
    } else {
        // SAFETY: the caller of `VmBuilder::unchecked` promised in-bounds accesses (and the
        // programs' termination), which is what trusted code relies on.
        unsafe { bpfbox_jit::JitProgram::compile_trusted(Arc::clone(vm)) }
    }
}

/// An object's programs and live maps, ready to run.
pub struct Vm {
    object_name: String,
    programs: Vec<Program>,
    errors: Vec<ProgramError>,
    /// Per program: its engine, or why it failed validation.
    engines: Vec<Result<Arc<bpfbox_vm::Vm>, IsaError>>,
    /// Per program: the first call to a helper bpfbox lacks (insn, id, name).
    missing: Vec<Option<(usize, u32, String)>>,
    /// Per program: why a map it uses could not be created.
    unusable: Vec<Option<String>>,
    /// Per program: bpfbox's verifier's verdict (`None` when verification was turned off).
    verdicts: Vec<Option<bpfbox_verifier::Verdict>>,
    /// The compiled form of each program, with [`Engine::Jit`].
    jits: Vec<Option<Arc<bpfbox_jit::JitProgram>>>,
    table: ProgramTable,
    maps: MapTable,
    map_names: Vec<String>,
    /// Per map: the ELF section of a global data map (`.rodata`, `.data.custom`, ...).
    data_sections: Vec<Option<String>>,
    env: Env,
    overrides: Option<HelperRegistry>,
    kernel_compat: bool,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("object", &self.object_name)
            .field(
                "programs",
                &self.programs.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .field("maps", &self.map_names)
            .finish_non_exhaustive()
    }
}

impl Vm {
    /// A builder with deterministic defaults (see [`Env`]), checked memory, the default
    /// budget and the kernel's input rules.
    pub fn builder() -> VmBuilder {
        VmBuilder::default()
    }

    /// bpfbox's verifier's verdict on program `name` (`None` when built with
    /// `.verify(false)`).
    pub fn verdict(&self, name: &str) -> Result<Option<&bpfbox_verifier::Verdict>, Error> {
        let i = self.index(name)?;
        Ok(self.verdicts.get(i).and_then(Option::as_ref))
    }

    fn index(&self, name: &str) -> Result<usize, Error> {
        if let Some(i) = self.programs.iter().position(|p| p.name == name) {
            return Ok(i);
        }
        if let Some(e) = self.errors.iter().find(|e| e.program() == name) {
            return Err(Error::Program(e.clone()));
        }
        Err(Error::NoProgram {
            object: self.object_name.clone(),
            name: name.to_string(),
            available: self
                .programs
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Result<&Program, Error> {
        Ok(&self.programs[self.index(name)?])
    }

    /// Every loadable program.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// Runs `name` once on `ctx`.
    pub fn run(&mut self, name: &str, ctx: Context) -> Result<RunResult, Error> {
        self.run_repeat(name, ctx, 1)
    }

    /// Runs `name` `repeat` times on `ctx` (state carries over, as in the kernel's repeat).
    ///
    /// The context must be the kind the program takes ([`Error::WrongContext`] otherwise).
    /// A [`Context::skb`] frame given to a program whose kernel test run starts at the
    /// network header (a socket filter) is presented as that test run presents it: from the
    /// network header, `len` without the Ethernet header.
    pub fn run_repeat(
        &mut self,
        name: &str,
        ctx: Context,
        repeat: u32,
    ) -> Result<RunResult, Error> {
        let i = self.index(name)?;
        let prog = &self.programs[i];
        if let Some(expected) = context_kind(prog.prog_type) {
            if expected != ctx.kind() {
                return Err(Error::WrongContext {
                    program: prog.name.clone(),
                    prog_type: prog.prog_type.name(),
                    expected: context_name(expected),
                    given: context_name(ctx.kind()),
                });
            }
        }
        let ctx = pull_l2(ctx, prog.prog_type);
        self.run_at(i, ctx, repeat, &[])
    }

    /// Runs `name` on `BPF_PROG_TEST_RUN`-shaped input: data and context bytes, repeat.
    pub fn test_run(&mut self, name: &str, input: &TestRun) -> Result<RunResult, Error> {
        let i = self.index(name)?;
        let mut input = input.clone();
        input.kernel_compat |= self.kernel_compat;
        let ctx =
            testrun::build_context(self.programs[i].prog_type, &input).map_err(|e| Error::Run {
                program: name.to_string(),
                source: e,
            })?;
        self.run_at(i, ctx, input.repeat, &input.regions)
    }

    fn run_at(
        &mut self,
        i: usize,
        ctx: Context,
        repeat: u32,
        regions: &[bpfbox_vm::memory::Region],
    ) -> Result<RunResult, Error> {
        let setup = RunSetup {
            repeat,
            regions,
            programs: Some(&self.table),
            overrides: self.overrides.as_ref(),
            runner: self.jits[i].as_deref().map(|j| j as &dyn testrun::Runner),
            keep_ringbuf: false,
            expected_attach_type: self.programs[i].expected_attach_type,
        };
        let prog = &self.programs[i];
        if let Some(Some(reason)) = self.unusable.get(i) {
            return Err(Error::MapUnavailable {
                program: prog.name.clone(),
                reason: reason.clone(),
            });
        }
        if let Some(Some(v)) = self.verdicts.get(i) {
            if !v.accepted && !v.unsupported {
                return Err(Error::Rejected {
                    program: prog.name.clone(),
                    insn: v.insn,
                    message: v.error.clone().unwrap_or_default(),
                });
            }
        }
        if let Some(Some((insn, id, name))) = self.missing.get(i) {
            return Err(Error::UnsupportedHelper {
                program: prog.name.clone(),
                insn: *insn,
                id: *id,
                name: name.clone(),
            });
        }
        let engine = self.engines[i].as_ref().map_err(|e| Error::Isa {
            program: prog.name.clone(),
            source: e.clone(),
        })?;
        self.env.current_prog = Some(i as u32);
        testrun::run_context(engine, prog.prog_type, ctx, &mut self.env, &setup).map_err(|e| {
            Error::Run {
                program: prog.name.clone(),
                source: e,
            }
        })
    }

    /// Puts program `program` at `key` of program array `map`, for `bpf_tail_call`.
    pub fn set_tail_call(&self, map: &str, key: u32, program: &str) -> Result<(), Error> {
        let handle = self.index(program)? as u32;
        self.map(map)?
            .update(&key.to_ne_bytes(), &handle.to_ne_bytes(), 0)
            .map_err(|e| Error::Map {
                map: map.to_string(),
                source: e,
            })
    }

    /// The map libbpf would call `name` (global data maps are `<obj>.data` and friends), or
    /// the global data map of section `name` (`.rodata`, `.bss`, `.data.custom`).
    pub fn map(&self, name: &str) -> Result<&MapRef, Error> {
        self.map_index(name)
            .and_then(|i| self.maps.get(i))
            .ok_or_else(|| Error::NoMap {
                object: self.object_name.clone(),
                name: name.to_string(),
            })
    }

    /// The index of map `name`: see [`Vm::map`].
    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.map_names.iter().position(|n| n == name).or_else(|| {
            self.data_sections
                .iter()
                .position(|s| s.as_deref() == Some(name))
        })
    }

    /// Names of the object's maps, in index order.
    pub fn map_names(&self) -> &[String] {
        &self.map_names
    }

    fn view<'a, T>(
        &'a self,
        name: &str,
        make: impl FnOnce(&'a bpfbox_vm::maps::Map) -> Result<T, MapError>,
    ) -> Result<T, Error> {
        let map = self.map(name)?;
        make(map).map_err(|e| Error::Map {
            map: name.to_string(),
            source: e,
        })
    }

    /// A typed view of an array (or per-CPU array's current CPU copy).
    pub fn array<V: bytemuck::Pod>(&self, name: &str) -> Result<ArrayView<'_, V>, Error> {
        self.view(name, ArrayView::new)
    }

    /// A typed view of a hash-like map (hash, LRU, LPM trie).
    pub fn hash<K: bytemuck::Pod, V: bytemuck::Pod>(
        &self,
        name: &str,
    ) -> Result<HashMapView<'_, K, V>, Error> {
        self.view(name, HashMapView::new)
    }

    /// A typed view of a per-CPU map, with every CPU's value.
    pub fn per_cpu<K: bytemuck::Pod, V: bytemuck::Pod>(
        &self,
        name: &str,
    ) -> Result<PerCpuView<'_, K, V>, Error> {
        self.view(name, PerCpuView::new)
    }

    /// A typed view of a queue or stack.
    pub fn queue<V: bytemuck::Pod>(&self, name: &str) -> Result<QueueView<'_, V>, Error> {
        self.view(name, QueueView::new)
    }

    /// A reader of a ring buffer's pending records (runs also collect them into
    /// [`RunResult::ringbuf`]).
    pub fn ringbuf(&self, name: &str) -> Result<RingBufReader<'_>, Error> {
        self.view(name, RingBufReader::new)
    }

    /// Fires every armed timer (`bpf_timer_start`), soonest first, calling each callback as
    /// the kernel's timer would: the clock moves to the timer's expiry when that is later.
    /// Timers a callback arms are left for the next call. Returns how many fired.
    pub fn fire_timers(&mut self) -> Result<usize, Error> {
        let engines = &self.engines;
        let (table, overrides) = (&self.table, self.overrides.as_ref());
        bpfbox_vm::helpers::timer::fire_timers(
            &mut self.env,
            |p| {
                p.and_then(|p| engines.get(p as usize))
                    .and_then(|r| r.as_ref().ok())
                    .map(|v| &**v)
            },
            || bpfbox_vm::interp::RunOptions {
                overrides,
                skb: None,
                programs: Some(table),
            },
        )
        .map_err(|(p, f)| Error::Run {
            program: p
                .and_then(|p| self.programs.get(p as usize))
                .map_or_else(String::new, |p| p.name.clone()),
            source: TestRunError::Fault(f),
        })
    }

    /// Produces `sample` into user ring buffer `map`, as user space does with libbpf's
    /// `user_ring_buffer__reserve` and `__submit`; programs drain it with
    /// `bpf_user_ringbuf_drain`.
    pub fn user_ringbuf_submit(&self, map: &str, sample: &[u8]) -> Result<(), Error> {
        self.map(map)?
            .user_ringbuf_submit(sample)
            .map_err(|e| Error::Map {
                map: map.to_string(),
                source: e,
            })
    }

    /// The sockets, devices, routes and neighbours runs see (`bpf_sk_lookup_*`,
    /// `bpf_fib_lookup`), to fill before a run.
    pub fn net_mut(&mut self) -> &mut bpfbox_vm::net::Net {
        &mut self.env.net
    }

    /// The task runs execute in (`bpf_get_current_task_btf`, `bpf_find_vma`, `bpf_d_path`,
    /// `bpf_copy_from_user_task`, `bpf_get_task_stack`), to fill before a run.
    pub fn task_mut(&mut self) -> &mut bpfbox_vm::task::Task {
        &mut self.env.task
    }

    /// The environment runs see; changes apply to the next run.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Mutable access to the environment.
    pub fn env_mut(&mut self) -> &mut Env {
        &mut self.env
    }

    /// Every map, by index, with its libbpf name.
    pub fn maps(&self) -> impl Iterator<Item = (&str, &MapRef)> {
        self.map_names
            .iter()
            .map(String::as_str)
            .zip(self.maps.iter())
    }
}
