//! The [`Btf`] container: parsed types, strings and lookups.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::bytes::Endian;
use crate::error::BtfError;
use crate::header::BtfHeader;
use crate::index::NameIndex;
use crate::parse::parse_types;
use crate::types::{Kind, Type, TypeData, TypeId};

/// How deep type chains (typedef -> const -> typedef ...) are followed
/// before giving up.
pub const MAX_RESOLVE_DEPTH: usize = 32;

/// Most type records [`Btf::alignment`] visits for one query.
const ALIGN_BUDGET: u32 = 1 << 20;

/// A parsed `.BTF` blob.
///
/// Owns its types and its string section. Split BTF (e.g. a kernel module's)
/// keeps a shared pointer to its base; ids and string offsets below the
/// split's start are looked up in the base.
#[derive(Debug)]
pub struct Btf {
    header: BtfHeader,
    endian: Endian,
    data_len: usize,
    hdr_tail_nonzero: bool,
    strings: Vec<u8>,
    types: Vec<Type>,
    start_id: TypeId,
    start_str_off: u32,
    base: Option<Arc<Btf>>,
    essential_index: OnceLock<NameIndex>,
    ptr_size: OnceLock<u32>,
}

/// A struct/union member with its name resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRef<'a> {
    /// Member name, `""` when anonymous.
    pub name: &'a str,
    /// Member type.
    pub type_id: TypeId,
    /// Offset in bits from the start of the enclosing type.
    pub bit_offset: u32,
    /// Bitfield width in bits; 0 when not a bitfield.
    pub bitfield_size: u32,
}

