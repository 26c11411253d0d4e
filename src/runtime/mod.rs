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

mod builder;
mod error;

pub use builder::{Engine, VmBuilder};
pub use error::Error;

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
