//! `bpftool btf dump ... format raw` output.

use std::io::Write;

use super::out::Out;
use crate::btf::Btf;
use crate::error::BtfError;
use crate::types::{
    func_linkage, var_linkage, Type, TypeData, TypeId, INT_BOOL, INT_CHAR, INT_SIGNED,
};

/// Write every type of `btf` (its own types, not a base's) in bpftool's raw
/// format, byte for byte:
///
/// ```text
/// [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
/// [2] STRUCT 'pair' size=8 vlen=2
/// <TAB>'a' type_id=1 bits_offset=0
/// <TAB>'b' type_id=1 bits_offset=32
/// ```
///
/// (`<TAB>` stands for a tab character.)
pub fn dump_raw<W: Write + ?Sized>(btf: &Btf, w: &mut W) -> Result<(), BtfError> {
    let mut out = Out::new(w);
    for (id, t) in btf.types() {
        write_type(btf, id, t, &mut out);
        out.maybe_flush()?;
    }
    out.finish()?;
    Ok(())
}

/// Write one type (with its trailing newline) in bpftool's raw format.
pub fn dump_raw_type<W: Write + ?Sized>(btf: &Btf, id: TypeId, w: &mut W) -> Result<(), BtfError> {
    let t = btf.try_type(id)?;
    let mut out = Out::new(w);
    write_type(btf, id, t, &mut out);
    out.finish()?;
    Ok(())
}

/// bpftool's rendering of a name offset.
fn name_str(btf: &Btf, off: u32) -> &str {
    if off == 0 {
        return "(anon)";
    }
    btf.string_at(off).unwrap_or("(invalid)")
}

fn quoted<W: Write + ?Sized>(out: &mut Out<'_, W>, s: &str) {
    out.b(b'\'');
    out.s(s);
    out.b(b'\'');
}

fn write_type<W: Write + ?Sized>(btf: &Btf, id: TypeId, t: &Type, out: &mut Out<'_, W>) {
    out.b(b'[');
    out.u(id);
    out.s("] ");
    out.s(t.kind().name());
    out.b(b' ');
    quoted(out, name_str(btf, t.name_off));
    match &t.data {
        TypeData::Int(i) => {
            out.s(" size=");
            out.u(t.size_or_type);
            out.s(" bits_offset=");
            out.u(i.bits_offset());
            out.s(" nr_bits=");
            out.u(i.nr_bits());
            out.s(" encoding=");
            out.s(match i.encoding() {
                0 => "(none)",
                INT_SIGNED => "SIGNED",
                INT_CHAR => "CHAR",
                INT_BOOL => "BOOL",
                _ => "UNKN",
            });
        }
        TypeData::Ptr
        | TypeData::Typedef
        | TypeData::Volatile
        | TypeData::Const
        | TypeData::Restrict
        | TypeData::TypeTag => {
            out.s(" type_id=");
            out.u(t.size_or_type);
        }
        TypeData::Array(a) => {
            out.s(" type_id=");
            out.u(a.elem_type);
            out.s(" index_type_id=");
            out.u(a.index_type);
            out.s(" nr_elems=");
            out.u(a.nelems);
        }
        TypeData::Struct(ms) | TypeData::Union(ms) => {
            out.s(" size=");
            out.u(t.size_or_type);
            out.s(" vlen=");
            out.u(t.vlen());
            for m in ms {
                out.s("\n\t");
                quoted(out, name_str(btf, m.name_off));
                out.s(" type_id=");
                out.u(m.type_id);
                out.s(" bits_offset=");
                out.u(m.bit_offset);
                if m.bitfield_size != 0 {
                    out.s(" bitfield_size=");
                    out.u(m.bitfield_size);
                }
            }
        }
        TypeData::Enum(vs) => {
            let signed = t.kind_flag();
            out.s(if signed {
                " encoding=SIGNED"
            } else {
                " encoding=UNSIGNED"
            });
            out.s(" size=");
            out.u(t.size_or_type);
            out.s(" vlen=");
            out.u(t.vlen());
            for v in vs {
                out.s("\n\t");
                quoted(out, name_str(btf, v.name_off));
                out.s(" val=");
                if signed {
                    out.u(v.val as i32);
                } else {
                    out.u(v.val);
                }
            }
        }
        TypeData::Enum64(vs) => {
            let signed = t.kind_flag();
            out.s(if signed {
                " encoding=SIGNED"
            } else {
                " encoding=UNSIGNED"
            });
            out.s(" size=");
            out.u(t.size_or_type);
            out.s(" vlen=");
            out.u(t.vlen());
            for v in vs {
                out.s("\n\t");
                quoted(out, name_str(btf, v.name_off));
                out.s(" val=");
                if signed {
                    out.u(v.val as i64);
                    out.s("LL");
                } else {
                    out.u(v.val);
                    out.s("ULL");
                }
            }
        }
        TypeData::Fwd => {
            out.s(if t.kind_flag() {
                " fwd_kind=union"
            } else {
                " fwd_kind=struct"
            });
        }
        TypeData::Func => {
            out.s(" type_id=");
            out.u(t.size_or_type);
            out.s(" linkage=");
            out.s(match t.vlen() {
                func_linkage::STATIC => "static",
                func_linkage::GLOBAL => "global",
                func_linkage::EXTERN => "extern",
                _ => "(unknown)",
            });
        }
        TypeData::FuncProto(ps) => {
            out.s(" ret_type_id=");
            out.u(t.size_or_type);
            out.s(" vlen=");
            out.u(t.vlen());
            for p in ps {
                out.s("\n\t");
                quoted(out, name_str(btf, p.name_off));
                out.s(" type_id=");
                out.u(p.type_id);
            }
        }
        TypeData::Var { linkage } => {
            out.s(" type_id=");
            out.u(t.size_or_type);
            out.s(", linkage=");
            out.s(match *linkage {
                var_linkage::STATIC => "static",
                var_linkage::GLOBAL_ALLOCATED => "global",
                var_linkage::GLOBAL_EXTERN => "extern",
                _ => "(unknown)",
            });
        }
        TypeData::Datasec(vs) => {
            out.s(" size=");
            out.u(t.size_or_type);
            out.s(" vlen=");
            out.u(t.vlen());
            for v in vs {
                out.s("\n\ttype_id=");
                out.u(v.type_id);
                out.s(" offset=");
                out.u(v.offset);
                out.s(" size=");
                out.u(v.size);
                out.s(" (");
                match btf.type_by_id(v.type_id) {
                    Some(vt) => {
                        out.s(vt.kind().name());
                        out.b(b' ');
                        quoted(out, name_str(btf, vt.name_off));
                    }
                    None => out.s("UNKNOWN '(invalid)'"),
                }
                out.b(b')');
            }
        }
        TypeData::Float => {
            out.s(" size=");
            out.u(t.size_or_type);
        }
        TypeData::DeclTag { component_idx } => {
            out.s(" type_id=");
            out.u(t.size_or_type);
            out.s(" component_idx=");
            out.u(*component_idx);
        }
    }
    out.b(b'\n');
}
