//! `--engine` for `bpfbox run`: the interpreter or the JIT, and timing of repeated runs of
//! raw programs.

use std::sync::Arc;
use std::time::Instant;

use bpfbox_jit::JitProgram;
use bpfbox_vm::{Fault, RunOutcome, Vm};

use super::CliError;

/// Which engine runs a program.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunEngine {
    /// The interpreter.
    #[default]
    Interp,
    /// The native JIT (checked; trusted with --unchecked).
    Jit,
}

impl From<RunEngine> for crate::Engine {
    fn from(e: RunEngine) -> Self {
        match e {
            RunEngine::Interp => crate::Engine::Interpreter,
            RunEngine::Jit => crate::Engine::Jit,
        }
    }
}

/// One run of a prepared program on its memory.
type RunFn = dyn Fn(&mut [u8]) -> Result<RunOutcome, Fault>;

/// Runs a raw program `repeat` times on `mem` (state carries over, as bpftool's repeat does)
/// and returns the last outcome with the mean duration in nanoseconds.
pub fn run_raw(
    vm: Vm,
    engine: RunEngine,
    mem: &mut [u8],
    repeat: u32,
) -> Result<Result<(RunOutcome, u64), Fault>, CliError> {
    let repeat = repeat.max(1);
    let run: Box<RunFn> = match engine {
        RunEngine::Interp => Box::new(move |m| vm.run_mem(m)),
        RunEngine::Jit => {
            let checked = vm.is_checked();
            let vm = Arc::new(vm);
            let jit = if checked {
                JitProgram::compile(vm)
            } else {
                // SAFETY: the user asked for unchecked execution with --unchecked, whose help
                // says it is only for programs that stay in bounds.
                unsafe { JitProgram::compile_trusted(vm) }
            }
            .map_err(|e| CliError::internal(format!("JIT: {e}")))?;
            Box::new(move |m| jit.run_mem(m))
        }
    };
    let start = Instant::now();
    let mut last = None;
    for _ in 0..repeat {
        match run(mem) {
            Ok(o) => last = Some(o),
            Err(f) => return Ok(Err(f)),
        }
    }
    let ns = (start.elapsed().as_nanos() / u128::from(repeat)) as u64;
    Ok(Ok((last.unwrap_or(RunOutcome { r0: 0, insns: 0 }), ns)))
}
