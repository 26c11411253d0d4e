//! Map definitions: the legacy `maps` section (`struct bpf_map_def`) and BTF-defined `.maps`.

use bpfbox_btf::{Btf, Kind, TypeData, TypeId};
use bpfbox_vm::maps::spec::{MapSpec, MapType, BPF_OBJ_NAME_LEN, PAGE_SIZE};

use crate::elf::{ElfFile, Section, Symbol, STT_SECTION};
use crate::error::{LoadError, Result};

/// Where a map came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MapKind {
    /// `struct bpf_map_def` in the legacy `maps` section.
    Legacy,
    /// A BTF-defined map in `.maps`.
    Btf,
    /// `.data` or `.data.*`.
    Data,
    /// `.rodata` or `.rodata.*`.
    Rodata,
    /// `.bss` or `.bss.*`.
    Bss,
    /// `.kconfig` externs.
    Kconfig,
}

/// One initial slot of a map-in-map or program array (`values = { ... }` in `.maps`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum MapSlot {
    /// Another map of the object, by index into [`crate::Object::maps`].
    Map(usize),
    /// An entry program of the object, by name.
    Program(String),
}

/// Everything about a map beyond its [`MapSpec`]: origin, libbpf name, initial contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MapInfo {
    /// The name libbpf reports (`bpf_map__name`): the variable or symbol name for
    /// defined maps, `<obj>.data`-style names for global data. [`MapSpec::name`] holds the
    /// same name cut to the kernel's 15 bytes.
    pub name: String,
    /// Origin.
    pub kind: MapKind,
    /// ELF section the definition or data came from (`.kconfig` for externs).
    pub section: String,
    /// Initial value of element 0 (global data maps; `.bss` and `.kconfig` included).
    pub data: Option<Vec<u8>>,
    /// Whether libbpf freezes the map after filling it (`.rodata*`, `.kconfig`).
    pub frozen: bool,
    /// Initial slots from a `values` initialiser (index = key), map-in-map and prog arrays.
    pub slots: Vec<Option<MapSlot>>,
    /// `pinning` attribute (0 none, 1 by name).
    pub pinning: u32,
}

/// A map under construction: spec, info, and where it is defined (for relocations).
#[derive(Debug, Clone)]
pub(crate) struct MapEntry {
    pub spec: MapSpec,
    pub info: MapInfo,
    pub sec_idx: usize,
    pub sec_offset: u64,
}

