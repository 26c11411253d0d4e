//! `.BTF.ext`: per-section func_info, line_info and CO-RE relocation records.

use serde::Serialize;

use crate::btf::Btf;
use crate::bytes::{Endian, Reader};
use crate::error::BtfError;
use crate::types::TypeId;

/// The decoded `struct btf_ext_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BtfExtHeader {
    /// `0xeB9F`.
    pub magic: u16,
    /// Version, 1.
    pub version: u8,
    /// Flags, 0.
    pub flags: u8,
    /// Header length; 24 without CO-RE relocations, 32 with.
    pub hdr_len: u32,
    /// Offset of func_info, relative to the end of the header.
    pub func_info_off: u32,
    /// Length of func_info in bytes.
    pub func_info_len: u32,
    /// Offset of line_info, relative to the end of the header.
    pub line_info_off: u32,
    /// Length of line_info in bytes.
    pub line_info_len: u32,
    /// Offset of the CO-RE relocations (0 when `hdr_len` < 32).
    pub core_relo_off: u32,
    /// Length of the CO-RE relocations (0 when `hdr_len` < 32).
    pub core_relo_len: u32,
}

/// The records of one kind for one ELF section (e.g. `xdp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtSection<T> {
    /// String offset of the section name in the `.BTF` string table.
    pub name_off: u32,
    /// The section name.
    pub name: String,
    /// The records, in file order.
    pub records: Vec<T>,
}

/// `struct bpf_func_info`: where a function starts and its FUNC type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FuncInfo {
    /// Offset of the function's first instruction, in bytes from the
    /// section start (object files use bytes; divide by 8 for an index).
    pub insn_off: u32,
    /// The FUNC type describing the function.
    pub type_id: TypeId,
}

impl FuncInfo {
    /// Instruction index (`insn_off / 8`).
    pub fn insn_idx(&self) -> u32 {
        self.insn_off / 8
    }
}

/// `struct bpf_line_info`: source position of an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineInfo {
    /// Offset of the instruction in bytes from the section start.
    pub insn_off: u32,
    /// String offset of the source file name.
    pub file_name_off: u32,
    /// String offset of the source line's text.
    pub line_off: u32,
    /// Line number (high 22 bits) and column (low 10 bits).
    pub line_col: u32,
}

impl LineInfo {
    /// Instruction index (`insn_off / 8`).
    pub fn insn_idx(&self) -> u32 {
        self.insn_off / 8
    }
    /// Source line number.
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    /// Source column.
    pub fn col(&self) -> u32 {
        self.line_col & 0x3ff
    }
    /// The source file name, looked up in `btf`'s string table.
    pub fn file_name<'a>(&self, btf: &'a Btf) -> Option<&'a str> {
        btf.string_at(self.file_name_off)
    }
    /// The source line's text, looked up in `btf`'s string table.
    pub fn source_line<'a>(&self, btf: &'a Btf) -> Option<&'a str> {
        btf.string_at(self.line_off)
    }
}

/// `enum bpf_core_relo_kind`: what a CO-RE relocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u32)]
pub enum CoreRelocKind {
    /// Field byte offset.
    FieldByteOffset = 0,
    /// Field size in bytes.
    FieldByteSize = 1,
    /// Whether the field exists in the target.
    FieldExists = 2,
    /// Whether the field is signed.
    FieldSigned = 3,
    /// Left shift for bitfield extraction.
    FieldLshiftU64 = 4,
    /// Right shift for bitfield extraction.
    FieldRshiftU64 = 5,
    /// Local type id.
    TypeIdLocal = 6,
    /// Target type id.
    TypeIdTarget = 7,
    /// Whether the type exists in the target.
    TypeExists = 8,
    /// Type size in bytes.
    TypeSize = 9,
    /// Whether the enumerator exists in the target.
    EnumvalExists = 10,
    /// Enumerator value.
    EnumvalValue = 11,
    /// Whether the type matches in the target.
    TypeMatches = 12,
}

impl CoreRelocKind {
    /// All kinds in numeric order.
    pub const ALL: [CoreRelocKind; 13] = [
        CoreRelocKind::FieldByteOffset,
        CoreRelocKind::FieldByteSize,
        CoreRelocKind::FieldExists,
        CoreRelocKind::FieldSigned,
        CoreRelocKind::FieldLshiftU64,
        CoreRelocKind::FieldRshiftU64,
        CoreRelocKind::TypeIdLocal,
        CoreRelocKind::TypeIdTarget,
        CoreRelocKind::TypeExists,
        CoreRelocKind::TypeSize,
        CoreRelocKind::EnumvalExists,
        CoreRelocKind::EnumvalValue,
        CoreRelocKind::TypeMatches,
    ];

