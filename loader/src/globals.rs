//! Global data sections (`.data*`, `.rodata*`, `.bss*`) as single-element array maps, named
//! and shaped exactly as libbpf does.

use bpfbox_btf::{Btf, Kind, TypeData};
use bpfbox_vm::maps::spec::{
    MapSpec, MapType, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_OBJ_NAME_LEN,
};

use crate::elf::{Section, SHT_NOBITS, SHT_PROGBITS};
use crate::maps::{MapEntry, MapInfo, MapKind};

/// Which kind of global data section `sec` is, if any (libbpf's `bpf_object__elf_collect`).
pub(crate) fn data_kind(sec: &Section<'_>) -> Option<MapKind> {
    let is = |base: &str| {
        sec.name == base
            || sec
                .name
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    if sec.sh_type == SHT_PROGBITS && !sec.is_exec() {
        if is(".data") {
            return Some(MapKind::Data);
        }
        if is(".rodata") {
            return Some(MapKind::Rodata);
        }
    }
    if sec.sh_type == SHT_NOBITS && is(".bss") {
        return Some(MapKind::Bss);
    }
    None
}

/// libbpf's `internal_map_name`: as much of the object name as fits before the section name
/// (which always gets at least 7 characters), no object prefix for custom `.data.foo`-style
/// sections, 15 bytes at most, characters outside `[A-Za-z0-9_.]` replaced by `_`.
pub fn internal_map_name(obj_name: &str, real_name: &str) -> String {
    let max = BPF_OBJ_NAME_LEN - 1;
    let sfx_len = real_name.len().max(7).min(max);
    let custom = real_name.get(1..).is_some_and(|r| r.contains('.'));
    let pfx_len = if custom {
        0
    } else {
        (BPF_OBJ_NAME_LEN - sfx_len - 1).min(obj_name.len())
    };
    let mut bytes: Vec<u8> = obj_name.as_bytes()[..pfx_len].to_vec();
    bytes.extend(real_name.bytes().take(sfx_len));
    bytes.truncate(max);
    bytes
        .into_iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

/// libbpf's `map_is_mmapable`: the DATASEC has at least one non-static variable.
fn datasec_has_global(btf: &Btf, ds: u32) -> bool {
    let Some(TypeData::Datasec(vars)) = btf.type_by_id(ds).map(|t| &t.data) else {
        return false;
    };
    vars.iter().any(|v| {
        matches!(btf.type_by_id(v.type_id).map(|t| &t.data),
            Some(TypeData::Var { linkage }) if *linkage != bpfbox_btf::types::var_linkage::STATIC)
    })
}

/// The internal map of a global data section (`bpf_object__init_internal_map`).
pub(crate) fn internal_map(
    obj_name: &str,
    kind: MapKind,
    real_name: &str,
    sec_idx: usize,
    data: Vec<u8>,
    btf: Option<&Btf>,
) -> MapEntry {
    let name = internal_map_name(obj_name, real_name);
    let value_size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut spec = MapSpec::new(&name, MapType::Array, 4, value_size, 1);
    let frozen = matches!(kind, MapKind::Rodata | MapKind::Kconfig);
    if frozen {
        spec.map_flags |= BPF_F_RDONLY_PROG;
    }
    if let Some(btf) = btf {
        // Failures are fine (e.g. `.rodata.str1.1` has no DATASEC), as in libbpf.
        if let Some(ds) = btf.find_by_name_kind(real_name, Kind::Datasec) {
            spec.btf_value_type_id = Some(ds);
            if datasec_has_global(btf, ds) {
                spec.map_flags |= BPF_F_MMAPABLE;
            }
        }
    }
    MapEntry {
        spec,
        info: MapInfo {
            name,
            kind,
            section: real_name.to_string(),
            data: Some(data),
            frozen,
            slots: Vec::new(),
            pinning: 0,
        },
        sec_idx,
        sec_offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::internal_map_name as n;

    #[test]
    fn libbpf_naming() {
        assert_eq!(n("my_object_name", ".rodata"), "my_objec.rodata");
        assert_eq!(n("my_object_name", ".bss"), "my_objec.bss");
        assert_eq!(n("my_object_name", ".kconfig"), "my_obje.kconfig");
        assert_eq!(
            n("my_object_name", ".rodata.abracadabra"),
            ".rodata.abracad"
        );
        assert_eq!(n("xdpdump_bpf", ".data"), "xdpdump_.data");
        assert_eq!(n("a-b", ".data"), "a_b.data");
        assert_eq!(n("x", ".rodata.str1.1"), ".rodata.str1.1");
    }
}
