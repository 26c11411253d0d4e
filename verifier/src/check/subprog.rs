//! BPF-to-BPF calls: a static callee runs in a new frame on the caller's path (r1-r5 passed,
//! r6-r9 kept, r0 returned, a stack of its own, pointers into the callers' stacks); a global
//! callee is checked against its BTF prototype at the call and verified once on its own
//! (see [`crate::global`]); after the walk, the stack of every call chain is summed
//! (`check_max_stack_depth`).

use bpfbox_vm::isa::{op, pseudo};

use super::tail_call::is_tail_call;
use super::Flow;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::global;
use crate::state::{Frame, Reg, RegType, State};

/// Most frames on a call chain (`MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;
/// Largest stack of all frames of a call chain (`MAX_BPF_STACK`).
const MAX_COMBINED_STACK: u32 = 512;
/// Stack of the callers above which a subprogram may not tail call.
const MAX_TAIL_CALL_CALLER_STACK: u32 = 256;

/// The subprogram starting at slot `start`.
pub fn subprog_at(env: &Env<'_>, pc: usize, start: usize) -> Result<usize> {
    env.cfg.subprogs.binary_search(&start).map_err(|_| {
        Reject::at(
            pc,
            format!("verifier bug. No program starts at insn {start}"),
        )
    })
}

/// A `call` of the subprogram `imm` slots past the next instruction (`check_func_call`).
pub fn call(env: &mut Env<'_>, st: &mut State, pc: usize, imm: i32) -> Result<Flow> {
    let start = (pc as i64 + 1 + imm as i64) as usize;
    let subprog = subprog_at(env, pc, start)?;
    if !env.prog.func_info.is_empty() && env.opts.btf.is_none() {
        // Without the BTF the records point into, a global callee cannot be told apart.
        return Err(Reject::unsupported(
            pc,
            "calls with func_info but without the program's BTF",
        ));
    }
    if global::is_global(env, subprog) {
        global::call(env, st, pc, subprog)?;
        return Ok(Flow::Next(pc + 1));
    }
    let depth = st.frames.len();
    if depth >= MAX_CALL_FRAMES {
        return Err(Reject::at(
            pc,
            format!("the call stack of {} frames is too deep", depth + 1),
        ));
    }
    let mut callee = Frame::new(pc, depth as u32, subprog);
    let caller = st.cur_mut();
    for r in 1..=5 {
        callee.regs[r] = caller.regs[r].clone();
    }
    for r in 0..=5 {
        caller.regs[r] = Reg::not_init();
    }
    st.frames.push(callee);
    let n = st.frames.len();
    env.log.call(
        &st.frames[n - 2],
        &st.frames[n - 1],
        &st.refs,
        &env.opts.maps,
    );
    Ok(Flow::Next(start))
}

/// `exit` from a static callee: r0 goes back to the caller, the walk resumes after the
/// call (`prepare_func_exit`).
pub fn exit(env: &mut Env<'_>, st: &mut State, pc: usize) -> Result<Flow> {
    let callee = st.frames.pop().expect("a callee frame");
    let r0 = &callee.regs[0];
    if r0.ty == RegType::Stack {
        st.frames.push(callee);
        return Err(Reject::at(pc, "cannot return stack pointer to the caller"));
    }
    let back = callee.callsite + 1;
    st.cur_mut().regs[0] = r0.clone();
    env.log
        .returned(&callee, st.cur(), &st.refs, pc, back, &env.opts.maps);
    Ok(Flow::Next(back))
}

fn is_local_call(i: &bpfbox_vm::isa::RawInsn) -> bool {
    i.code == op::JMP | op::CALL && i.src == pseudo::CALL
}

/// The stack a frame of a subprogram takes, as the JIT lays it out (16-byte multiples).
fn frame_size(depth: u32) -> u32 {
    depth.div_ceil(16) * 16
}

/// After the walk: every static call chain from the main program stays within 8 frames and
/// 512 bytes of stack, and a subprogram that tail calls has at most 256 bytes of callers'
/// stack above it (`check_max_stack_depth`).
pub fn check_stack_depth(env: &Env<'_>) -> Result<()> {
    let insns = &env.prog.insns;
    let subprogs = &env.cfg.subprogs;
    let end = |k: usize| subprogs.get(k + 1).copied().unwrap_or(insns.len());
    let has_tail_call = |k: usize| (subprogs[k]..end(k)).any(|i| is_tail_call(&insns[i]));
    let size = |k: usize| frame_size(env.stack_depth.get(k).copied().unwrap_or(0));
    // (subprogram, next instruction to scan) per frame of the chain being walked.
    let mut chain: Vec<(usize, usize)> = Vec::new();
    let (mut idx, mut i) = (0usize, 0usize);
    let mut depth = 0u32;
    let mut entering = true;
    loop {
        if entering {
            if idx != 0 && has_tail_call(idx) && depth >= MAX_TAIL_CALL_CALLER_STACK {
                return Err(Reject::program(format!(
                    "tail_calls are not allowed when call stack of previous frames is {depth} bytes. Too large"
                )));
            }
            depth += size(idx);
            if depth > MAX_COMBINED_STACK {
                return Err(Reject::program(format!(
                    "combined stack size of {} calls is {depth}. Too large",
                    chain.len() + 1
                )));
            }
            entering = false;
        }
        let stop = end(idx);
        let mut called = None;
        while i < stop {
            let insn = &insns[i];
            let is_call = is_local_call(insn)
                || (insn.code == op::LD | op::IMM | op::DW && insn.src == pseudo::FUNC);
            if is_call {
                called = Some(i);
                break;
            }
            i += 1;
        }
        if let Some(at) = called {
            let start = (at as i64 + insns[at].imm as i64 + 1) as usize;
            let Ok(next) = subprogs.binary_search(&start) else {
                return Err(Reject::program(format!(
                    "verifier bug. No program starts at insn {start}"
                )));
            };
            chain.push((idx, at + 1));
            if chain.len() >= MAX_CALL_FRAMES {
                return Err(Reject::program(format!(
                    "the call stack of {} frames is too deep !",
                    chain.len()
                )));
            }
            idx = next;
            i = start;
            entering = true;
            continue;
        }
        let Some((caller, resume)) = chain.pop() else {
            return Ok(());
        };
        depth -= size(idx);
        idx = caller;
        i = resume;
    }
}
