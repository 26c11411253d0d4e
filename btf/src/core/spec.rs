//! Access specifications: the parsed form of a relocation's access string
//! (`"0:1:2"`) against a type, with the bit offset it reaches, and libbpf's
//! one-line rendering of it.

use crate::btf::Btf;
use crate::core::{kind_num, kind_str, resolve_size, skip, Errno};
use crate::ext::CoreRelocKind;
use crate::types::{Type, TypeData, TypeId};

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: most accessors one spec may hold.
pub const SPEC_MAX_LEN: usize = 64;

/// One semantically meaningful step of an access: a named member, an array
/// element, or (for enumerator relocations) an enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accessor<'a> {
    /// The type the step is taken in (a struct/union for members, the
    /// element type for array steps, the enum for enumerators).
    pub type_id: TypeId,
    /// Member, element or enumerator index.
    pub idx: u32,
    /// Member or enumerator name; `None` for array steps.
    pub name: Option<&'a str>,
}

/// A parsed access specification against one BTF (libbpf's
/// `struct bpf_core_spec`).
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The BTF the spec refers to.
    pub btf: &'a Btf,
    /// The relocation's root type (not stripped of modifiers).
    pub root_type_id: TypeId,
    /// The relocation kind (raw number).
    pub kind_raw: u32,
    /// Every index of the access string, including anonymous members.
    pub raw: Vec<u32>,
    /// The high-level steps (named members, array elements).
    pub acc: Vec<Accessor<'a>>,
    /// Bit offset reached from the start of the root type.
    pub bit_offset: u32,
}

impl<'a> Spec<'a> {
    pub(crate) fn empty(btf: &'a Btf, root_type_id: TypeId, kind_raw: u32) -> Self {
        Spec {
            btf,
            root_type_id,
            kind_raw,
            raw: Vec::new(),
            acc: Vec::new(),
            bit_offset: 0,
        }
    }

    pub(crate) fn kind(&self) -> Option<CoreRelocKind> {
        CoreRelocKind::from_u32(self.kind_raw)
    }
}

/// libbpf's `is_flex_arr`: an array of zero elements that is the last member
/// of the struct the previous accessor stepped into.
pub(crate) fn is_flex_arr(btf: &Btf, prev: Option<&Accessor<'_>>, nelems: u32) -> bool {
    let Some(prev) = prev else { return false };
    if prev.name.is_none() || nelems > 0 {
        return false;
    }
    let vlen = btf.type_by_id(prev.type_id).map_or(0, Type::vlen) as i64;
    i64::from(prev.idx) == vlen - 1
}

