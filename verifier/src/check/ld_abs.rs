//! `BPF_LD_ABS`/`BPF_LD_IND`, the legacy packet loads (`check_ld_abs`): socket filters and tc
//! only, the socket buffer in R6, a call in disguise that clobbers R1-R5 and leaves the
//! loaded value in R0.

use super::read;
use crate::check::ctx_access::unmodified_ctx;
use crate::ctx;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Reg, RegType, State};

/// The implicit context register.
const CTX_REG: u8 = 6;

/// A legacy packet load at `pc`; `ind` is the offset register of `BPF_LD_IND`.
pub fn ld_abs(env: &Env<'_>, st: &mut State, pc: usize, ind: Option<u8>) -> Result<()> {
    if !ctx::may_load_abs(env.prog.prog_type) {
        return Err(Reject::at(
            pc,
            "BPF_LD_[ABS|IND] instructions not allowed for this program type",
        ));
    }
    if st.frames.len() > 1 {
        // In a subprogram the load's hidden exit is a second path to walk.
        return Err(Reject::unsupported(
            pc,
            "BPF_LD_[ABS|IND] in BPF-to-BPF calls",
        ));
    }
    read(st, pc, CTX_REG)?;
    // The load may end the program at run time, which would leak a held reference.
    crate::state::refs::check_leak(st, "BPF_LD_[ABS|IND]").map_err(|m| Reject::at(pc, m))?;
    let ctx_reg = st.reg(CTX_REG).clone();
    if ctx_reg.ty != RegType::Ctx {
        return Err(Reject::at(
            pc,
            "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
        ));
    }
    if let Some(src) = ind {
        read(st, pc, src)?;
    }
    unmodified_ctx(pc, CTX_REG, &ctx_reg)?;
    for r in 1..=5 {
        *st.reg_mut(r) = Reg::not_init();
    }
    *st.reg_mut(0) = Reg::unknown();
    Ok(())
}
