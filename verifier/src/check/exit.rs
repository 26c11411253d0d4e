//! `exit`: R0 must be initialised, must not leak a pointer, and must lie in the program
//! type's return range.

use bpfbox_vm::ProgType;

use super::{read, Flow};
use crate::ctx::attach::*;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::State;

/// The allowed return range, `None` when any value goes; `Err` for types whose rules are not
/// supported yet (the range comes from kernel BTF, or from the program an `ext` replaces).
fn range(env: &Env<'_>, pc: usize) -> Result<Option<(i32, i32)>> {
    use ProgType::*;
    let t = env.prog.prog_type;
    let at = env.prog.expected_attach_type.unwrap_or(0);
    Ok(match t {
        CgroupSockAddr => Some(match at {
            CGROUP_UDP4_RECVMSG
            | CGROUP_UDP6_RECVMSG
            | CGROUP_UNIX_RECVMSG
            | CGROUP_INET4_GETPEERNAME
            | CGROUP_INET6_GETPEERNAME
            | CGROUP_UNIX_GETPEERNAME
            | CGROUP_INET4_GETSOCKNAME
            | CGROUP_INET6_GETSOCKNAME
            | CGROUP_UNIX_GETSOCKNAME => (1, 1),
            CGROUP_INET4_BIND | CGROUP_INET6_BIND => (0, 3),
            _ => (0, 1),
        }),
        CgroupSkb if at == CGROUP_INET_EGRESS => Some((0, 3)),
        CgroupSkb | CgroupSock | SockOps | CgroupDevice | CgroupSysctl | CgroupSockopt
        | SkLookup | Netfilter => Some((0, 1)),
        // Without a BTF attach target (which the loader never gives these), any value.
        RawTracepoint => None,
        Kprobe if at == TRACE_KPROBE_SESSION => Some((0, 1)),
        Tracing => match at {
            TRACE_FENTRY | TRACE_FEXIT => Some((0, 0)),
            TRACE_RAW_TP | MODIFY_RETURN => None,
            TRACE_ITER => Some((0, 1)),
            _ => {
                return Err(Reject::unsupported(
                    pc,
                    "the exit of tracing programs of this attach type",
                ))
            }
        },
        Lsm | StructOps | Ext => {
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
    crate::state::refs::check_leak(st, "BPF_EXIT instruction in main prog")
        .map_err(|m| Reject::at(pc, m))?;
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