impl Btf {
    /// Parse a standalone `.BTF` blob (for instance `/sys/kernel/btf/vmlinux`
    /// or the `.BTF` section of an object file).
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        Self::parse_inner(data, None)
    }

    /// Parse split BTF (e.g. `/sys/kernel/btf/<module>`) on top of `base`.
    /// Type ids continue after the base's last id and string offsets after
    /// the base's string section.
    pub fn parse_split(data: &[u8], base: &Arc<Btf>) -> Result<Btf, BtfError> {
        Self::parse_inner(data, Some(Arc::clone(base)))
    }

    /// Read and parse a raw BTF file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Btf, BtfError> {
        let data = std::fs::read(path)?;
        Self::parse(&data)
    }

    /// Read and parse a raw split BTF file on top of `base`.
    pub fn from_file_split(path: impl AsRef<Path>, base: &Arc<Btf>) -> Result<Btf, BtfError> {
        let data = std::fs::read(path)?;
        Self::parse_split(&data, base)
    }

    fn parse_inner(data: &[u8], base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        let (header, endian) = BtfHeader::parse(data)?;
        let total = data.len();
        let section = |name: &'static str, range: std::ops::Range<u64>| {
            let bad = BtfError::SectionBounds {
                section: name,
                offset: range.start,
                len: range.end - range.start,
                total,
            };
            let start = usize::try_from(range.start).map_err(|_| bad_clone(&bad))?;
            let end = usize::try_from(range.end).map_err(|_| bad_clone(&bad))?;
            data.get(start..end).map(|s| (s, start)).ok_or(bad)
        };
        let (type_sec, type_base) = section("type", header.type_range())?;
        let (str_sec, _) = section("string", header.str_range())?;
        let (start_id, start_str_off) = match &base {
            Some(b) => {
                let next = b
                    .last_id()
                    .checked_add(1)
                    .ok_or(BtfError::TooManyTypes { offset: 0 })?;
                let str_off = b.strings_end();
                (next, str_off)
            }
            None => (1, 0),
        };
        let types = parse_types(type_sec, type_base, endian, start_id)?;
        Ok(Btf {
            header,
            endian,
            data_len: total,
            hdr_tail_nonzero: data
                .get(crate::header::BTF_HEADER_LEN as usize..header.hdr_len as usize)
                .is_some_and(|tail| tail.iter().any(|&b| b != 0)),
            strings: str_sec.to_vec(),
            types,
            start_id,
            start_str_off,
            base,
            essential_index: OnceLock::new(),
            ptr_size: OnceLock::new(),
        })
    }

    /// The decoded header.
    pub fn header(&self) -> &BtfHeader {
        &self.header
    }

    /// Byte order of the blob.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Size in bytes of the blob this was parsed from.
    pub fn data_len(&self) -> usize {
        self.data_len
    }

    /// True when the header is longer than the known 24 bytes and the extra
    /// bytes are not all zero.
    pub(crate) fn hdr_tail_nonzero(&self) -> bool {
        self.hdr_tail_nonzero
    }

    /// The base BTF, for split BTF.
    pub fn base(&self) -> Option<&Btf> {
        self.base.as_deref()
    }

    /// Id of this blob's first type (1 unless split).
    pub fn start_id(&self) -> TypeId {
        self.start_id
    }

    /// First string offset belonging to this blob (0 unless split).
    pub fn start_str_off(&self) -> u32 {
        self.start_str_off
    }

    /// Highest valid type id (including base types); 0 when empty.
    pub fn last_id(&self) -> TypeId {
        self.start_id - 1 + self.types.len() as TypeId
    }

    /// Number of types in this blob (not counting the base's).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// True when this blob defines no type.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// One past the last string offset (base strings included).
    pub fn strings_end(&self) -> u32 {
        self.start_str_off
            .saturating_add(u32::try_from(self.strings.len()).unwrap_or(u32::MAX))
    }

    /// This blob's raw string section.
    pub fn string_section(&self) -> &[u8] {
        &self.strings
    }

    /// The type with id `id`; `None` for 0 (void) and unknown ids.
    #[inline]
    pub fn type_by_id(&self, id: TypeId) -> Option<&Type> {
        if id < self.start_id {
            return self.base.as_ref()?.type_by_id(id);
        }
        self.types.get((id - self.start_id) as usize)
    }

    /// Like [`Btf::type_by_id`] but an error for invalid ids.
    pub fn try_type(&self, id: TypeId) -> Result<&Type, BtfError> {
        self.type_by_id(id).ok_or(BtfError::InvalidTypeId(id))
    }

    /// This blob's own types with their ids, in id order.
    pub fn types(&self) -> impl ExactSizeIterator<Item = (TypeId, &Type)> + '_ {
        let start = self.start_id;
        self.types
            .iter()
            .enumerate()
            .map(move |(i, t)| (start + i as TypeId, t))
    }

    /// The NUL-terminated string at offset `off` of the string section;
    /// `None` if the offset is out of range, unterminated or not UTF-8.
    #[inline]
    pub fn string_at(&self, off: u32) -> Option<&str> {
        if off < self.start_str_off {
            return self.base.as_ref()?.string_at(off);
        }
        let rel = (off - self.start_str_off) as usize;
        let tail = self.strings.get(rel..)?;
        let len = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(tail.get(..len)?).ok()
    }

    /// Name of type `id` (`""` for anonymous types); `None` for void,
    /// unknown ids or an invalid name offset.
    pub fn name(&self, id: TypeId) -> Option<&str> {
        self.string_at(self.type_by_id(id)?.name_off)
    }

    /// Name of `t`, `""` when anonymous or invalid.
    pub fn type_name(&self, t: &Type) -> &str {
        self.string_at(t.name_off).unwrap_or("")
    }

    /// The name index: one index by essential name serves both exact and
    /// CO-RE lookups (an exact name is found among its essential name's ids).
    fn index(&self) -> &NameIndex {
        self.essential_index.get_or_init(|| {
            NameIndex::build(&self.types, self.start_id, |o| {
                self.string_at(o).map(crate::core::essential_name)
            })
        })
    }

    /// Ids of every type named `name` (base types first), in id order.
    /// Uses a hash index built on first call.
    pub fn ids_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = TypeId> + 'a {
        let base: Box<dyn Iterator<Item = TypeId> + 'a> = match &self.base {
            Some(b) => Box::new(b.ids_by_name(name)),
            None => Box::new(std::iter::empty()),
        };
        base.chain(
            self.index()
                .candidates(crate::core::essential_name(name))
                .filter(move |&id| self.name(id) == Some(name)),
        )
    }

    /// Ids of every type whose CO-RE essential name (the name without its
    /// `___flavour` suffix, see [`crate::core::essential_name`]) is
    /// `essential`, base types first, in id order. Uses a hash index built on
    /// first call, so CO-RE candidate search never scans the whole blob.
    pub fn ids_by_essential_name<'a>(
        &'a self,
        essential: &'a str,
    ) -> impl Iterator<Item = TypeId> + 'a {
        let base: Box<dyn Iterator<Item = TypeId> + 'a> = match &self.base {
            Some(b) => Box::new(b.ids_by_essential_name(essential)),
            None => Box::new(std::iter::empty()),
        };
        base.chain(
            self.index().candidates(essential).filter(move |&id| {
                self.name(id).map(crate::core::essential_name) == Some(essential)
            }),
        )
    }

    /// The first type named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Option<TypeId> {
        self.ids_by_name(name)
            .find(|&id| self.type_by_id(id).is_some_and(|t| t.kind() == kind))
    }

    /// Follow `volatile`/`const`/`restrict`/type tags from `id`; returns the
    /// first id that is not a modifier (0 for void).
    pub fn skip_mods(&self, id: TypeId) -> Result<TypeId, BtfError> {
        self.skip_while(id, |k| k.is_modifier())
    }

    /// Follow modifiers and typedefs from `id`; returns the underlying id
    /// (0 for void).
    pub fn skip_mods_and_typedefs(&self, id: TypeId) -> Result<TypeId, BtfError> {
        self.skip_while(id, |k| k.is_modifier() || k == Kind::Typedef)
    }

    fn skip_while(&self, mut id: TypeId, skip: impl Fn(Kind) -> bool) -> Result<TypeId, BtfError> {
        for _ in 0..=MAX_RESOLVE_DEPTH {
            if id == 0 {
                return Ok(0);
            }
            let t = self.try_type(id)?;
            if !skip(t.kind()) {
                return Ok(id);
            }
            id = t.size_or_type;
        }
        Err(BtfError::Loop { type_id: id })
    }

    /// If `id` (after modifiers and typedefs) is a pointer, its target.
    pub fn resolve_ptr(&self, id: TypeId) -> Option<TypeId> {
        let id = self.skip_mods_and_typedefs(id).ok()?;
        let t = self.type_by_id(id)?;
        (t.kind() == Kind::Ptr).then_some(t.size_or_type)
    }

    /// Size in bytes of a pointer for the target this BTF describes,
    /// guessed from the size of `long` (8 when no `long` is found).
    pub fn pointer_size(&self) -> u32 {
        *self.ptr_size.get_or_init(|| {
            const LONGS: [&str; 6] = [
                "long",
                "long int",
                "int long",
                "unsigned long",
                "long unsigned int",
                "unsigned long int",
            ];
            LONGS
                .iter()
                .flat_map(|n| self.ids_by_name(n).collect::<Vec<_>>())
                .find_map(|id| {
                    let t = self.type_by_id(id)?;
                    match t.data {
                        TypeData::Int(_) if t.size_or_type == 4 || t.size_or_type == 8 => {
                            Some(t.size_or_type)
                        }
                        _ => None,
                    }
                })
                .unwrap_or(8)
        })
    }

    /// `sizeof` type `id`, following typedefs, modifiers, VARs and arrays.
    /// Fails for void, functions, forward declarations and loops.
    pub fn resolve_size(&self, id: TypeId) -> Result<u32, BtfError> {
        let mut id = id;
        let mut nelems: u64 = 1;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let t = self.try_type(id)?;
            let size = match &t.data {
                TypeData::Int(_)
                | TypeData::Struct(_)
                | TypeData::Union(_)
                | TypeData::Enum(_)
                | TypeData::Enum64(_)
                | TypeData::Datasec(_)
                | TypeData::Float => t.size_or_type,
                TypeData::Ptr => self.pointer_size(),
                TypeData::Typedef
                | TypeData::Volatile
                | TypeData::Const
                | TypeData::Restrict
                | TypeData::TypeTag
                | TypeData::Var { .. } => {
                    id = t.size_or_type;
                    continue;
                }
                TypeData::Array(a) => {
                    nelems = nelems
                        .checked_mul(u64::from(a.nelems))
                        .filter(|n| *n <= u64::from(u32::MAX))
                        .ok_or_else(|| BtfError::invalid(id, "Array size overflows U32_MAX"))?;
                    id = a.elem_type;
                    continue;
                }
                _ => return Err(BtfError::invalid(id, "type has no size")),
            };
            let total = nelems * u64::from(size);
            return u32::try_from(total)
                .map_err(|_| BtfError::invalid(id, "Array size overflows U32_MAX"));
        }
        Err(BtfError::Loop { type_id: id })
    }

    /// Alignment in bytes of type `id` as the C compiler laid it out:
    /// natural alignment, except that a struct/union whose layout shows it
    /// was packed (a misaligned member, or a size that is not a multiple of
    /// its alignment) has alignment 1. Ints, enums and floats align to their
    /// size capped at the pointer size. Fails for void, FWD, functions and
    /// loops.
    pub fn alignment(&self, id: TypeId) -> Result<u32, BtfError> {
        let mut budget = ALIGN_BUDGET;
        self.alignment_depth(id, 0, &mut budget)
    }

    fn alignment_depth(&self, id: TypeId, depth: usize, budget: &mut u32) -> Result<u32, BtfError> {
        // The budget bounds the work on hostile graphs (a struct embedding
        // the same struct many times at every level is exponential).
        *budget = budget.saturating_sub(1);
        if depth > MAX_RESOLVE_DEPTH || *budget == 0 {
            return Err(BtfError::Loop { type_id: id });
        }
        let t = self.try_type(id)?;
        Ok(match &t.data {
            TypeData::Int(_) | TypeData::Enum(_) | TypeData::Enum64(_) | TypeData::Float => {
                t.size_or_type.min(self.pointer_size())
            }
            TypeData::Ptr => self.pointer_size(),
            TypeData::Typedef
            | TypeData::Volatile
            | TypeData::Const
            | TypeData::Restrict
            | TypeData::TypeTag => self.alignment_depth(t.size_or_type, depth + 1, budget)?,
            TypeData::Array(a) => self.alignment_depth(a.elem_type, depth + 1, budget)?,
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                let mut max = 1;
                for m in ms {
                    let align = self.alignment_depth(m.type_id, depth + 1, budget)?;
                    if align == 0 {
                        return Err(BtfError::invalid(id, "member has no alignment"));
                    }
                    max = max.max(align);
                    if m.bitfield_size == 0 && u64::from(m.raw_offset) % (8 * u64::from(align)) != 0
                    {
                        return Ok(1);
                    }
                }
                if t.size_or_type % max != 0 {
                    1
                } else {
                    max
                }
            }
            _ => return Err(BtfError::invalid(id, "type has no alignment")),
        })
    }

    /// Members of struct/union `id` with names resolved, offsets in bits.
    /// Empty for other kinds.
    pub fn members(
        &self,
        id: TypeId,
    ) -> Result<impl Iterator<Item = MemberRef<'_>> + '_, BtfError> {
        let t = self.try_type(id)?;
        Ok(t.members().iter().map(move |m| MemberRef {
            name: self.string_at(m.name_off).unwrap_or(""),
            type_id: m.type_id,
            bit_offset: m.bit_offset,
            bitfield_size: m.bitfield_size,
        }))
    }
}

fn bad_clone(e: &BtfError) -> BtfError {
    match e {
        BtfError::SectionBounds {
            section,
            offset,
            len,
            total,
        } => BtfError::SectionBounds {
            section,
            offset: *offset,
            len: *len,
            total: *total,
        },
        _ => BtfError::Header {
            msg: "Invalid section offset",
        },
    }
}
