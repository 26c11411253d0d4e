//! Live maps for the in-process engines: what libbpf's `bpf_object__create_maps` does, with
//! `vm::maps` instances instead of kernel maps.

use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::maps::{Map, MapConfig, MapRef, MapSpec, MapType};

use crate::error::LoadError;
use crate::maps::{MapKind, MapSlot};
use crate::object::Object;
use bpfbox_btf::{Kind, TypeData};

/// A program-array slot an initialiser fills with a program (`.values = { [i] = &prog }`):
/// the engine that owns the programs binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSlot {
    /// Index of the program array in [`Object::maps`].
    pub map: usize,
    /// The slot.
    pub key: u32,
    /// The entry program's name.
    pub program: String,
}

/// The spec libbpf's `bpf_object__create_map` passes to `BPF_MAP_CREATE`: perf event arrays
/// without `max_entries` get one slot per possible CPU, and map types whose BTF the kernel
/// does not check are created without BTF ids.
pub fn libbpf_create_spec(spec: &MapSpec, cfg: &MapConfig) -> MapSpec {
    let mut s = spec.clone();
    if s.map_type == MapType::PerfEventArray && s.max_entries == 0 {
        s.max_entries = cfg.ncpus;
    }
    if matches!(
        s.map_type,
        MapType::PerfEventArray
            | MapType::CgroupArray
            | MapType::StackTrace
            | MapType::ArrayOfMaps
            | MapType::HashOfMaps
            | MapType::Devmap
            | MapType::DevmapHash
            | MapType::Cpumap
            | MapType::Xskmap
            | MapType::Sockmap
            | MapType::Sockhash
            | MapType::Queue
            | MapType::Stack
            | MapType::Arena
    ) {
        s = without_btf(s);
    }
    s
}

/// What stands in a table for a map the engine could not create: programs using it are
/// failed before they run, so it is never reached.
fn stand_in(cfg: &MapConfig) -> Option<MapRef> {
    Map::create(&MapSpec::new("stand_in", MapType::Array, 4, 8, 1), cfg).ok()
}

