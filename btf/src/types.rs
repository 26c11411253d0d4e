//! The owned representation of BTF types.
//!
//! Names are kept as string-section offsets; resolve them with
//! [`crate::Btf::string_at`] or [`crate::Btf::name`].

use serde::Serialize;

/// A BTF type id. Id 0 is `void` and has no [`Type`] record.
pub type TypeId = u32;

/// Largest type id BTF can express (`BTF_MAX_TYPE`).
pub const MAX_TYPE_ID: TypeId = 0x000f_ffff;
/// Largest string offset BTF can express (`BTF_MAX_NAME_OFFSET`).
pub const MAX_NAME_OFFSET: u32 = 0x00ff_ffff;
/// Largest `vlen` a type can have (`BTF_MAX_VLEN`).
pub const MAX_VLEN: u32 = 0xffff;

/// The kind of a BTF type (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum Kind {
    /// Integer (`BTF_KIND_INT`, 1).
    Int = 1,
    /// Pointer (2).
    Ptr = 2,
    /// Array (3).
    Array = 3,
    /// Struct (4).
    Struct = 4,
    /// Union (5).
    Union = 5,
    /// Enumeration with 32-bit values (6).
    Enum = 6,
    /// Forward declaration of a struct or union (7).
    Fwd = 7,
    /// Typedef (8).
    Typedef = 8,
    /// `volatile` modifier (9).
    Volatile = 9,
    /// `const` modifier (10).
    Const = 10,
    /// `restrict` modifier (11).
    Restrict = 11,
    /// Function (12).
    Func = 12,
    /// Function prototype (13).
    FuncProto = 13,
    /// Variable (14).
    Var = 14,
    /// Data section (15).
    Datasec = 15,
    /// Floating point (16).
    Float = 16,
    /// Declaration tag (17).
    DeclTag = 17,
    /// Type tag (18).
    TypeTag = 18,
    /// Enumeration with 64-bit values (19).
    Enum64 = 19,
}

impl Kind {
    /// All kinds in numeric order.
    pub const ALL: [Kind; 19] = [
        Kind::Int,
        Kind::Ptr,
        Kind::Array,
        Kind::Struct,
        Kind::Union,
        Kind::Enum,
        Kind::Fwd,
        Kind::Typedef,
        Kind::Volatile,
        Kind::Const,
        Kind::Restrict,
        Kind::Func,
        Kind::FuncProto,
        Kind::Var,
        Kind::Datasec,
        Kind::Float,
        Kind::DeclTag,
        Kind::TypeTag,
        Kind::Enum64,
    ];

    /// The kind with number `n`, if it is one of 1..=19.
    pub fn from_u32(n: u32) -> Option<Kind> {
        let i = usize::try_from(n.checked_sub(1)?).ok()?;
        Kind::ALL.get(i).copied()
    }

    /// The upper-case name `bpftool` and the kernel print (`"FUNC_PROTO"`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int => "INT",
            Kind::Ptr => "PTR",
            Kind::Array => "ARRAY",
            Kind::Struct => "STRUCT",
            Kind::Union => "UNION",
            Kind::Enum => "ENUM",
            Kind::Fwd => "FWD",
            Kind::Typedef => "TYPEDEF",
            Kind::Volatile => "VOLATILE",
            Kind::Const => "CONST",
            Kind::Restrict => "RESTRICT",
            Kind::Func => "FUNC",
            Kind::FuncProto => "FUNC_PROTO",
            Kind::Var => "VAR",
            Kind::Datasec => "DATASEC",
            Kind::Float => "FLOAT",
            Kind::DeclTag => "DECL_TAG",
            Kind::TypeTag => "TYPE_TAG",
            Kind::Enum64 => "ENUM64",
        }
    }

    /// True for kinds whose `size_or_type` field is a size.
    pub fn has_size(self) -> bool {
        matches!(
            self,
            Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Datasec
                | Kind::Float
        )
    }

    /// True for `volatile`, `const`, `restrict` and type tags.
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `BTF_INT_SIGNED`.
pub const INT_SIGNED: u8 = 1 << 0;
/// `BTF_INT_CHAR`.
pub const INT_CHAR: u8 = 1 << 1;
/// `BTF_INT_BOOL`.
pub const INT_BOOL: u8 = 1 << 2;

/// The extra `u32` of an INT type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntInfo {
    /// The raw encoded word.
    pub raw: u32,
}

