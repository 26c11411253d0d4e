//! The values a relocation patches in, computed from a (local or target)
//! spec: field offsets, sizes, signedness and bitfield shifts, type ids and
//! sizes, enumerator values.

use crate::core::spec::Spec;
use crate::core::{resolve_size, skip, CoreError, Errno};
use crate::ext::CoreRelocKind;
use crate::types::{TypeData, TypeId};

/// The outcome of relocating one instruction (libbpf's
/// `struct bpf_core_relo_res`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CoreRes {
    /// The value the instruction must hold before patching (from the local
    /// BTF).
    pub orig_val: u64,
    /// The value to patch in (from the target BTF).
    pub new_val: u64,
    /// The instruction must be poisoned.
    pub poison: bool,
    /// Whether the instruction's current value must equal `orig_val`.
    pub validate: bool,
    /// A load/store whose size would change but may not (signed or
    /// non-integer field): poisoned if the instruction is a memory access.
    pub fail_memsz_adjust: bool,
    /// Local field size in bytes (0 when not a sized field access).
    pub orig_sz: u32,
    /// Target field size in bytes.
    pub new_sz: u32,
    /// Local field type.
    pub orig_type_id: TypeId,
    /// Target field type.
    pub new_type_id: TypeId,
}

/// Field value of a spec: `(value, field size, field type)`, plus whether
/// the instruction's value is checked.
struct FieldVal {
    val: u64,
    sz: u32,
    type_id: TypeId,
    validate: bool,
}

