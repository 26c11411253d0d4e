//! The Linux kernel's BTF verifier rules, reimplemented from its observable
//! behaviour. Failures carry the kernel's message text.
//!
//! The rules are those of Linux 6.12, plus the later acceptance of
//! kind_flag on TYPE_TAG and DECL_TAG (attribute tags), which current
//! kernels' own vmlinux BTF uses.
//!
//! Like the kernel, checking happens in three passes: header and sections,
//! then every type's own record ("meta" checks, in id order), then the
//! references between types ("resolve" checks, in id order).

use crate::btf::{Btf, MAX_RESOLVE_DEPTH};
use crate::error::BtfError;
use crate::types::{
    Kind, Member, Type, TypeData, TypeId, INT_BOOL, INT_CHAR, INT_SIGNED, MAX_NAME_OFFSET,
    MAX_TYPE_ID,
};

/// `BTF_INFO_MASK`: bits of `info` that may be set.
const INFO_MASK: u32 = 0x9f00_ffff;
/// `BTF_INT_MASK`: bits of an INT's data word that may be set.
const INT_MASK: u32 = 0x0fff_ffff;
/// Longest identifier the kernel accepts (`KSYM_NAME_LEN`).
const KSYM_NAME_LEN: usize = 512;
/// The kernel's `sizeof(void *)`.
const KERNEL_PTR_SIZE: u32 = 8;

type VResult = Result<(), BtfError>;

fn fail(id: TypeId, msg: impl Into<String>) -> VResult {
    Err(BtfError::invalid(id, msg))
}

fn roundup_bytes(bits: u64) -> u64 {
    bits.div_ceil(8)
}

impl Btf {
    /// Check this BTF against the Linux kernel's verifier rules (as of
    /// 6.12). The first failure is returned as [`BtfError::Invalid`] with the
    /// offending type id (0 for header-level problems) and the kernel's
    /// message, e.g. `[3] Member exceeds struct_size`.
    pub fn validate(&self) -> Result<(), BtfError> {
        let v = Validator { btf: self };
        v.header()?;
        v.strings()?;
        if self.header().type_off & 3 != 0 {
            return fail(0, "Unaligned type_off");
        }
        if self.base().is_none() && self.header().type_len == 0 {
            return fail(0, "No type found");
        }
        for (id, t) in self.types() {
            v.meta(id, t)?;
        }
        for (id, t) in self.types() {
            v.resolve(id, t)?;
        }
        Ok(())
    }
}

struct Validator<'a> {
    btf: &'a Btf,
}