/// The kernel-visible name: at most 15 bytes (the syscall truncates longer names).
pub(crate) fn kernel_name(name: &str) -> String {
    let mut end = name.len().min(BPF_OBJ_NAME_LEN - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

fn map_type(id: u32, map: &str, section: &str, offset: u64) -> Result<MapType> {
    MapType::from_u32(id).ok_or_else(|| LoadError::Map {
        map: map.to_string(),
        section: section.to_string(),
        offset,
        msg: format!("unknown map type {id}"),
    })
}

/// libbpf's `adjust_ringbuf_sz`: round a ring buffer size up to a power-of-2 number of pages.
fn adjust_ringbuf_size(size: u32) -> u32 {
    if size == 0 {
        return 0;
    }
    if size.is_multiple_of(PAGE_SIZE) && (size / PAGE_SIZE).is_power_of_two() {
        return size;
    }
    let mut mul: u64 = 1;
    while mul * u64::from(PAGE_SIZE) <= u64::from(u32::MAX) {
        if mul * u64::from(PAGE_SIZE) > u64::from(size) {
            return (mul * u64::from(PAGE_SIZE)) as u32;
        }
        mul <<= 1;
    }
    // libbpf: a size this large is returned as 0 so that map creation reports it.
    0
}

/// Maps of the legacy `maps` section: one `struct bpf_map_def` per symbol, in offset order.
pub(crate) fn legacy_maps(elf: &ElfFile<'_>, sec: &Section<'_>) -> Result<Vec<MapEntry>> {
    let mut syms: Vec<&Symbol> = elf
        .symbols
        .iter()
        .filter(|s| s.shndx == sec.index && s.kind != STT_SECTION && !s.name.is_empty())
        .collect();
    syms.sort_by_key(|s| s.value);
    let mut out = Vec::with_capacity(syms.len());
    for s in syms {
        let err = |msg: String| LoadError::Map {
            map: s.name.clone(),
            section: sec.name.clone(),
            offset: s.value,
            msg,
        };
        let start = usize::try_from(s.value).map_err(|_| err("offset overflows".into()))?;
        let size = usize::try_from(s.size).map_err(|_| err("size overflows".into()))?;
        let def = start
            .checked_add(size)
            .and_then(|end| sec.data.get(start..end))
            .ok_or_else(|| err(format!("definition of {size} bytes runs past the section")))?;
        if def.len() < 4 {
            return Err(err(format!(
                "definition of {} bytes is too short",
                def.len()
            )));
        }
        // Fields beyond the symbol's size are zero, as in libbpf's legacy loader.
        let field = |i: usize| -> u32 {
            def.get(i * 4..i * 4 + 4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let mt = map_type(field(0), &s.name, &sec.name, s.value)?;
        let mut spec = MapSpec::new(&kernel_name(&s.name), mt, field(1), field(2), field(3))
            .with_flags(field(4));
        if matches!(mt, MapType::Ringbuf | MapType::UserRingbuf) {
            spec.max_entries = adjust_ringbuf_size(spec.max_entries);
        }
        out.push(MapEntry {
            spec,
            info: MapInfo {
                name: s.name.clone(),
                kind: MapKind::Legacy,
                section: sec.name.clone(),
                data: None,
                frozen: false,
                slots: Vec::new(),
                pinning: 0,
            },
            sec_idx: sec.index,
            sec_offset: s.value,
        });
    }
    Ok(out)
}

/// A parsed BTF map definition (libbpf's `struct btf_map_def`).
#[derive(Debug, Default, Clone)]
struct BtfMapDef {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    numa_node: Option<u32>,
    map_extra: u64,
    pinning: u32,
    key_type_id: Option<TypeId>,
    value_type_id: Option<TypeId>,
    inner: Option<Box<BtfMapDef>>,
}

struct DefCtx<'a> {
    btf: &'a Btf,
    map: String,
    section: &'a str,
    offset: u64,
}

impl DefCtx<'_> {
    fn err(&self, msg: impl Into<String>) -> LoadError {
        LoadError::Map {
            map: self.map.clone(),
            section: self.section.to_string(),
            offset: self.offset,
            msg: msg.into(),
        }
    }

    /// `__uint(name, val)`: a pointer to an array of `val` elements.
    fn int_field(&self, field: &str, type_id: TypeId) -> Result<u32> {
        let btf = self.btf;
        let id = btf
            .skip_mods_and_typedefs(type_id)
            .map_err(|e| self.err(format!("attr '{field}': {e}")))?;
        let t = btf
            .type_by_id(id)
            .ok_or_else(|| self.err(format!("attr '{field}': type [{id}] not found")))?;
        if t.kind() != Kind::Ptr {
            return Err(self.err(format!(
                "attr '{field}': expected PTR, got {}",
                t.kind().name()
            )));
        }
        let arr = btf.type_by_id(t.size_or_type).ok_or_else(|| {
            self.err(format!(
                "attr '{field}': type [{}] not found",
                t.size_or_type
            ))
        })?;
        match &arr.data {
            TypeData::Array(a) => Ok(a.nelems),
            _ => Err(self.err(format!(
                "attr '{field}': expected ARRAY, got {}",
                arr.kind().name()
            ))),
        }
    }

    /// `__ulong(name, val)`: an enum with one enumerator, or the `__uint` form.
    fn long_field(&self, field: &str, type_id: TypeId) -> Result<u64> {
        let id = self
            .btf
            .skip_mods_and_typedefs(type_id)
            .map_err(|e| self.err(format!("attr '{field}': {e}")))?;
        match self.btf.type_by_id(id).map(|t| &t.data) {
            Some(TypeData::Enum(v)) if v.len() == 1 => Ok(u64::from(v[0].val)),
            Some(TypeData::Enum64(v)) if v.len() == 1 => Ok(v[0].val),
            _ => self.int_field(field, type_id).map(u64::from),
        }
    }

    /// `__type(name, T)`: a pointer to `T`; returns (T, sizeof T).
    fn type_field(&self, field: &str, type_id: TypeId) -> Result<(TypeId, u32)> {
        let t = self
            .btf
            .type_by_id(type_id)
            .ok_or_else(|| self.err(format!("{field} type [{type_id}] not found")))?;
        if t.kind() != Kind::Ptr {
            return Err(self.err(format!("{field} spec is not PTR: {}", t.kind().name())));
        }
        let size = self.btf.resolve_size(t.size_or_type).map_err(|e| {
            self.err(format!(
                "can't determine {field} size for type [{}]: {e}",
                t.size_or_type
            ))
        })?;
        Ok((t.size_or_type, size))
    }

    fn set_size(&self, what: &str, slot: &mut u32, size: u32) -> Result<()> {
        if *slot != 0 && *slot != size {
            return Err(self.err(format!("conflicting {what} size {} != {size}", *slot)));
        }
        *slot = size;
        Ok(())
    }

    /// libbpf's `parse_btf_map_def`; `inner` is `None` while parsing an inner definition.
    fn parse_def(&self, def_id: TypeId, is_inner: bool) -> Result<BtfMapDef> {
        let btf = self.btf;
        let def_t = btf
            .type_by_id(def_id)
            .ok_or_else(|| self.err(format!("def type [{def_id}] not found")))?;
        let members = def_t.members();
        let mut d = BtfMapDef::default();
        for (i, m) in members.iter().enumerate() {
            let name = btf
                .string_at(m.name_off)
                .ok_or_else(|| self.err(format!("invalid field #{i}")))?;
            match name {
                "type" => d.map_type = self.int_field(name, m.type_id)?,
                "max_entries" => d.max_entries = self.int_field(name, m.type_id)?,
                "map_flags" => d.map_flags = self.int_field(name, m.type_id)?,
                "numa_node" => d.numa_node = Some(self.int_field(name, m.type_id)?),
                "key_size" => {
                    let sz = self.int_field(name, m.type_id)?;
                    self.set_size("key", &mut d.key_size, sz)?;
                }
                "value_size" => {
                    let sz = self.int_field(name, m.type_id)?;
                    self.set_size("value", &mut d.value_size, sz)?;
                }
                "key" => {
                    let (id, sz) = self.type_field("key", m.type_id)?;
                    self.set_size("key", &mut d.key_size, sz)?;
                    d.key_type_id = Some(id);
                }
                "value" => {
                    let (id, sz) = self.type_field("value", m.type_id)?;
                    self.set_size("value", &mut d.value_size, sz)?;
                    d.value_type_id = Some(id);
                }
                "values" => {
                    let inner =
                        self.values_field(&d, m.type_id, i + 1 == members.len(), is_inner)?;
                    d.value_size = 4;
                    d.inner = inner.map(Box::new);
                }
                "pinning" => {
                    if is_inner {
                        return Err(self.err("inner def can't be pinned"));
                    }
                    let v = self.int_field(name, m.type_id)?;
                    if v > 1 {
                        return Err(self.err(format!("invalid pinning value {v}")));
                    }
                    d.pinning = v;
                }
                "map_extra" => d.map_extra = self.long_field(name, m.type_id)?,
                other => return Err(self.err(format!("unknown field '{other}'"))),
            }
        }
        if d.map_type == 0 {
            return Err(self.err("map type isn't specified"));
        }
        Ok(d)
    }

    /// `values`: a zero-sized array of pointers to the inner map definition (map-in-map) or
    /// to a function prototype (program array).
    fn values_field(
        &self,
        d: &BtfMapDef,
        type_id: TypeId,
        is_last: bool,
        is_inner: bool,
    ) -> Result<Option<BtfMapDef>> {
        let btf = self.btf;
        let mt = MapType::from_u32(d.map_type);
        let is_map_in_map = mt.is_some_and(|t| t.is_map_in_map());
        let is_prog_array = mt == Some(MapType::ProgArray);
        if is_inner {
            return Err(self.err("multi-level inner maps not supported"));
        }
        if !is_last {
            return Err(self.err("'values' member should be last"));
        }
        if !is_map_in_map && !is_prog_array {
            return Err(self.err("should be map-in-map or prog-array"));
        }
        if d.value_size != 0 && d.value_size != 4 {
            return Err(self.err(format!("conflicting value size {} != 4", d.value_size)));
        }
        let arr = match btf.type_by_id(type_id).map(|t| &t.data) {
            Some(TypeData::Array(a)) if a.nelems == 0 => a.elem_type,
            _ => return Err(self.err("'values' spec is not a zero-sized array")),
        };
        let ptr = btf
            .skip_mods_and_typedefs(arr)
            .map_err(|e| self.err(e.to_string()))?;
        let target = match btf.type_by_id(ptr) {
            Some(t) if t.kind() == Kind::Ptr => t.size_or_type,
            _ => return Err(self.err("'values' def is not a pointer")),
        };
        let target = btf
            .skip_mods_and_typedefs(target)
            .map_err(|e| self.err(e.to_string()))?;
        let kind = btf.type_by_id(target).map(|t| t.kind());
        if is_prog_array {
            if kind != Some(Kind::FuncProto) {
                return Err(self.err("prog-array value def is not a function prototype"));
            }
            return Ok(None);
        }
        if kind != Some(Kind::Struct) {
            return Err(self.err("map-in-map inner def is not a struct"));
        }
        let inner_ctx = DefCtx {
            btf,
            map: format!("{}.inner", self.map),
            section: self.section,
            offset: self.offset,
        };
        inner_ctx.parse_def(target, true).map(Some)
    }
}

fn spec_from_def(name: &str, d: &BtfMapDef, ctx: &DefCtx<'_>) -> Result<MapSpec> {
    let mt = MapType::from_u32(d.map_type)
        .ok_or_else(|| ctx.err(format!("unknown map type {}", d.map_type)))?;
    let mut spec = MapSpec::new(
        &kernel_name(name),
        mt,
        d.key_size,
        d.value_size,
        d.max_entries,
    )
    .with_flags(d.map_flags)
    .with_extra(d.map_extra);
    if matches!(mt, MapType::Ringbuf | MapType::UserRingbuf) {
        spec.max_entries = adjust_ringbuf_size(spec.max_entries);
    }
    spec.numa_node = d.numa_node;
    spec.btf_key_type_id = d.key_type_id;
    spec.btf_value_type_id = d.value_type_id;
    if let Some(v) = d.value_type_id {
        spec.spin_lock_off = spin_lock_offset(ctx.btf, v);
    }
    if let Some(inner) = &d.inner {
        spec.inner = Some(Box::new(spec_from_def(
            &format!("{name}.inner"),
            inner,
            ctx,
        )?));
    }
    Ok(spec)
}

/// Offset of a top-level `struct bpf_spin_lock` member of the value type, if any.
pub(crate) fn spin_lock_offset(btf: &Btf, value: TypeId) -> Option<u32> {
    let id = btf.skip_mods_and_typedefs(value).ok()?;
    let t = btf.type_by_id(id)?;
    t.members().iter().find_map(|m| {
        let mid = btf.skip_mods_and_typedefs(m.type_id).ok()?;
        let mt = btf.type_by_id(mid)?;
        (mt.kind() == Kind::Struct && btf.type_name(mt) == "bpf_spin_lock")
            .then_some(m.bit_offset / 8)
    })
}

/// Maps of the `.maps` section, in the order of its BTF DATASEC.
///
/// clang leaves DATASEC offsets and sizes to the loader (libbpf fixes them up from the
/// symbol table), so each variable's place comes from its ELF symbol.
pub(crate) fn btf_maps(
    elf: &ElfFile<'_>,
    sec: &Section<'_>,
    btf: Option<&Btf>,
) -> Result<Vec<MapEntry>> {
    let btf = btf.ok_or_else(|| LoadError::Btf {
        section: sec.name.clone(),
        msg: "BTF-defined maps need a valid .BTF section".into(),
    })?;
    let ds_id = btf
        .find_by_name_kind(&sec.name, Kind::Datasec)
        .ok_or_else(|| LoadError::Btf {
            section: sec.name.clone(),
            msg: format!("DATASEC '{}' not found in BTF", sec.name),
        })?;
    let vars = match btf.type_by_id(ds_id).map(|t| &t.data) {
        Some(TypeData::Datasec(v)) => v.clone(),
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(vars.len());
    for (idx, vi) in vars.iter().enumerate() {
        let var = btf.type_by_id(vi.type_id).ok_or_else(|| LoadError::Btf {
            section: sec.name.clone(),
            msg: format!("map #{idx}: type [{}] not found", vi.type_id),
        })?;
        let name = btf.type_name(var).to_string();
        if name.is_empty() {
            return Err(LoadError::Map {
                map: format!("#{idx}"),
                section: sec.name.clone(),
                offset: u64::from(vi.offset),
                msg: "empty name".into(),
            });
        }
        let sym = elf
            .symbols
            .iter()
            .find(|s| s.shndx == sec.index && s.name == name);
        let (offset, size) = match sym {
            Some(s) => (s.value, s.size),
            None => (u64::from(vi.offset), u64::from(vi.size)),
        };
        let ctx = DefCtx {
            btf,
            map: name.clone(),
            section: &sec.name,
            offset,
        };
        if !matches!(offset.checked_add(size), Some(end) if end <= sec.size) {
            return Err(ctx.err("BTF data is corrupted (definition outside the section)"));
        }
        match var.data {
            TypeData::Var { linkage }
                if linkage == bpfbox_btf::types::var_linkage::GLOBAL_ALLOCATED => {}
            TypeData::Var { linkage } => {
                return Err(ctx.err(format!("unsupported map linkage {linkage}")))
            }
            _ => return Err(ctx.err(format!("unexpected var kind {}", var.kind().name()))),
        }
        let def_id = btf
            .skip_mods_and_typedefs(var.size_or_type)
            .map_err(|e| ctx.err(e.to_string()))?;
        let def_t = btf
            .type_by_id(def_id)
            .ok_or_else(|| ctx.err("definition type not found"))?;
        if def_t.kind() != Kind::Struct {
            return Err(ctx.err(format!("unexpected def kind {}", def_t.kind().name())));
        }
        if u64::from(def_t.size_or_type) > size {
            return Err(ctx.err("invalid def size"));
        }
        let def = ctx.parse_def(def_id, false)?;
        let spec = spec_from_def(&name, &def, &ctx)?;
        out.push(MapEntry {
            spec,
            info: MapInfo {
                name,
                kind: MapKind::Btf,
                section: sec.name.clone(),
                data: None,
                frozen: false,
                slots: Vec::new(),
                pinning: def.pinning,
            },
            sec_idx: sec.index,
            sec_offset: offset,
        });
    }
    Ok(out)
}

/// Fills `values` initialisers from `.rel.maps` (libbpf's `bpf_object__collect_map_relos`).
/// `maps` are all maps so far; `is_entry(name, shndx, value)` says whether a symbol is an
/// entry program.
pub(crate) fn collect_map_relos(
    elf: &ElfFile<'_>,
    rel_sec: &Section<'_>,
    maps_sec: &Section<'_>,
    btf: &Btf,
    maps: &mut [MapEntry],
    is_entry: &dyn Fn(&Symbol) -> bool,
) -> Result<()> {
    let rels = elf.rels(rel_sec)?;
    for (i, rel) in rels.iter().enumerate() {
        let err = |msg: String| LoadError::Relocation {
            section: rel_sec.name.clone(),
            index: i,
            offset: rel.offset,
            program: "?".into(),
            insn: 0,
            msg,
        };
        let sym = elf
            .symbols
            .get(rel.sym)
            .ok_or_else(|| err(format!("symbol #{} not found", rel.sym)))?;
        let owner = maps.iter().position(|m| {
            m.sec_idx == maps_sec.index
                && m.sec_offset <= rel.offset
                && rel.offset.checked_add(8).is_some_and(|end| {
                    // The definition extends to the symbol's size; find it again.
                    elf.symbols
                        .iter()
                        .find(|s| s.shndx == maps_sec.index && s.name == m.info.name)
                        .is_some_and(|s| end <= s.value.saturating_add(s.size))
                })
        });
        let owner = owner.ok_or_else(|| err(format!("cannot find map for '{}'", sym.name)))?;
        let spec = &maps[owner].spec;
        let slot = if spec.map_type.is_map_in_map() {
            if sym.shndx != maps_sec.index {
                return Err(err(format!("'{}' isn't a BTF-defined map", sym.name)));
            }
            if spec.map_type == MapType::HashOfMaps && spec.key_size != 4 {
                return Err(err("hash-of-maps should have key size 4".into()));
            }
            let target = maps
                .iter()
                .position(|m| m.info.name == sym.name)
                .ok_or_else(|| err(format!("'{}' isn't a valid map reference", sym.name)))?;
            MapSlot::Map(target)
        } else if spec.map_type == MapType::ProgArray {
            if !is_entry(sym) {
                return Err(err(format!("'{}' isn't an entry-point program", sym.name)));
            }
            MapSlot::Program(sym.name.clone())
        } else {
            return Err(err(
                "'values' relocation in a map that is neither map-in-map nor prog-array".into(),
            ));
        };
        // The slot index comes from the offset inside the trailing `values` member.
        let name = maps[owner].info.name.clone();
        let var_def = btf
            .ids_by_name(&name)
            .find_map(|id| {
                let t = btf.type_by_id(id)?;
                (t.kind() == Kind::Var).then_some(t.size_or_type)
            })
            .and_then(|t| btf.skip_mods_and_typedefs(t).ok())
            .and_then(|t| btf.type_by_id(t))
            .ok_or_else(|| err(format!("no BTF VAR for map '{name}'")))?;
        let last = var_def
            .members()
            .last()
            .filter(|m| btf.string_at(m.name_off) == Some("values"))
            .ok_or_else(|| err("last member is not 'values'".into()))?;
        let moff = u64::from(last.bit_offset / 8);
        let rel_off = rel.offset - maps[owner].sec_offset;
        if rel_off < moff || !(rel_off - moff).is_multiple_of(8) {
            return Err(err("relocation is not at a 'values' slot".into()));
        }
        let idx =
            usize::try_from((rel_off - moff) / 8).map_err(|_| err("slot overflows".into()))?;
        // The slot lies inside the (section-bounded) definition, so this is bounded too.
        let slots = &mut maps[owner].info.slots;
        if idx >= slots.len() {
            slots.resize(idx + 1, None);
        }
        slots[idx] = Some(slot);
    }
    Ok(())
}
