//! From a [`GenProgram`] tree to instructions, normalising whatever the verifier would
//! refuse (see the module documentation of [`super`]).

use bpfbox_vm::isa::{AluOp, AtomicOp, CallTarget, Insn, LdImm64Kind, RawInsn, Size, Src, Width};

use super::{
    Func, GenProgram, MainInit, MapSel, Operand, Reload, StackPos, Stmt, SubInit, ValueOp,
    KEY_SPACE, MAP_IN, MAP_OUT, MAX_FUNCS, NSLOTS, VALUE_SIZE,
};

/// Conditional jumps emitted per function; further `If`s run both arms unconditionally.
/// Each branch can double the paths the verifier walks, so this bounds its work.
pub const MAX_IFS_PER_FUNC: usize = 6;
/// Calls emitted per function (each call site verifies the callee again).
const MAX_CALLS_PER_FUNC: usize = 3;
/// Registers that stay scalars in a map-value block.
const SCALARS: [u8; 5] = [0, 6, 7, 8, 9];
/// `main`'s extra slot, below the general ones, where r9 is spilled in the epilogue.
const SPILL_OFF: i16 = -8 * (NSLOTS as i16 + 1);
/// The trip counter of a [`Stmt::Loop`], and where r9 is spilled around its test.
const LOOP_COUNT_OFF: i16 = SPILL_OFF - 24;
const LOOP_SPILL_OFF: i16 = SPILL_OFF - 32;
/// Most trips of a loop.
const MAX_TRIPS: u8 = 4;
/// Offset in `MAP_IN` / `MAP_OUT` of the slot images.
const SLOTS_OFF: i16 = 80;

const HELPER_LOOKUP: i32 = 1;
const HELPER_UPDATE: i32 = 2;
const HELPER_DELETE: i32 = 3;

/// Why a tree could not be emitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// A jump or call offset does not fit its field.
    #[error("program too long: an offset does not fit its field")]
    TooLong,
}

fn reg(x: u8) -> u8 {
    x % 10
}

fn arg(x: u8) -> u8 {
    1 + x % 5
}

fn scalar(x: u8) -> u8 {
    SCALARS[(x % 5) as usize]
}

fn width(wide: bool) -> Width {
    if wide {
        Width::W64
    } else {
        Width::W32
    }
}

/// Offset from r10 of an access of `size` at `pos`, aligned to the size.
fn stack_off(pos: StackPos, size: Size) -> i16 {
    let n = size.bytes() as i16;
    let slot = (pos.slot as usize % NSLOTS) as i16;
    let byte = (pos.byte as i16 % 8) / n * n;
    -8 * (slot + 1) + byte
}

/// A load of `size` into `dst`, sign-extending when asked and possible.
fn load(size: Size, signed: bool, dst: u8, src: u8, off: i16) -> Insn {
    if signed && size != Size::DW {
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        }
    } else {
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        }
    }
}

fn mov64(dst: u8, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    }
}

fn map_value(dst: u8, map: u32) -> Insn {
    Insn::LdImm64 {
        dst,
        kind: LdImm64Kind::MapIdxValue,
        imm: u64::from(map),
    }
}

/// Atomic operations that read-modify-write (acquire/release forms become `xchg`).
fn rmw(op: AtomicOp) -> AtomicOp {
    match op {
        AtomicOp::LoadAcquire | AtomicOp::StoreRelease => AtomicOp::Xchg,
        other => other,
    }
}

/// Kernel behaviours the emitter can reproduce in the program itself, so that our
/// interpreter computes what the kernel computed (see [`mod@super::explain`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// A 32-bit `cmpxchg` leaves r0 whole when the comparison succeeds, as x86-64's
    /// `lock cmpxchg r32` does when the verifier did not add the zero-extension the
    /// instruction needs (the ISA zero-extends the old value into r0 either way).
    pub cmpxchg32_keeps_r0: bool,
}

/// Scratch slots below `main`'s spill slot, used only by [`Quirks`] sequences.
const QUIRK_R0_OFF: i16 = SPILL_OFF - 8;
const QUIRK_R1_OFF: i16 = SPILL_OFF - 16;

