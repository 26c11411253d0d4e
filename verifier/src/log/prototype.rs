//! What the kernel says about the main program's BTF prototype before the walk
//! (`btf_prepare_func_args` on subprogram 0): a global function must return a scalar and take
//! at most five arguments. A main program failing these is still verified (its BTF is only
//! marked unreliable), but the message stays in the log.

use bpfbox_btf::{Btf, Kind};
use bpfbox_vm::Program;

/// `MAX_BPF_FUNC_REG_ARGS`.
const MAX_ARGS: usize = 5;

/// `BTF_FUNC_GLOBAL`, the linkage of a non-static function.
const LINKAGE_GLOBAL: u32 = 1;

/// The messages for the main program's prototype, in the kernel's words.
pub fn main_messages(prog: &Program, btf: Option<&Btf>) -> Vec<String> {
    let (Some(btf), Some(fi)) = (btf, prog.func_info.first()) else {
        return Vec::new();
    };
    let Some(func) = btf.type_by_id(fi.type_id) else {
        return Vec::new();
    };
    if func.kind() != Kind::Func || func.vlen() != LINKAGE_GLOBAL {
        return Vec::new();
    }
    let name = btf.type_name(func).to_string();
    let Some(proto) = func.ref_type().and_then(|id| btf.type_by_id(id)) else {
        return vec![format!("Invalid type of function {name}()")];
    };
    if proto.kind() != Kind::FuncProto {
        return vec![format!("Invalid type of function {name}()")];
    }
    let nargs = proto.params().len();
    if nargs > MAX_ARGS {
        return vec![format!(
            "Global function {name}() with {nargs} > {MAX_ARGS} args. Buggy compiler."
        )];
    }
    // The return type past modifiers and typedefs; void (id 0) has no type.
    let mut ret = proto.ref_type().and_then(|id| btf.type_by_id(id));
    let mut depth = 0;
    while let Some(t) =
        ret.filter(|t| (t.kind().is_modifier() || t.kind() == Kind::Typedef) && depth < 32)
    {
        ret = t.ref_type().and_then(|id| btf.type_by_id(id));
        depth += 1;
    }
    let scalar = ret.is_some_and(|t| matches!(t.kind(), Kind::Int | Kind::Enum | Kind::Enum64));
    if !scalar {
        return vec![format!(
            "Global function {name}() doesn't return scalar. Only those are supported."
        )];
    }
    Vec::new()
}
