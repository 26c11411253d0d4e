//! One instruction line: the mnemonic and its operands to an [`Insn`] with a pending
//! label fix-up.

use super::operands::*;
use super::*;

pub(super) fn parse_insn(toks: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    let lower = toks[0].to_ascii_lowercase();
    let m = lower.as_str();
    let ops = &toks[1..];
    let reg = |t: &str| parse_reg(t, opts);

    // Fixed names first.
    match m {
        "exit" => {
            count(m, ops, "0", &[0])?;
            return Ok(Pending::plain(Insn::EXIT));
        }
        "ja" | "ja32" | "may_goto" => {
            count(m, ops, "1", &[1])?;
            let t = parse_target(ops[0])?;
            return Ok(match m {
                "ja" => Pending::fix(
                    Insn::Ja {
                        off: 0,
                        long: false,
                    },
                    t,
                    Field::Off,
                ),
                "ja32" => Pending::fix(Insn::Ja { off: 0, long: true }, t, Field::Imm),
                _ => Pending::fix(Insn::MayGoto { off: 0 }, t, Field::Off),
            });
        }
        "neg" | "neg32" => {
            count(m, ops, "1", &[1])?;
            let width = if m == "neg" { Width::W64 } else { Width::W32 };
            return Ok(Pending::plain(Insn::Neg {
                width,
                dst: reg(ops[0])?,
            }));
        }
        "call" => return parse_call(m, ops, opts),
        "lock" => return parse_lock(ops, opts),
        "lddw" => return parse_lddw(m, ops, opts),
        "addr_space_cast" => {
            count(m, ops, "4", &[4])?;
            let a = parse_imm32(ops[2])?;
            let b = parse_imm32(ops[3])?;
            if !(0..=0xffff).contains(&a) {
                return Err(AsmErrorKind::ImmediateOutOfRange(ops[2].to_string()));
            }
            if !(0..=0xffff).contains(&b) {
                return Err(AsmErrorKind::ImmediateOutOfRange(ops[3].to_string()));
            }
            return Ok(Pending::plain(Insn::AddrSpaceCast {
                dst: reg(ops[0])?,
                src: reg(ops[1])?,
                imm: (a << 16) | b,
            }));
        }
        "movsx864" | "movsx1664" | "movsx3264" | "movsx832" | "movsx1632" => {
            count(m, ops, "2", &[2])?;
            let (bits, width) = match m {
                "movsx864" => (8, Width::W64),
                "movsx1664" => (16, Width::W64),
                "movsx3264" => (32, Width::W64),
                "movsx832" => (8, Width::W32),
                _ => (16, Width::W32),
            };
            return Ok(Pending::plain(Insn::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst: reg(ops[0])?,
                src: Src::Reg(reg(ops[1])?),
            }));
        }
        _ => {}
    }

    // Byte order: le16.. be16.. bswap16.. swap16..
    for (prefix, kind) in [
        ("le", EndKind::ToLe),
        ("be", EndKind::ToBe),
        ("bswap", EndKind::Swap),
        ("swap", EndKind::Swap),
    ] {
        if let Some(bits) = m.strip_prefix(prefix) {
            let bits = match bits {
                "16" => 16,
                "32" => 32,
                "64" => 64,
                _ => continue,
            };
            count(m, ops, "1", &[1])?;
            return Ok(Pending::plain(Insn::End {
                kind,
                bits,
                dst: reg(ops[0])?,
            }));
        }
    }

    // Loads and stores.
    if let Some(sfx) = m.strip_prefix("ldxs") {
        if let Some(size) = size_suffix(sfx).filter(|s| *s != Size::DW) {
            count(m, ops, "2", &[2])?;
            let (src, off) = parse_mem(ops[1], opts)?;
            return Ok(Pending::plain(Insn::LdxSx {
                size,
                dst: reg(ops[0])?,
                src,
                off,
            }));
        }
    }
    if let Some(size) = m.strip_prefix("ldx").and_then(size_suffix) {
        count(m, ops, "2", &[2])?;
        let (src, off) = parse_mem(ops[1], opts)?;
        return Ok(Pending::plain(Insn::Ldx {
            size,
            dst: reg(ops[0])?,
            src,
            off,
        }));
    }
    if let Some(size) = m.strip_prefix("stx").and_then(size_suffix) {
        count(m, ops, "2", &[2])?;
        let (dst, off) = parse_mem(ops[0], opts)?;
        return Ok(Pending::plain(Insn::Stx {
            size,
            dst,
            src: reg(ops[1])?,
            off,
        }));
    }
    if let Some(size) = m.strip_prefix("st").and_then(size_suffix) {
        count(m, ops, "2", &[2])?;
        let (dst, off) = parse_mem(ops[0], opts)?;
        return Ok(Pending::plain(Insn::St {
            size,
            dst,
            off,
            imm: parse_imm32(ops[1])?,
        }));
    }
    if let Some(size) = m
        .strip_prefix("ldabs")
        .and_then(size_suffix)
        .filter(|s| *s != Size::DW)
    {
        count(m, ops, "1", &[1])?;
        return Ok(Pending::plain(Insn::LdAbs {
            size,
            imm: parse_imm32(ops[0])?,
        }));
    }
    if let Some(size) = m
        .strip_prefix("ldind")
        .and_then(size_suffix)
        .filter(|s| *s != Size::DW)
    {
        count(m, ops, "2", &[2])?;
        return Ok(Pending::plain(Insn::LdInd {
            size,
            src: reg(ops[0])?,
            imm: parse_imm32(ops[1])?,
        }));
    }

    let (base, width) = split_width(m);
    if let Some(op) = alu_op(base) {
        count(m, ops, "2", &[2])?;
        return Ok(Pending::plain(Insn::Alu {
            width,
            op,
            dst: reg(ops[0])?,
            src: parse_src(ops[1], opts)?,
        }));
    }
    if let Some(cond) = jmp_cond(base) {
        count(m, ops, "3", &[3])?;
        let dst = reg(ops[0])?;
        let src = parse_src(ops[1], opts)?;
        let t = parse_target(ops[2])?;
        return Ok(Pending::fix(
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off: 0,
            },
            t,
            Field::Off,
        ));
    }
    Err(AsmErrorKind::UnknownMnemonic(toks[0].to_string()))
}

