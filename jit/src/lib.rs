//! bpfbox-jit: compiles eBPF to native code with exactly the interpreter's meaning.
//!
//! A shared [`frontend`] finds blocks, functions and the accesses it can prove in bounds;
//! a thin per-architecture backend emits code with `dynasmrt`: `x86_64` (run natively by
//! [`JitProgram`]) and [`aarch64`] (compiled on any host; run natively on an aarch64 host or
//! through an [`aarch64::Executor`] such as an emulator). Helpers,
//! memory slow paths, budget replays and tail calls call back into the interpreter's own
//! run state ([`bpfbox_vm::interp::host::Host`]), so the JIT and the interpreter share one
//! definition of every operation that is not plain arithmetic.
//!
//! ```
//! use std::sync::Arc;
//! use bpfbox_jit::JitProgram;
//! use bpfbox_vm::{asm, Vm};
//!
//! let slots = asm::assemble("mov %r0, 6\nmul %r0, 7\nexit").unwrap();
//! let jit = JitProgram::compile(Arc::new(Vm::new(&slots).unwrap())).unwrap();
//! assert_eq!(jit.run_mem(&mut []).unwrap().r0, 42);
//! ```

#![warn(missing_docs)]

pub mod aarch64;
pub mod code;
pub mod frontend;
pub mod layout;
mod runtime;
mod spare;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bpfbox_vm::interp::host::Host;
use bpfbox_vm::interp::{FaultKind, RunOptions};
use bpfbox_vm::memory::{Region, RegionKind};
use bpfbox_vm::{Env, Fault, RunOutcome, Vm};

pub use frontend::Mode;
use frontend::{Plan, Site};
use layout::*;

/// Why a program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The target architecture has no backend yet.
    #[error("no JIT backend for {0}")]
    UnsupportedArch(&'static str),
    /// The assembler refused the code (a bug).
    #[error("assembler: {0}")]
    Assemble(String),
    /// A call at `pc` targets a slot that is not a function.
    #[error("insn {pc}: call target {target} is not a function")]
    BadCall {
        /// The call.
        pc: usize,
        /// Its target.
        target: usize,
    },
    /// The executable mapping could not be created.
    #[error("mapping code: {0}")]
    Map(#[from] std::io::Error),
}

/// What native code finds through [`RunCtx::image`]: the program and the compile-time
/// descriptions its call-outs refer to by index.
pub(crate) struct ImageMeta {
    pub vm: Arc<Vm>,
    pub sites: Vec<Site>,
    pub faults: Vec<Fault>,
    /// Address of the image's code.
    pub code_addr: u64,
    /// Helper calls through the shared stub: (return offset, slot, helper id), sorted.
    pub calls: Vec<(u32, u32, u32)>,
}

/// One compiled program: native code, its slot-to-native offset table and metadata.
pub struct Image {
    // Found by native code through `RunCtx::image`; images live in an `Arc`, so its address
    // stays put while they run.
    meta: ImageMeta,
    code: code::Code,
    body0: usize,
    body_end: usize,
    offsets: Vec<u32>,
    mode: Mode,
    blind: bool,
    compile_time: Duration,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("bytes", &self.code.bytes().len())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Image {
    fn compile(vm: Arc<Vm>, opts: Options) -> Result<Image, JitError> {
        let start = Instant::now();
        let mode = opts.mode;
        let mut plan = Plan::new(&vm, mode);
        plan.blind = opts.blind_constants;
        #[cfg(target_arch = "x86_64")]
        let (emitted, sites, faults) = x86_64::compile(&vm, &plan)?;
        #[cfg(not(target_arch = "x86_64"))]
        return Err(JitError::UnsupportedArch(std::env::consts::ARCH));
        let code = code::Code::install(emitted.code)?;
        let meta = ImageMeta {
            vm: Arc::clone(&vm),
            sites,
            faults,
            code_addr: code.addr() as u64,
            calls: emitted.calls,
        };
        Ok(Image {
            meta,
            code,
            body0: emitted.body0,
            body_end: emitted.body_end,
            offsets: {
                let mut o = emitted.offsets;
                o.truncate(plan.slots.len());
                o
            },
            mode,
            blind: opts.blind_constants,
            compile_time: start.elapsed(),
        })
    }

    /// The native code (entry stub, body, epilogue, out-of-line paths).
    pub fn code(&self) -> &[u8] {
        self.code.bytes()
    }

    /// Address of the code in memory.
    pub fn addr(&self) -> usize {
        self.code.addr()
    }

    /// Native offset of each slot's code (`u32::MAX` where a slot has none).
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Offset where the body (the instructions) starts, after slot 0's prologue.
    pub fn body_start(&self) -> usize {
        self.offsets.first().copied().unwrap_or(0) as usize
    }

    /// Offset where the body ends and the shared epilogue and out-of-line paths begin.
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

    /// Whether its immediates are blinded.
    pub fn blinded(&self) -> bool {
        self.blind
    }

    fn options(&self) -> Options {
        Options {
            mode: self.mode,
            blind_constants: self.blind,
        }
    }

    pub(crate) fn body0_addr(&self) -> u64 {
        (self.code.addr() + self.body0) as u64
    }
}

/// The code shared by every image (entry stub, epilogue, helper stub), mapped once, with
/// the addresses of its parts.
struct Shared {
    code: code::Code,
    /// Offset of the entry stub in `code`.
    entry: usize,
    epilogue: u64,
    helper: u64,
    ld_packet: u64,
    tail_call: u64,
    budget_tail: u64,
    mem_tail: u64,
}

fn shared() -> Result<&'static Shared, Fault> {
    static SHARED: std::sync::OnceLock<Result<Shared, String>> = std::sync::OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    let made = SHARED.get_or_init(|| {
        let s = x86_64::shared_code().map_err(|e| e.to_string())?;
        let code = code::Code::new(&s.code).map_err(|e| e.to_string())?;
        let at = code.addr();
        Ok(Shared {
            entry: s.entry,
            epilogue: (at + s.epilogue) as u64,
            helper: (at + s.helper) as u64,
            ld_packet: (at + s.ld_packet) as u64,
            tail_call: (at + s.tail_call) as u64,
            budget_tail: (at + s.budget_tail) as u64,
            mem_tail: (at + s.mem_tail) as u64,
            code,
        })
    });
    #[cfg(not(target_arch = "x86_64"))]
    let made: &Result<Shared, String> =
        SHARED.get_or_init(|| Err(format!("no JIT backend for {}", std::env::consts::ARCH)));
    made.as_ref().map_err(|e| Fault {
        pc: 0,
        kind: FaultKind::Unsupported(format!("JIT shared code: {e}")),
    })
}

/// How a program is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Checked or trusted.
    pub mode: Mode,
    /// Constant blinding, as the kernel's `bpf_jit_blind_constants`: every immediate of the
    /// program is emitted XORed with a random key and XORed back at run time, so that a
    /// program cannot place chosen bytes in executable memory (JIT spraying). For programs
    /// from untrusted sources; it costs an instruction or two per immediate.
    pub blind_constants: bool,
}