    /// The kind numbered `n`.
    pub fn from_u32(n: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }

    /// libbpf's name for the kind (as in its relocation log messages).
    pub fn name(self) -> &'static str {
        match self {
            CoreRelocKind::FieldByteOffset => "byte_off",
            CoreRelocKind::FieldByteSize => "byte_sz",
            CoreRelocKind::FieldExists => "field_exists",
            CoreRelocKind::FieldSigned => "signed",
            CoreRelocKind::FieldLshiftU64 => "lshift_u64",
            CoreRelocKind::FieldRshiftU64 => "rshift_u64",
            CoreRelocKind::TypeIdLocal => "local_type_id",
            CoreRelocKind::TypeIdTarget => "target_type_id",
            CoreRelocKind::TypeExists => "type_exists",
            CoreRelocKind::TypeMatches => "type_matches",
            CoreRelocKind::TypeSize => "type_size",
            CoreRelocKind::EnumvalExists => "enumval_exists",
            CoreRelocKind::EnumvalValue => "enumval_value",
        }
    }

    /// The UAPI constant name (`BPF_CORE_FIELD_BYTE_OFFSET`, ...).
    pub fn uapi_name(self) -> &'static str {
        match self {
            CoreRelocKind::FieldByteOffset => "BPF_CORE_FIELD_BYTE_OFFSET",
            CoreRelocKind::FieldByteSize => "BPF_CORE_FIELD_BYTE_SIZE",
            CoreRelocKind::FieldExists => "BPF_CORE_FIELD_EXISTS",
            CoreRelocKind::FieldSigned => "BPF_CORE_FIELD_SIGNED",
            CoreRelocKind::FieldLshiftU64 => "BPF_CORE_FIELD_LSHIFT_U64",
            CoreRelocKind::FieldRshiftU64 => "BPF_CORE_FIELD_RSHIFT_U64",
            CoreRelocKind::TypeIdLocal => "BPF_CORE_TYPE_ID_LOCAL",
            CoreRelocKind::TypeIdTarget => "BPF_CORE_TYPE_ID_TARGET",
            CoreRelocKind::TypeExists => "BPF_CORE_TYPE_EXISTS",
            CoreRelocKind::TypeSize => "BPF_CORE_TYPE_SIZE",
            CoreRelocKind::EnumvalExists => "BPF_CORE_ENUMVAL_EXISTS",
            CoreRelocKind::EnumvalValue => "BPF_CORE_ENUMVAL_VALUE",
            CoreRelocKind::TypeMatches => "BPF_CORE_TYPE_MATCHES",
        }
    }

    /// True for the field-based kinds (0..=5).
    pub fn is_field_based(self) -> bool {
        (self as u32) <= 5
    }

    /// True for the type-based kinds (6..=9 and 12).
    pub fn is_type_based(self) -> bool {
        matches!(self as u32, 6..=9 | 12)
    }

    /// True for the enumerator-based kinds (10, 11).
    pub fn is_enumval_based(self) -> bool {
        matches!(self as u32, 10 | 11)
    }
}

impl std::fmt::Display for CoreRelocKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `struct bpf_core_relo`: one CO-RE relocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CoreReloc {
    /// Offset in bytes of the instruction to patch.
    pub insn_off: u32,
    /// Local type id the access starts from.
    pub type_id: TypeId,
    /// String offset of the access spec (e.g. `"0:1:2"`).
    pub access_str_off: u32,
    /// Raw kind number; see [`CoreReloc::kind`].
    pub kind_raw: u32,
}

impl CoreReloc {
    /// Instruction index (`insn_off / 8`).
    pub fn insn_idx(&self) -> u32 {
        self.insn_off / 8
    }
    /// The relocation kind, `None` when unknown.
    pub fn kind(&self) -> Option<CoreRelocKind> {
        CoreRelocKind::from_u32(self.kind_raw)
    }
    /// The access spec string, looked up in `btf`'s string table.
    pub fn access_str<'a>(&self, btf: &'a Btf) -> Option<&'a str> {
        btf.string_at(self.access_str_off)
    }
}

