//! Global functions (`func_info` linkage global): each is verified once, on its own, from its
//! BTF prototype, and every call site is checked against that prototype.

use crate::check::subprog;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::State;

/// Whether subprogram `k` is global (`BTF_FUNC_GLOBAL` in its `func_info` record).
pub fn is_global(env: &Env<'_>, k: usize) -> bool {
    let Some(fi) = env.prog.func_info.get(k) else {
        return false;
    };
    let Some(btf) = env.opts.btf.as_deref() else {
        return false;
    };
    btf.type_by_id(fi.type_id).is_some_and(|t| {
        t.kind() == bpfbox_btf::Kind::Func && t.vlen() == bpfbox_btf::types::func_linkage::GLOBAL
    })
}

/// A call of global function `k`.
pub fn call(env: &mut Env<'_>, st: &mut State, pc: usize, k: usize) -> Result<()> {
    let _ = (env, st, k, subprog::MAX_CALL_FRAMES);
    Err(Reject::unsupported(pc, "calls of global functions"))
}
