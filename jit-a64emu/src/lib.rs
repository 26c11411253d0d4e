//! Runs the aarch64 JIT's code on any host under the Unicorn emulator, for tests.
//!
//! The emulator maps host pages at their own addresses on first touch (the run context,
//! the BPF stack, the caller's regions, map values, the code of every image), so the code
//! and the Rust call-outs see the same memory. Call-outs go to a page of `ret`
//! instructions; a code hook on that page performs the call-out by its index with the
//! argument registers and writes x0 before the `ret` runs.
//!
//! Without the `unicorn` feature [`Emulator::new`] reports that it is unavailable, and the
//! tests skip.

#![warn(missing_docs)]

use std::sync::Arc;

use bpfbox_jit::aarch64::{A64Program, Options};
use bpfbox_jit::Mode;
use bpfbox_vm::interp::{RunOptions, STACK_WORDS};
use bpfbox_vm::memory::{Region, RegionKind};
use bpfbox_vm::{Env, Fault, RunOutcome, Vm};

#[cfg(feature = "unicorn")]
mod emu;
#[cfg(feature = "unicorn")]
pub use emu::Emulator;

/// Stand-in when the emulator is not built in.
#[cfg(not(feature = "unicorn"))]
pub struct Emulator;

#[cfg(not(feature = "unicorn"))]
impl Emulator {
    /// Always unavailable without the `unicorn` feature.
    pub fn new() -> Result<Emulator, String> {
        Err("built without the `unicorn` feature (the aarch64 emulator)".into())
    }
}

#[cfg(not(feature = "unicorn"))]
impl bpfbox_jit::aarch64::Executor for Emulator {
    fn callouts(&self) -> [u64; bpfbox_jit::aarch64::N_CALLOUTS] {
        [0; bpfbox_jit::aarch64::N_CALLOUTS]
    }

    unsafe fn call(
        &mut self,
        _entry: u64,
        _ctx: *mut bpfbox_jit::layout::RunCtx,
    ) -> Result<u64, String> {
        Err("no emulator".into())
    }
}

/// Whether emulated runs are possible here (`Err` says why not).
pub fn available() -> Result<(), String> {
    Emulator::new().map(|_| ())
}

/// aarch64 disassembly of `code` (capstone), one instruction a line with its offset.
pub fn disasm(code: &[u8]) -> String {
    use capstone::prelude::*;
    let Ok(cs) = Capstone::new()
        .arm64()
        .mode(arch::arm64::ArchMode::Arm)
        .build()
    else {
        return "capstone unavailable".into();
    };
    let out = match cs.disasm_all(code, 0) {
        Ok(insns) => insns
            .iter()
            .map(|i| {
                format!(
                    "{:6x}: {} {}\n",
                    i.address(),
                    i.mnemonic().unwrap_or(""),
                    i.op_str().unwrap_or("")
                )
            })
            .collect(),
        Err(e) => format!("capstone: {e}"),
    };
    out
}

/// Compiles `vm` for aarch64 in `mode` with `opts`.
pub fn compile(vm: &Arc<Vm>, mode: Mode, opts: Options) -> A64Program {
    let r = match mode {
        Mode::Checked => A64Program::compile(Arc::clone(vm), opts),
        // SAFETY: emulated runs touch only pages the emulator maps on demand from host
        // pages that exist; nothing is executed natively.
        Mode::Trusted => unsafe { A64Program::compile_trusted(Arc::clone(vm), opts) },
    };
    r.unwrap_or_else(|e| panic!("aarch64 compile: {e}"))
}

/// An aarch64 program run under a fresh emulator per run: a [`bpfbox_vm::testrun::Runner`].
#[derive(Debug)]
pub struct EmuRunner(pub A64Program);

impl bpfbox_vm::testrun::Runner for EmuRunner {
    fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<RunOutcome, Fault> {
        let mut emu = Emulator::new().map_err(|e| Fault {
            pc: 0,
            kind: bpfbox_vm::FaultKind::Unsupported(e),
        })?;
        self.0.run_with(args, regions, env, opts, &mut emu)
    }
}

/// Runs `prog` with the conformance contract (r1 = `mem`, r2 = its length) emulated.
pub fn run_mem(prog: &A64Program, mem: &mut [u8]) -> Result<RunOutcome, Fault> {
    let mut emu = Emulator::new().map_err(|e| Fault {
        pc: 0,
        kind: bpfbox_vm::FaultKind::Unsupported(e),
    })?;
    prog.run_mem_with(mem, &mut emu)
}

/// The regions and arguments of the conformance contract (r1 = `mem`, r2 = its length).
fn mem_contract(mem: &mut [u8]) -> ([Region; 1], [u64; 5]) {
    let ptr = mem.as_mut_ptr();
    let len = mem.len();
    // SAFETY: `mem` is exclusively borrowed by the caller for the whole run.
    let regions = [unsafe { Region::new(ptr, len, true, RegionKind::Memory) }];
    let r1 = if len == 0 { 0 } else { ptr as u64 };
    (regions, [r1, len as u64, 0, 0, 0])
}

/// Runs `vm` in the interpreter with the conformance contract on `mem`, on the caller's
/// `stack` (see [`run_mem_on_stack`]).
pub fn interp_mem_on_stack(
    vm: &Vm,
    mem: &mut [u8],
    stack: &mut [u64; STACK_WORDS],
) -> Result<RunOutcome, Fault> {
    let (regions, args) = mem_contract(mem);
    vm.run_on_stack(
        stack,
        args,
        &regions,
        &mut Env::default(),
        RunOptions::default(),
    )
}

/// Runs `prog` emulated with the conformance contract on `mem`, on the caller's `stack`:
/// given the same (zeroed) stack as [`interp_mem_on_stack`], both engines see the same
/// addresses, so results holding stack addresses (r0, a fault's address, values stored to
/// memory) compare exactly.
pub fn run_mem_on_stack(
    prog: &A64Program,
    mem: &mut [u8],
    stack: &mut [u64; STACK_WORDS],
) -> Result<RunOutcome, Fault> {
    let mut emu = Emulator::new().map_err(|e| Fault {
        pc: 0,
        kind: bpfbox_vm::FaultKind::Unsupported(e),
    })?;
    let (regions, args) = mem_contract(mem);
    prog.run_on_stack(
        stack,
        args,
        &regions,
        &mut Env::default(),
        RunOptions::default(),
        &mut emu,
    )
}

/// The aarch64 JIT under emulation as a bpf_conformance engine.
#[derive(Clone, Copy, Debug)]
pub struct EmuEngine(pub Mode, pub Options);

impl bpfbox_vm::conformance::Engine for EmuEngine {
    fn run(&self, prog: &[bpfbox_vm::RawInsn], mem: &mut [u8]) -> Result<u64, String> {
        let vm = Arc::new(Vm::new(prog).map_err(|e| e.to_string())?);
        let p = compile(&vm, self.0, self.1);
        run_mem(&p, mem).map(|o| o.r0).map_err(|f| f.to_string())
    }
}

/// The skip rule of this crate's tests: a reason on stderr, a failure when
/// `BPFBOX_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var_os("BPFBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("required test skipped: {reason}");
    }
    // Not `eprintln!`, which the test harness captures: a skip stays visible.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
}