/// Parses one index the way `sscanf("%d%n")` does: optional blanks, an
/// optional sign, digits. Returns the value and the bytes consumed.
fn scan_int(s: &[u8]) -> Option<(i64, usize)> {
    let mut i = 0;
    while s.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i64 = 0;
    while let Some(c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        // strtol saturates at LONG_MAX; the conversion to int then truncates.
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = if neg { v.saturating_neg() } else { v };
    Some((i64::from(v as i32), i))
}

/// Parses the access string of a relocation on `root` into a spec
/// (libbpf's `bpf_core_parse_spec`). Errors are libbpf's errno values.
pub(crate) fn parse_spec<'a>(
    btf: &'a Btf,
    root: TypeId,
    access: Option<&str>,
    kind_raw: u32,
) -> Result<Spec<'a>, Errno> {
    let access = access.unwrap_or("");
    if access.is_empty() || access.starts_with(':') {
        return Err(Errno::Inval);
    }
    let mut spec = Spec::empty(btf, root, kind_raw);
    let kind = CoreRelocKind::from_u32(kind_raw);
    if kind.is_some_and(CoreRelocKind::is_type_based) {
        return if access == "0" {
            Ok(spec)
        } else {
            Err(Errno::Inval)
        };
    }
    let bytes = access.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] == b':' {
            pos += 1;
        }
        let (v, used) = scan_int(&bytes[pos..]).ok_or(Errno::Inval)?;
        if v < 0 {
            return Err(Errno::Inval);
        }
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(Errno::TooBig);
        }
        pos += used;
        spec.raw.push(v as u32);
    }
    let first = *spec.raw.first().ok_or(Errno::Inval)?;
    let (mut id, t) = skip(btf, root).ok_or(Errno::Inval)?;
    spec.acc.push(Accessor {
        type_id: id,
        idx: first,
        name: None,
    });

    if kind.is_some_and(CoreRelocKind::is_enumval_based) {
        let names: Vec<u32> = match t.map(|t| &t.data) {
            Some(TypeData::Enum(v)) => v.iter().map(|e| e.name_off).collect(),
            Some(TypeData::Enum64(v)) => v.iter().map(|e| e.name_off).collect(),
            _ => return Err(Errno::Inval),
        };
        if spec.raw.len() > 1 || first as usize >= names.len() {
            return Err(Errno::Inval);
        }
        spec.acc[0].name = Some(btf.string_at(names[first as usize]).unwrap_or(""));
        return Ok(spec);
    }
    if !kind.is_some_and(CoreRelocKind::is_field_based) {
        return Err(Errno::Inval);
    }

    let sz = resolve_size(btf, id)?;
    spec.bit_offset = (u64::from(first) * u64::from(sz) * 8) as u32;
    for i in 1..spec.raw.len() {
        let (sid, t) = skip(btf, id).ok_or(Errno::Inval)?;
        id = sid;
        let idx = spec.raw[i];
        match t.map(|t| &t.data) {
            Some(TypeData::Struct(members) | TypeData::Union(members)) => {
                let m = members.get(idx as usize).ok_or(Errno::Inval)?;
                spec.bit_offset = spec.bit_offset.wrapping_add(m.bit_offset);
                if m.name_off != 0 {
                    let name = btf.string_at(m.name_off).unwrap_or("");
                    if name.is_empty() {
                        return Err(Errno::Inval);
                    }
                    spec.acc.push(Accessor {
                        type_id: id,
                        idx,
                        name: Some(name),
                    });
                }
                id = m.type_id;
            }
            Some(TypeData::Array(a)) => {
                let (elem, _) = skip(btf, a.elem_type).ok_or(Errno::Inval)?;
                id = elem;
                let flex = is_flex_arr(btf, spec.acc.last(), a.nelems);
                if !flex && idx >= a.nelems {
                    return Err(Errno::Inval);
                }
                spec.acc.push(Accessor {
                    type_id: id,
                    idx,
                    name: None,
                });
                let sz = resolve_size(btf, id)?;
                spec.bit_offset = spec
                    .bit_offset
                    .wrapping_add((u64::from(idx) * u64::from(sz) * 8) as u32);
            }
            _ => return Err(Errno::UnexpectedKind { at: i, type_id: id }),
        }
    }
    Ok(spec)
}

/// libbpf's `bpf_core_format_spec`:
/// `<kind> [id] KIND name.field[idx] (raw:spec @ offset B[.b])`.
pub fn format_spec(spec: &Spec<'_>) -> String {
    use std::fmt::Write;
    let btf = spec.btf;
    let root = btf.type_by_id(spec.root_type_id);
    let name = root.map_or("", |t| btf.type_name(t));
    let kname = spec.kind().map_or("unknown", CoreRelocKind::name);
    let mut out = format!(
        "<{kname}> [{}] {} {}",
        spec.root_type_id,
        kind_str(kind_num(root)),
        if name.is_empty() { "<anon>" } else { name }
    );
    let Some(kind) = spec.kind() else {
        return out;
    };
    if kind.is_type_based() {
        return out;
    }
    if kind.is_enumval_based() {
        let t = skip(btf, spec.root_type_id).and_then(|(_, t)| t);
        let i = spec.raw.first().copied().unwrap_or(0) as usize;
        match t.map(|t| (&t.data, t.kind_flag())) {
            Some((TypeData::Enum(v), signed)) => {
                if let Some(e) = v.get(i) {
                    let n = btf.string_at(e.name_off).unwrap_or("");
                    if signed {
                        let _ = write!(out, "::{n} = {}", e.val as i32);
                    } else {
                        let _ = write!(out, "::{n} = {}", e.val);
                    }
                }
            }
            Some((TypeData::Enum64(v), signed)) => {
                if let Some(e) = v.get(i) {
                    let n = btf.string_at(e.name_off).unwrap_or("");
                    if signed {
                        let _ = write!(out, "::{n} = {}", e.val as i64);
                    } else {
                        let _ = write!(out, "::{n} = {}", e.val);
                    }
                }
            }
            _ => {}
        }
        return out;
    }
    for (i, a) in spec.acc.iter().enumerate() {
        match a.name {
            Some(n) => {
                let _ = write!(out, ".{n}");
            }
            None if i > 0 || a.idx > 0 => {
                let _ = write!(out, "[{}]", a.idx);
            }
            None => {}
        }
    }
    out.push_str(" (");
    for (i, r) in spec.raw.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{}", *r as i32);
    }
    if !spec.bit_offset.is_multiple_of(8) {
        let _ = write!(
            out,
            " @ offset {}.{})",
            spec.bit_offset / 8,
            spec.bit_offset % 8
        );
    } else {
        let _ = write!(out, " @ offset {})", spec.bit_offset / 8);
    }
    out
}