fn field_relo(
    kind: CoreRelocKind,
    spec: Option<&Spec<'_>>,
    insn: u32,
) -> Result<FieldVal, CoreError> {
    let mut out = FieldVal {
        val: 0,
        sz: 0,
        type_id: 0,
        validate: true,
    };
    if kind == CoreRelocKind::FieldExists {
        out.val = u64::from(spec.is_some());
        return Ok(out);
    }
    let Some(spec) = spec else {
        return Err(CoreError::Poison);
    };
    let btf = spec.btf;
    let acc = spec.acc.last().ok_or(CoreError::Errno(Errno::Inval))?;
    let inval = || CoreError::Errno(Errno::Inval);
    if acc.name.is_none() {
        match kind {
            CoreRelocKind::FieldByteOffset => {
                out.val = u64::from(spec.bit_offset / 8);
                out.sz = resolve_size(btf, acc.type_id).map_err(|_| inval())?;
                out.type_id = acc.type_id;
            }
            CoreRelocKind::FieldByteSize => {
                out.val = u64::from(resolve_size(btf, acc.type_id).map_err(|_| inval())?);
            }
            _ => {
                return Err(CoreError::ArrayAccess {
                    kind: kind as u32,
                    insn,
                })
            }
        }
        out.validate = true;
        return Ok(out);
    }
    let t = btf.type_by_id(acc.type_id).ok_or_else(inval)?;
    let m = t.members().get(acc.idx as usize).ok_or_else(inval)?;
    let (field_type_id, mt) = skip(btf, m.type_id).ok_or_else(inval)?;
    let bit_off = spec.bit_offset;
    let mut bit_sz = m.bitfield_size;
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        // The raw size word, as libbpf reads it; zero cannot hold a bitfield.
        let mut sz = mt.map_or(0, |t| t.size_or_type);
        if sz == 0 {
            return Err(inval());
        }
        let mut off = bit_off / 8 / sz * sz;
        // Smallest load that covers the bitfield, doubling up to 8 bytes.
        while u64::from(bit_off) + u64::from(bit_sz) - u64::from(off) * 8 > u64::from(sz) * 8 {
            if sz >= 8 {
                return Err(CoreError::Bitfield {
                    kind: kind as u32,
                    insn,
                });
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        byte_off = off;
        byte_sz = sz;
    } else {
        byte_sz = resolve_size(btf, field_type_id).map_err(|_| inval())?;
        byte_off = spec.bit_offset / 8;
        bit_sz = byte_sz.wrapping_mul(8);
    }
    // Bitfield layouts may legitimately differ from the compiler's guess, so
    // only unambiguous values are checked against the instruction.
    out.validate = !bitfield;
    match kind {
        CoreRelocKind::FieldByteOffset => {
            out.val = u64::from(byte_off);
            if !bitfield {
                out.sz = byte_sz;
                out.type_id = field_type_id;
            }
        }
        CoreRelocKind::FieldByteSize => out.val = u64::from(byte_sz),
        CoreRelocKind::FieldSigned => {
            let signed = match mt.map(|t| (&t.data, t.kind_flag())) {
                Some((TypeData::Enum(_) | TypeData::Enum64(_), kflag)) => kflag,
                Some((TypeData::Int(i), _)) => i.is_signed(),
                _ => false,
            };
            out.val = u64::from(signed);
            out.validate = true;
        }
        CoreRelocKind::FieldLshiftU64 => {
            // Little-endian layout: the field's top bit goes to bit 63.
            out.val = u64::from(
                64u32.wrapping_sub(
                    bit_off
                        .wrapping_add(bit_sz)
                        .wrapping_sub(byte_off.wrapping_mul(8)),
                ),
            );
        }
        CoreRelocKind::FieldRshiftU64 => {
            out.val = u64::from(64u32.wrapping_sub(bit_sz));
            out.validate = true;
        }
        _ => return Err(CoreError::Errno(Errno::NotSupp)),
    }
    Ok(out)
}

fn type_relo(kind: CoreRelocKind, spec: Option<&Spec<'_>>) -> Result<(u64, bool), CoreError> {
    let Some(spec) = spec else {
        return Ok((0, true));
    };
    Ok(match kind {
        // Type ids may be renumbered by linking: never checked.
        CoreRelocKind::TypeIdTarget => (u64::from(spec.root_type_id), false),
        CoreRelocKind::TypeExists | CoreRelocKind::TypeMatches => (1, true),
        CoreRelocKind::TypeSize => (
            u64::from(
                resolve_size(spec.btf, spec.root_type_id)
                    .map_err(|_| CoreError::Errno(Errno::Inval))?,
            ),
            true,
        ),
        _ => return Err(CoreError::Errno(Errno::NotSupp)),
    })
}

fn enumval_relo(kind: CoreRelocKind, spec: Option<&Spec<'_>>) -> Result<u64, CoreError> {
    match kind {
        CoreRelocKind::EnumvalExists => Ok(u64::from(spec.is_some())),
        CoreRelocKind::EnumvalValue => {
            let spec = spec.ok_or(CoreError::Poison)?;
            let acc = spec.acc.first().ok_or(CoreError::Errno(Errno::Inval))?;
            let t = spec.btf.type_by_id(acc.type_id);
            let i = acc.idx as usize;
            match t.map(|t| &t.data) {
                // libbpf reads a 32-bit value as signed and sign-extends it,
                // whatever the enum's signedness.
                Some(TypeData::Enum(v)) => v.get(i).map(|e| e.val as i32 as i64 as u64),
                Some(TypeData::Enum64(v)) => v.get(i).map(|e| e.val),
                _ => None,
            }
            .ok_or(CoreError::Errno(Errno::Inval))
        }
        _ => Err(CoreError::Errno(Errno::NotSupp)),
    }
}

/// libbpf's `bpf_core_calc_relo`: the result for one candidate (`targ`
/// `None` when no candidate matched). `Err(CoreError::Poison)` never
/// escapes: it turns into `poison = true`.
pub(crate) fn calc_relo(
    kind: CoreRelocKind,
    insn: u32,
    local: &Spec<'_>,
    targ: Option<&Spec<'_>>,
) -> Result<CoreRes, CoreError> {
    let mut res = CoreRes {
        validate: true,
        ..CoreRes::default()
    };
    let r = if kind.is_field_based() {
        (|| {
            let l = field_relo(kind, Some(local), insn)?;
            res.orig_val = l.val;
            res.orig_sz = l.sz;
            res.orig_type_id = l.type_id;
            res.validate = l.validate;
            let t = field_relo(kind, targ, insn)?;
            res.new_val = t.val;
            res.new_sz = t.sz;
            res.new_type_id = t.type_id;
            if res.orig_sz != res.new_sz {
                let lt = local.btf.type_by_id(res.orig_type_id);
                let tt = targ.and_then(|s| s.btf.type_by_id(res.new_type_id));
                let ptrs = lt.is_some_and(|t| t.kind() == crate::types::Kind::Ptr)
                    && tt.is_some_and(|t| t.kind() == crate::types::Kind::Ptr);
                // Zero-extension keeps unsigned integers (and 32-bit kernel
                // pointers) correct when the access size changes.
                let unsigned = |t: Option<&crate::types::Type>| match t.map(|t| &t.data) {
                    Some(TypeData::Int(i)) => i.encoding() != crate::types::INT_SIGNED,
                    _ => false,
                };
                if !(ptrs || (unsigned(lt) && unsigned(tt))) {
                    res.fail_memsz_adjust = true;
                }
            }
            Ok(())
        })()
    } else if kind.is_type_based() {
        (|| {
            let (v, validate) = type_relo(kind, Some(local))?;
            res.orig_val = v;
            res.validate = validate;
            res.new_val = type_relo(kind, targ)?.0;
            Ok(())
        })()
    } else {
        (|| {
            res.orig_val = enumval_relo(kind, Some(local))?;
            res.new_val = enumval_relo(kind, targ)?;
            Ok(())
        })()
    };
    match r {
        Ok(()) => Ok(res),
        Err(CoreError::Poison) => {
            res.poison = true;
            Ok(res)
        }
        Err(CoreError::Errno(Errno::NotSupp)) => Err(CoreError::Unrecognized {
            kind: kind as u32,
            insn,
        }),
        Err(e) => Err(e),
    }
}