/// A parsed `.BTF.ext` blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BtfExt {
    /// The decoded header.
    pub header: BtfExtHeader,
    /// Byte order of the blob.
    pub endian: Endian,
    /// Size of one func_info record (0 when the subsection is empty).
    pub func_info_rec_size: u32,
    /// Size of one line_info record (0 when the subsection is empty).
    pub line_info_rec_size: u32,
    /// Size of one CO-RE relocation record (0 when absent).
    pub core_relo_rec_size: u32,
    /// func_info grouped by ELF section.
    pub func_info: Vec<ExtSection<FuncInfo>>,
    /// line_info grouped by ELF section.
    pub line_info: Vec<ExtSection<LineInfo>>,
    /// CO-RE relocations grouped by ELF section.
    pub core_relos: Vec<ExtSection<CoreReloc>>,
}

const EXT_MIN_HDR: u32 = 24;
const EXT_CORE_HDR: u32 = 32;

fn ext_err(msg: impl Into<String>, offset: usize) -> BtfError {
    BtfError::Ext {
        msg: msg.into(),
        offset,
    }
}

impl BtfExt {
    /// Parse `.BTF.ext` bytes; section names and strings are resolved in
    /// `btf`, the object's `.BTF`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let endian = match (data.first(), data.get(1)) {
            (Some(0x9f), Some(0xeb)) => Endian::Little,
            (Some(0xeb), Some(0x9f)) => Endian::Big,
            _ => return Err(ext_err("Invalid magic", 0)),
        };
        let mut r = Reader::new(data, 0, endian);
        r.need(8, "BTF.ext header")?;
        let mb = r.bytes(2, "magic")?;
        let magic = endian.u16([mb[0], mb[1]]);
        let vf = r.bytes(2, "version")?;
        let (version, flags) = (vf[0], vf[1]);
        if version != 1 {
            return Err(ext_err("Unsupported version", 2));
        }
        if flags != 0 {
            return Err(ext_err("Unsupported flags", 3));
        }
        let hdr_len = r.u32("hdr_len")?;
        if hdr_len < EXT_MIN_HDR || data.len() < hdr_len as usize {
            return Err(ext_err(format!("Invalid hdr_len {hdr_len}"), 4));
        }
        let func_info_off = r.u32("func_info_off")?;
        let func_info_len = r.u32("func_info_len")?;
        let line_info_off = r.u32("line_info_off")?;
        let line_info_len = r.u32("line_info_len")?;
        let (core_relo_off, core_relo_len) = if hdr_len >= EXT_CORE_HDR {
            (r.u32("core_relo_off")?, r.u32("core_relo_len")?)
        } else {
            (0, 0)
        };
        let header = BtfExtHeader {
            magic,
            version,
            flags,
            hdr_len,
            func_info_off,
            func_info_len,
            line_info_off,
            line_info_len,
            core_relo_off,
            core_relo_len,
        };
        let sub = |off: u32, len: u32, what: &str| -> Result<(&[u8], usize), BtfError> {
            let start = u64::from(hdr_len) + u64::from(off);
            let end = start + u64::from(len);
            if end > data.len() as u64 {
                return Err(ext_err(
                    format!(
                        "{what} section [{start}, {end}) exceeds the {}-byte blob",
                        data.len()
                    ),
                    4,
                ));
            }
            let (s, e) = (start as usize, end as usize);
            Ok((data.get(s..e).unwrap_or(&[]), s))
        };
        let (fi, fi_base) = sub(func_info_off, func_info_len, "func_info")?;
        let (li, li_base) = sub(line_info_off, line_info_len, "line_info")?;
        let (fi_rec, func_info) = parse_info(fi, fi_base, endian, btf, 8, "func_info", |r| {
            Ok(FuncInfo {
                insn_off: r.u32("func_info insn_off")?,
                type_id: r.u32("func_info type_id")?,
            })
        })?;
        let (li_rec, line_info) = parse_info(li, li_base, endian, btf, 16, "line_info", |r| {
            Ok(LineInfo {
                insn_off: r.u32("line_info insn_off")?,
                file_name_off: r.u32("line_info file_name_off")?,
                line_off: r.u32("line_info line_off")?,
                line_col: r.u32("line_info line_col")?,
            })
        })?;
        let (cr_rec, core_relos) = if hdr_len >= EXT_CORE_HDR {
            let (cr, cr_base) = sub(core_relo_off, core_relo_len, "core_relo")?;
            parse_info(cr, cr_base, endian, btf, 16, "core_relo", |r| {
                Ok(CoreReloc {
                    insn_off: r.u32("core_relo insn_off")?,
                    type_id: r.u32("core_relo type_id")?,
                    access_str_off: r.u32("core_relo access_str_off")?,
                    kind_raw: r.u32("core_relo kind")?,
                })
            })?
        } else {
            (0, Vec::new())
        };
        Ok(BtfExt {
            header,
            endian,
            func_info_rec_size: fi_rec,
            line_info_rec_size: li_rec,
            core_relo_rec_size: cr_rec,
            func_info,
            line_info,
            core_relos,
        })
    }

    /// Total number of func_info records.
    pub fn func_info_count(&self) -> usize {
        self.func_info.iter().map(|s| s.records.len()).sum()
    }

    /// Total number of line_info records.
    pub fn line_info_count(&self) -> usize {
        self.line_info.iter().map(|s| s.records.len()).sum()
    }

    /// Total number of CO-RE relocations.
    pub fn core_relo_count(&self) -> usize {
        self.core_relos.iter().map(|s| s.records.len()).sum()
    }
}

