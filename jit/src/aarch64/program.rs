//! Compiled aarch64 images and how they run: natively on an aarch64 host, or on any host
//! through an [`Executor`] (an emulator) that maps the run's memory at its own addresses and
//! performs the call-outs when the code branches to the addresses it was given for them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bpfbox_vm::interp::host::Host;
use bpfbox_vm::interp::{FaultKind, RunOptions, STACK_WORDS};
use bpfbox_vm::memory::{Region, RegionKind};
use bpfbox_vm::{Env, Fault, RunOutcome, Vm};

use super::Backend;
use crate::frontend::{Mode, Plan};
use crate::layout::*;
use crate::{code, runtime, ImageMeta, JitError};

/// Number of call-outs.
pub const N_CALLOUTS: usize = 5;

/// The call-outs aarch64 code makes, by their index in [`RunCtx::callouts`]. Each follows
/// the C calling convention with the arguments in x0..x5 and the result in x0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum CallOut {
    /// `(r1, r2, r3, r4, r5, ctx) -> r0`: a helper call.
    Helper = 0,
    /// `(ctx)`: a memory access whose inline check failed.
    Mem = 1,
    /// `(ctx)`: the meter ran out; replays the block and records the fault.
    Budget = 2,
    /// `(ctx, offset, size) -> r0`: `LD_ABS` / `LD_IND`.
    LdPacket = 3,
    /// `(ctx, map, index) -> address or 0`: `bpf_tail_call`.
    TailCall = 4,
}

/// Code generation choices that depend on the target CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Use the ARMv8.1 LSE atomic instructions (else LL/SC loops).
    pub lse: bool,
}

impl Options {
    /// What the host supports: LSE when an aarch64 host has it (detected at run time); on
    /// other hosts (dumps, emulation) LSE, the common case of current cores.
    pub fn host() -> Options {
        #[cfg(target_arch = "aarch64")]
        let lse = std::arch::is_aarch64_feature_detected!("lse");
        #[cfg(not(target_arch = "aarch64"))]
        let lse = true;
        Options { lse }
    }
}

/// Runs aarch64 code: the native CPU or an emulator.
pub trait Executor {
    /// Addresses the code branches to for each [`CallOut`].
    fn callouts(&self) -> [u64; N_CALLOUTS];

    /// Calls the entry stub at `entry` as `extern "C" fn(*mut RunCtx) -> u64` and returns
    /// its result (an `Err` when the executor itself failed).
    ///
    /// # Safety
    /// `ctx` is a live run context set up by [`A64Program::run_with`]; the code at `entry`
    /// is an entry stub of an image of that program.
    unsafe fn call(&mut self, entry: u64, ctx: *mut RunCtx) -> Result<u64, String>;
}

/// Performs call-out `k` with the argument registers `a` (what an emulator's hook does
/// when the code reaches the address it gave for `k`).
///
/// # Safety
/// The arguments are what the code of an image passes for that call-out during a run set
/// up by [`A64Program::run_with`] (the context pointer among them).
pub unsafe fn callout(k: usize, a: [u64; 6]) -> u64 {
    match k {
        0 => runtime::jit_helper(a[0], a[1], a[2], a[3], a[4], a[5] as *mut RunCtx),
        1 => runtime::jit_mem(a[0] as *mut RunCtx),
        2 => runtime::jit_budget(a[0] as *mut RunCtx),
        3 => runtime::jit_ld_packet(a[0] as *mut RunCtx, a[1], a[2]),
        _ => a64_tail_call(a[0] as *mut RunCtx, a[1], a[2]),
    }
}

/// The native call-out addresses (what an aarch64 host's code calls directly).
pub fn native_callouts() -> [u64; N_CALLOUTS] {
    [
        runtime::jit_helper as *const () as usize as u64,
        runtime::jit_mem as *const () as usize as u64,
        runtime::jit_budget as *const () as usize as u64,
        runtime::jit_ld_packet as *const () as usize as u64,
        a64_tail_call as *const () as usize as u64,
    ]
}