/// Pushes `insn`, or the sequence that runs it the way `quirks` say the kernel does.
fn push_with(quirks: Quirks, insn: Insn, out: &mut Out) {
    let cmpxchg32 = matches!(
        insn,
        Insn::Atomic {
            size: Size::W,
            op: AtomicOp::Cmpxchg,
            ..
        }
    );
    if !(cmpxchg32 && quirks.cmpxchg32_keeps_r0) {
        out.push(insn);
        return;
    }
    let stx = |src, off| Insn::Stx {
        size: Size::DW,
        dst: 10,
        src,
        off,
    };
    // r0 before; the cmpxchg (r0 = old, zero-extended); on success (old equals the low
    // half of r0 before) put the whole r0 back. r1 is saved around its use as scratch.
    out.push(stx(0, QUIRK_R0_OFF));
    out.push(insn);
    out.push(stx(1, QUIRK_R1_OFF));
    out.push(load(Size::W, false, 1, 10, QUIRK_R0_OFF));
    out.push(Insn::Jmp {
        width: Width::W64,
        cond: bpfbox_vm::isa::JmpCond::Ne,
        dst: 1,
        src: Src::Reg(0),
        off: 1,
    });
    out.push(load(Size::DW, false, 0, 10, QUIRK_R0_OFF));
    out.push(load(Size::DW, false, 1, 10, QUIRK_R1_OFF));
}

/// Per-function emission state.
struct Ctx<'a> {
    /// Absolute slot index of each function.
    starts: &'a [usize],
    /// Index of the function being emitted.
    func: usize,
    /// Number of functions.
    nfuncs: usize,
    /// Conditional jumps still allowed in this function.
    ifs_left: usize,
    /// Calls still allowed in this function.
    calls_left: usize,
    /// Whether a loop is being emitted (loops do not nest).
    in_loop: bool,
    /// Which functions have a call site so far.
    called: &'a mut [bool],
    /// Kernel behaviours to reproduce.
    quirks: Quirks,
}

/// Appends instructions, knowing the absolute slot index of `out[0]`.
struct Out {
    code: Vec<RawInsn>,
    base: usize,
}

impl Out {
    fn new(base: usize) -> Self {
        Out {
            code: Vec::new(),
            base,
        }
    }

    fn push(&mut self, insn: Insn) {
        insn.encode_into(&mut self.code);
    }

    fn pc(&self) -> usize {
        self.base + self.code.len()
    }
}

fn off16(n: usize) -> Result<i16, EmitError> {
    i16::try_from(n).map_err(|_| EmitError::TooLong)
}