/// Decode one subsection: `rec_size`, then `{sec_name_off, num_info,
/// records[num_info]}` until the end. Records longer than `min_rec` have
/// their tail skipped (forward compatibility).
fn parse_info<T>(
    sec: &[u8],
    base: usize,
    endian: Endian,
    btf: &Btf,
    min_rec: u32,
    what: &'static str,
    mut rec: impl FnMut(&mut Reader<'_>) -> Result<T, BtfError>,
) -> Result<(u32, Vec<ExtSection<T>>), BtfError> {
    if sec.is_empty() {
        return Ok((0, Vec::new()));
    }
    let mut r = Reader::new(sec, base, endian);
    let rec_size = r.u32(what)?;
    if rec_size < min_rec || rec_size % 4 != 0 {
        return Err(ext_err(
            format!("{what} record size {rec_size} is invalid (minimum {min_rec}, multiple of 4)"),
            base,
        ));
    }
    let mut out = Vec::new();
    while !r.is_empty() {
        let at = r.offset();
        let name_off = r.u32("section name_off")?;
        let num = r.u32("section num_info")?;
        if num == 0 {
            return Err(ext_err(format!("{what} section has no records"), at));
        }
        let name = btf.string_at(name_off).ok_or_else(|| {
            ext_err(
                format!("{what} section name offset {name_off} is invalid"),
                at,
            )
        })?;
        let bytes = u64::from(num) * u64::from(rec_size);
        if bytes > r.remaining() as u64 {
            return Err(BtfError::Truncated {
                what,
                offset: r.offset(),
                needed: usize::try_from(bytes).unwrap_or(usize::MAX),
                available: r.remaining(),
            });
        }
        let mut records = Vec::with_capacity(num as usize);
        for _ in 0..num {
            let body = r.bytes(rec_size as usize, what)?;
            let mut rr = Reader::new(body, r.offset() - body.len(), endian);
            records.push(rec(&mut rr)?);
        }
        out.push(ExtSection {
            name_off,
            name: name.to_string(),
            records,
        });
    }
    Ok((rec_size, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloc_kinds_and_line_col() {
        assert_eq!(
            CoreRelocKind::from_u32(0),
            Some(CoreRelocKind::FieldByteOffset)
        );
        assert_eq!(
            CoreRelocKind::from_u32(12),
            Some(CoreRelocKind::TypeMatches)
        );
        assert_eq!(CoreRelocKind::from_u32(13), None);
        assert!(CoreRelocKind::FieldRshiftU64.is_field_based());
        assert!(CoreRelocKind::TypeMatches.is_type_based());
        assert!(CoreRelocKind::EnumvalValue.is_enumval_based());
        assert_eq!(
            CoreRelocKind::TypeIdLocal.uapi_name(),
            "BPF_CORE_TYPE_ID_LOCAL"
        );
        let li = LineInfo {
            insn_off: 16,
            file_name_off: 0,
            line_off: 0,
            line_col: (42 << 10) | 7,
        };
        assert_eq!((li.insn_idx(), li.line(), li.col()), (2, 42, 7));
    }
}