/// A program compiled for one mode, with the images of tail call targets compiled on first
/// use.
pub struct JitProgram {
    vm: Arc<Vm>,
    image: Arc<Image>,
    others: Mutex<Vec<(Arc<Vm>, Arc<Image>)>>,
}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

impl JitProgram {
    /// Compiles `vm`'s program in checked mode: every access checked, the budget metered.
    pub fn compile(vm: Arc<Vm>) -> Result<JitProgram, JitError> {
        Self::with_mode(vm, Mode::Checked)
    }

    /// Compiles `vm`'s program without checks or meter.
    ///
    /// # Safety
    /// As for [`Vm::set_unchecked`]: every access the program makes on every input it will
    /// be run with stays in live memory of the run, and it terminates (what the verifier
    /// proves for programs it accepts).
    pub unsafe fn compile_trusted(vm: Arc<Vm>) -> Result<JitProgram, JitError> {
        Self::with_mode(vm, Mode::Trusted)
    }

    /// Compiles `vm`'s program in checked mode with constant blinding
    /// ([`Options::blind_constants`]).
    pub fn compile_blinded(vm: Arc<Vm>) -> Result<JitProgram, JitError> {
        Self::with_options(
            vm,
            Options {
                mode: Mode::Checked,
                blind_constants: true,
            },
        )
    }

    /// Compiles `vm`'s program with `opts`.
    ///
    /// # Safety
    /// With [`Mode::Trusted`], as for [`JitProgram::compile_trusted`]; nothing with
    /// [`Mode::Checked`].
    pub unsafe fn compile_with(vm: Arc<Vm>, opts: Options) -> Result<JitProgram, JitError> {
        Self::with_options(vm, opts)
    }

    fn with_mode(vm: Arc<Vm>, mode: Mode) -> Result<JitProgram, JitError> {
        Self::with_options(
            vm,
            Options {
                mode,
                blind_constants: false,
            },
        )
    }

    fn with_options(vm: Arc<Vm>, opts: Options) -> Result<JitProgram, JitError> {
        let image = Arc::new(Image::compile(Arc::clone(&vm), opts)?);
        Ok(JitProgram {
            vm,
            image,
            others: Mutex::new(Vec::new()),
        })
    }

    /// The compiled entry program.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// The program this was compiled from.
    pub fn vm(&self) -> &Arc<Vm> {
        &self.vm
    }

