//! `bpf_fastcall` spill/fill patterns. A helper the kernel inlines (and declares
//! `bpf_fastcall`) leaves the caller-saved registers it does not use intact, so a compiler
//! that spills them around the call, to the lowest slots of the frame, lets the kernel drop
//! those spills and fills and the stack they take. Before the walk the patterns are found
//! (`mark_fastcall_patterns`); during it, a direct stack access to the pattern region by
//! any other instruction withdraws the subprogram's patterns
//! (`check_fastcall_stack_contract`); after a successful walk the stack depth of every
//! subprogram whose patterns all go shrinks to the part above the region
//! (`remove_fastcall_spills_fills`), before the combined stack size is checked.

use bpfbox_vm::helpers::catalogue::{for_prog, ArgBase, Caller, RetBase};
use bpfbox_vm::isa::{op, pseudo, RawInsn};
use bpfbox_vm::{ProgType, Program};

use crate::cfg::Cfg;

/// `BPF_F_SLEEPABLE`.
const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// r0..r5, the caller-saved registers.
const CALLER_SAVED: u32 = 0x3f;
/// The prototypes declared `bpf_fastcall` that the running kernel inlines (x86-64 with
/// the JIT: `bpf_get_smp_processor_id` as a per-CPU load). Program types that get another
/// prototype for the same helper (`bpf_get_raw_smp_processor_id_proto`) have no patterns.
const INLINED_FASTCALL: [&str; 1] = ["bpf_get_smp_processor_id_proto"];

/// The patterns of a program and what the walk has withdrawn.
#[derive(Clone, Debug, Default)]
pub struct Fastcall {
    /// Per slot: a spill, fill or call of a pattern (`fastcall_pattern`).
    pattern: Vec<bool>,
    /// Per call slot: the spill/fill pairs the kernel removes (`fastcall_spills_num`).
    spills: Vec<u8>,
    /// Per subprogram: where the pattern region ends (`fastcall_stack_off`, 0 for none;
    /// `i16::MIN` once withdrawn).
    stack_off: Vec<i16>,
    /// Per subprogram: a pattern around a call that is not inlined keeps its slots
    /// (`keep_fastcall_stack`).
    keep: Vec<bool>,
    /// Subprogram start slots.
    starts: Vec<usize>,
}

fn is_stx_dw_fp(i: &RawInsn) -> bool {
    i.code == op::STX | op::MEM | op::DW && i.dst == 10
}

fn is_ldx_dw_fp(i: &RawInsn) -> bool {
    i.code == op::LDX | op::MEM | op::DW && i.src == 10
}

/// Instructions a jump, a call or a function reference lands on (`jump_target`).
fn jump_targets(insns: &[RawInsn]) -> Vec<bool> {
    let n = insns.len();
    let mut t = vec![false; n];
    let mut mark = |to: i64| {
        if (0..n as i64).contains(&to) {
            t[to as usize] = true;
        }
    };
    for (pc, i) in insns.iter().enumerate() {
        let class = i.code & 0x07;
        let next = pc as i64 + 1;
        if i.code == op::LD | op::IMM | op::DW {
            if i.src == pseudo::FUNC {
                mark(next + i.imm as i64);
            }
            continue;
        }
        if class != op::JMP && class != op::JMP32 {
            continue;
        }
        match i.code & 0xf0 {
            op::EXIT => {}
            op::CALL => {
                if i.src == pseudo::CALL {
                    mark(next + i.imm as i64);
                }
            }
            op::JA if class == op::JMP32 => mark(next + i.imm as i64),
            _ => mark(next + i.off as i64),
        }
    }
    t
}

impl Fastcall {
    /// `mark_fastcall_patterns`: the patterns of every subprogram of `prog`, loaded with
    /// `caps` = (CAP_PERFMON, CAP_BPF).
    pub fn mark(prog: &Program, cfg: &Cfg, caps: (bool, bool), flags: u32) -> Fastcall {
        let (privileged, bpf_capable) = caps;
        let insns = &prog.insns;
        let n = insns.len();
        let k = cfg.subprogs.len();
        let mut f = Fastcall {
            pattern: vec![false; n],
            spills: vec![0; n],
            stack_off: vec![0; k],
            keep: vec![false; k],
            starts: cfg.subprogs.clone(),
        };
        let caller = Caller {
            prog_type: prog.prog_type,
            attach: prog.expected_attach_type.unwrap_or(0),
            privileged,
            bpf_capable,
            sleepable: (prog.prog_flags | flags) & BPF_F_SLEEPABLE != 0,
        };
        if matches!(
            prog.prog_type,
            ProgType::StructOps | ProgType::Ext | ProgType::LircMode2 | ProgType::Unspec
        ) {
            return f;
        }
        let targets = jump_targets(insns);
        for s in 0..k {
            let range = cfg.subprogs[s]..cfg.subprog_end(s, n);
            let lowest = insns[range.clone()]
                .iter()
                .filter(|i| is_stx_dw_fp(i))
                .map(|i| i.off)
                .min()
                .unwrap_or(0)
                .min(0);
            for pc in range {
                let i = &insns[pc];
                if i.code == op::JMP | op::CALL && i.src == 0 {
                    f.mark_call(insns, &targets, s, pc, lowest, &caller);
                }
            }
        }
        f
    }