/// `bpf_tail_call` for aarch64 images: the target image's body address, or 0.
extern "C" fn a64_tail_call(ctx: *mut RunCtx, map: u64, index: u64) -> u64 {
    runtime::guarded(ctx, "tail call", || {
        // SAFETY: native code passes the run's context.
        let (c, host, meta) = unsafe { runtime::parts(ctx) };
        host.set_current(&meta.vm);
        let pc = c.pc as usize;
        let target = match host.tail_call(map, index as u32, pc) {
            Ok(Some(t)) => t,
            Ok(None) => return 0,
            Err(f) => {
                runtime::fail(c, f);
                return 0;
            }
        };
        // SAFETY: `prog` is the program whose `run_with` set up this context.
        let prog = unsafe { &*(c.prog as *const A64Program) };
        match prog.image_for(&target) {
            Ok(image) => {
                let at = image.body0_addr();
                // Call-outs from now on find the target's metadata.
                c.image = &*image.meta as *const ImageMeta as u64;
                prog.keep(image);
                at
            }
            Err(e) => {
                runtime::fail(
                    c,
                    Fault {
                        pc,
                        kind: FaultKind::Unsupported(format!("tail call target: {e}")),
                    },
                );
                0
            }
        }
    })
}

/// One compiled aarch64 program image.
pub struct A64Image {
    meta: Box<ImageMeta>,
    code: code::Code,
    body0: usize,
    body_end: usize,
    offsets: Vec<u32>,
    mode: Mode,
    opts: Options,
    compile_time: Duration,
}

impl std::fmt::Debug for A64Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A64Image")
            .field("bytes", &self.code.bytes().len())
            .field("mode", &self.mode)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl A64Image {
    /// Compiles `vm`'s program to aarch64 code on any host. The code is placed in a
    /// read-execute mapping (and the instruction cache synchronised on an aarch64 host).
    pub fn compile(vm: Arc<Vm>, mode: Mode, opts: Options) -> Result<A64Image, JitError> {
        let start = Instant::now();
        let plan = Plan::new(&vm, mode);
        // Short conditional branches first; a target out of their ±1 MiB range makes the
        // assembler refuse the relocation, and the program is emitted again with inverted
        // short branches around `b`.
        let (emitted, sites, faults) = match Backend::new(&vm, &plan, opts.lse, false).compile() {
            Ok(r) => r,
            Err(JitError::Assemble(_)) => Backend::new(&vm, &plan, opts.lse, true).compile()?,
            Err(e) => return Err(e),
        };
        let code = code::Code::install(emitted.code)?;
        dynasmrt::cache_control::synchronize_icache(code.bytes());
        // Call-outs find the slot in `RunCtx::pc` (stored by the code), so the table of
        // shared-stub calls stays empty.
        let meta = Box::new(ImageMeta {
            vm: Arc::clone(&vm),
            sites,
            faults,
            code_addr: code.addr() as u64,
            calls: Vec::new(),
        });
        Ok(A64Image {
            meta,
            code,
            body0: emitted.body0,
            body_end: emitted.body_end,
            offsets: emitted.offsets,
            mode,
            opts,
            compile_time: start.elapsed(),
        })
    }

    /// The code (entry stub, functions, epilogues, out-of-line paths).
    pub fn code(&self) -> &[u8] {
        self.code.bytes()
    }

    /// Address of the code in memory (the entry stub is at offset 0).
    pub fn addr(&self) -> usize {
        self.code.addr()
    }

    /// Offset of slot 0's body, where the entry stub (after building the entry function's
    /// frame) and tail calls enter.
    pub fn body0(&self) -> usize {
        self.body0
    }

    fn body0_addr(&self) -> u64 {
        (self.code.addr() + self.body0) as u64
    }

    /// Native offset of each slot's code (`u32::MAX` where a slot has none).
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Offset where the body ends and the epilogues and out-of-line paths begin.
    pub fn body_end(&self) -> usize {
        self.body_end
    }

    /// Time the compilation took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// The mode it was compiled for.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The code generation options.
    pub fn options(&self) -> Options {
        self.opts
    }
}

