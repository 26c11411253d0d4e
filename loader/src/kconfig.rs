//! `extern` variables: `.kconfig` values laid out and filled like libbpf, `.ksyms` recognised.
//!
//! Values come only from the caller's config map (never from the host's `/proc/config.gz`),
//! so a load is reproducible. libbpf's built-ins are kept: `LINUX_KERNEL_VERSION` from the
//! supplied version, `CONFIG_BPF_SYSCALL=y`, and `LINUX_HAS_BPF_COOKIE` /
//! `LINUX_HAS_SYSCALL_WRAPPER` as `y` unless the config map says otherwise (libbpf probes the
//! running kernel for those two).

use std::collections::HashMap;

use bpfbox_btf::{Btf, Kind, TypeData, TypeId};

use crate::elf::{ElfFile, STB_WEAK};
use crate::error::{LoadError, Result};

/// What an extern symbol is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExternKind {
    /// A `.kconfig` value at this offset of the kconfig map.
    Kconfig { offset: u32 },
    /// A `.ksyms` kernel symbol or kfunc.
    Ksym,
}

/// One extern symbol of the object.
#[derive(Debug, Clone)]
pub(crate) struct Extern {
    pub name: String,
    pub sym_idx: usize,
    pub kind: ExternKind,
}

/// libbpf's `enum kcfg_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KcfgType {
    Char,
    Bool,
    Int,
    Tristate,
    CharArr,
}

struct Kcfg {
    name: String,
    sym_idx: usize,
    weak: bool,
    size: u32,
    align: u32,
    ty: KcfgType,
    signed: bool,
    offset: u32,
    set: bool,
}

/// The resolved externs and, when there are `.kconfig` ones, the kconfig map's contents.
pub(crate) struct Externs {
    pub list: Vec<Extern>,
    pub kconfig_data: Option<Vec<u8>>,
}

fn ext_err(name: &str, msg: impl Into<String>) -> LoadError {
    LoadError::Extern {
        name: name.to_string(),
        msg: msg.into(),
    }
}