pub(super) fn parse_call(m: &str, ops: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    let helper = |t: &str| -> KResult<Pending> {
        if is_reg(t) {
            return Ok(Pending::plain(Insn::Callx {
                reg: parse_reg(t, opts)?,
            }));
        }
        let starts_num = t.starts_with(|c: char| c.is_ascii_digit() || c == '-');
        if !starts_num {
            if let Some(id) = helper_id(t) {
                return Ok(Pending::plain(Insn::Call(CallTarget::Helper(id))));
            }
            return Err(AsmErrorKind::InvalidOperand(t.to_string()));
        }
        Ok(Pending::plain(Insn::Call(CallTarget::Helper(parse_imm32(
            t,
        )?))))
    };
    match ops.first().copied() {
        None => Err(AsmErrorKind::OperandCount {
            mnemonic: m.to_string(),
            expected: "1 or 2",
            found: 0,
        }),
        Some("helper") => {
            count("call helper", &ops[1..], "1", &[1])?;
            helper(ops[1])
        }
        Some("local") => {
            count("call local", &ops[1..], "1", &[1])?;
            let t = parse_target(ops[1])?;
            Ok(Pending::fix(
                Insn::Call(CallTarget::Local(0)),
                t,
                Field::Imm,
            ))
        }
        Some("runtime") => {
            count("call runtime", &ops[1..], "1", &[1])?;
            Ok(Pending::plain(Insn::Call(CallTarget::Kfunc {
                btf_id: parse_imm32(ops[1])?,
                off: 0,
            })))
        }
        Some("kfunc") => {
            count("call kfunc", &ops[1..], "1 or 2", &[1, 2])?;
            let off = match ops.get(2) {
                Some(t) => {
                    let v = parse_imm32(t.strip_prefix('+').unwrap_or(t))?;
                    i16::try_from(v).map_err(|_| AsmErrorKind::OffsetOutOfRange(t.to_string()))?
                }
                None => 0,
            };
            Ok(Pending::plain(Insn::Call(CallTarget::Kfunc {
                btf_id: parse_imm32(ops[1])?,
                off,
            })))
        }
        Some(t) => {
            count(m, ops, "1", &[1])?;
            helper(t)
        }
    }
}

