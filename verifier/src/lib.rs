//! bpfbox-verifier: decides what the Linux 6.18 verifier decides, and says it in its words.
//!
//! Stages, each its own module, data flowing one way:
//! program-level checks ([`mod@cfg`]) → the abstract state ([`state`]: registers, stack, frames)
//! over a scalar [`domain`] → per-instruction checks by kind ([`check`]) → path exploration
//! ([`explore`]) → the log ([`log`]).
//!
//! It fails closed: a program using a feature not handled yet is rejected with a message
//! saying so ([`Verdict::unsupported`]), never accepted.
#![warn(missing_docs)]

pub mod cfg;
pub mod check;
pub mod ctx;
pub mod domain;
pub mod error;
pub mod explore;
pub mod facts;
pub mod fastcall;
pub mod global;
pub mod log;
pub mod options;
pub mod prune;
pub mod state;
pub mod unpriv;

pub use error::Reject;
pub use facts::Facts;
pub use options::{Options, Privilege, Stats, Verdict};

use bpfbox_vm::Program;

/// Verifies `prog` as the kernel would load it with `opts`.
pub fn verify(prog: &Program, opts: &Options) -> Verdict {
    let started = std::time::Instant::now();
    let opts = &*check::map_in_map::with_inner_templates(opts);
    let mut log = log::Log::new(opts.log_level);
    let mut stats = Stats::default();
    let input = cfg::CfgInput {
        insns: &prog.insns,
        func_info: &prog.func_info,
        line_info: &prog.line_info,
        maps: &opts.maps,
        bpf_capable: opts.bpf_capable,
        verbose: log.verbose(),
        prog_type: prog.prog_type,
        btf: opts.btf.as_deref(),
    };
    let sleepable = (prog.prog_flags | opts.flags) & (1 << 4) != 0; // BPF_F_SLEEPABLE
    let result = if prog.insns.is_empty() {
        Err(Reject::program("empty program"))
    } else if let Some(r) = unpriv::before_load(prog, opts) {
        Err(r)
    } else if prog.prog_type == bpfbox_vm::ProgType::Syscall && !sleepable {
        // `check_attach_btf_id`, before the program-level checks.
        Err(Reject::program("Syscall programs can only be sleepable"))
    } else {
        let mut cfg_log = Vec::new();
        let c = cfg::check_logged(&input, &mut cfg_log);
        for l in &cfg_log {
            log.line(l);
        }
        c.and_then(|c| {
            if log.verbose() {
                // `compute_live_registers`, after the program-level checks.
                let live = prune::liveness::live_regs_before(&prog.insns);
                let loops = prune::store::loops(&prog.insns);
                log.text_block(&log::live_table::live_table(&prog.insns, &live, &loops));
            }
            explore::run(prog, opts, &c, &mut stats, &mut log)
        })
    };
    let usec = started.elapsed().as_micros();
    let error = result.as_ref().err().map(|r| r.message.as_str());
    let log = log.finish(error, &stats, usec);
    match result {
        Ok(facts) => Verdict {
            accepted: true,
            insn: None,
            error: None,
            unsupported: false,
            log,
            stats,
            facts: Some(facts),
        },
        Err(r) => Verdict {
            accepted: false,
            insn: r.insn,
            // A complexity limit is a definite rejection: pruning matches the kernel's (the
            // corpus's programs that reach a limit reach it at the same count).
            unsupported: r.unsupported,
            error: Some(r.message),
            log,
            stats,
            facts: None,
        },
    }
}