/// libbpf's `find_kcfg_type`.
fn kcfg_type(btf: &Btf, id: TypeId, depth: usize) -> Option<(KcfgType, bool)> {
    let id = btf.skip_mods_and_typedefs(id).ok()?;
    let t = btf.type_by_id(id)?;
    let size = t.size_or_type;
    match &t.data {
        TypeData::Int(info) => {
            if info.is_bool() {
                return (size == 1).then_some((KcfgType::Bool, false));
            }
            if size == 1 {
                return Some((KcfgType::Char, info.is_signed()));
            }
            if !(1..=8).contains(&size) || !size.is_power_of_two() {
                return None;
            }
            Some((KcfgType::Int, info.is_signed()))
        }
        TypeData::Enum(_) if size == 4 && btf.type_name(t) == "libbpf_tristate" => {
            Some((KcfgType::Tristate, false))
        }
        TypeData::Enum64(_) if btf.type_name(t) == "libbpf_tristate" => {
            Some((KcfgType::Tristate, false))
        }
        TypeData::Array(a) if a.nelems > 0 && depth == 0 => {
            match kcfg_type(btf, a.elem_type, depth + 1)? {
                (KcfgType::Char, _) => Some((KcfgType::CharArr, false)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The BTF VAR or FUNC of an extern, and the name of the DATASEC that lists it.
fn extern_btf(btf: &Btf, name: &str) -> Option<(TypeId, String)> {
    let id = btf.ids_by_name(name).find(|&id| {
        btf.type_by_id(id).is_some_and(|t| match t.data {
            TypeData::Var { linkage } => linkage == bpfbox_btf::types::var_linkage::GLOBAL_EXTERN,
            TypeData::Func => t.vlen() == bpfbox_btf::types::func_linkage::EXTERN,
            _ => false,
        })
    })?;
    let sec = btf.types().find_map(|(_, t)| match &t.data {
        TypeData::Datasec(vars) if vars.iter().any(|v| v.type_id == id) => {
            Some(btf.type_name(t).to_string())
        }
        _ => None,
    })?;
    Some((id, sec))
}

/// Collects the object's externs (libbpf's `bpf_object__collect_externs`) and fills the
/// kconfig values (`bpf_object__resolve_externs`).
pub(crate) fn collect(
    elf: &ElfFile<'_>,
    btf: Option<&Btf>,
    config: &HashMap<String, String>,
    kernel_version: u32,
) -> Result<Externs> {
    let mut list = Vec::new();
    let mut kcfgs = Vec::new();
    for sym in elf
        .symbols
        .iter()
        .filter(|s| s.is_extern() && !s.name.is_empty())
    {
        let btf = btf.ok_or_else(|| ext_err(&sym.name, "externs need a valid .BTF section"))?;
        let (id, sec) = extern_btf(btf, &sym.name)
            .ok_or_else(|| ext_err(&sym.name, "failed to find BTF for extern"))?;
        match sec.as_str() {
            ".kconfig" => {
                let t = btf
                    .try_type(id)
                    .map_err(|e| ext_err(&sym.name, e.to_string()))?;
                if t.kind() == Kind::Func {
                    return Err(ext_err(
                        &sym.name,
                        "extern functions are unsupported under .kconfig",
                    ));
                }
                let size = btf
                    .resolve_size(t.size_or_type)
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| ext_err(&sym.name, "failed to resolve size"))?;
                let align = btf
                    .alignment(t.size_or_type)
                    .ok()
                    .filter(|&a| a > 0)
                    .ok_or_else(|| ext_err(&sym.name, "failed to determine alignment"))?;
                let (ty, signed) = kcfg_type(btf, t.size_or_type, 0)
                    .ok_or_else(|| ext_err(&sym.name, "type is unsupported for .kconfig"))?;
                kcfgs.push(Kcfg {
                    name: sym.name.clone(),
                    sym_idx: sym.index,
                    weak: sym.bind == STB_WEAK,
                    size,
                    align,
                    ty,
                    signed,
                    offset: 0,
                    set: false,
                });
            }
            ".ksyms" => list.push(Extern {
                name: sym.name.clone(),
                sym_idx: sym.index,
                kind: ExternKind::Ksym,
            }),
            other => {
                return Err(ext_err(
                    &sym.name,
                    format!("unrecognized extern section '{other}'"),
                ))
            }
        }
    }
    if kcfgs.is_empty() {
        return Ok(Externs {
            list,
            kconfig_data: None,
        });
    }
    // libbpf's layout: alignment descending, then size ascending, then name.
    kcfgs.sort_by(|a, b| {
        b.align
            .cmp(&a.align)
            .then(a.size.cmp(&b.size))
            .then(a.name.cmp(&b.name))
    });
    let mut off: u64 = 0;
    for k in &mut kcfgs {
        let aligned = off.div_ceil(u64::from(k.align)) * u64::from(k.align);
        k.offset = u32::try_from(aligned).map_err(|_| ext_err(&k.name, ".kconfig too large"))?;
        off = aligned + u64::from(k.size);
    }
    // Sizes come from BTF and are bounded by u32 each; cap the whole map anyway.
    if off > 1 << 20 {
        return Err(ext_err(
            &kcfgs[0].name,
            format!(".kconfig map of {off} bytes is too large"),
        ));
    }
    let mut data = vec![0u8; off as usize];
    for k in &mut kcfgs {
        let name = k.name.clone();
        let start = k.offset as usize;
        let slot = &mut data[start..start + k.size as usize];
        match name.as_str() {
            "LINUX_KERNEL_VERSION" => set_num(k, slot, u64::from(kernel_version))?,
            "CONFIG_BPF_SYSCALL" => set_tri(k, slot, b'y')?,
            "LINUX_HAS_BPF_COOKIE" | "LINUX_HAS_SYSCALL_WRAPPER" => match config.get(&name) {
                Some(v) => set_value(k, slot, v)?,
                None => set_tri(k, slot, b'y')?,
            },
            n if n.starts_with("CONFIG_") => {
                if let Some(v) = config.get(n) {
                    set_value(k, slot, v)?;
                }
            }
            _ => return Err(ext_err(&name, "unrecognized extern")),
        }
    }
    for k in &kcfgs {
        // Unset weak externs stay zero; unset strong ones are an error, as in libbpf.
        if !k.set && !k.weak {
            return Err(ext_err(&k.name, "value not found in the supplied kconfig"));
        }
        list.push(Extern {
            name: k.name.clone(),
            sym_idx: k.sym_idx,
            kind: ExternKind::Kconfig { offset: k.offset },
        });
    }
    Ok(Externs {
        list,
        kconfig_data: Some(data),
    })
}

/// One `CONFIG_FOO=value` as libbpf's `bpf_object__process_kconfig_line` reads it.
fn set_value(k: &mut Kcfg, slot: &mut [u8], value: &str) -> Result<()> {
    match value.as_bytes().first() {
        None => Err(ext_err(&k.name, "empty value")),
        Some(&c @ (b'y' | b'n' | b'm')) => set_tri(k, slot, c),
        Some(b'"') => set_str(k, slot, value),
        Some(_) => {
            let num = parse_u64(value)
                .ok_or_else(|| ext_err(&k.name, format!("invalid integer value '{value}'")))?;
            if !matches!(k.ty, KcfgType::Int | KcfgType::Char) {
                return Err(ext_err(
                    &k.name,
                    format!("integer value '{value}' for a non-integer extern"),
                ));
            }
            set_num(k, slot, num)
        }
    }
}

/// `strtoull(s, &end, 0)` over the whole string: decimal, `0x` hex or `0` octal; a leading
/// `-` wraps as in C.
fn parse_u64(s: &str) -> Option<u64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        u64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<u64>().ok()?
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

fn set_tri(k: &mut Kcfg, slot: &mut [u8], v: u8) -> Result<()> {
    match k.ty {
        KcfgType::Bool => {
            if v == b'm' {
                return Err(ext_err(&k.name, "value 'm' for a bool extern"));
            }
            slot[0] = u8::from(v == b'y');
        }
        KcfgType::Tristate => {
            // enum libbpf_tristate: TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2.
            let t: u32 = match v {
                b'y' => 1,
                b'm' => 2,
                _ => 0,
            };
            let b = t.to_le_bytes();
            let n = slot.len().min(4);
            slot[..n].copy_from_slice(&b[..n]);
        }
        KcfgType::Char => slot[0] = v,
        _ => {
            return Err(ext_err(
                &k.name,
                format!("value '{}' for a non-tristate extern", v as char),
            ))
        }
    }
    k.set = true;
    Ok(())
}

fn set_str(k: &mut Kcfg, slot: &mut [u8], value: &str) -> Result<()> {
    if k.ty != KcfgType::CharArr {
        return Err(ext_err(
            &k.name,
            format!("string value {value} for a non-array extern"),
        ));
    }
    let b = value.as_bytes();
    if b.len() < 2 || b[b.len() - 1] != b'"' {
        return Err(ext_err(&k.name, format!("invalid string value {value}")));
    }
    // Strip the quotes; too-long strings are truncated, keeping the NUL.
    let inner = &b[1..b.len() - 1];
    let len = inner.len().min(slot.len().saturating_sub(1));
    slot[..len].copy_from_slice(&inner[..len]);
    if let Some(nul) = slot.get_mut(len) {
        *nul = 0;
    }
    k.set = true;
    Ok(())
}

fn set_num(k: &mut Kcfg, slot: &mut [u8], v: u64) -> Result<()> {
    if !matches!(k.ty, KcfgType::Int | KcfgType::Char | KcfgType::Bool) {
        return Err(ext_err(
            &k.name,
            format!("integer value {v} for a non-integer extern"),
        ));
    }
    if k.ty == KcfgType::Bool && v > 1 {
        return Err(ext_err(&k.name, format!("value {v} for a bool extern")));
    }
    let bits = k.size * 8;
    let fits = bits >= 64
        || if k.signed {
            v.wrapping_add(1 << (bits - 1)) < (1 << bits)
        } else {
            v >> bits == 0
        };
    if !fits {
        return Err(ext_err(
            &k.name,
            format!("value {v} does not fit in {} bytes", k.size),
        ));
    }
    match k.size {
        1 | 2 | 4 | 8 => {
            let b = v.to_le_bytes();
            slot.copy_from_slice(&b[..k.size as usize]);
        }
        n => return Err(ext_err(&k.name, format!("unsupported integer size {n}"))),
    }
    k.set = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_u64;

    #[test]
    fn strtoull_forms() {
        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("0x1f"), Some(31));
        assert_eq!(parse_u64("017"), Some(15));
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("12a"), None);
    }
}
