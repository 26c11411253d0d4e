//! bpfbox's verifier on an object's program, with the options the kernel load used, so that
//! every comparison (compare, selftest, the facade) asks it the same way.

use bpfbox_loader::Object;
use bpfbox_vm::Program;

use crate::load::Verdict;

/// How a program is loaded: what the verifier needs beside the program and the object.
#[derive(Clone, Debug)]
pub struct VerifyAs {
    /// Whether the load is privileged.
    pub privileged: bool,
    /// Extra `prog_flags`.
    pub flags: u32,
    /// Log level (0, 1 or 2).
    pub log_level: u32,
    /// Verify without the object's BTF (as libbpf loads programs once the kernel refused
    /// the object's BTF: no func_info, line_info or BTF).
    pub without_btf: bool,
}

impl Default for VerifyAs {
    fn default() -> Self {
        VerifyAs {
            privileged: true,
            flags: 0,
            log_level: 1,
            without_btf: false,
        }
    }
}

/// The verifier's options for a program of `obj`.
pub fn options(obj: &Object, how: &VerifyAs) -> bpfbox_verifier::Options {
    bpfbox_verifier::Options {
        maps: obj.maps().to_vec(),
        privileged: how.privileged,
        log_level: how.log_level,
        flags: how.flags,
        btf: if how.without_btf {
            None
        } else {
            obj.btf_shared()
        },
    }
}

/// Verifies `prog` (a program of `obj`) as the kernel would load it.
pub fn verify(obj: &Object, prog: &Program, how: &VerifyAs) -> bpfbox_verifier::Verdict {
    let opts = options(obj, how);
    if how.without_btf {
        let bare = Program {
            func_info: Vec::new(),
            line_info: Vec::new(),
            ..prog.clone()
        };
        return bpfbox_verifier::verify(&bare, &opts);
    }
    bpfbox_verifier::verify(prog, &opts)
}

/// The verdict as the kernel-side tables label it.
pub fn label(v: &bpfbox_verifier::Verdict) -> Verdict {
    if v.accepted {
        Verdict::Accepted
    } else {
        Verdict::Rejected
    }
}

/// The line to compare with the kernel's reason: the last line of the error, as the kernel's
/// reason is the last line of its refusal.
pub fn error_line(v: &bpfbox_verifier::Verdict) -> Option<String> {
    v.error
        .as_deref()
        .and_then(|e| e.lines().rev().find(|l| !l.trim().is_empty()))
        .map(str::to_string)
}