    /// `mark_fastcall_pattern_for_call` for the helper call at `pc` of subprogram `s`.
    fn mark_call(
        &mut self,
        insns: &[RawInsn],
        targets: &[bool],
        s: usize,
        pc: usize,
        lowest: i16,
        caller: &Caller,
    ) {
        let Some(proto) = u32::try_from(insns[pc].imm)
            .ok()
            .and_then(|id| for_prog(id, caller))
        else {
            return;
        };
        let mut clobbered = 0u32;
        if proto.ret.base != RetBase::Void {
            clobbered |= 1;
        }
        for (a, arg) in proto.args.iter().enumerate() {
            if arg.base != ArgBase::DontCare {
                clobbered |= 1 << (a + 1);
            }
        }
        if clobbered == CALLER_SAVED {
            return;
        }
        let inlined = INLINED_FASTCALL.contains(&proto.name);
        let mut expected = !clobbered & CALLER_SAVED;
        let mut off = lowest as i32;
        let mut pairs = 0usize;
        while pairs < 6 {
            let i = pairs + 1;
            if pc < i || pc + i >= insns.len() {
                break;
            }
            if targets[pc - i + 1] || targets[pc + i] {
                break;
            }
            let (stx, ldx) = (&insns[pc - i], &insns[pc + i]);
            if !is_stx_dw_fp(stx) || !is_ldx_dw_fp(ldx) || stx.src != ldx.dst {
                break;
            }
            if stx.src > 5 || expected & (1 << stx.src) == 0 {
                break;
            }
            if stx.off as i32 != off || ldx.off as i32 != off {
                break;
            }
            expected &= !(1 << stx.src);
            self.pattern[pc - i] = true;
            self.pattern[pc + i] = true;
            pairs += 1;
            off += 8;
        }
        if pairs == 0 {
            return;
        }
        // A call the kernel does not inline keeps its spills and fills, and the slots.
        if inlined {
            self.spills[pc] = pairs as u8;
        } else {
            self.keep[s] = true;
        }
        let off = off.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        self.stack_off[s] = self.stack_off[s].min(off);
    }

    /// `check_fastcall_stack_contract`: instruction `pc` accessed the stack of subprogram
    /// `subprog` at `off` (its lowest byte); an access to the pattern region from outside a
    /// pattern withdraws every pattern of that subprogram.
    pub fn access(&mut self, subprog: usize, pc: usize, off: i64) {
        let Some(&end) = self.stack_off.get(subprog) else {
            return;
        };
        if end as i64 <= off || self.pattern.get(pc).copied().unwrap_or(false) {
            return;
        }
        self.stack_off[subprog] = i16::MIN;
        let from = self.starts[subprog];
        let to = self
            .starts
            .get(subprog + 1)
            .copied()
            .unwrap_or(self.pattern.len());
        for i in from..to {
            self.pattern[i] = false;
            self.spills[i] = 0;
        }
    }

    /// `remove_fastcall_spills_fills`: the stack depths once the inlined calls' spills and
    /// fills are gone.
    pub fn shrink(&self, depths: &mut [u32]) {
        for (s, d) in depths.iter_mut().enumerate() {
            let from = self.starts[s];
            let to = self.starts.get(s + 1).copied().unwrap_or(self.spills.len());
            let removed = self.spills[from..to].iter().any(|&n| n > 0);
            if removed && !self.keep[s] {
                *d = (-(self.stack_off[s] as i32)).max(0) as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(t: ProgType, text: &str) -> (Program, Cfg) {
        let insns = bpfbox_vm::asm::assemble(text).expect("assembles");
        let p = Program {
            name: "t".into(),
            section: String::new(),
            prog_type: t,
            expected_attach_type: None,
            attach_target: None,
            prog_flags: 0,
            insns,
            license: "GPL".into(),
            kern_version: 0,
            func_info: Vec::new(),
            line_info: Vec::new(),
        };
        let cfg = Cfg {
            subprogs: vec![0],
            ..Cfg::default()
        };
        (p, cfg)
    }

    // The pair nearest the call takes the lowest slot.
    const SPILL: &str = "mov %r1, 1\nmov %r2, 2\nstxdw [%r10-8], %r1\nstxdw [%r10-16], %r2\ncall 8\nldxdw %r2, [%r10-16]\nldxdw %r1, [%r10-8]\nmov %r0, 0\nexit";

    #[test]
    fn inlined_helper_patterns_shrink_the_stack() {
        let (p, cfg) = prog(ProgType::Kprobe, SPILL);
        let f = Fastcall::mark(&p, &cfg, (true, true), 0);
        assert_eq!(f.spills[4], 2);
        let mut d = vec![16];
        f.shrink(&mut d);
        assert_eq!(d, vec![0]);
    }

    #[test]
    fn another_access_withdraws_the_patterns() {
        let (p, cfg) = prog(ProgType::Kprobe, SPILL);
        let mut f = Fastcall::mark(&p, &cfg, (true, true), 0);
        f.access(0, 5, -8);
        assert!(f.spills[4] == 2, "a pattern's own fill keeps it");
        f.access(0, 7, -16);
        let mut d = vec![16];
        f.shrink(&mut d);
        assert_eq!(d, vec![16]);
    }

    #[test]
    fn raw_processor_id_has_no_pattern() {
        // Socket filters get `bpf_get_raw_smp_processor_id_proto`, not inlined.
        let (p, cfg) = prog(ProgType::SocketFilter, SPILL);
        let f = Fastcall::mark(&p, &cfg, (true, true), 0);
        let mut d = vec![16];
        f.shrink(&mut d);
        assert_eq!(d, vec![16]);
    }
}
