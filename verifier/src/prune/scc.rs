//! Strongly connected components of the instruction graph (`compute_scc`), as 6.18 numbers
//! them: the walk of a loop is one visit of its component, entered at the first checkpoint
//! saved inside it and left when every path from that checkpoint is explored. The states
//! pruned against a checkpoint of a loop still being explored (back-edges) are kept until
//! then, and count towards `peak_states`.
//!
//! Edges are fall-throughs and jumps; a call falls through (a subprogram is a graph of its
//! own). A component is numbered when it has two or more instructions, an instruction
//! jumping to itself, or a helper call that calls a callback (an implicit loop). Numbers
//! start at 1 and follow the order in which Tarjan's depth-first search completes them,
//! starting from each unvisited instruction in order and trying the fall-through first.

use bpfbox_vm::isa::{Insn, RawInsn};

/// The successors of instruction `pc` (`bpf_insn_successors`): the fall-through, then the
/// jump target when it differs.
fn successors(insns: &[RawInsn], pc: usize) -> Vec<usize> {
    let Ok(insn) = Insn::decode(insns, pc) else {
        return Vec::new();
    };
    let (falls, jump) = match insn {
        Insn::Exit { .. } => (false, None),
        Insn::Ja { off, .. } => (false, Some(off as i64)),
        Insn::Jmp { off, .. } => (true, Some(off as i64)),
        Insn::MayGoto { off } => (true, Some(off as i64)),
        _ => (true, None),
    };
    let mut out = Vec::with_capacity(2);
    if falls && pc + 1 < insns.len() {
        out.push(pc + insn.slots());
    }
    if let Some(dst) = jump.and_then(|off| usize::try_from(pc as i64 + 1 + off).ok()) {
        if out.first() != Some(&dst) {
            out.push(dst);
        }
    }
    out.retain(|&s| s < insns.len());
    out
}

/// The component number of every instruction slot (0: in no loop). `calls_callback` says
/// which instructions are helper calls looping through a callback.
pub fn compute(insns: &[RawInsn], calls_callback: impl Fn(usize) -> bool) -> Vec<u32> {
    const OFF_STACK: u32 = u32::MAX;
    let n = insns.len();
    let succ: Vec<Vec<usize>> = (0..n).map(|pc| successors(insns, pc)).collect();
    let mut scc = vec![0u32; n];
    let mut pre = vec![0u32; n];
    let mut low = vec![0u32; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_pre = 1u32;
    let mut next_scc = 1u32;
    for root in 0..n {
        if pre[root] != 0 {
            continue;
        }
        let mut dfs = vec![root];
        'dfs: while let Some(&w) = dfs.last() {
            if pre[w] == 0 {
                pre[w] = next_pre;
                low[w] = next_pre;
                next_pre += 1;
                stack.push(w);
            }
            let s = &succ[w];
            for &t in s {
                if pre[t] != 0 {
                    low[w] = low[w].min(low[t]);
                } else {
                    dfs.push(t);
                    continue 'dfs;
                }
            }
            if low[w] < pre[w] {
                dfs.pop();
                continue;
            }
            let numbered = stack.last() != Some(&w) || s.contains(&w) || calls_callback(w);
            loop {
                let t = stack.pop().expect("w is on the stack");
                low[t] = OFF_STACK;
                if numbered {
                    scc[t] = next_scc;
                }
                if t == w {
                    break;
                }
            }
            if numbered {
                next_scc += 1;
            }
            dfs.pop();
        }
    }
    scc
}

#[cfg(test)]
mod tests {
    use super::compute;
    use bpfbox_vm::asm::assemble;

    #[test]
    fn loops_are_numbered_in_completion_order() {
        // 0: r0 = 0; 1: r0 += 1; 2: if r0 < 3 goto 1; 3: goto +0 (self-loop free);
        // 4: r1 = 0; 5: if r1 == 0 goto 5 (self-loop); 6: exit
        let p = assemble(
            "mov %r0, 0\nadd %r0, 1\njlt %r0, 3, -2\nja +0\nmov %r1, 0\njeq %r1, 0, -1\nexit",
        )
        .expect("assembles");
        let s = compute(&p, |_| false);
        // Tarjan completes the self-loop at 5 before the loop 1..2, which it entered first.
        assert_eq!(s, vec![0, 2, 2, 0, 0, 1, 0]);
        let s = compute(&p, |pc| pc == 4);
        assert_eq!(s, vec![0, 3, 3, 0, 2, 1, 0]);
    }
}