/// An aarch64 program: the entry image and the images of tail call targets, compiled on
/// first use in the same mode and with the same options.
pub struct A64Program {
    vm: Arc<Vm>,
    image: Arc<A64Image>,
    others: Mutex<Vec<(Arc<Vm>, Arc<A64Image>)>>,
    /// Images entered by tail calls during the current run.
    entered: Mutex<Vec<Arc<A64Image>>>,
}

impl std::fmt::Debug for A64Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A64Program")
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

impl A64Program {
    /// Compiles in checked mode (every access checked, the budget metered).
    pub fn compile(vm: Arc<Vm>, opts: Options) -> Result<A64Program, JitError> {
        Self::with_mode(vm, Mode::Checked, opts)
    }

    /// Compiles without checks or meter.
    ///
    /// # Safety
    /// As for [`crate::JitProgram::compile_trusted`]: run natively, every access must stay in
    /// live memory of the run and the program must terminate.
    pub unsafe fn compile_trusted(vm: Arc<Vm>, opts: Options) -> Result<A64Program, JitError> {
        Self::with_mode(vm, Mode::Trusted, opts)
    }

    fn with_mode(vm: Arc<Vm>, mode: Mode, opts: Options) -> Result<A64Program, JitError> {
        let image = Arc::new(A64Image::compile(Arc::clone(&vm), mode, opts)?);
        Ok(A64Program {
            vm,
            image,
            others: Mutex::new(Vec::new()),
            entered: Mutex::new(Vec::new()),
        })
    }

    /// The entry image.
    pub fn image(&self) -> &A64Image {
        &self.image
    }

    /// The program this was compiled from.
    pub fn vm(&self) -> &Arc<Vm> {
        &self.vm
    }

