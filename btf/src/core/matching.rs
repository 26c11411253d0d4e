//! Whether a target type is a match for a local one: field compatibility,
//! member search through anonymous members, spec matching, the type
//! compatibility of type-based relocations and the stricter "type matches"
//! relation (libbpf's rules, decision for decision).

use crate::btf::Btf;
use crate::core::spec::{is_flex_arr, Accessor, Spec, SPEC_MAX_LEN};
use crate::core::{core_compat, essential_name, kind_num, resolve_size, skip, Errno};
use crate::ext::CoreRelocKind;
use crate::types::{Kind, Type, TypeData, TypeId};

/// How deep type chains are followed before a relation gives up (libbpf's
/// recursion depth and level limits).
const MAX_DEPTH: i32 = 32;

fn int_offset(t: &Type) -> u32 {
    match t.data {
        TypeData::Int(i) => i.bits_offset(),
        _ => 0,
    }
}

fn int_encoding(t: &Type) -> u8 {
    match t.data {
        TypeData::Int(i) => i.encoding(),
        _ => 0,
    }
}

fn is_any_enum(t: Option<&Type>) -> bool {
    matches!(
        t.map(|t| &t.data),
        Some(TypeData::Enum(_) | TypeData::Enum64(_))
    )
}

fn enum_name_offs(t: &Type) -> Vec<u32> {
    match &t.data {
        TypeData::Enum(v) => v.iter().map(|e| e.name_off).collect(),
        TypeData::Enum64(v) => v.iter().map(|e| e.name_off).collect(),
        _ => Vec::new(),
    }
}

/// libbpf's `bpf_core_fields_are_compat`: may a local field be relocated to
/// a target field of type `targ_id`? `Ok(true)`/`Ok(false)`, or an errno.
pub(crate) fn fields_are_compat(
    local: &Btf,
    mut local_id: TypeId,
    targ: &Btf,
    mut targ_id: TypeId,
) -> Result<bool, Errno> {
    for _ in 0..=MAX_DEPTH * 1024 {
        let (_, lt) = skip(local, local_id).ok_or(Errno::Inval)?;
        let (_, tt) = skip(targ, targ_id).ok_or(Errno::Inval)?;
        let composite = |t: Option<&Type>| t.is_some_and(Type::is_composite);
        if composite(lt) && composite(tt) {
            return Ok(true);
        }
        if !core_compat(lt, tt) {
            return Ok(false);
        }
        let (Some(lt), Some(tt)) = (lt, tt) else {
            return Ok(false);
        };
        match lt.kind() {
            Kind::Ptr | Kind::Float => return Ok(true),
            Kind::Fwd | Kind::Enum | Kind::Enum64 => {
                let ln = essential_name(local.type_name(lt));
                let tn = essential_name(targ.type_name(tt));
                return Ok(ln.is_empty() || tn.is_empty() || ln == tn);
            }
            Kind::Int => return Ok(int_offset(lt) == 0 && int_offset(tt) == 0),
            Kind::Array => {
                let (TypeData::Array(la), TypeData::Array(ta)) = (&lt.data, &tt.data) else {
                    return Ok(false);
                };
                local_id = la.elem_type;
                targ_id = ta.elem_type;
            }
            _ => return Ok(false),
        }
    }
    // libbpf follows array chains without a limit; a chain this long can
    // only be a cycle, which libbpf would loop on forever.
    Err(Errno::Inval)
}

