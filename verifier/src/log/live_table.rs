//! The level-2 table of registers live before each instruction (`Live regs before insn:`),
//! printed once before the walk: the loop (strongly connected component) an instruction
//! belongs to, its index, the live registers r0..r9 (digit or `.`), the instruction.

use std::fmt::Write;

use bpfbox_vm::disasm::{insn_text, DisasmOptions, Syntax};
use bpfbox_vm::isa::{Insn, LdImm64Kind, RawInsn};

/// The table for `insns`, given the live registers before each slot (bit `r` for `rR`) and
/// each slot's loop number (0 outside loops). Missing entries count as empty.
pub fn live_table(insns: &[RawInsn], live: &[u16], scc: &[u32]) -> String {
    let mut out = String::from("Live regs before insn:\n");
    let mut pc = 0;
    while pc < insns.len() {
        match scc.get(pc).copied().unwrap_or(0) {
            0 => out.push_str("    "),
            n => {
                let _ = write!(out, "{n:3} ");
            }
        }
        let _ = write!(out, "{pc:3}: ");
        let regs = live.get(pc).copied().unwrap_or(0);
        for r in 0..10u8 {
            out.push(if regs & (1 << r) != 0 {
                char::from(b'0' + r)
            } else {
                '.'
            });
        }
        let (text, slots) = match Insn::decode(insns, pc) {
            // The kernel's log has no name for a function's address: the raw immediate.
            Ok(
                insn @ Insn::LdImm64 {
                    dst,
                    kind: LdImm64Kind::Func,
                    imm,
                },
            ) => (format!("r{dst} = 0x{imm:x}"), insn.slots()),
            Ok(insn) => (
                insn_text(&insn, pc, Syntax::Kernel, &DisasmOptions::default()),
                insn.slots(),
            ),
            Err(_) => ("(bad)".to_string(), 1),
        };
        let _ = writeln!(out, " ({:02x}) {text}", insns[pc].code);
        pc += slots;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's table for the same program (6.18, the loop of `walk`'s bounded loop).
    #[test]
    fn as_the_kernel_prints_it() {
        let insns = bpfbox_vm::asm::assemble(
            "mov %r0, 0\nmov %r1, 10\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit",
        )
        .expect("assembles");
        let live = [0, 0b1, 0b11, 0b11, 0b11, 0b1];
        let scc = [0, 0, 1, 1, 1, 0];
        assert_eq!(
            live_table(&insns, &live, &scc),
            "Live regs before insn:\n      0: .......... (b7) r0 = 0\n      1: 0......... (b7) r1 = 10\n  1   2: 01........ (07) r0 += 1\n  1   3: 01........ (17) r1 -= 1\n  1   4: 01........ (55) if r1 != 0x0 goto pc-3\n      5: 0......... (95) exit\n"
        );
    }
}
