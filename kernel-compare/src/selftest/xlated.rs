//! The translated program (what the verifier hands to the JIT) as the selftests print it for
//! `__xlated` checks: one `N: text` line per instruction in the kernel's disassembly syntax,
//! with calls shortened to `call NAME` and local calls as `call pc+OFF`.
//!
//! Most instructions go through bpfbox's kernel-syntax disassembler. The translated image
//! holds a few forms only the kernel produces, printed here directly: the auxiliary register
//! `r11`, per-CPU address moves, helper and kfunc calls whose `imm` became an address
//! offset (the kernel prints `call unknown`), local calls whose offset moved to `off`, and
//! 64-bit immediates, which the kernel prints as plain hexadecimal (map references included).

use bpfbox_vm::disasm::{insn_text, DisasmOptions, Syntax};
use bpfbox_vm::helper_names::HELPER_NAMES;
use bpfbox_vm::{Insn, RawInsn};

const LD_IMM64: u8 = 0x18;
const CALL: u8 = 0x85;
const ALU64_MOV_X: u8 = 0xbf;
/// `BPF_ADDR_PERCPU` in `off` of a register move.
const ADDR_PERCPU: i16 = -1;
/// `BPF_REG_AX`.
const REG_AX: u8 = 11;
/// `BPF_PSEUDO_CALL`.
const PSEUDO_CALL: u8 = 1;

/// The lines of a translated image (`bpf_prog_info.xlated_prog_insns`).
pub fn xlated_text(image: &[u8]) -> String {
    let slots: Vec<RawInsn> = image
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            RawInsn::from_u64(u64::from_le_bytes(b))
        })
        .collect();
    let mut out = String::new();
    let mut pc = 0;
    while pc < slots.len() {
        let (text, n) = one(&slots, pc);
        out.push_str(&format!("{pc}: {text}\n"));
        pc += n;
    }
    out
}

/// The text of the instruction at `pc` and its slot count.
fn one(slots: &[RawInsn], pc: usize) -> (String, usize) {
    let r = slots[pc];
    match r.code {
        LD_IMM64 => {
            let hi = slots.get(pc + 1).map_or(0, |n| n.imm as u32 as u64);
            let imm = (hi << 32) | u64::from(r.imm as u32);
            return (format!("r{} = {imm:#x}", r.dst), 2);
        }
        CALL if r.src == PSEUDO_CALL => return (format!("call pc{:+}", r.off), 1),
        CALL => {
            let name = usize::try_from(r.imm)
                .ok()
                .and_then(|i| HELPER_NAMES.get(i))
                .copied()
                .filter(|n| !n.is_empty())
                .unwrap_or("unknown");
            return (format!("call {name}"), 1);
        }
        ALU64_MOV_X if r.off == ADDR_PERCPU => {
            return (format!("r{} = &(void __percpu *)(r{})", r.dst, r.src), 1)
        }
        _ => {}
    }
    if r.dst == REG_AX || r.src == REG_AX {
        return (with_ax(slots, pc), 1);
    }
    match Insn::decode(slots, pc) {
        Ok(insn) => (
            insn_text(&insn, pc, Syntax::Kernel, &DisasmOptions::default()),
            insn.slots(),
        ),
        Err(e) => (format!(".word {:#018x} ; {}", r.to_u64(), e.kind), 1),
    }
}

/// An instruction using `r11`: decoded with a stand-in register the instruction does not
/// use, whose name is then replaced (r2..r9 are no prefix of another register's name).
fn with_ax(slots: &[RawInsn], pc: usize) -> String {
    let r = slots[pc];
    let Some(stand_in) = (2u8..=9).find(|&x| x != r.dst && x != r.src) else {
        return format!(".word {:#018x}", r.to_u64());
    };
    let mut patched = r;
    if patched.dst == REG_AX {
        patched.dst = stand_in;
    }
    if patched.src == REG_AX {
        patched.src = stand_in;
    }
    let mut copy = slots.to_vec();
    copy[pc] = patched;
    match Insn::decode(&copy, pc) {
        Ok(insn) => insn_text(&insn, pc, Syntax::Kernel, &DisasmOptions::default())
            .replace(&format!("r{stand_in}"), "r11")
            .replace(&format!("w{stand_in}"), "w11"),
        Err(e) => format!(".word {:#018x} ; {}", r.to_u64(), e.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(insns: &[(u8, u8, u8, i16, i32)]) -> Vec<u8> {
        insns
            .iter()
            .flat_map(|&(code, dst, src, off, imm)| {
                RawInsn::new(code, dst, src, off, imm)
                    .to_u64()
                    .to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn kernel_only_forms() {
        let text = xlated_text(&image(&[
            (0xbf, 11, 3, 0, 0),          // r11 = r3
            (0x04, 11, 0, 0, 1),          // w11 += 1
            (0x16, 11, 0, 4, 1),          // if w11 == 0x1 goto pc+4
            (0xbf, 0, 0, -1, 0),          // r0 = &(void __percpu *)(r0)
            (0x85, 0, 1, 1, 2),           // call pc+1 (subprog 2)
            (0x85, 0, 0, 0, 0x3456_7890), // a helper by address
            (0x85, 0, 0, 0, 1),           // bpf_map_lookup_elem
            (0x18, 2, 0, 0, 0),
            (0x00, 0, 0, 0, i32::MIN), // r2 = 0x8000000000000000
            (0x95, 0, 0, 0, 0),
        ]));
        let want = "0: r11 = r3\n1: w11 += 1\n2: if w11 == 0x1 goto pc+4\n\
                    3: r0 = &(void __percpu *)(r0)\n4: call pc+1\n5: call unknown\n\
                    6: call bpf_map_lookup_elem\n7: r2 = 0x8000000000000000\n9: exit\n";
        assert_eq!(text, want);
    }
}
