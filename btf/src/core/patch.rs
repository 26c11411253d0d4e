//! Writing a relocation's result into its instruction: immediates, load and
//! store offsets and sizes, 64-bit immediates, or libbpf's poison.

use crate::core::calc::CoreRes;
use crate::core::CoreError;

/// libbpf's poison helper id: `call 0xbad2310` ("bad relo"); a reachable
/// poisoned instruction makes the verifier report `invalid func
/// unknown#195896080`.
pub const POISON_HELPER: i32 = 0x0bad_2310;

/// One instruction slot as the CO-RE engine sees it (this crate does not
/// depend on the VM's instruction type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CoreInsn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

/// What patching changed, one entry per libbpf debug line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum PatchStep {
    /// `patched insn #N (ALU/ALU64) imm OLD -> NEW`.
    AluImm {
        /// Instruction index.
        insn: usize,
        /// Previous immediate (as libbpf prints it).
        old: u64,
        /// New value.
        new: u64,
    },
    /// `patched insn #N (LDX/ST/STX) off OLD -> NEW`.
    MemOff {
        /// Instruction index.
        insn: usize,
        /// Previous offset.
        old: u64,
        /// New offset.
        new: u64,
    },
    /// `patched insn #N (LDX/ST/STX) mem_sz OLD -> NEW`.
    MemSize {
        /// Instruction index.
        insn: usize,
        /// Previous access size in bytes.
        old: u32,
        /// New access size in bytes.
        new: u32,
    },
    /// `patched insn #N (LDIMM64) imm64 OLD -> NEW`.
    LdImm64 {
        /// Instruction index.
        insn: usize,
        /// Previous 64-bit immediate.
        old: u64,
        /// New value.
        new: u64,
    },
    /// `substituting insn #N w/ invalid insn`: the slot became
    /// `call 0xbad2310`.
    Poison {
        /// Instruction index.
        insn: usize,
    },
}

impl PatchStep {
    /// The libbpf debug line for this step (without the `prog '..': relo
    /// #N: ` prefix).
    pub fn libbpf_line(&self) -> String {
        match self {
            PatchStep::AluImm { insn, old, new } => {
                format!("patched insn #{insn} (ALU/ALU64) imm {old} -> {new}")
            }
            PatchStep::MemOff { insn, old, new } => {
                format!("patched insn #{insn} (LDX/ST/STX) off {old} -> {new}")
            }
            PatchStep::MemSize { insn, old, new } => {
                format!("patched insn #{insn} (LDX/ST/STX) mem_sz {old} -> {new}")
            }
            PatchStep::LdImm64 { insn, old, new } => {
                format!("patched insn #{insn} (LDIMM64) imm64 {old} -> {new}")
            }
            PatchStep::Poison { insn } => format!("substituting insn #{insn} w/ invalid insn"),
        }
    }
}

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_ALU64: u8 = 0x07;
const LD_IMM64: u8 = 0x18;
const CALL: u8 = 0x85;

/// True for `BPF_LD | BPF_IMM | BPF_DW`.
pub fn is_ld_imm64(code: u8) -> bool {
    code == LD_IMM64
}

fn poison(insns: &mut [CoreInsn], idx: usize, steps: &mut Vec<PatchStep>) {
    let n = if insns.first().is_some_and(|i| is_ld_imm64(i.code)) {
        2
    } else {
        1
    };
    // Both halves of an ld_imm64 become the call, so the verifier does not
    // stumble on a stray second slot first. Debian's libbpf (1.1) poisons
    // (and logs) the second slot before the first; the result is the same.
    for k in (0..n).rev() {
        if let Some(insn) = insns.get_mut(k) {
            *insn = CoreInsn {
                code: CALL,
                dst: 0,
                src: 0,
                off: 0,
                imm: POISON_HELPER,
            };
            steps.push(PatchStep::Poison { insn: idx + k });
        }
    }
}