impl IntInfo {
    /// Encoding bits ([`INT_SIGNED`], [`INT_CHAR`], [`INT_BOOL`]).
    pub fn encoding(self) -> u8 {
        ((self.raw >> 24) & 0x0f) as u8
    }
    /// Bit offset of the value inside the storage.
    pub fn bits_offset(self) -> u32 {
        (self.raw >> 16) & 0xff
    }
    /// Number of value bits.
    pub fn nr_bits(self) -> u32 {
        self.raw & 0xff
    }
    /// True when signed.
    pub fn is_signed(self) -> bool {
        self.encoding() & INT_SIGNED != 0
    }
    /// True when marked as a character type.
    pub fn is_char(self) -> bool {
        self.encoding() & INT_CHAR != 0
    }
    /// True when marked as a boolean.
    pub fn is_bool(self) -> bool {
        self.encoding() & INT_BOOL != 0
    }
}

/// The extra record of an ARRAY type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArrayInfo {
    /// Element type.
    pub elem_type: TypeId,
    /// Index type (an INT).
    pub index_type: TypeId,
    /// Number of elements.
    pub nelems: u32,
}

/// A struct or union member, with the bit offset decoded according to the
/// parent's kind_flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Name (string offset); 0 for anonymous members.
    pub name_off: u32,
    /// Member type.
    pub type_id: TypeId,
    /// The raw `offset` word as stored.
    pub raw_offset: u32,
    /// Bit offset from the start of the struct.
    pub bit_offset: u32,
    /// Bitfield width, 0 when the member is not a bitfield (or the parent's
    /// kind_flag is clear, in which case the width is in the INT type).
    pub bitfield_size: u32,
}

/// A 32-bit enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EnumValue {
    /// Name (string offset).
    pub name_off: u32,
    /// Raw value; signed when the parent's kind_flag is set.
    pub val: u32,
}

/// A 64-bit enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Enum64Value {
    /// Name (string offset).
    pub name_off: u32,
    /// Raw value; signed when the parent's kind_flag is set.
    pub val: u64,
}

/// A function prototype parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Param {
    /// Name (string offset); 0 for unnamed parameters.
    pub name_off: u32,
    /// Parameter type; a last parameter of type 0 means `...`.
    pub type_id: TypeId,
}

/// One variable (or function) placed in a DATASEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VarSecinfo {
    /// The VAR (or FUNC) type.
    pub type_id: TypeId,
    /// Byte offset in the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// Function linkage (`enum btf_func_linkage`), stored in a FUNC's vlen.
pub mod func_linkage {
    /// `static`
    pub const STATIC: u32 = 0;
    /// `global`
    pub const GLOBAL: u32 = 1;
    /// `extern`
    pub const EXTERN: u32 = 2;
}

/// Variable linkage (`BTF_VAR_*`).
pub mod var_linkage {
    /// `static`
    pub const STATIC: u32 = 0;
    /// `global` (allocated)
    pub const GLOBAL_ALLOCATED: u32 = 1;
    /// `extern`
    pub const GLOBAL_EXTERN: u32 = 2;
}

/// The kind-specific part of a type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TypeData {
    /// INT with its encoding word.
    Int(IntInfo),
    /// PTR; target in [`Type::size_or_type`].
    Ptr,
    /// ARRAY.
    Array(ArrayInfo),
    /// STRUCT members.
    Struct(Vec<Member>),
    /// UNION members.
    Union(Vec<Member>),
    /// ENUM enumerators.
    Enum(Vec<EnumValue>),
    /// FWD; kind_flag tells struct (0) or union (1).
    Fwd,
    /// TYPEDEF; target in [`Type::size_or_type`].
    Typedef,
    /// VOLATILE.
    Volatile,
    /// CONST.
    Const,
    /// RESTRICT.
    Restrict,
    /// FUNC; prototype in [`Type::size_or_type`], linkage in vlen.
    Func,
    /// FUNC_PROTO parameters; return type in [`Type::size_or_type`].
    FuncProto(Vec<Param>),
    /// VAR with its linkage.
    Var {
        /// One of [`var_linkage`].
        linkage: u32,
    },
    /// DATASEC entries.
    Datasec(Vec<VarSecinfo>),
    /// FLOAT.
    Float,
    /// DECL_TAG with the index of the tagged member/parameter (-1: the
    /// type itself).
    DeclTag {
        /// Component index, -1 for the whole declaration.
        component_idx: i32,
    },
    /// TYPE_TAG.
    TypeTag,
    /// ENUM64 enumerators.
    Enum64(Vec<Enum64Value>),
}

