//! bpfbox-verifier: decides what the Linux 6.18 verifier decides, and says it in its words.
//!
//! Stages, each its own module, data flowing one way:
//! program-level checks ([`cfg`]) → the abstract state ([`state`]: registers, stack, frames)
//! over a scalar [`domain`] → per-instruction checks by kind ([`check`]) → path exploration
//! ([`explore`]) → the log.
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
pub mod options;
pub mod prune;
pub mod state;

pub use error::Reject;
pub use options::{Options, Stats, Verdict};

use bpfbox_vm::Program;

/// Verifies `prog` as the kernel would load it with `opts`.
pub fn verify(prog: &Program, opts: &Options) -> Verdict {
    let mut log = String::new();
    let mut stats = Stats::default();
    let input = cfg::CfgInput {
        insns: &prog.insns,
        func_info: &prog.func_info,
        line_info: &prog.line_info,
        maps: &opts.maps,
        privileged: opts.privileged,
        verbose: opts.log_level >= 2,
    };
    let result = if prog.insns.is_empty() {
        Err(Reject::program("empty program"))
    } else {
        cfg::check(&input).and_then(|c| {
            for l in &c.log {
                log.push_str(l);
                log.push('\n');
            }
            if !opts.privileged {
                // Unprivileged loads add speculative-execution paths and sanitation that the
                // walk does not model yet: refuse rather than risk accepting.
                return Err(Reject::unsupported(0, "verifying unprivileged loads"));
            }
            explore::run(prog, opts, &c, &mut stats, &mut log)
        })
    };
    finish(result, log, stats)
}

fn finish(result: Result<(), Reject>, mut log: String, stats: Stats) -> Verdict {
    let processed = format!(
        "processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read {}\n",
        stats.processed_insns,
        explore::INSN_LIMIT,
        stats.max_states_per_insn,
        stats.total_states,
        stats.peak_states,
        stats.mark_read
    );
    let result = result.map(|()| {
        log.push_str(&processed);
    });
    match result {
        Ok(()) => Verdict {
            accepted: true,
            insn: None,
            error: None,
            unsupported: false,
            log,
            stats,
        },
        Err(r) => {
            log.push_str(&r.message);
            log.push('\n');
            log.push_str(&processed);
            Verdict {
                accepted: false,
                insn: r.insn,
                error: Some(r.message),
                unsupported: r.unsupported,
                log,
                stats,
            }
        }
    }
}
