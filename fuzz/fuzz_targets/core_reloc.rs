//! Arbitrary local and target BTF and arbitrary CO-RE relocation records: resolving and
//! patching never panic (errors are typed, instructions stay in bounds).
#![no_main]

use bpfbox_btf::core::{patch_insn, CoreInsn};
use bpfbox_btf::{Btf, CoreReloc, CoreRelocator};
use libfuzzer_sys::fuzz_target;

fn u32_at(d: &[u8], i: usize) -> u32 {
    let mut b = [0u8; 4];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // Layout: [split:u16][n_relos:u8][pad][local BTF .. split][target BTF ..]; relocation
    // records are read from the tail of the input.
    let split = (usize::from(u16::from_le_bytes([data[0], data[1]])) % data.len()).max(4);
    let (Some(local_bytes), Some(target_bytes)) = (data.get(4..split), data.get(split..)) else {
        return;
    };
    let Ok(local) = Btf::parse(local_bytes) else {
        return;
    };
    let target = Btf::parse(target_bytes).ok();
    let target = target.as_ref().unwrap_or(&local);
    let mut rel = CoreRelocator::new(&local, target);
    let n = usize::from(data[2] % 32);
    let tail = data.len().saturating_sub(16 * n);
    let base = [
        CoreInsn {
            code: 0x07,
            dst: 1,
            src: 0,
            off: 0,
            imm: 4,
        },
        CoreInsn {
            code: 0x18,
            dst: 1,
            src: 0,
            off: 0,
            imm: 1,
        },
        CoreInsn {
            code: 0x00,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        },
        CoreInsn {
            code: 0x61,
            dst: 1,
            src: 2,
            off: 8,
            imm: 0,
        },
    ];
    for i in 0..n {
        let o = tail + 16 * i;
        let relo = CoreReloc {
            insn_off: u32_at(data, o) % 32,
            type_id: u32_at(data, o + 4) % (local.last_id() + 2),
            access_str_off: u32_at(data, o + 8),
            kind_raw: u32_at(data, o + 12) % 16,
        };
        let (_, r) = rel.resolve_traced(&relo);
        if let Ok(res) = r {
            let mut insns = base;
            let idx = (relo.insn_off / 8) as usize % insns.len();
            let _ = patch_insn(&mut insns[idx..], idx, &res);
        }
    }
});
