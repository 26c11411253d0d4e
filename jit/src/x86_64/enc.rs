//! Hand encoding of the memory-operand instructions the body uses most. `dynasm` encodes a
//! memory operand with a run-time base register as SIB plus a 32-bit displacement (it cannot
//! tell rsp or r12 from the others at macro time); these pick the short forms the kernel's
//! JIT uses: no SIB unless the base needs one, and an 8-bit displacement when it fits.

use dynasmrt::DynasmApi;

use super::Asm;

/// Operand size of a memory access.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum W {
    B,
    H,
    D,
    Q,
}

impl W {
    pub(super) fn of(bytes: u32) -> W {
        match bytes {
            1 => W::B,
            2 => W::H,
            4 => W::D,
            _ => W::Q,
        }
    }
}

/// Prefixes of one encoding: operand-size override (16-bit), REX.W (64-bit), and whether
/// the reg field names a byte register.
#[derive(Clone, Copy)]
struct Form {
    p66: bool,
    w: bool,
    byte_reg: bool,
}

const F32: Form = Form {
    p66: false,
    w: false,
    byte_reg: false,
};
const F64: Form = Form {
    p66: false,
    w: true,
    byte_reg: false,
};
const F16: Form = Form {
    p66: true,
    w: false,
    byte_reg: false,
};
const F8: Form = Form {
    p66: false,
    w: false,
    byte_reg: true,
};

/// Emits `[prefix] [REX] opcode ModRM [SIB] [disp] [imm]` for `reg` (the ModRM reg field,
/// or an opcode extension), the memory operand `[base + disp]` and the immediate bytes
/// `imm`. `byte_reg` forces a REX prefix so registers 4..7 name spl/bpl/sil/dil rather than
/// ah/ch/dh/bh. The bytes are built on the stack, then appended. Inlined: at each call site
/// the opcode and immediate lengths are constants, so the copies unroll.
#[inline(always)]
fn emit(ops: &mut Asm, f: Form, opcode: &[u8], reg: u8, base: u8, disp: i32, imm: &[u8]) {
    // At most: prefix, REX, 2 opcode bytes, ModRM, SIB, disp32, imm32.
    let mut buf = [0u8; 15];
    let mut n = 0;
    let mut put = |b: u8| {
        buf[n] = b;
        n += 1;
    };
    if f.p66 {
        put(0x66);
    }
    let rex = 0x40 | (u8::from(f.w) << 3) | ((reg >> 3) & 1) << 2 | ((base >> 3) & 1);
    if rex != 0x40 || (f.byte_reg && (4..8).contains(&reg)) {
        put(rex);
    }
    for &b in opcode {
        put(b);
    }
    let md = if disp == 0 && base & 7 != 5 {
        0u8
    } else if (-128..128).contains(&disp) {
        1
    } else {
        2
    };
    put((md << 6) | ((reg & 7) << 3) | (base & 7));
    if base & 7 == 4 {
        put(0x24);
    }
    match md {
        1 => put(disp as i8 as u8),
        2 => disp.to_le_bytes().into_iter().for_each(&mut put),
        _ => {}
    }
    imm.iter().copied().for_each(&mut put);
    // One reservation for the whole encoding, then a plain loop: neither a copy call nor
    // a capacity check per byte.
    ops.extend(buf.iter().take(n).copied());
}

/// `dst = zero-extended load of w at [base + disp]`.
pub(super) fn load(ops: &mut Asm, w: W, dst: u8, base: u8, disp: i32) {
    match w {
        W::B => emit(ops, F32, &[0x0f, 0xb6], dst, base, disp, &[]),
        W::H => emit(ops, F32, &[0x0f, 0xb7], dst, base, disp, &[]),
        W::D => emit(ops, F32, &[0x8b], dst, base, disp, &[]),
        W::Q => emit(ops, F64, &[0x8b], dst, base, disp, &[]),
    }
}

/// `dst = sign-extended load of w at [base + disp]` (64-bit result).
pub(super) fn load_sx(ops: &mut Asm, w: W, dst: u8, base: u8, disp: i32) {
    match w {
        W::B => emit(ops, F64, &[0x0f, 0xbe], dst, base, disp, &[]),
        W::H => emit(ops, F64, &[0x0f, 0xbf], dst, base, disp, &[]),
        _ => emit(ops, F64, &[0x63], dst, base, disp, &[]),
    }
}

/// `[base + disp] = low w of src`.
pub(super) fn store(ops: &mut Asm, w: W, src: u8, base: u8, disp: i32) {
    match w {
        W::B => emit(ops, F8, &[0x88], src, base, disp, &[]),
        W::H => emit(ops, F16, &[0x89], src, base, disp, &[]),
        W::D => emit(ops, F32, &[0x89], src, base, disp, &[]),
        W::Q => emit(ops, F64, &[0x89], src, base, disp, &[]),
    }
}

