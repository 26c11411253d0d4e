//! Public API behaviour on hand-built and host BTF.

mod common;

use std::sync::Arc;

use bpfbox_btf::{dump_raw, Btf, Kind, TypeData};
use common::builder::*;

fn sample() -> Builder {
    let mut b = Builder::new();
    let int = b.int("int", 4, 1, 32); // 1
    let uint = b.int("unsigned int", 4, 0, 32); // 2
    let td = b.typedef("u32", uint); // 3
    let cst = b.raw(0, CONST, false, 0, td, &[]); // 4
    let arr = b.array(cst, int, 10); // 5
    b.composite(
        STRUCT,
        "s",
        48,
        true,
        &[("a", int, 0), ("b", uint, (3 << 24) | 32), ("c", arr, 64)],
    ); // 6
    b.ptr(6); // 7
    b.typedef("sp", 7); // 8
    b.enum32("e", 4, true, &[("NEG", -1), ("POS", 2)]); // 9
    let n = b.s("s");
    b.raw(n, FWD, true, 0, 0, &[]); // 10: fwd union s
    b
}

#[test]
fn lookups_and_resolution() {
    let btf = Btf::parse(&sample().build()).unwrap();
    assert_eq!(btf.len(), 10);
    assert_eq!(btf.last_id(), 10);
    assert!(btf.type_by_id(0).is_none(), "void has no record");
    assert!(btf.type_by_id(11).is_none());
    assert_eq!(btf.name(1), Some("int"));
    assert_eq!(btf.name(5), Some(""));
    assert_eq!(btf.string_at(1), Some("int"));
    assert_eq!(btf.ids_by_name("s").collect::<Vec<_>>(), vec![6, 10]);
    assert_eq!(btf.find_by_name_kind("s", Kind::Fwd), Some(10));
    assert_eq!(btf.find_by_name_kind("s", Kind::Struct), Some(6));
    assert_eq!(btf.find_by_name_kind("nope", Kind::Struct), None);
    assert_eq!(btf.resolve_size(5).unwrap(), 40);
    assert_eq!(btf.resolve_size(6).unwrap(), 48);
    assert_eq!(btf.resolve_size(4).unwrap(), 4);
    assert_eq!(btf.resolve_size(8).unwrap(), 8);
    assert!(btf.resolve_size(10).is_err(), "FWD has no size");
    assert_eq!(btf.skip_mods_and_typedefs(4).unwrap(), 2);
    assert_eq!(btf.skip_mods(4).unwrap(), 3);
    assert_eq!(btf.resolve_ptr(8), Some(6));
    assert_eq!(btf.resolve_ptr(6), None);
    let members: Vec<_> = btf.members(6).unwrap().collect();
    assert_eq!(members.len(), 3);
    assert_eq!(
        (
            members[1].name,
            members[1].bit_offset,
            members[1].bitfield_size
        ),
        ("b", 32, 3)
    );
    assert_eq!(
        (
            members[2].name,
            members[2].bit_offset,
            members[2].bitfield_size
        ),
        ("c", 64, 0)
    );
    let t = btf.type_by_id(10).unwrap();
    assert!(t.kind_flag());
    assert!(matches!(t.data, TypeData::Fwd));
    btf.validate().unwrap();
}

#[test]
fn raw_dump_of_hand_built_blob() {
    let btf = Btf::parse(&sample().build()).unwrap();
    let mut out = Vec::new();
    dump_raw(&btf, &mut out).unwrap();
    let expected = "\
[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
[2] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)
[3] TYPEDEF 'u32' type_id=2
[4] CONST '(anon)' type_id=3
[5] ARRAY '(anon)' type_id=4 index_type_id=1 nr_elems=10
[6] STRUCT 's' size=48 vlen=3
\t'a' type_id=1 bits_offset=0
\t'b' type_id=2 bits_offset=32 bitfield_size=3
\t'c' type_id=5 bits_offset=64
[7] PTR '(anon)' type_id=6
[8] TYPEDEF 'sp' type_id=7
[9] ENUM 'e' encoding=SIGNED size=4 vlen=2
\t'NEG' val=-1
\t'POS' val=2
[10] FWD 's' fwd_kind=union
";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn big_endian_parses_the_same() {
    let b = sample();
    let le = Btf::parse(&b.build()).unwrap();
    let be = Btf::parse(&b.build_be()).unwrap();
    assert_eq!(be.endian(), bpfbox_btf::Endian::Big);
    let (mut a, mut c) = (Vec::new(), Vec::new());
    dump_raw(&le, &mut a).unwrap();
    dump_raw(&be, &mut c).unwrap();
    assert_eq!(a, c);
    be.validate().unwrap();
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base_b = sample();
    let base = Arc::new(Btf::parse(&base_b.build()).unwrap());
    let mut s = Builder::split(10, base_b.strings.len() as u32);
    let name = s.s("mod_struct");
    let fld = s.s("field");
    // Refers to base type 1 (int) by id and to base string "int" by offset.
    let id = s.raw(name, STRUCT, false, 1, 4, &[fld, 1, 0]);
    assert_eq!(id, 11);
    s.raw(1, TYPEDEF, false, 0, 11, &[]); // typedef named "int" (base string)
    let split = Btf::parse_split(&s.build(), &base).unwrap();
    assert_eq!(split.start_id(), 11);
    assert_eq!(split.len(), 2);
    assert_eq!(split.name(11), Some("mod_struct"));
    assert_eq!(split.name(12), Some("int"));
    assert_eq!(
        split.name(1),
        Some("int"),
        "base ids resolve through the split"
    );
    assert_eq!(split.resolve_size(12).unwrap(), 4);
    assert_eq!(split.ids_by_name("int").collect::<Vec<_>>(), vec![1, 12]);
    let mut out = Vec::new();
    dump_raw(&split, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "[11] STRUCT 'mod_struct' size=4 vlen=1\n\t'field' type_id=1 bits_offset=0\n[12] TYPEDEF 'int' type_id=11\n"
    );
    split.validate().unwrap();
}

#[test]
fn lying_lengths_are_errors_not_allocations() {
    let mut b = Builder::new();
    // A struct claiming 65535 members with none present.
    b.raw(0, STRUCT, false, 0xffff, 4, &[]);
    assert!(Btf::parse(&b.build()).is_err());
    // type_len far beyond the blob.
    let mut blob = sample().build();
    blob[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Btf::parse(&blob).is_err());
}

#[test]
fn vmlinux_index_and_sizes() {
    if !std::path::Path::new(common::VMLINUX).exists() {
        return common::skip("no /sys/kernel/btf/vmlinux");
    }
    let btf = Btf::from_file(common::VMLINUX).unwrap();
    let ts = btf
        .find_by_name_kind("task_struct", Kind::Struct)
        .expect("task_struct");
    assert!(btf.resolve_size(ts).unwrap() > 1000);
    let pid = btf
        .members(ts)
        .unwrap()
        .find(|m| m.name == "pid")
        .expect("task_struct.pid");
    assert_eq!(btf.resolve_size(pid.type_id).unwrap(), 4);
    let u64_id = btf.find_by_name_kind("u64", Kind::Typedef).unwrap();
    assert_eq!(btf.resolve_size(u64_id).unwrap(), 8);
    assert_eq!(btf.pointer_size(), 8);
    // Every named type is found through the index.
    for (id, t) in btf.types().step_by(97) {
        let name = btf.type_name(t);
        if !name.is_empty() {
            assert!(btf.ids_by_name(name).any(|i| i == id), "{name}");
        }
    }
}