    /// The image of a tail call target, compiled in this program's mode on first use.
    pub(crate) fn image_for(&self, vm: &Arc<Vm>) -> Result<Arc<Image>, JitError> {
        if Vm::same_code(vm, &self.vm) {
            return Ok(Arc::clone(&self.image));
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, img)) = others.iter().find(|(v, _)| Vm::same_code(v, vm)) {
            return Ok(Arc::clone(img));
        }
        let img = Arc::new(Image::compile(Arc::clone(vm), self.image.options())?);
        others.push((Arc::clone(vm), Arc::clone(&img)));
        Ok(img)
    }

    /// Runs with the uBPF/conformance contract: r1 = `mem` (writable), r2 = its length.
    pub fn run_mem(&self, mem: &mut [u8]) -> Result<RunOutcome, Fault> {
        let mut env = Env::default();
        let ptr = mem.as_mut_ptr();
        let len = mem.len();
        // SAFETY: `mem` is exclusively borrowed for the whole run.
        let regions = [unsafe { Region::new(ptr, len, true, RegionKind::Memory) }];
        let r1 = if len == 0 { 0 } else { ptr as u64 };
        self.run(
            [r1, len as u64, 0, 0, 0],
            &regions,
            &mut env,
            RunOptions::default(),
        )
    }

    /// Runs with r1..r5 = `args`, the given regions (besides the stack) and environment, as
    /// [`Vm::run`] does. In trusted mode the instruction count is 0 (nothing meters it).
    pub fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        let checked = self.image.mode == Mode::Checked;
        let mut stack = vec![0u64; STACK_BYTES / 8];
        let stack_ptr = stack.as_mut_ptr() as *mut u8;
        // SAFETY: the stack is owned here and outlives the host (both end with this call).
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
        let shared = shared()?;
        let mut ctx = RunCtx {
            left: budget,
            saved_rsp: 0,
            epilogue: shared.epilogue,
            helper: shared.helper,
            ld_packet: shared.ld_packet,
            tail_call: shared.tail_call,
            budget_tail: shared.budget_tail,
            mem_tail: shared.mem_tail,
            pc: 0,
            image: &self.image.meta as *const ImageMeta as u64,
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
            callouts: [0; aarch64::N_CALLOUTS],
            host: &mut host as *mut Host<'_> as *mut (),
            prog: self as *const JitProgram as *const (),
            fault: None,
            entered: Vec::new(),
        };
        let entry = shared.code.addr() + shared.entry;
        // SAFETY: `entry` is the shared entry stub, in a read-execute mapping that lives for
        // the process; it follows the C ABI taking the context, which lives (with the stack,
        // host and image it points to) until the call returns, and enters `ctx.entry_fn`, the
        // entry function of an image compiled for this program.
        let r0 = unsafe {
            let f: extern "C" fn(*mut RunCtx) -> u64 = std::mem::transmute(entry);
            f(&mut ctx)
        };
        let result = runtime::outcome(&mut ctx, r0, checked, budget);
        drop(ctx);
        drop(host);
        drop(stack);
        result
    }
}

/// The JIT as a bpf_conformance engine, in either mode.
#[derive(Clone, Copy, Debug)]
pub struct JitEngine(pub Mode);

/// The JIT with constant blinding as a bpf_conformance engine, in either mode.
#[derive(Clone, Copy, Debug)]
pub struct BlindedJitEngine(pub Mode);

impl bpfbox_vm::conformance::Engine for BlindedJitEngine {
    fn run(&self, prog: &[bpfbox_vm::RawInsn], mem: &mut [u8]) -> Result<u64, String> {
        let vm = Arc::new(Vm::new(prog).map_err(|e| e.to_string())?);
        let opts = Options {
            mode: self.0,
            blind_constants: true,
        };
        // SAFETY: as for `JitEngine`: the suite's fixed, terminating tests, each given the
        // memory block it was written for.
        let jit = unsafe { JitProgram::compile_with(vm, opts) }.map_err(|e| e.to_string())?;
        jit.run_mem(mem).map(|o| o.r0).map_err(|f| f.to_string())
    }
}

impl bpfbox_vm::conformance::Engine for JitEngine {
    fn run(&self, prog: &[bpfbox_vm::RawInsn], mem: &mut [u8]) -> Result<u64, String> {
        let vm = Arc::new(Vm::new(prog).map_err(|e| e.to_string())?);
        let jit = match self.0 {
            Mode::Checked => JitProgram::compile(vm),
            // SAFETY: the conformance programs are the suite's fixed, terminating tests,
            // each given the memory block it was written for.
            Mode::Trusted => unsafe { JitProgram::compile_trusted(vm) },
        }
        .map_err(|e| e.to_string())?;
        jit.run_mem(mem).map(|o| o.r0).map_err(|f| f.to_string())
    }
}

impl bpfbox_vm::testrun::Runner for JitProgram {
    fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        JitProgram::run(self, args, regions, env, opts)
    }
}