impl Validator<'_> {
    fn header(&self) -> VResult {
        let h = self.btf.header();
        if self.btf.hdr_tail_nonzero() {
            return fail(0, "Unsupported btf_header");
        }
        if h.flags != 0 {
            return fail(0, "Unsupported flags");
        }
        let total = self.btf.data_len() as u64;
        if self.btf.base().is_none() && total == u64::from(h.hdr_len) {
            return fail(0, "No data");
        }
        let mut secs = [(h.type_off, h.type_len), (h.str_off, h.str_len)];
        secs.sort();
        let expected = total - u64::from(h.hdr_len);
        let mut sum: u64 = 0;
        for (off, len) in secs {
            let (off, len) = (u64::from(off), u64::from(len));
            if expected < off {
                return fail(0, "Invalid section offset");
            }
            if sum < off {
                return fail(0, "Unsupported section found");
            }
            if sum > off {
                return fail(0, "Section overlap found");
            }
            if expected - sum < len {
                return fail(0, "Total section length too long");
            }
            sum += len;
        }
        if sum != expected {
            return fail(0, "Unsupported section found");
        }
        Ok(())
    }

    fn strings(&self) -> VResult {
        let h = self.btf.header();
        if h.str_range().end != self.btf.data_len() as u64 {
            return fail(0, "String section is not at the end");
        }
        let s = self.btf.string_section();
        if self.btf.base().is_some() && s.is_empty() {
            return Ok(());
        }
        match (s.first(), s.last()) {
            (Some(&first), Some(&0)) if (s.len() - 1) as u64 <= u64::from(MAX_NAME_OFFSET) => {
                if self.btf.base().is_none() && first != 0 {
                    return fail(0, "Invalid string section");
                }
                Ok(())
            }
            _ => fail(0, "Invalid string section"),
        }
    }

    /// `btf_name_offset_valid`.
    fn name_off_valid(&self, off: u32) -> bool {
        off <= MAX_NAME_OFFSET && off < self.btf.strings_end()
    }

    fn raw_str(&self, off: u32) -> &[u8] {
        // string_at requires UTF-8; the kernel works on bytes.
        let btf = self.btf;
        let mut b = btf;
        while off < b.start_str_off() {
            match b.base() {
                Some(base) => b = base,
                None => return &[],
            }
        }
        let rel = (off - b.start_str_off()) as usize;
        let tail = b.string_section().get(rel..).unwrap_or(&[]);
        let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        tail.get(..end).unwrap_or(&[])
    }

    /// `btf_name_valid_identifier`.
    fn ident_ok(&self, off: u32) -> bool {
        let s = self.raw_str(off);
        let ok = |c: u8, first: bool| {
            (if first {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }) || c == b'_'
                || c == b'.'
        };
        match s.split_first() {
            Some((&c, rest)) => {
                ok(c, true) && rest.iter().all(|&c| ok(c, false)) && s.len() < KSYM_NAME_LEN
            }
            None => false,
        }
    }

    /// `btf_name_valid_section`.
    fn section_name_ok(&self, off: u32) -> bool {
        let s = self.raw_str(off);
        !s.is_empty() && s.len() < KSYM_NAME_LEN && s.iter().all(|&c| (0x20..0x7f).contains(&c))
    }

    fn meta(&self, id: TypeId, t: &Type) -> VResult {
        if !self.name_off_valid(t.name_off) {
            return fail(id, format!("Invalid name_offset:{}", t.name_off));
        }
        if t.info & !INFO_MASK != 0 {
            return fail(id, format!("Invalid btf_info:{:x}", t.info));
        }
        let vlen = t.vlen();
        let kflag = t.kind_flag();
        let named_ident = t.name_off != 0 && self.ident_ok(t.name_off);
        match &t.data {
            TypeData::Int(i) => {
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if i.raw & !INT_MASK != 0 {
                    return fail(id, format!("Invalid int_data:{:x}", i.raw));
                }
                let nr_bits = i.nr_bits() + i.bits_offset();
                if nr_bits > 128 {
                    return fail(id, "nr_bits exceeds 128");
                }
                if roundup_bytes(u64::from(nr_bits)) > u64::from(t.size_or_type) {
                    return fail(id, "nr_bits exceeds type_size");
                }
                if !matches!(i.encoding(), 0 | INT_SIGNED | INT_CHAR | INT_BOOL) {
                    return fail(id, "Unsupported encoding");
                }
            }
            TypeData::Ptr
            | TypeData::Typedef
            | TypeData::Volatile
            | TypeData::Const
            | TypeData::Restrict
            | TypeData::TypeTag => {
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                // Kernels from 6.14 accept kind_flag on TYPE_TAG: it marks
                // the tag as an `__attribute__` rather than a type tag.
                if kflag && t.kind() != Kind::TypeTag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if t.size_or_type > MAX_TYPE_ID {
                    return fail(id, "Invalid type_id");
                }
                let name_ok = match t.kind() {
                    Kind::Typedef => named_ident,
                    Kind::TypeTag => !self.raw_str(t.name_off).is_empty(),
                    _ => t.name_off == 0,
                };
                if !name_ok {
                    return fail(id, "Invalid name");
                }
            }
            TypeData::Array(a) => {
                if t.name_off != 0 {
                    return fail(id, "Invalid name");
                }
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if t.size_or_type != 0 {
                    return fail(id, "size != 0");
                }
                if a.elem_type == 0 || a.elem_type > MAX_TYPE_ID {
                    return fail(id, "Invalid elem");
                }
                if a.index_type == 0 || a.index_type > MAX_TYPE_ID {
                    return fail(id, "Invalid index");
                }
            }
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                if t.name_off != 0 && !named_ident {
                    return fail(id, "Invalid name");
                }
                let is_union = t.kind() == Kind::Union;
                let mut last = 0;
                for m in ms {
                    if !self.name_off_valid(m.name_off) {
                        return fail(id, format!("Invalid member name_offset:{}", m.name_off));
                    }
                    if m.name_off != 0 && !self.ident_ok(m.name_off) {
                        return fail(id, "Invalid name");
                    }
                    if m.type_id == 0 || m.type_id > MAX_TYPE_ID {
                        return fail(id, "Invalid type_id");
                    }
                    let off = m.bit_offset;
                    if (is_union && off != 0) || last > off {
                        return fail(id, "Invalid member bits_offset");
                    }
                    if roundup_bytes(u64::from(off)) > u64::from(t.size_or_type) {
                        return fail(id, "Member bits_offset exceeds its struct size");
                    }
                    last = off;
                }
            }
            TypeData::Enum(_) | TypeData::Enum64(_) => {
                let size = t.size_or_type;
                if size > 8 || !size.is_power_of_two() {
                    return fail(id, "Unexpected size");
                }
                if t.name_off != 0 && !named_ident {
                    return fail(id, "Invalid name");
                }
                let names: Vec<u32> = match &t.data {
                    TypeData::Enum(v) => v.iter().map(|e| e.name_off).collect(),
                    TypeData::Enum64(v) => v.iter().map(|e| e.name_off).collect(),
                    _ => Vec::new(),
                };
                for off in names {
                    if !self.name_off_valid(off) {
                        return fail(id, format!("Invalid name_offset:{off}"));
                    }
                    if off == 0 || !self.ident_ok(off) {
                        return fail(id, "Invalid name");
                    }
                }
            }
            TypeData::Fwd => {
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                if t.size_or_type != 0 {
                    return fail(id, "type != 0");
                }
                if !named_ident {
                    return fail(id, "Invalid name");
                }
            }
            TypeData::Func => {
                if !named_ident {
                    return fail(id, "Invalid name");
                }
                if vlen > 1 {
                    return fail(id, "Invalid func linkage");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
            }
            TypeData::FuncProto(_) => {
                if t.name_off != 0 {
                    return fail(id, "Invalid name");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
            }
            TypeData::Var { linkage } => {
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if !named_ident {
                    return fail(id, "Invalid name");
                }
                if t.size_or_type == 0 || t.size_or_type > MAX_TYPE_ID {
                    return fail(id, "Invalid type_id");
                }
                if *linkage > 1 {
                    return fail(id, "Linkage not supported");
                }
            }
            TypeData::Datasec(vs) => {
                let size = u64::from(t.size_or_type);
                if size == 0 {
                    return fail(id, "size == 0");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if t.name_off == 0 || !self.section_name_ok(t.name_off) {
                    return fail(id, "Invalid name");
                }
                let (mut last_end, mut sum) = (0u64, 0u64);
                for v in vs {
                    if v.type_id == 0 || v.type_id > MAX_TYPE_ID {
                        return fail(id, "Invalid type_id");
                    }
                    let (off, sz) = (u64::from(v.offset), u64::from(v.size));
                    if off < last_end || off >= size {
                        return fail(id, "Invalid offset");
                    }
                    if sz == 0 || sz > size {
                        return fail(id, "Invalid size");
                    }
                    last_end = off + sz;
                    if last_end > size {
                        return fail(id, "Invalid offset+size");
                    }
                    sum += sz;
                }
                if size < sum {
                    return fail(id, "Invalid btf_info size");
                }
            }
            TypeData::Float => {
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                if kflag {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if !matches!(t.size_or_type, 2 | 4 | 8 | 12 | 16) {
                    return fail(id, "Invalid type_size");
                }
            }
            TypeData::DeclTag { component_idx } => {
                if self.raw_str(t.name_off).is_empty() {
                    return fail(id, "Invalid value");
                }
                if vlen != 0 {
                    return fail(id, "vlen != 0");
                }
                // kind_flag (attribute form, 6.14+) is only meaningful for
                // whole declarations.
                if kflag && *component_idx != -1 {
                    return fail(id, "Invalid btf_info kind_flag");
                }
                if *component_idx < -1 {
                    return fail(id, "Invalid component_idx");
                }
            }
        }
        Ok(())
    }

    /// The kernel's `btf_type_by_id`: id 0 is the (valid) void type.
    fn exists(&self, id: TypeId) -> bool {
        id == 0 || self.btf.type_by_id(id).is_some()
    }

    /// VAR, DECL_TAG and DATASEC may only be referred to from specific places.
    fn source_only(&self, id: TypeId) -> bool {
        self.btf
            .type_by_id(id)
            .is_some_and(|t| matches!(t.kind(), Kind::Var | Kind::DeclTag | Kind::Datasec))
    }

    /// void, FWD, FUNC, FUNC_PROTO and DECL_TAG have no size.
    fn nosize_or_null(&self, id: TypeId) -> bool {
        match self.btf.type_by_id(id) {
            None => true,
            Some(t) => matches!(
                t.kind(),
                Kind::Fwd | Kind::Func | Kind::FuncProto | Kind::DeclTag
            ),
        }
    }

    /// Follow modifiers, typedefs and VARs from `id`.
    fn skip_mods(&self, mut id: TypeId, origin: TypeId) -> Result<TypeId, BtfError> {
        for _ in 0..=MAX_RESOLVE_DEPTH {
            match self.btf.type_by_id(id) {
                Some(t)
                    if t.kind().is_modifier() || matches!(t.kind(), Kind::Typedef | Kind::Var) =>
                {
                    id = t.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(BtfError::invalid(origin, "Loop detected"))
    }

    /// The kernel's `btf_type_id_size`: the sized type behind `id` and its
    /// size, or `None` when it has none.
    fn type_size(&self, id: TypeId, origin: TypeId) -> Result<Option<(TypeId, u32)>, BtfError> {
        self.type_size_depth(id, origin, 0)
    }

    fn type_size_depth(
        &self,
        id: TypeId,
        origin: TypeId,
        depth: usize,
    ) -> Result<Option<(TypeId, u32)>, BtfError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::invalid(origin, "Loop detected"));
        }
        if self.nosize_or_null(id) {
            return Ok(None);
        }
        let id = self.skip_mods(id, origin)?;
        let Some(t) = self.btf.type_by_id(id) else {
            return Ok(None);
        };
        Ok(match &t.data {
            TypeData::Ptr => Some((id, KERNEL_PTR_SIZE)),
            TypeData::Array(a) => match self.type_size_depth(a.elem_type, origin, depth + 1)? {
                Some((_, es)) => u32::try_from(u64::from(es) * u64::from(a.nelems))
                    .ok()
                    .map(|s| (id, s)),
                None => None,
            },
            _ if t.kind().has_size() => Some((id, t.size_or_type)),
            _ => None,
        })
    }

    fn resolve(&self, id: TypeId, t: &Type) -> VResult {
        match &t.data {
            TypeData::Ptr
            | TypeData::Typedef
            | TypeData::Volatile
            | TypeData::Const
            | TypeData::Restrict
            | TypeData::TypeTag => {
                let next = t.size_or_type;
                if !self.exists(next) || self.source_only(next) {
                    return fail(id, "Invalid type_id");
                }
                if self.type_size(next, id)?.is_none() {
                    let r = self.skip_mods(next, id)?;
                    let ok = r == 0
                        || self
                            .btf
                            .type_by_id(r)
                            .is_some_and(|rt| matches!(rt.kind(), Kind::Fwd | Kind::FuncProto));
                    if !ok {
                        return fail(id, "Invalid type_id");
                    }
                }
            }
            TypeData::Array(a) => {
                if self.nosize_or_null(a.index_type) || self.source_only(a.index_type) {
                    return fail(id, "Invalid index");
                }
                let idx_ok = match self.type_size(a.index_type, id)? {
                    Some((rid, _)) => self.btf.type_by_id(rid).is_some_and(int_is_regular),
                    None => false,
                };
                if !idx_ok {
                    return fail(id, "Invalid index");
                }
                if self.nosize_or_null(a.elem_type) || self.source_only(a.elem_type) {
                    return fail(id, "Invalid elem");
                }
                let Some((eid, esize)) = self.type_size(a.elem_type, id)? else {
                    return fail(id, "Invalid elem");
                };
                if let Some(et) = self.btf.type_by_id(eid) {
                    if et.kind() == Kind::Int && !int_is_regular(et) {
                        return fail(id, "Invalid array of int");
                    }
                }
                if a.nelems != 0 && esize > u32::MAX / a.nelems {
                    return fail(id, "Array size overflows U32_MAX");
                }
            }
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                for m in ms {
                    if self.nosize_or_null(m.type_id) || self.source_only(m.type_id) {
                        return fail(id, "Invalid member");
                    }
                    self.check_member(id, t, m)?;
                }
            }
            TypeData::Var { .. } => {
                let next = t.size_or_type;
                if !self.exists(next) || self.source_only(next) {
                    return fail(id, "Invalid type_id");
                }
                if self.type_size(next, id)?.is_none() {
                    return fail(id, "Invalid type_id");
                }
            }
            TypeData::Datasec(vs) => {
                for v in vs {
                    match self.btf.type_by_id(v.type_id) {
                        Some(vt) if vt.kind() == Kind::Var => {
                            let Some((_, size)) = self.type_size(vt.size_or_type, id)? else {
                                return fail(id, "Invalid type");
                            };
                            if v.size < size {
                                return fail(id, "Invalid size");
                            }
                        }
                        _ => return fail(id, "Not a VAR kind member"),
                    }
                }
            }
            TypeData::DeclTag { component_idx } => {
                let next = self.btf.type_by_id(t.size_or_type);
                let Some(nt) = next.filter(|nt| {
                    matches!(
                        nt.kind(),
                        Kind::Func | Kind::Struct | Kind::Union | Kind::Var | Kind::Typedef
                    )
                }) else {
                    return fail(id, "Invalid type_id");
                };
                if *component_idx != -1 {
                    let vlen = match nt.kind() {
                        Kind::Var | Kind::Typedef => return fail(id, "Invalid component_idx"),
                        Kind::Struct | Kind::Union => nt.vlen(),
                        _ => self
                            .btf
                            .type_by_id(nt.size_or_type)
                            .map(Type::vlen)
                            .unwrap_or(0),
                    };
                    if *component_idx as u32 >= vlen {
                        return fail(id, "Invalid component_idx");
                    }
                }
            }
            TypeData::FuncProto(ps) => self.func_proto(id, t, ps)?,
            TypeData::Func => {
                let proto = self
                    .btf
                    .type_by_id(t.size_or_type)
                    .filter(|p| p.kind() == Kind::FuncProto);
                let Some(proto) = proto else {
                    return fail(id, "Invalid type_id");
                };
                for (i, p) in proto.params().iter().enumerate() {
                    if p.name_off == 0 && p.type_id != 0 {
                        return fail(id, format!("Invalid arg#{}", i + 1));
                    }
                }
            }
            TypeData::Int(_)
            | TypeData::Enum(_)
            | TypeData::Enum64(_)
            | TypeData::Fwd
            | TypeData::Float => {}
        }
        Ok(())
    }

    fn func_proto(&self, id: TypeId, t: &Type, ps: &[crate::types::Param]) -> VResult {
        let ret = t.size_or_type;
        if ret != 0
            && (!self.exists(ret) || self.source_only(ret) || self.type_size(ret, id)?.is_none())
        {
            return fail(id, "Invalid return type");
        }
        let mut n = ps.len();
        if let Some(last) = ps.last() {
            if last.type_id == 0 {
                if last.name_off != 0 {
                    return fail(id, format!("Invalid arg#{n}"));
                }
                n -= 1;
            }
        }
        for (i, p) in ps.iter().take(n).enumerate() {
            let bad = !self.exists(p.type_id)
                || self.source_only(p.type_id)
                || (p.name_off != 0
                    && (!self.name_off_valid(p.name_off) || !self.ident_ok(p.name_off)))
                || self.type_size(p.type_id, id)?.is_none();
            if bad {
                return fail(id, format!("Invalid arg#{}", i + 1));
            }
        }
        Ok(())
    }

    /// The kernel's per-kind `check_member` / `check_kflag_member`.
    fn check_member(&self, id: TypeId, st: &Type, m: &Member) -> VResult {
        let kflag = st.kind_flag();
        let struct_size = st.size_or_type;
        let mut mid = m.type_id;
        let mt0 = self.btf.type_by_id(mid);
        if mt0.is_some_and(|t| t.kind().is_modifier() || t.kind() == Kind::Typedef) {
            match self.type_size(mid, id)? {
                Some((rid, _)) => mid = rid,
                None => return fail(id, "Invalid member"),
            }
        }
        let Some(mt) = self.btf.type_by_id(mid) else {
            return fail(id, "Invalid member");
        };
        let byte_aligned_fit = |bit_off: u32, size: u32| -> VResult {
            if !bit_off.is_multiple_of(8) {
                return fail(id, "Member is not byte aligned");
            }
            if struct_size.wrapping_sub(bit_off / 8) < size {
                return fail(id, "Member exceeds struct_size");
            }
            Ok(())
        };
        let generic_kflag = || -> VResult {
            if kflag && m.bitfield_size != 0 {
                return fail(id, "Invalid member bitfield_size");
            }
            Ok(())
        };
        match &mt.data {
            TypeData::Int(i) => {
                if kflag {
                    if !int_is_regular(mt) {
                        return fail(id, "Invalid member base type");
                    }
                    let mut nr_bits = m.bitfield_size;
                    let off = m.bit_offset;
                    if nr_bits == 0 {
                        if !off.is_multiple_of(8) {
                            return fail(id, "Invalid member offset");
                        }
                        nr_bits = i.nr_bits();
                    } else if nr_bits > i.nr_bits() {
                        return fail(id, "Invalid member bitfield_size");
                    }
                    let bytes_off = off / 8;
                    let copy = nr_bits + off % 8;
                    if copy > 128 {
                        return fail(id, "nr_copy_bits exceeds 128");
                    }
                    if struct_size < bytes_off
                        || u64::from(struct_size - bytes_off) < roundup_bytes(u64::from(copy))
                    {
                        return fail(id, "Member exceeds struct_size");
                    }
                } else {
                    let Some(off) = m.raw_offset.checked_add(i.bits_offset()) else {
                        return fail(id, "bits_offset exceeds U32_MAX");
                    };
                    let bytes_off = off / 8;
                    let copy = i.nr_bits() + off % 8;
                    if copy > 128 {
                        return fail(id, "nr_copy_bits exceeds 128");
                    }
                    if struct_size < bytes_off
                        || u64::from(struct_size - bytes_off) < roundup_bytes(u64::from(copy))
                    {
                        return fail(id, "Member exceeds struct_size");
                    }
                }
            }
            TypeData::Enum(_) | TypeData::Enum64(_) => {
                if kflag {
                    let off = m.bit_offset;
                    let mut nr_bits = m.bitfield_size;
                    if nr_bits == 0 {
                        if !off.is_multiple_of(8) {
                            return fail(id, "Member is not byte aligned");
                        }
                        nr_bits = 32;
                    } else if nr_bits > 32 {
                        return fail(id, "Invalid member bitfield_size");
                    }
                    if u64::from(struct_size) < roundup_bytes(u64::from(off) + u64::from(nr_bits)) {
                        return fail(id, "Member exceeds struct_size");
                    }
                } else {
                    byte_aligned_fit(m.raw_offset, mt.size_or_type)?;
                }
            }
            TypeData::Ptr => {
                generic_kflag()?;
                byte_aligned_fit(m.bit_offset, KERNEL_PTR_SIZE)?;
            }
            TypeData::Array(_) => {
                generic_kflag()?;
                let size = self.type_size(mid, id)?.map(|(_, s)| s).unwrap_or(0);
                byte_aligned_fit(m.bit_offset, size)?;
            }
            TypeData::Struct(_) | TypeData::Union(_) => {
                generic_kflag()?;
                byte_aligned_fit(m.bit_offset, mt.size_or_type)?;
            }
            TypeData::Float => {
                generic_kflag()?;
                let align_bits = u64::from(KERNEL_PTR_SIZE.min(mt.size_or_type)) * 8;
                if align_bits == 0 || u64::from(m.bit_offset) % align_bits != 0 {
                    return fail(id, "Member is not properly aligned");
                }
                if u64::from(m.bit_offset / 8) + u64::from(mt.size_or_type) > u64::from(struct_size)
                {
                    return fail(id, "Member exceeds struct_size");
                }
            }
            _ => return fail(id, "Invalid member"),
        }
        Ok(())
    }
}

/// `btf_type_int_is_regular`: a whole number of bytes (1, 2, 4, 8 or 16)
/// and no bit offset.
fn int_is_regular(t: &Type) -> bool {
    match &t.data {
        TypeData::Int(i) => {
            let bits = i.nr_bits();
            bits % 8 == 0 && i.bits_offset() == 0 && matches!(bits / 8, 1 | 2 | 4 | 8 | 16)
        }
        _ => false,
    }
}