/// libbpf's `bpf_core_match_member`: finds the local named member in target
/// composite `targ_id`, descending into anonymous members, extending
/// `spec`'s raw indices and bit offset. Returns the member's type id when
/// found and compatible.
fn match_member<'t>(
    local: &Btf,
    local_acc: &Accessor<'_>,
    targ: &'t Btf,
    targ_id: TypeId,
    spec: &mut Spec<'t>,
    depth: u32,
) -> Result<Option<TypeId>, Errno> {
    if depth > 4096 {
        return Err(Errno::Inval);
    }
    let (targ_id, tt) = skip(targ, targ_id).ok_or(Errno::Inval)?;
    let Some(tt) = tt.filter(|t| t.is_composite()) else {
        return Ok(None);
    };
    let local_t = local.type_by_id(local_acc.type_id).ok_or(Errno::Inval)?;
    let local_m = local_t
        .members()
        .get(local_acc.idx as usize)
        .ok_or(Errno::Inval)?;
    let local_name = local.string_at(local_m.name_off).unwrap_or("");
    for (i, m) in tt.members().iter().enumerate() {
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(Errno::TooBig);
        }
        spec.bit_offset = spec.bit_offset.wrapping_add(m.bit_offset);
        spec.raw.push(i as u32);
        let targ_name = targ.string_at(m.name_off).unwrap_or("");
        if targ_name.is_empty() {
            let found = match_member(local, local_acc, targ, m.type_id, spec, depth + 1)?;
            if found.is_some() {
                return Ok(found);
            }
        } else if local_name == targ_name {
            spec.acc.push(Accessor {
                type_id: targ_id,
                idx: i as u32,
                name: Some(targ_name),
            });
            let compat = fields_are_compat(local, local_m.type_id, targ, m.type_id)?;
            if !compat {
                spec.acc.pop();
                return Ok(None);
            }
            return Ok(Some(m.type_id));
        }
        spec.bit_offset = spec.bit_offset.wrapping_sub(m.bit_offset);
        spec.raw.pop();
    }
    Ok(None)
}