impl Ctx<'_> {
    fn block(&mut self, stmts: &[Stmt], out: &mut Out) -> Result<(), EmitError> {
        for s in stmts {
            self.stmt(s, out)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt, out: &mut Out) -> Result<(), EmitError> {
        match *s {
            Stmt::Alu { wide, op, dst, src } => {
                if let AluOp::MovSx(bits) = op {
                    let src = match src {
                        Operand::Reg(r) => r,
                        Operand::Imm(i) => i as u8,
                    };
                    return self.stmt(
                        &Stmt::MovSx {
                            wide,
                            bits,
                            dst,
                            src,
                        },
                        out,
                    );
                }
                let bits = if wide { 64 } else { 32 };
                let src = match src {
                    Operand::Reg(r) => Src::Reg(reg(r)),
                    Operand::Imm(i) => Src::Imm(match op {
                        // The verifier refuses a constant zero divisor...
                        AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod if i == 0 => 1,
                        // ...and shift immediates outside 0..width.
                        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => i.rem_euclid(bits),
                        _ => i,
                    }),
                };
                out.push(Insn::Alu {
                    width: width(wide),
                    op,
                    dst: reg(dst),
                    src,
                });
            }
            Stmt::Neg { wide, dst } => out.push(Insn::Neg {
                width: width(wide),
                dst: reg(dst),
            }),
            Stmt::End { kind, bits, dst } => out.push(Insn::End {
                kind,
                bits: [16, 32, 64][bits as usize % 3],
                dst: reg(dst),
            }),
            Stmt::MovSx {
                wide,
                bits,
                dst,
                src,
            } => {
                let bits = if wide {
                    [8, 16, 32][bits as usize % 3]
                } else {
                    [8, 16][bits as usize % 2]
                };
                out.push(Insn::Alu {
                    width: width(wide),
                    op: AluOp::MovSx(bits),
                    dst: reg(dst),
                    src: Src::Reg(reg(src)),
                });
            }
            Stmt::LdImm64 { dst, imm } => out.push(Insn::LdImm64 {
                dst: reg(dst),
                kind: LdImm64Kind::Imm,
                imm,
            }),
            Stmt::Store { size, pos, src } => {
                let off = stack_off(pos, size);
                out.push(match src {
                    Operand::Reg(r) => Insn::Stx {
                        size,
                        dst: 10,
                        src: reg(r),
                        off,
                    },
                    Operand::Imm(imm) => Insn::St {
                        size,
                        dst: 10,
                        off,
                        imm,
                    },
                });
            }
            Stmt::Load {
                size,
                signed,
                dst,
                pos,
            } => out.push(load(size, signed, reg(dst), 10, stack_off(pos, size))),
            Stmt::Atomic { wide, op, pos, src } => {
                let size = if wide { Size::DW } else { Size::W };
                let insn = Insn::Atomic {
                    size,
                    op: rmw(op),
                    dst: 10,
                    src: reg(src),
                    off: stack_off(pos, size),
                };
                push_with(self.quirks, insn, out);
            }
            Stmt::AcqRel {
                store,
                size,
                reg: r,
                pos,
            } => {
                let off = stack_off(pos, size);
                // Load-acquire names its base in src, as the kernel encodes it.
                let (op, dst, src) = if store {
                    (AtomicOp::StoreRelease, 10, reg(r))
                } else {
                    (AtomicOp::LoadAcquire, reg(r), 10)
                };
                out.push(Insn::Atomic {
                    size,
                    op,
                    dst,
                    src,
                    off,
                });
            }
            Stmt::If {
                wide,
                cond,
                dst,
                src,
                ref then,
                ref els,
                long_ja,
            } => self.branch(wide, cond, dst, src, then, els, long_ja, out)?,
            Stmt::Loop { count, ref body } => self.bounded_loop(count, body, out)?,
            Stmt::Call { callee, ref reload } => {
                let first = self.func + 1;
                if first >= self.nfuncs || self.calls_left == 0 {
                    return Ok(());
                }
                self.calls_left -= 1;
                let target = first + callee as usize % (self.nfuncs - first);
                self.call(target, reload, out)?;
            }
            Stmt::MapLookup {
                map,
                key,
                key_slot,
                r0_from,
                ref ops,
                ref reload,
            } => {
                helper_key(map, key, key_slot, out);
                out.push(Insn::Call(CallTarget::Helper(HELPER_LOOKUP)));
                let mut body = Out::new(out.pc() + 1);
                body.push(mov64(1, Src::Reg(0)));
                // r0 still holds the pointer: take a scalar from r6..r9.
                body.push(mov64(0, Src::Reg(SCALARS[1 + r0_from as usize % 4])));
                for op in ops {
                    push_with(self.quirks, value_op(*op), &mut body);
                }
                out.push(Insn::Jmp {
                    width: Width::W64,
                    cond: bpfbox_vm::isa::JmpCond::Eq,
                    dst: 0,
                    src: Src::Imm(0),
                    off: off16(body.code.len())?,
                });
                out.code.extend(body.code);
                reload_args(reload, out);
            }
            Stmt::MapUpdate {
                map,
                key,
                key_slot,
                val_slot,
                flags,
                ref reload,
            } => {
                helper_key(map, key, key_slot, out);
                let voff = -8 * (val_slot as i16 % (NSLOTS as i16 - 1) + 2);
                out.push(mov64(3, Src::Reg(10)));
                out.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Add,
                    dst: 3,
                    src: Src::Imm(i32::from(voff)),
                });
                out.push(mov64(4, Src::Imm(i32::from(flags % 4))));
                out.push(Insn::Call(CallTarget::Helper(HELPER_UPDATE)));
                reload_args(reload, out);
            }
            Stmt::MapDelete {
                map,
                key,
                key_slot,
                ref reload,
            } => {
                helper_key(map, key, key_slot, out);
                out.push(Insn::Call(CallTarget::Helper(HELPER_DELETE)));
                reload_args(reload, out);
            }
        }
        Ok(())
    }

    fn call(
        &mut self,
        target: usize,
        reload: &[Reload; 5],
        out: &mut Out,
    ) -> Result<(), EmitError> {
        let rel = self.starts.get(target).copied().unwrap_or(0) as i64 - out.pc() as i64 - 1;
        let rel = i32::try_from(rel).map_err(|_| EmitError::TooLong)?;
        out.push(Insn::Call(CallTarget::Local(rel)));
        if let Some(c) = self.called.get_mut(target) {
            *c = true;
        }
        reload_args(reload, out);
        Ok(())
    }

    /// Calls the next function if nothing has so far: the verifier refuses unreachable code,
    /// and only functions up to this one can call it.
    fn ensure_next_called(&mut self, out: &mut Out) -> Result<(), EmitError> {
        let next = self.func + 1;
        if next < self.nfuncs && !self.called.get(next).copied().unwrap_or(true) {
            self.call(next, &[Reload::Const(0); 5], out)?;
        }
        Ok(())
    }

    /// `body` `1 + count % MAX_TRIPS` times, counted down in a stack slot.
    fn bounded_loop(&mut self, count: u8, body: &[Stmt], out: &mut Out) -> Result<(), EmitError> {
        if self.in_loop || self.ifs_left == 0 {
            return self.block(body, out);
        }
        self.ifs_left -= 1;
        out.push(Insn::St {
            size: Size::DW,
            dst: 10,
            off: LOOP_COUNT_OFF,
            imm: 1 + i32::from(count % MAX_TRIPS),
        });
        let top = out.pc();
        self.in_loop = true;
        let emitted = self.block(body, out);
        self.in_loop = false;
        emitted?;
        let stx = |src, off| Insn::Stx {
            size: Size::DW,
            dst: 10,
            src,
            off,
        };
        out.push(stx(9, LOOP_SPILL_OFF));
        out.push(load(Size::DW, false, 9, 10, LOOP_COUNT_OFF));
        out.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: 9,
            src: Src::Imm(-1),
        });
        out.push(stx(9, LOOP_COUNT_OFF));
        out.push(Insn::Jmp {
            width: Width::W64,
            cond: bpfbox_vm::isa::JmpCond::Eq,
            dst: 9,
            src: Src::Imm(0),
            off: 2,
        });
        out.push(load(Size::DW, false, 9, 10, LOOP_SPILL_OFF));
        let back = top as i64 - (out.pc() as i64 + 1);
        out.push(Insn::Ja {
            off: i32::from(i16::try_from(back).map_err(|_| EmitError::TooLong)?),
            long: false,
        });
        out.push(load(Size::DW, false, 9, 10, LOOP_SPILL_OFF));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn branch(
        &mut self,
        wide: bool,
        cond: bpfbox_vm::isa::JmpCond,
        dst: u8,
        src: Operand,
        then: &[Stmt],
        els: &[Stmt],
        long_ja: bool,
        out: &mut Out,
    ) -> Result<(), EmitError> {
        let jump = self.ifs_left > 0;
        if !jump {
            self.block(then, out)?;
            return self.block(els, out);
        }
        self.ifs_left -= 1;
        let src = match src {
            Operand::Reg(r) => Src::Reg(reg(r)),
            Operand::Imm(i) => Src::Imm(i),
        };
        let mut t = Out::new(out.pc() + 1);
        self.block(then, &mut t)?;
        let has_else = !els.is_empty();
        let skip = t.code.len() + usize::from(has_else);
        out.push(Insn::Jmp {
            width: width(wide),
            cond,
            dst: reg(dst),
            src,
            off: off16(skip)?,
        });
        out.code.extend(t.code);
        if has_else {
            let mut e = Out::new(out.pc() + 1);
            self.block(els, &mut e)?;
            let n = e.code.len();
            out.push(Insn::Ja {
                off: if long_ja {
                    i32::try_from(n).map_err(|_| EmitError::TooLong)?
                } else {
                    i32::from(off16(n)?)
                },
                long: long_ja,
            });
            out.code.extend(e.code);
        }
        Ok(())
    }
}