    fn image_for(&self, vm: &Arc<Vm>) -> Result<Arc<A64Image>, JitError> {
        if Vm::same_code(vm, &self.vm) {
            return Ok(Arc::clone(&self.image));
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, img)) = others.iter().find(|(v, _)| Vm::same_code(v, vm)) {
            return Ok(Arc::clone(img));
        }
        let img = Arc::new(A64Image::compile(
            Arc::clone(vm),
            self.image.mode,
            self.image.opts,
        )?);
        others.push((Arc::clone(vm), Arc::clone(&img)));
        Ok(img)
    }

    fn keep(&self, image: Arc<A64Image>) {
        self.entered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(image);
    }

    /// Runs natively on an aarch64 host.
    #[cfg(target_arch = "aarch64")]
    pub fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        self.run_with(args, regions, env, opts, &mut Native)
    }

    /// Runs with the uBPF/conformance contract (r1 = `mem`, r2 = its length) on `exec`.
    pub fn run_mem_with(
        &self,
        mem: &mut [u8],
        exec: &mut dyn Executor,
    ) -> Result<RunOutcome, Fault> {
        let mut env = Env::default();
        let ptr = mem.as_mut_ptr();
        let len = mem.len();
        // SAFETY: `mem` is exclusively borrowed for the whole run.
        let regions = [unsafe { Region::new(ptr, len, true, RegionKind::Memory) }];
        let r1 = if len == 0 { 0 } else { ptr as u64 };
        self.run_with(
            [r1, len as u64, 0, 0, 0],
            &regions,
            &mut env,
            RunOptions::default(),
            exec,
        )
    }

    /// Runs with r1..r5 = `args`, the given regions and environment, as [`Vm::run`] does,
    /// the code executed by `exec`. In trusted mode the instruction count is 0.
    pub fn run_with(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
        exec: &mut dyn Executor,
    ) -> Result<RunOutcome, Fault> {
        let mut stack = Box::new([0u64; STACK_WORDS]);
        self.run_on_stack(&mut stack, args, regions, env, opts, exec)
    }

    /// As [`A64Program::run_with`], on the caller's BPF stack instead of a fresh one, so
    /// that another engine can be given the same stack addresses ([`Vm::run_on_stack`]).
    /// The program sees the stack as it is: a run's own stack starts zeroed.
    pub fn run_on_stack(
        &self,
        stack: &mut [u64; STACK_WORDS],
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
        exec: &mut dyn Executor,
    ) -> Result<RunOutcome, Fault> {
        let checked = self.image.mode == Mode::Checked;
        let stack_ptr = stack.as_mut_ptr() as *mut u8;
        // SAFETY: the stack is exclusively borrowed for the call and outlives the host
        // (both end with this call).
        let mut host = unsafe {
            Host::new(
                &self.vm,
                stack_ptr,
                STACK_BYTES,
                regions,
                env,
                opts,
                checked,
            )
        };
        let budget = host.budget();
        let (r1_start, r1_lim) = runtime::r1_limits(regions, stack_ptr as u64);
        let mut ctx = Box::new(RunCtx {
            left: budget,
            saved_rsp: 0,
            // The x86-64 backend's shared stubs; aarch64 code calls out through `callouts`.
            epilogue: 0,
            helper: 0,
            ld_packet: 0,
            tail_call: 0,
            budget_tail: 0,
            mem_tail: 0,
            pc: 0,
            image: &*self.image.meta as *const ImageMeta as u64,
            r10: stack_ptr as u64 + STACK_BYTES as u64,
            stack_start: stack_ptr as u64,
            r1_start,
            r1_lim,
            regs: [0; 11],
            args,
            id: 0,
            status: STATUS_OK,
            fault_ret: 0,
            site: 0,
            entry_fn: self.image.body0_addr(),
            callouts: exec.callouts(),
            host: &mut host as *mut Host<'_> as *mut (),
            prog: self as *const A64Program as *const (),
            fault: None,
            entered: Vec::new(),
        });
        let entry = self.image.code.addr() as u64;
        // SAFETY: the context (with the stack, host and image it points to) lives until the
        // call returns; `entry` is this program's entry stub.
        let called = unsafe { exec.call(entry, &mut *ctx) };
        self.entered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let r0 = match called {
            Ok(v) => v,
            Err(e) => {
                return Err(Fault {
                    pc: ctx.pc as usize,
                    kind: FaultKind::Unsupported(format!("aarch64 executor: {e}")),
                })
            }
        };
        let result = runtime::outcome(&mut ctx, r0, checked, budget);
        drop(ctx);
        drop(host);
        result
    }
}

/// The native CPU (an aarch64 host).
#[cfg(target_arch = "aarch64")]
pub struct Native;

#[cfg(target_arch = "aarch64")]
impl Executor for Native {
    fn callouts(&self) -> [u64; N_CALLOUTS] {
        native_callouts()
    }

    unsafe fn call(&mut self, entry: u64, ctx: *mut RunCtx) -> Result<u64, String> {
        dynasmrt::cache_control::prepare_for_execution(&[]);
        // SAFETY: per the trait's contract, `entry` is an entry stub in a read-execute
        // mapping following the C ABI and `ctx` a live run context.
        Ok(unsafe {
            let f: extern "C" fn(*mut RunCtx) -> u64 = std::mem::transmute(entry as usize);
            f(ctx)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfbox_vm::isa::{AluOp, Insn, Src, Width};

    /// A block longer than `b.cond`'s ±1 MiB: its meter branch cannot reach the
    /// out-of-line stub, so short branches fail to assemble and the long form is used.
    #[test]
    fn far_targets_fall_back_to_long_branches() {
        let mut slots = Vec::new();
        for _ in 0..300_000 {
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: 0,
                src: Src::Imm(1),
            }
            .encode_into(&mut slots);
        }
        Insn::EXIT.encode_into(&mut slots);
        let vm = Arc::new(Vm::new(&slots).expect("valid"));
        let plan = Plan::new(&vm, Mode::Checked);
        let short = Backend::new(&vm, &plan, true, false).compile();
        assert!(matches!(short, Err(JitError::Assemble(_))));
        let img = A64Image::compile(vm, Mode::Checked, Options { lse: true }).expect("long");
        assert!(img.code().len() > 1 << 20);
    }
}