/// Indices of the maps a relocated program refers to (`BPF_PSEUDO_MAP_IDX` and
/// `BPF_PSEUDO_MAP_IDX_VALUE` in `ld_imm64`), to know which programs a map that could not
/// be created fails.
pub fn maps_used(p: &bpfbox_vm::Program) -> std::collections::BTreeSet<usize> {
    use bpfbox_vm::isa::pseudo;
    let mut out = std::collections::BTreeSet::new();
    let mut i = 0;
    while i < p.insns.len() {
        let insn = &p.insns[i];
        if insn.code == crate::reloc::LD_IMM64 {
            if matches!(insn.src, pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE) {
                out.insert(insn.imm as u32 as usize);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

fn without_btf(mut s: MapSpec) -> MapSpec {
    s.btf_key_type_id = None;
    s.btf_value_type_id = None;
    s
}

/// A global variable's place: see [`Object::global_var`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalVar {
    /// Index of the data map in [`Object::maps`].
    pub map: usize,
    /// Byte offset in the map's value.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

impl Object {
    /// Creates every map of the object, fills global data (and freezes `.rodata` and
    /// `.kconfig` as libbpf does) and fills map-in-map initialisers; the first map that
    /// fails fails the whole table (see [`Object::create_maps_partial`] to keep going).
    ///
    /// The table's indices are the map indices the programs' `ld_imm64` references use.
    /// Program-array initialisers need the engine's program handles; they are returned by
    /// [`Object::program_slots`] for the caller to bind.
    pub fn create_maps(&self, cfg: &MapConfig) -> Result<MapTable, LoadError> {
        let (table, failed) = self.create_maps_partial(cfg);
        match failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(table),
        }
    }

    /// [`Object::create_maps`] that does not stop at a map the engine cannot create (a map
    /// type it does not run, a bad initialiser): such a map's place in the table holds an
    /// inert stand-in, and it is listed with its error, so that only the programs using it
    /// (see [`maps_used`]) fail and the others run.
    pub fn create_maps_partial(&self, cfg: &MapConfig) -> (MapTable, Vec<(usize, LoadError)>) {
        let mut maps: Vec<MapRef> = Vec::with_capacity(self.maps().len());
        let mut failed = Vec::new();
        for (i, spec) in self.maps().iter().enumerate() {
            let info = self.map_info(i);
            let fail = |msg: String| LoadError::Map {
                map: info.map_or_else(|| spec.name.clone(), |m| m.name.clone()),
                section: info.map_or_else(String::new, |m| m.section.clone()),
                offset: 0,
                msg,
            };
            let spec = libbpf_create_spec(spec, cfg);
            let created = match Map::create(&spec, cfg) {
                Ok(m) => Ok(m),
                // libbpf retries without BTF when the kernel refuses the map's BTF ids
                // ("Retrying without BTF"), e.g. a prog array with a key type and
                // `__array(values, ...)`.
                Err(_) if spec.btf_key_type_id.is_some() || spec.btf_value_type_id.is_some() => {
                    Map::create(&without_btf(spec), cfg).map_err(|e| fail(e.to_string()))
                }
                Err(e) => Err(fail(e.to_string())),
            };
            let map = created.and_then(|map| {
                if let Some(data) = info.and_then(|m| m.data.as_deref()) {
                    map.update(&0u32.to_ne_bytes(), data, 0)
                        .map_err(|e| fail(format!("initial data: {e}")))?;
                }
                if info.is_some_and(|m| m.frozen) {
                    map.freeze();
                }
                Ok(map)
            });
            match map {
                Ok(m) => maps.push(m),
                Err(e) => match stand_in(cfg) {
                    Some(m) => {
                        maps.push(m);
                        failed.push((i, e));
                    }
                    // Cannot happen (a one-slot array always exists); keep indices aligned
                    // by failing every later map too.
                    None => {
                        failed.push((i, e));
                        break;
                    }
                },
            }
        }
        for (i, outer) in maps.iter().enumerate() {
            let Some(info) = self.map_info(i) else {
                continue;
            };
            if failed.iter().any(|(f, _)| *f == i) {
                continue;
            }
            for (key, slot) in info.slots.iter().enumerate() {
                let Some(MapSlot::Map(j)) = slot else {
                    continue;
                };
                let err = |msg: String| LoadError::Map {
                    map: info.name.clone(),
                    section: info.section.clone(),
                    offset: 0,
                    msg,
                };
                let res = match maps.get(*j) {
                    _ if failed.iter().any(|(f, _)| f == j) => {
                        Err(err(format!("slot {key}: inner map #{j} was not created")))
                    }
                    Some(inner) => outer
                        .update_inner(&(key as u32).to_ne_bytes(), inner, 0)
                        .map_err(|e| err(format!("slot {key}: {e}"))),
                    None => Err(err(format!("slot {key} refers to missing map #{j}"))),
                };
                if let Err(e) = res {
                    failed.push((i, e));
                    break;
                }
            }
        }
        (MapTable::new(maps), failed)
    }

    /// Where global variable `name` lives: a `.data`, `.rodata`, `.bss` (or custom data
    /// section) map and the variable's byte range in its value, found through the
    /// section's BTF `DATASEC` as libbpf's skeletons find it.
    pub fn global_var(&self, name: &str) -> Option<GlobalVar> {
        let btf = self.btf()?;
        (0..self.maps().len()).find_map(|i| {
            let info = self.map_info(i)?;
            if !matches!(info.kind, MapKind::Data | MapKind::Rodata | MapKind::Bss) {
                return None;
            }
            let sec = btf.find_by_name_kind(&info.section, Kind::Datasec)?;
            let TypeData::Datasec(vars) = &btf.type_by_id(sec)?.data else {
                return None;
            };
            let v = vars.iter().find(|v| btf.name(v.type_id) == Some(name))?;
            Some(GlobalVar {
                map: i,
                offset: self
                    .global_offset(&info.section, name)
                    .unwrap_or(v.offset as usize),
                size: v.size as usize,
            })
        })
    }

    /// Program-array slots that initialisers fill with programs.
    pub fn program_slots(&self) -> Vec<ProgramSlot> {
        let mut out = Vec::new();
        for i in 0..self.maps().len() {
            let Some(info) = self.map_info(i) else {
                continue;
            };
            for (key, slot) in info.slots.iter().enumerate() {
                if let Some(MapSlot::Program(p)) = slot {
                    out.push(ProgramSlot {
                        map: i,
                        key: key as u32,
                        program: p.clone(),
                    });
                }
            }
        }
        out
    }
}