/// Stores the reduced key in its slot and sets r1 = map, r2 = &key.
fn helper_key(map: MapSel, key: u8, key_slot: u8, out: &mut Out) {
    let koff = stack_off(
        StackPos {
            slot: key_slot,
            byte: 0,
        },
        Size::W,
    );
    out.push(mov64(1, Src::Reg(reg(key))));
    out.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::And,
        dst: 1,
        src: Src::Imm(KEY_SPACE as i32 - 1),
    });
    out.push(Insn::Stx {
        size: Size::W,
        dst: 10,
        src: 1,
        off: koff,
    });
    out.push(mov64(2, Src::Reg(10)));
    out.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst: 2,
        src: Src::Imm(i32::from(koff)),
    });
    out.push(Insn::LdImm64 {
        dst: 1,
        kind: LdImm64Kind::MapIdx,
        imm: u64::from(map.index()),
    });
}

fn reload_args(reload: &[Reload; 5], out: &mut Out) {
    for (i, r) in reload.iter().enumerate() {
        let dst = i as u8 + 1;
        out.push(match *r {
            Reload::Slot { size, signed, pos } => load(size, signed, dst, 10, stack_off(pos, size)),
            Reload::Const(c) => mov64(dst, Src::Imm(c)),
            Reload::Reg(x) => mov64(dst, Src::Reg(scalar(x))),
        });
    }
}