/// libbpf's `bpf_core_spec_match`: tries `local` against candidate
/// `targ_id`, filling `out` with the target spec (partially when it does
/// not match, as libbpf's log shows it).
pub(crate) fn spec_match<'t>(
    local: &Spec<'_>,
    targ: &'t Btf,
    targ_id: TypeId,
    out: &mut Spec<'t>,
) -> Result<bool, Errno> {
    *out = Spec::empty(targ, targ_id, local.kind_raw);
    let kind = local.kind();
    if kind.is_some_and(CoreRelocKind::is_type_based) {
        return if kind == Some(CoreRelocKind::TypeMatches) {
            types_match(
                local.btf,
                local.root_type_id,
                targ,
                targ_id,
                false,
                MAX_DEPTH,
            )
        } else {
            types_are_compat(local.btf, local.root_type_id, targ, targ_id, MAX_DEPTH)
        };
    }
    if kind.is_some_and(CoreRelocKind::is_enumval_based) {
        let (tid, tt) = skip(targ, targ_id).ok_or(Errno::Inval)?;
        let Some(tt) = tt.filter(|t| is_any_enum(Some(t))) else {
            return Ok(false);
        };
        let want = essential_name(local.acc.first().and_then(|a| a.name).unwrap_or(""));
        for (i, off) in enum_name_offs(tt).into_iter().enumerate() {
            let name = targ.string_at(off).unwrap_or("");
            if essential_name(name) == want {
                out.acc.push(Accessor {
                    type_id: tid,
                    idx: i as u32,
                    name: Some(name),
                });
                out.raw.push(i as u32);
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if !kind.is_some_and(CoreRelocKind::is_field_based) {
        return Err(Errno::Inval);
    }
    let mut targ_id = targ_id;
    for (i, la) in local.acc.iter().enumerate() {
        let (tid, tt) = skip(targ, targ_id).ok_or(Errno::Inval)?;
        targ_id = tid;
        if la.name.is_some() {
            match match_member(local.btf, la, targ, targ_id, out, 0)? {
                Some(next) => targ_id = next,
                None => return Ok(false),
            }
        } else {
            if i > 0 {
                let Some(TypeData::Array(a)) = tt.map(|t| &t.data) else {
                    return Ok(false);
                };
                let flex = is_flex_arr(targ, out.acc.last(), a.nelems);
                if !flex && la.idx >= a.nelems {
                    return Ok(false);
                }
                targ_id = skip(targ, a.elem_type).ok_or(Errno::Inval)?.0;
            }
            if out.raw.len() == SPEC_MAX_LEN {
                return Err(Errno::TooBig);
            }
            out.acc.push(Accessor {
                type_id: targ_id,
                idx: la.idx,
                name: None,
            });
            out.raw.push(la.idx);
            let sz = resolve_size(targ, targ_id)?;
            out.bit_offset = out
                .bit_offset
                .wrapping_add((u64::from(la.idx) * u64::from(sz) * 8) as u32);
        }
    }
    Ok(true)
}

/// libbpf's `__bpf_core_types_are_compat`: compatibility for type-based
/// relocations (names are only checked at the root, by candidate search).
pub(crate) fn types_are_compat(
    local: &Btf,
    local_id: TypeId,
    targ: &Btf,
    targ_id: TypeId,
    level: i32,
) -> Result<bool, Errno> {
    let lt = crate::core::get(local, local_id);
    let tt = crate::core::get(targ, targ_id);
    // libbpf reads both types unchecked here; a missing one is an error.
    let (Some(lt), Some(tt)) = (lt, tt) else {
        return Err(Errno::Inval);
    };
    if !core_compat(lt, tt) {
        return Ok(false);
    }
    let (mut local_id, mut targ_id) = (local_id, targ_id);
    let mut depth = MAX_DEPTH;
    loop {
        depth -= 1;
        if depth < 0 {
            return Err(Errno::Inval);
        }
        let (_, lt) = skip(local, local_id).ok_or(Errno::Inval)?;
        let (_, tt) = skip(targ, targ_id).ok_or(Errno::Inval)?;
        if !core_compat(lt, tt) {
            return Ok(false);
        }
        let (Some(lt), Some(tt)) = (lt, tt) else {
            // Both void.
            return Ok(true);
        };
        match lt.kind() {
            Kind::Struct | Kind::Union | Kind::Enum | Kind::Fwd | Kind::Enum64 => return Ok(true),
            Kind::Int => return Ok(int_offset(lt) == 0 && int_offset(tt) == 0),
            Kind::Ptr => {
                local_id = lt.size_or_type;
                targ_id = tt.size_or_type;
            }
            Kind::Array => {
                let (TypeData::Array(la), TypeData::Array(ta)) = (&lt.data, &tt.data) else {
                    return Ok(false);
                };
                local_id = la.elem_type;
                targ_id = ta.elem_type;
            }
            Kind::FuncProto => {
                let (lp, tp) = (lt.params(), tt.params());
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (l, t) in lp.iter().zip(tp) {
                    if level <= 0 {
                        return Err(Errno::Inval);
                    }
                    // libbpf ignores a failed skip here and uses the ids it
                    // had; a bad id then fails in the recursive call.
                    let l = skip(local, l.type_id).map_or(l.type_id, |(id, _)| id);
                    let t = skip(targ, t.type_id).map_or(t.type_id, |(id, _)| id);
                    if !types_are_compat(local, l, targ, t, level - 1)? {
                        return Ok(false);
                    }
                }
                local_id = skip(local, lt.size_or_type).map_or(lt.size_or_type, |(id, _)| id);
                targ_id = skip(targ, tt.size_or_type).map_or(tt.size_or_type, |(id, _)| id);
            }
            _ => return Ok(false),
        }
    }
}

/// libbpf's `bpf_core_names_match`: flavour-less names equal, or both empty.
fn names_match(local: &Btf, local_off: u32, targ: &Btf, targ_off: u32) -> bool {
    let ln = local.string_at(local_off).unwrap_or("");
    let tn = targ.string_at(targ_off).unwrap_or("");
    if tn.is_empty() {
        return ln.is_empty();
    }
    essential_name(ln) == essential_name(tn)
}

fn enums_match(local: &Btf, lt: &Type, targ: &Btf, tt: &Type) -> bool {
    if lt.size_or_type != tt.size_or_type {
        return false;
    }
    let (lv, tv) = (enum_name_offs(lt), enum_name_offs(tt));
    if lv.len() > tv.len() {
        return false;
    }
    lv.iter()
        .all(|&l| tv.iter().any(|&t| names_match(local, l, targ, t)))
}

fn composites_match(
    local: &Btf,
    lt: &Type,
    targ: &Btf,
    tt: &Type,
    behind_ptr: bool,
    level: i32,
) -> Result<bool, Errno> {
    let (lm, tm) = (lt.members(), tt.members());
    if lm.len() > tm.len() {
        return Ok(false);
    }
    for l in lm {
        let mut matched = false;
        for t in tm {
            if !names_match(local, l.name_off, targ, t.name_off) {
                continue;
            }
            if types_match(local, l.type_id, targ, t.type_id, behind_ptr, level - 1)? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// libbpf's `__bpf_core_types_match`: the `bpf_core_type_matches()` relation.
pub(crate) fn types_match(
    local: &Btf,
    local_id: TypeId,
    targ: &Btf,
    targ_id: TypeId,
    behind_ptr: bool,
    level: i32,
) -> Result<bool, Errno> {
    if level <= 0 {
        return Err(Errno::Inval);
    }
    let (mut local_id, mut targ_id, mut behind_ptr) = (local_id, targ_id, behind_ptr);
    let mut depth = MAX_DEPTH;
    loop {
        depth -= 1;
        if depth < 0 {
            return Err(Errno::Inval);
        }
        let (_, lt) = skip(local, local_id).ok_or(Errno::Inval)?;
        let (_, tt) = skip(targ, targ_id).ok_or(Errno::Inval)?;
        let name_off = |t: Option<&Type>| t.map_or(0, |t| t.name_off);
        if !names_match(local, name_off(lt), targ, name_off(tt)) {
            return Ok(false);
        }
        let (lk, tk) = (kind_num(lt), kind_num(tt));
        let Some(lt) = lt else {
            return Ok(lk == tk);
        };
        let Some(tt) = tt else {
            // Only void matches void; a real local kind never equals 0.
            return Ok(false);
        };
        match lt.kind() {
            Kind::Fwd => {
                let lf = lt.kind_flag();
                if behind_ptr {
                    if lk == tk {
                        return Ok(lf == tt.kind_flag());
                    }
                    return Ok(
                        (tt.kind() == Kind::Struct && !lf) || (tt.kind() == Kind::Union && lf)
                    );
                }
                return Ok(lk == tk && lf == tt.kind_flag());
            }
            Kind::Enum | Kind::Enum64 => {
                if !is_any_enum(Some(tt)) {
                    return Ok(false);
                }
                return Ok(enums_match(local, lt, targ, tt));
            }
            Kind::Struct | Kind::Union => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    if tt.kind() != Kind::Fwd {
                        return Ok(false);
                    }
                    return Ok((lt.kind() == Kind::Union) == tt.kind_flag());
                }
                if lk != tk {
                    return Ok(false);
                }
                return composites_match(local, lt, targ, tt, behind_ptr, level);
            }
            Kind::Int => {
                if lk != tk {
                    return Ok(false);
                }
                let signed = |t: &Type| int_encoding(t) & crate::types::INT_SIGNED;
                return Ok(lt.size_or_type == tt.size_or_type && signed(lt) == signed(tt));
            }
            Kind::Ptr => {
                if lk != tk {
                    return Ok(false);
                }
                behind_ptr = true;
                local_id = lt.size_or_type;
                targ_id = tt.size_or_type;
            }
            Kind::Array => {
                let (TypeData::Array(la), TypeData::Array(ta)) = (&lt.data, &tt.data) else {
                    return Ok(false);
                };
                if la.nelems != ta.nelems {
                    return Ok(false);
                }
                local_id = la.elem_type;
                targ_id = ta.elem_type;
            }
            Kind::FuncProto => {
                if lk != tk {
                    return Ok(false);
                }
                let (lp, tp) = (lt.params(), tt.params());
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (l, t) in lp.iter().zip(tp) {
                    if !types_match(local, l.type_id, targ, t.type_id, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                local_id = lt.size_or_type;
                targ_id = tt.size_or_type;
            }
            _ => return Ok(false),
        }
    }
}