fn size_bytes(code: u8) -> i32 {
    match code & 0x18 {
        0x18 => 8,
        0x00 => 4,
        0x08 => 2,
        _ => 1,
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    Some(match bytes {
        8 => 0x18,
        4 => 0x00,
        2 => 0x08,
        1 => 0x10,
        _ => return None,
    })
}

/// libbpf's `bpf_core_patch_insn`: applies `res` to `insns[0]` (and
/// `insns[1]`, the second slot of an `ld_imm64`); `idx` is the
/// instruction's index in its program, used in steps and errors. On error
/// nothing is left half-patched except what libbpf itself would have
/// written.
pub fn patch_insn(
    insns: &mut [CoreInsn],
    idx: usize,
    res: &CoreRes,
) -> Result<Vec<PatchStep>, CoreError> {
    let mut steps = Vec::new();
    let insn = *insns
        .first()
        .ok_or(CoreError::InsnOutOfRange { insn: idx })?;
    let class = insn.code & 0x07;
    let unrecognized = || CoreError::UnrecognizedInsn {
        insn: idx,
        code: insn.code,
        src: insn.src,
        dst: insn.dst,
        off: insn.off,
        imm: insn.imm,
    };
    match class {
        CLASS_ALU | CLASS_ALU64 => {
            if insn.code & 0x08 != 0 {
                return Err(unrecognized());
            }
            if res.poison {
                poison(insns, idx, &mut steps);
                return Ok(steps);
            }
            if res.validate && i64::from(insn.imm) as u64 != res.orig_val {
                return Err(CoreError::UnexpectedValue {
                    class: "ALU/ALU64",
                    insn: idx,
                    got: u64::from(insn.imm as u32),
                    exp: res.orig_val,
                    new: res.new_val,
                });
            }
            // libbpf prints the old immediate sign-extended to 64 bits.
            let old = i64::from(insn.imm) as u64;
            insns[0].imm = res.new_val as i32;
            steps.push(PatchStep::AluImm {
                insn: idx,
                old,
                new: res.new_val,
            });
        }
        CLASS_LDX | CLASS_ST | CLASS_STX => {
            if res.poison {
                poison(insns, idx, &mut steps);
                return Ok(steps);
            }
            if res.validate && i64::from(insn.off) as u64 != res.orig_val {
                return Err(CoreError::UnexpectedValue {
                    class: "LDX/ST/STX",
                    insn: idx,
                    got: u64::from(insn.off as i32 as u32),
                    exp: res.orig_val,
                    new: res.new_val,
                });
            }
            if res.new_val > i16::MAX as u64 {
                return Err(CoreError::OffsetTooBig {
                    insn: idx,
                    val: res.new_val,
                });
            }
            if res.fail_memsz_adjust {
                // libbpf warns and poisons; the load goes on.
                poison(insns, idx, &mut steps);
                return Ok(steps);
            }
            let old = i64::from(insn.off) as u64;
            insns[0].off = res.new_val as i16;
            steps.push(PatchStep::MemOff {
                insn: idx,
                old,
                new: res.new_val,
            });
            if res.new_sz != res.orig_sz {
                let have = size_bytes(insn.code);
                if i64::from(have) != i64::from(res.orig_sz) {
                    return Err(CoreError::UnexpectedMemSize {
                        insn: idx,
                        got: have,
                        exp: res.orig_sz,
                    });
                }
                let code = size_code(res.new_sz).ok_or(CoreError::InvalidMemSize {
                    insn: idx,
                    size: res.new_sz,
                })?;
                insns[0].code = (insn.code & 0xe0) | code | class;
                steps.push(PatchStep::MemSize {
                    insn: idx,
                    old: res.orig_sz,
                    new: res.new_sz,
                });
            }
        }
        CLASS_LD => {
            let second = insns.get(1).copied();
            let well_formed = is_ld_imm64(insn.code)
                && insn.src == 0
                && insn.off == 0
                && second.is_some_and(|s| s.code == 0 && s.dst == 0 && s.src == 0 && s.off == 0);
            let Some(second) = second.filter(|_| well_formed) else {
                return Err(CoreError::LdImm64Form { insn: idx });
            };
            if res.poison {
                poison(insns, idx, &mut steps);
                return Ok(steps);
            }
            let imm = u64::from(insn.imm as u32) | (u64::from(second.imm as u32) << 32);
            if res.validate && imm != res.orig_val {
                return Err(CoreError::UnexpectedValue {
                    class: "LDIMM64",
                    insn: idx,
                    got: imm,
                    exp: res.orig_val,
                    new: res.new_val,
                });
            }
            insns[0].imm = res.new_val as i32;
            insns[1].imm = (res.new_val >> 32) as i32;
            steps.push(PatchStep::LdImm64 {
                insn: idx,
                old: imm,
                new: res.new_val,
            });
        }
        _ => return Err(unrecognized()),
    }
    Ok(steps)
}