fn value_op(op: ValueOp) -> Insn {
    let within = |off: u8, size: Size| {
        let room = VALUE_SIZE as u32 - size.bytes() + 1;
        (u32::from(off) % room) as i16
    };
    match op {
        ValueOp::Load {
            size,
            signed,
            reg,
            off,
        } => load(size, signed, scalar(reg), 1, within(off, size)),
        ValueOp::Store { size, reg, off } => Insn::Stx {
            size,
            dst: 1,
            src: scalar(reg),
            off: within(off, size),
        },
        ValueOp::StoreImm { size, imm, off } => Insn::St {
            size,
            dst: 1,
            off: within(off, size),
            imm,
        },
        ValueOp::Atomic { wide, op, reg, off } => {
            let size = if wide { Size::DW } else { Size::W };
            let n = size.bytes() as u8;
            let off = (off % (VALUE_SIZE as u8 / n)) * n;
            Insn::Atomic {
                size,
                op: rmw(op),
                dst: 1,
                src: scalar(reg),
                off: i16::from(off),
            }
        }
    }
}

fn main_prologue(f: &Func, out: &mut Out) {
    out.push(map_value(9, MAP_IN));
    for j in 0..NSLOTS as i16 {
        out.push(load(Size::DW, false, 1, 9, SLOTS_OFF + 8 * j));
        out.push(Insn::Stx {
            size: Size::DW,
            dst: 10,
            src: 1,
            off: -8 * (j + 1),
        });
    }
    // r9 holds the input pointer, so it is initialised last.
    for i in 0..10u8 {
        out.push(match f.main_init[i as usize] {
            MainInit::Input { size, signed } => load(size, signed, i, 9, 8 * i16::from(i)),
            MainInit::Const(imm) => Insn::LdImm64 {
                dst: i,
                kind: LdImm64Kind::Imm,
                imm,
            },
        });
    }
}

fn main_epilogue(out: &mut Out) {
    out.push(Insn::Stx {
        size: Size::DW,
        dst: 10,
        src: 9,
        off: SPILL_OFF,
    });
    out.push(map_value(9, MAP_OUT));
    for i in 0..9u8 {
        out.push(Insn::Stx {
            size: Size::DW,
            dst: 9,
            src: i,
            off: 8 * i16::from(i),
        });
    }
    out.push(load(Size::DW, false, 1, 10, SPILL_OFF));
    out.push(Insn::Stx {
        size: Size::DW,
        dst: 9,
        src: 1,
        off: 72,
    });
    for j in 0..NSLOTS as i16 {
        out.push(load(Size::DW, false, 1, 10, -8 * (j + 1)));
        out.push(Insn::Stx {
            size: Size::DW,
            dst: 9,
            src: 1,
            off: SLOTS_OFF + 8 * j,
        });
    }
    out.push(Insn::EXIT);
}