/// One BTF type record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Type {
    /// Name (string offset); 0 for anonymous types.
    pub name_off: u32,
    /// The raw `info` word: vlen (bits 0-15), kind (24-28), kind_flag (31).
    pub info: u32,
    /// Size for sized kinds, referenced type id for the others.
    pub size_or_type: u32,
    /// Kind-specific data.
    pub data: TypeData,
}

impl Type {
    /// The type's kind.
    pub fn kind(&self) -> Kind {
        match self.data {
            TypeData::Int(_) => Kind::Int,
            TypeData::Ptr => Kind::Ptr,
            TypeData::Array(_) => Kind::Array,
            TypeData::Struct(_) => Kind::Struct,
            TypeData::Union(_) => Kind::Union,
            TypeData::Enum(_) => Kind::Enum,
            TypeData::Fwd => Kind::Fwd,
            TypeData::Typedef => Kind::Typedef,
            TypeData::Volatile => Kind::Volatile,
            TypeData::Const => Kind::Const,
            TypeData::Restrict => Kind::Restrict,
            TypeData::Func => Kind::Func,
            TypeData::FuncProto(_) => Kind::FuncProto,
            TypeData::Var { .. } => Kind::Var,
            TypeData::Datasec(_) => Kind::Datasec,
            TypeData::Float => Kind::Float,
            TypeData::DeclTag { .. } => Kind::DeclTag,
            TypeData::TypeTag => Kind::TypeTag,
            TypeData::Enum64(_) => Kind::Enum64,
        }
    }

    /// `vlen` from the info word (member count, or FUNC linkage).
    pub fn vlen(&self) -> u32 {
        self.info & 0xffff
    }

    /// The kind_flag bit.
    pub fn kind_flag(&self) -> bool {
        self.info >> 31 != 0
    }

    /// Size in bytes, for kinds that carry one.
    pub fn size(&self) -> Option<u32> {
        self.kind().has_size().then_some(self.size_or_type)
    }

    /// Referenced type for PTR, TYPEDEF, modifiers, FUNC, VAR, DECL_TAG,
    /// TYPE_TAG and (return type) FUNC_PROTO; `None` for other kinds.
    pub fn ref_type(&self) -> Option<TypeId> {
        match self.kind() {
            Kind::Ptr
            | Kind::Typedef
            | Kind::Volatile
            | Kind::Const
            | Kind::Restrict
            | Kind::Func
            | Kind::FuncProto
            | Kind::Var
            | Kind::DeclTag
            | Kind::TypeTag => Some(self.size_or_type),
            _ => None,
        }
    }

    /// Members of a struct or union (empty for other kinds).
    pub fn members(&self) -> &[Member] {
        match &self.data {
            TypeData::Struct(m) | TypeData::Union(m) => m,
            _ => &[],
        }
    }

    /// Parameters of a function prototype (empty for other kinds).
    pub fn params(&self) -> &[Param] {
        match &self.data {
            TypeData::FuncProto(p) => p,
            _ => &[],
        }
    }

    /// True for STRUCT and UNION.
    pub fn is_composite(&self) -> bool {
        matches!(self.data, TypeData::Struct(_) | TypeData::Union(_))
    }

    /// True for ENUM and ENUM64 with kind_flag set (signed values).
    pub fn is_signed_enum(&self) -> bool {
        matches!(self.data, TypeData::Enum(_) | TypeData::Enum64(_)) && self.kind_flag()
    }

    /// Number of enumerators for ENUM/ENUM64.
    pub fn enum_len(&self) -> usize {
        match &self.data {
            TypeData::Enum(v) => v.len(),
            TypeData::Enum64(v) => v.len(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(Kind::from_u32(i as u32 + 1), Some(*k));
            assert_eq!(*k as u32, i as u32 + 1);
        }
        assert_eq!(Kind::from_u32(0), None);
        assert_eq!(Kind::from_u32(20), None);
        assert_eq!(Kind::FuncProto.name(), "FUNC_PROTO");
        assert!(Kind::TypeTag.is_modifier());
        assert!(!Kind::Typedef.is_modifier());
    }

    #[test]
    fn int_encoding_fields() {
        let i = IntInfo {
            raw: (1 << 24) | (3 << 16) | 5,
        };
        assert!(i.is_signed());
        assert_eq!((i.bits_offset(), i.nr_bits()), (3, 5));
    }
}