/// `[base + disp] = imm` truncated to w (sign-extended from 32 bits for Q).
pub(super) fn store_imm(ops: &mut Asm, w: W, imm: i32, base: u8, disp: i32) {
    match w {
        W::B => {
            emit(ops, F32, &[0xc6], 0, base, disp, &[imm as u8]);
        }
        W::H => {
            emit(
                ops,
                F16,
                &[0xc7],
                0,
                base,
                disp,
                &(imm as i16).to_le_bytes(),
            );
        }
        W::D | W::Q => {
            let f = if w == W::Q { F64 } else { F32 };
            emit(ops, f, &[0xc7], 0, base, disp, &imm.to_le_bytes());
        }
    }
}

/// `dst = base + disp` (64-bit `lea`).
pub(super) fn lea(ops: &mut Asm, dst: u8, base: u8, disp: i32) {
    emit(ops, F64, &[0x8d], dst, base, disp, &[]);
}

/// `sub dst, [base + disp]` (64-bit).
pub(super) fn sub_mem(ops: &mut Asm, dst: u8, base: u8, disp: i32) {
    emit(ops, F64, &[0x2b], dst, base, disp, &[]);
}

/// `cmp dst, [base + disp]` (64-bit).
pub(super) fn cmp_mem(ops: &mut Asm, dst: u8, base: u8, disp: i32) {
    emit(ops, F64, &[0x3b], dst, base, disp, &[]);
}

/// `op QWORD [base + disp], imm8` for the group-1 opcode extension `ext` (0 add, 5 sub,
/// 7 cmp).
pub(super) fn alu_mem_imm8(ops: &mut Asm, ext: u8, base: u8, disp: i32, imm: i8) {
    emit(ops, F64, &[0x83], ext, base, disp, &[imm as u8]);
}

/// `jmp QWORD [base + disp]`.
pub(super) fn jmp_mem(ops: &mut Asm, base: u8, disp: i32) {
    emit(ops, F32, &[0xff], 4, base, disp, &[]);
}

/// `call QWORD [base + disp]`.
pub(super) fn call_mem(ops: &mut Asm, base: u8, disp: i32) {
    emit(ops, F32, &[0xff], 2, base, disp, &[]);
}

/// `xor [base + disp], imm` of width `w` (sign-extended from 32 bits for Q).
pub(super) fn xor_imm(ops: &mut Asm, w: W, imm: i32, base: u8, disp: i32) {
    match w {
        W::B => {
            emit(ops, F32, &[0x80], 6, base, disp, &[imm as u8]);
        }
        W::H => {
            emit(
                ops,
                F16,
                &[0x81],
                6,
                base,
                disp,
                &(imm as i16).to_le_bytes(),
            );
        }
        W::D | W::Q => {
            let f = if w == W::Q { F64 } else { F32 };
            emit(ops, f, &[0x81], 6, base, disp, &imm.to_le_bytes());
        }
    }
}

/// `op reg, imm8` (sign-extended) for the group-1 opcode extension `ext` (7 cmp), 64-bit
/// when `w64`. Written by hand: `dynasm` takes the imm32 form for `cmp` with a run-time
/// register.
#[inline]
pub(super) fn alu_reg_imm8(ops: &mut Asm, w64: bool, ext: u8, reg: u8, imm: i8) {
    if let Some(rex) = rex_rr(w64, 0, reg) {
        ops.push(rex);
    }
    // Byte by byte: a copy call costs more than these few pushes.
    ops.push(0x83);
    ops.push(0xc0 | (ext << 3) | (reg & 7));
    ops.push(imm as u8);
}

/// The REX prefix for `w64`, a ModRM reg field `reg` and r/m field `rm` (both register
/// numbers), or `None` when no bit is set.
#[inline]
fn rex_rr(w64: bool, reg: u8, rm: u8) -> Option<u8> {
    let rex = 0x40 | (u8::from(w64) << 3) | ((reg >> 3) & 1) << 2 | ((rm >> 3) & 1);
    (rex != 0x40).then_some(rex)
}

/// `op dst, src` between registers, for the `op r/m, r` opcode `opcode` (0x01 add, 0x29
/// sub, 0x21 and, 0x09 or, 0x31 xor, 0x89 mov, 0x39 cmp, 0x85 test), 64-bit when `w64`.
#[inline]
pub(super) fn alu_rr(ops: &mut Asm, w64: bool, opcode: u8, dst: u8, src: u8) {
    if let Some(rex) = rex_rr(w64, src, dst) {
        ops.push(rex);
    }
    ops.push(opcode);
    ops.push(0xc0 | ((src & 7) << 3) | (dst & 7));
}

/// `op dst, imm` (sign-extended) for the group-1 opcode extension `ext` (0 add, 1 or,
/// 4 and, 5 sub, 6 xor, 7 cmp), 64-bit when `w64`, with an 8-bit immediate when it fits.
#[inline]
pub(super) fn alu_ri(ops: &mut Asm, w64: bool, ext: u8, dst: u8, imm: i32) {
    if let Ok(imm) = i8::try_from(imm) {
        return alu_reg_imm8(ops, w64, ext, dst, imm);
    }
    if let Some(rex) = rex_rr(w64, 0, dst) {
        ops.push(rex);
    }
    ops.push(0x81);
    ops.push(0xc0 | (ext << 3) | (dst & 7));
    ops.push_i32(imm);
}