fn sub_prologue(f: &Func, out: &mut Out) {
    for (j, init) in f.slot_init.iter().enumerate() {
        let off = -8 * (j as i16 + 1);
        out.push(match *init {
            SubInit::Arg(a) => Insn::Stx {
                size: Size::DW,
                dst: 10,
                src: arg(a),
                off,
            },
            SubInit::Const(imm) => Insn::St {
                size: Size::DW,
                dst: 10,
                off,
                imm,
            },
        });
    }
    for (k, init) in f.sub_init.iter().enumerate() {
        let dst = SCALARS[k];
        out.push(match *init {
            SubInit::Arg(a) => mov64(dst, Src::Reg(arg(a))),
            SubInit::Const(imm) => mov64(dst, Src::Imm(imm)),
        });
    }
}

impl GenProgram {
    fn emit_with(&self, starts: &[usize], quirks: Quirks) -> Result<Vec<Vec<RawInsn>>, EmitError> {
        let funcs = &self.funcs[..self.funcs.len().min(MAX_FUNCS)];
        let mut out = Vec::with_capacity(funcs.len());
        let mut called = vec![false; funcs.len()];
        for (i, f) in funcs.iter().enumerate() {
            let mut o = Out::new(starts.get(i).copied().unwrap_or(0));
            let mut ctx = Ctx {
                starts,
                func: i,
                nfuncs: funcs.len(),
                ifs_left: MAX_IFS_PER_FUNC,
                calls_left: MAX_CALLS_PER_FUNC,
                in_loop: false,
                called: &mut called,
                quirks,
            };
            if i == 0 {
                main_prologue(f, &mut o);
                ctx.block(&f.body, &mut o)?;
                ctx.ensure_next_called(&mut o)?;
                main_epilogue(&mut o);
            } else {
                sub_prologue(f, &mut o);
                ctx.block(&f.body, &mut o)?;
                ctx.ensure_next_called(&mut o)?;
                o.push(Insn::EXIT);
            }
            out.push(o.code);
        }
        Ok(out)
    }

    /// The program's instructions: `main`, then its subprograms. Map references use
    /// `BPF_PSEUDO_MAP_IDX` / `BPF_PSEUDO_MAP_IDX_VALUE` with the indices [`super::MAP_IN`]
    /// .. [`super::MAP_ARRAY`].
    pub fn insns(&self) -> Result<Vec<RawInsn>, EmitError> {
        self.insns_with(Quirks::default())
    }

    /// The program's instructions with `quirks` reproduced in them, for our interpreter:
    /// the sequences spill a map-value pointer, which the kernel's verifier may refuse.
    pub fn insns_with(&self, quirks: Quirks) -> Result<Vec<RawInsn>, EmitError> {
        if self.funcs.is_empty() {
            // Not produced by the strategies; an empty main still makes a valid program.
            let main = Func {
                main_init: [MainInit::Const(0); 10],
                sub_init: [SubInit::Const(0); 5],
                slot_init: [SubInit::Const(0); NSLOTS],
                body: Vec::new(),
            };
            let p = GenProgram {
                funcs: vec![main],
                ..self.clone()
            };
            return p.insns_with(quirks);
        }
        // Function lengths do not depend on call offsets: measure, then place.
        let n = self.funcs.len().min(MAX_FUNCS);
        let sized = self.emit_with(&vec![0; n], quirks)?;
        let mut starts = Vec::with_capacity(n);
        let mut at = 0;
        for f in &sized {
            starts.push(at);
            at += f.len();
        }
        Ok(self.emit_with(&starts, quirks)?.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_offsets_are_aligned_and_inside_the_slots() {
        for slot in 0..=255u8 {
            for byte in 0..=255u8 {
                for size in [Size::B, Size::H, Size::W, Size::DW] {
                    let off = stack_off(StackPos { slot, byte }, size);
                    assert!(off >= -8 * NSLOTS as i16 && off + size.bytes() as i16 <= 0);
                    assert_eq!(off.rem_euclid(size.bytes() as i16), 0);
                }
            }
        }
    }

    #[test]
    fn io_layout_fits() {
        assert_eq!(SLOTS_OFF as usize + 8 * NSLOTS, super::super::IO_SIZE);
    }
}
