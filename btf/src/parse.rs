//! Decoding of the type section into [`Type`] records.

use crate::bytes::{Endian, Reader};
use crate::error::BtfError;
use crate::types::{
    ArrayInfo, Enum64Value, EnumValue, IntInfo, Kind, Member, Param, Type, TypeData, TypeId,
    VarSecinfo, MAX_TYPE_ID,
};

/// Size of the common `struct btf_type` prefix.
const TYPE_HDR: usize = 12;

/// Decode every type in `sec`, the type section found at blob offset `base`.
///
/// `first_id` is the id given to the first type (1, or one past the base
/// BTF's last id for split BTF). Never allocates more than the input can
/// back: every vector is sized only after its bytes are known to exist.
pub(crate) fn parse_types(
    sec: &[u8],
    base: usize,
    endian: Endian,
    first_id: TypeId,
) -> Result<Vec<Type>, BtfError> {
    let mut r = Reader::new(sec, base, endian);
    // Each type takes at least 12 bytes: a safe capacity hint.
    let mut types = Vec::with_capacity(sec.len() / 24);
    let mut id = first_id;
    while !r.is_empty() {
        if id > MAX_TYPE_ID {
            return Err(BtfError::TooManyTypes { offset: r.offset() });
        }
        types.push(parse_one(&mut r, id)?);
        id += 1;
    }
    Ok(types)
}

fn parse_one(r: &mut Reader<'_>, id: TypeId) -> Result<Type, BtfError> {
    let offset = r.offset();
    r.need(TYPE_HDR, "btf_type")?;
    let name_off = r.u32("btf_type.name_off")?;
    let info = r.u32("btf_type.info")?;
    let size_or_type = r.u32("btf_type.size_or_type")?;
    let kind_no = (info >> 24) & 0x1f;
    let vlen = (info & 0xffff) as usize;
    let kflag = info >> 31 != 0;
    let kind = Kind::from_u32(kind_no).ok_or(BtfError::InvalidKind {
        type_id: id,
        kind: kind_no,
        offset,
    })?;
    let data = match kind {
        Kind::Int => TypeData::Int(IntInfo {
            raw: r.u32("INT data")?,
        }),
        Kind::Ptr => TypeData::Ptr,
        Kind::Array => {
            r.need(12, "ARRAY data")?;
            TypeData::Array(ArrayInfo {
                elem_type: r.u32("ARRAY type")?,
                index_type: r.u32("ARRAY index_type")?,
                nelems: r.u32("ARRAY nelems")?,
            })
        }
        Kind::Struct | Kind::Union => {
            r.need(vlen * 12, "members")?;
            let mut members = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let name_off = r.u32("member name_off")?;
                let type_id = r.u32("member type")?;
                let raw_offset = r.u32("member offset")?;
                let (bit_offset, bitfield_size) = if kflag {
                    (raw_offset & 0x00ff_ffff, raw_offset >> 24)
                } else {
                    (raw_offset, 0)
                };
                members.push(Member {
                    name_off,
                    type_id,
                    raw_offset,
                    bit_offset,
                    bitfield_size,
                });
            }
            if kind == Kind::Struct {
                TypeData::Struct(members)
            } else {
                TypeData::Union(members)
            }
        }
        Kind::Enum => {
            r.need(vlen * 8, "enumerators")?;
            let mut values = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                values.push(EnumValue {
                    name_off: r.u32("enum name_off")?,
                    val: r.u32("enum val")?,
                });
            }
            TypeData::Enum(values)
        }
        Kind::Enum64 => {
            r.need(vlen * 12, "enum64 values")?;
            let mut values = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let name_off = r.u32("enum64 name_off")?;
                let lo = r.u32("enum64 val_lo32")?;
                let hi = r.u32("enum64 val_hi32")?;
                values.push(Enum64Value {
                    name_off,
                    val: u64::from(hi) << 32 | u64::from(lo),
                });
            }
            TypeData::Enum64(values)
        }
        Kind::Fwd => TypeData::Fwd,
        Kind::Typedef => TypeData::Typedef,
        Kind::Volatile => TypeData::Volatile,
        Kind::Const => TypeData::Const,
        Kind::Restrict => TypeData::Restrict,
        Kind::Func => TypeData::Func,
        Kind::FuncProto => {
            r.need(vlen * 8, "params")?;
            let mut params = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                params.push(Param {
                    name_off: r.u32("param name_off")?,
                    type_id: r.u32("param type")?,
                });
            }
            TypeData::FuncProto(params)
        }
        Kind::Var => TypeData::Var {
            linkage: r.u32("VAR linkage")?,
        },
        Kind::Datasec => {
            r.need(vlen * 12, "datasec entries")?;
            let mut vars = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                vars.push(VarSecinfo {
                    type_id: r.u32("secinfo type")?,
                    offset: r.u32("secinfo offset")?,
                    size: r.u32("secinfo size")?,
                });
            }
            TypeData::Datasec(vars)
        }
        Kind::Float => TypeData::Float,
        Kind::DeclTag => TypeData::DeclTag {
            component_idx: r.u32("DECL_TAG component_idx")? as i32,
        },
        Kind::TypeTag => TypeData::TypeTag,
    };
    Ok(Type {
        name_off,
        info,
        size_or_type,
        data,
    })
}