pub(super) fn parse_lock(ops: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    let bad = |s: &str| AsmErrorKind::InvalidLock(s.to_string());
    let (fetch, rest) = match ops.first() {
        Some(&"fetch") => (true, &ops[1..]),
        Some(_) => (false, ops),
        None => return Err(bad("missing operation")),
    };
    let Some(name) = rest.first() else {
        return Err(bad("missing operation"));
    };
    let operands = &rest[1..];
    if operands.len() != 2 {
        return Err(AsmErrorKind::OperandCount {
            mnemonic: format!("lock {name}"),
            expected: "2",
            found: operands.len(),
        });
    }
    let name = name.to_ascii_lowercase();
    // Acquire / release extensions.
    for (prefix, load) in [("load_acquire", true), ("store_release", false)] {
        if let Some(sfx) = name.strip_prefix(prefix) {
            let size = match sfx {
                "8" => Size::B,
                "16" => Size::H,
                "32" => Size::W,
                "" | "64" => Size::DW,
                _ => return Err(bad(&name)),
            };
            if fetch {
                return Err(bad("fetch is not allowed with load_acquire/store_release"));
            }
            return Ok(Pending::plain(if load {
                let (src, off) = parse_mem(operands[1], opts)?;
                Insn::Atomic {
                    size,
                    op: AtomicOp::LoadAcquire,
                    dst: parse_reg(operands[0], opts)?,
                    src,
                    off,
                }
            } else {
                let (dst, off) = parse_mem(operands[0], opts)?;
                Insn::Atomic {
                    size,
                    op: AtomicOp::StoreRelease,
                    dst,
                    src: parse_reg(operands[1], opts)?,
                    off,
                }
            }));
        }
    }
    let (base, width) = split_width(&name);
    let op = match base {
        "add" => AtomicOp::Add { fetch },
        "or" => AtomicOp::Or { fetch },
        "and" => AtomicOp::And { fetch },
        "xor" => AtomicOp::Xor { fetch },
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::Cmpxchg,
        _ => return Err(bad(&name)),
    };
    let size = if width == Width::W32 {
        Size::W
    } else {
        Size::DW
    };
    let (dst, off) = parse_mem(operands[0], opts)?;
    Ok(Pending::plain(Insn::Atomic {
        size,
        op,
        dst,
        src: parse_reg(operands[1], opts)?,
        off,
    }))
}

pub(super) fn parse_lddw(m: &str, ops: &[&str], opts: &AsmOptions) -> KResult<Pending> {
    count(m, ops, "2, 3 or 4", &[2, 3, 4])?;
    let dst = parse_reg(ops[0], opts)?;
    if ops.len() == 2 {
        return Ok(Pending::plain(Insn::LdImm64 {
            dst,
            kind: LdImm64Kind::Imm,
            imm: parse_imm64(ops[1])?,
        }));
    }
    let kind = match ops[1].to_ascii_lowercase().as_str() {
        "map_fd" => LdImm64Kind::MapFd,
        "map_value" => LdImm64Kind::MapValue,
        "btf_id" => LdImm64Kind::BtfId,
        "func" => LdImm64Kind::Func,
        "map_idx" => LdImm64Kind::MapIdx,
        "map_idx_value" => LdImm64Kind::MapIdxValue,
        _ => return Err(AsmErrorKind::InvalidOperand(ops[1].to_string())),
    };
    let hi = match ops.get(3) {
        Some(t) => parse_imm32(t.strip_prefix('+').unwrap_or(t))? as u32 as u64,
        None => 0,
    };
    if kind == LdImm64Kind::Func {
        let t = parse_target(ops[2])?;
        return Ok(Pending::fix(
            Insn::LdImm64 {
                dst,
                kind,
                imm: hi << 32,
            },
            t,
            Field::Imm,
        ));
    }
    let lo = parse_imm32(ops[2])? as u32 as u64;
    Ok(Pending::plain(Insn::LdImm64 {
        dst,
        kind,
        imm: (hi << 32) | lo,
    }))
}
