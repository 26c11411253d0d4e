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
pub mod domain;
pub mod error;
pub mod options;

pub use error::Reject;
pub use options::{Options, Stats, Verdict};

use bpfbox_vm::Program;

/// Verifies `prog` as the kernel would load it with `opts`.
pub fn verify(prog: &Program, opts: &Options) -> Verdict {
    let mut log = String::new();
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
            Err(Reject::unsupported(0, "the path-exploring walk"))
        })
    };
    finish(result, log, Stats::default())
}

fn finish(result: Result<(), Reject>, mut log: String, stats: Stats) -> Verdict {
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
