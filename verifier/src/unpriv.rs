//! What a load without CAP_BPF or CAP_PERFMON changes before the walk: the checks
//! `bpf_prog_load` makes from the capabilities before the verifier runs (the instruction
//! count, the program types such a load may have). The kernel refuses these with an errno
//! and no log; the message here says which rule applied.
//!
//! The rules inside the walk live where the kernel applies them and ask
//! [`crate::explore::Env::privileged`] (CAP_PERFMON: pointer leaks, pointer comparisons,
//! uninitialised stack, Spectre sanitisation) or [`crate::explore::Env::bpf_capable`]
//! (CAP_BPF: back-edges, calls, helpers, precision tracking).

use bpfbox_vm::{ProgType, Program};

use crate::{Options, Reject};

/// `BPF_MAXINSNS`: the most instructions a load without CAP_BPF may have.
pub const MAX_INSNS_UNPRIVILEGED: usize = 4096;

/// `BPF_COMPLEXITY_LIMIT_INSNS`: the most instructions a CAP_BPF load may have.
pub const MAX_INSNS: usize = 1_000_000;

/// `is_perfmon_prog_type`: program types only a CAP_PERFMON load may have.
fn needs_perfmon(t: ProgType) -> bool {
    matches!(
        t,
        ProgType::Kprobe
            | ProgType::Tracepoint
            | ProgType::PerfEvent
            | ProgType::RawTracepoint
            | ProgType::RawTracepointWritable
            | ProgType::Tracing
            | ProgType::Lsm
            | ProgType::StructOps
            | ProgType::Ext
    )
}

/// The refusals `bpf_prog_load` makes from the capabilities before verifying, in its order.
/// CAP_NET_ADMIN is taken as held (it decides nothing in the verifier).
pub fn before_load(prog: &Program, opts: &Options) -> Option<Reject> {
    let n = prog.insns.len();
    let limit = if opts.bpf_capable {
        MAX_INSNS
    } else {
        MAX_INSNS_UNPRIVILEGED
    };
    if n > limit {
        return Some(Reject::program(format!(
            "program of {n} instructions refused (E2BIG): the limit is {limit} instructions{}",
            if opts.bpf_capable {
                ""
            } else {
                " without CAP_BPF"
            }
        )));
    }
    if !opts.bpf_capable && !matches!(prog.prog_type, ProgType::SocketFilter | ProgType::CgroupSkb)
    {
        return Some(Reject::program(format!(
            "{} programs need CAP_BPF (EPERM before verification)",
            prog.prog_type.name()
        )));
    }
    if !opts.privileged && needs_perfmon(prog.prog_type) {
        return Some(Reject::program(format!(
            "{} programs need CAP_PERFMON (EPERM before verification)",
            prog.prog_type.name()
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Privilege;

    fn prog(t: ProgType, n: usize) -> Program {
        Program {
            name: "t".into(),
            section: String::new(),
            prog_type: t,
            expected_attach_type: None,
            attach_target: None,
            prog_flags: 0,
            insns: vec![bpfbox_vm::isa::RawInsn::default(); n],
            license: "GPL".into(),
            kern_version: 0,
            func_info: Vec::new(),
            line_info: Vec::new(),
        }
    }

    #[test]
    fn instruction_limit_depends_on_cap_bpf() {
        let none = Options::default().with_privilege(Privilege::None);
        let bpf = Options::default().with_privilege(Privilege::BpfOnly);
        assert!(before_load(&prog(ProgType::SocketFilter, 4096), &none).is_none());
        assert!(before_load(&prog(ProgType::SocketFilter, 4097), &none).is_some());
        assert!(before_load(&prog(ProgType::SocketFilter, 4097), &bpf).is_none());
    }

    #[test]
    fn program_types_by_capability() {
        let none = Options::default().with_privilege(Privilege::None);
        let bpf = Options::default().with_privilege(Privilege::BpfOnly);
        let full = Options::default();
        assert!(before_load(&prog(ProgType::CgroupSkb, 2), &none).is_none());
        assert!(before_load(&prog(ProgType::Xdp, 2), &none).is_some());
        assert!(before_load(&prog(ProgType::Xdp, 2), &bpf).is_none());
        assert!(before_load(&prog(ProgType::Kprobe, 2), &bpf).is_some());
        assert!(before_load(&prog(ProgType::Kprobe, 2), &full).is_none());
    }
}
