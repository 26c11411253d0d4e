//! [`VmBuilder`]: the engine, memory checking, budget, deterministic environment and helper
//! overrides of a [`Vm`], and the build that loads an object's maps and verifies and
//! compiles its programs.

use super::*;

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
