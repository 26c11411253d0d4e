//! `exit`: R0 must be initialised, must not leak a pointer, and must lie in the program
//! type's return range.

use bpfbox_vm::ProgType;

use super::{read, Flow};
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::State;

/// `BPF_CGROUP_INET_EGRESS`.
const CGROUP_INET_EGRESS: u32 = 1;

/// The allowed return range, `None` when any value goes; `Err` for types whose rules are not
/// supported yet.
fn range(env: &Env<'_>, pc: usize) -> Result<Option<(i32, i32)>> {
    use ProgType::*;
    let t = env.prog.prog_type;
    Ok(match t {
        CgroupSkb => {
            if env.prog.expected_attach_type == Some(CGROUP_INET_EGRESS) {
                Some((0, 3))
            } else {
                Some((0, 1))
            }
        }
        CgroupSock | SockOps | CgroupDevice | CgroupSysctl | CgroupSockopt | SkLookup
        | Netfilter => Some((0, 1)),
        CgroupSockAddr
        | Tracing
        | Lsm
        | StructOps
        | Ext
        | RawTracepoint
        | RawTracepointWritable => {
            return Err(Reject::unsupported(
                pc,
                format!("the exit of {} programs", t.name()),
            ))
        }
        _ => None,
    })
}

/// An `exit` instruction.
pub fn exit(env: &mut Env<'_>, st: &mut State, pc: usize) -> Result<Flow> {
    if st.frames.len() > 1 {
        return super::subprog::exit(env, st, pc);
    }
    let r0 = read(st, pc, 0)?;
    if st.cur().subprog != 0 {
        crate::global::check_exit(st, pc)?;
        return Ok(Flow::Exit);
    }
    if r0.is_pointer() {
        if !env.privileged() {
            return Err(Reject::at(pc, "R0 leaks addr as return value"));
        }
        if range(env, pc)?.is_some() {
            return Err(Reject::at(
                pc,
                format!(
                    "At program exit the register R0 is not a known value ({})",
                    r0.type_name()
                ),
            ));
        }
        return Ok(Flow::Exit);
    }
    let Some((lo, hi)) = range(env, pc)? else {
        return Ok(Flow::Exit);
    };
    let b = r0.val.bounds();
    if lo as i64 <= b.smin && b.smax <= hi as i64 {
        return Ok(Flow::Exit);
    }
    let mut msg = String::from("At program exit the register R0 has");
    let mut unknown = true;
    if b.smin > i64::MIN {
        msg.push_str(&format!(" smin={}", b.smin));
        unknown = false;
    }
    if b.smax < i64::MAX {
        msg.push_str(&format!(" smax={}", b.smax));
        unknown = false;
    }
    if unknown {
        msg.push_str(" unknown scalar value");
    }
    msg.push_str(&format!(" should have been in [{lo}, {hi}]"));
    Err(Reject::at(pc, msg))
}
