//! Hand-built bad BTF must be rejected with the kernel verifier's message.

mod common;

use bpfbox_btf::{Btf, BtfError};
use common::builder::*;

/// Validate `b` and return `(type_id, message)` of the failure.
fn reject(b: &Builder) -> (u32, String) {
    let btf = Btf::parse(&b.build()).expect("blob parses");
    match btf.validate() {
        Err(BtfError::Invalid { type_id, msg }) => (type_id, msg),
        Err(e) => panic!("unexpected error kind {e:?}"),
        Ok(()) => panic!("blob was accepted"),
    }
}

fn base() -> (Builder, u32) {
    let mut b = Builder::new();
    let int = b.int("int", 4, 1, 32);
    (b, int)
}

#[test]
fn good_blob_validates() {
    let (mut b, int) = base();
    let p = b.ptr(int);
    b.composite(STRUCT, "s", 16, false, &[("a", int, 0), ("p", p, 64)]);
    let proto = b.func_proto(int, &[("x", int)]);
    b.func("f", proto, 1);
    Btf::parse(&b.build()).unwrap().validate().unwrap();
}

#[test]
fn header_messages() {
    let (b, _) = base();
    let mut blob = b.build();
    blob[0] = 0;
    let e = Btf::parse(&blob).unwrap_err();
    assert_eq!(e.kernel_message(), Some("Invalid magic"));

    let mut v = base().0;
    v.version = 2;
    let e = Btf::parse(&v.build()).unwrap_err();
    assert_eq!(e.kernel_message(), Some("Unsupported version"));

    let mut f = base().0;
    f.flags = 1;
    assert_eq!(reject(&f), (0, "Unsupported flags".into()));

    let e = Btf::parse(&[0x9f, 0xeb, 1]).unwrap_err();
    assert_eq!(e.kernel_message(), Some("hdr_len not found"));
}

#[test]
fn string_section_rules() {
    let (b, _) = base();
    let mut blob = b.build();
    // Make the first string non-empty.
    let str_start = blob.len() - b.strings.len();
    blob[str_start] = b'x';
    let btf = Btf::parse(&blob).unwrap();
    assert_eq!(
        btf.validate().unwrap_err().kernel_message(),
        Some("Invalid string section")
    );

    // Trailing garbage after the string section.
    let mut blob = b.build();
    blob.extend_from_slice(&[0, 0, 0, 0]);
    let btf = Btf::parse(&blob).unwrap();
    assert_eq!(
        btf.validate().unwrap_err().kernel_message(),
        Some("Unsupported section found")
    );

    // Strings placed before the types.
    let blob = b.build();
    let type_len = u32::from_le_bytes(blob[12..16].try_into().unwrap()) as usize;
    let strs = &blob[24 + type_len..];
    let mut swapped = blob[..24].to_vec();
    swapped[8..12].copy_from_slice(&(strs.len() as u32).to_le_bytes()); // type_off
    swapped[16..20].copy_from_slice(&0u32.to_le_bytes()); // str_off
    swapped.extend_from_slice(strs);
    swapped.extend_from_slice(&blob[24..24 + type_len]);
    let btf = Btf::parse(&swapped).unwrap();
    assert_eq!(btf.name(1), Some("int"));
    assert_eq!(
        btf.validate().unwrap_err().kernel_message(),
        Some("String section is not at the end")
    );
}

#[test]
fn int_rules() {
    let mut b = Builder::new();
    b.raw(b.strings.len() as u32, INT, false, 1, 4, &[32]);
    b.s("int");
    assert_eq!(reject(&b), (1, "vlen != 0".into()));

    let mut b = Builder::new();
    b.int("int", 4, 1, 40);
    assert_eq!(reject(&b), (1, "nr_bits exceeds type_size".into()));

    let mut b = Builder::new();
    b.int("int", 4, 3, 32);
    assert_eq!(reject(&b), (1, "Unsupported encoding".into()));

    let mut b = Builder::new();
    let n = b.s("int");
    b.raw(n, INT, false, 0, 4, &[0x1000_0020]);
    assert_eq!(reject(&b), (1, "Invalid int_data:10000020".into()));
}

#[test]
fn modifier_rules() {
    let (mut b, int) = base();
    let n = b.s("p");
    b.raw(n, PTR, false, 0, int, &[]);
    assert_eq!(reject(&b), (2, "Invalid name".into()));

    let (mut b, int) = base();
    b.raw(0, CONST, true, 0, int, &[]);
    assert_eq!(reject(&b), (2, "Invalid btf_info kind_flag".into()));

    let (mut b, _) = base();
    b.ptr(77);
    assert_eq!(reject(&b), (2, "Invalid type_id".into()));

    let (mut b, int) = base();
    b.raw(0, TYPEDEF, false, 0, int, &[]);
    assert_eq!(reject(&b), (2, "Invalid name".into()));

    // typedef a -> typedef b -> typedef a
    let mut b = Builder::new();
    b.typedef("a", 2);
    b.typedef("b", 1);
    assert_eq!(reject(&b), (1, "Loop detected".into()));
}

#[test]
fn struct_rules() {
    let (mut b, int) = base();
    b.composite(STRUCT, "s", 4, false, &[("a", int, 32)]);
    assert_eq!(reject(&b), (2, "Member exceeds struct_size".into()));

    let (mut b, int) = base();
    b.composite(UNION, "u", 4, false, &[("a", int, 0), ("b", int, 8)]);
    assert_eq!(reject(&b), (2, "Invalid member bits_offset".into()));

    let (mut b, int) = base();
    b.composite(STRUCT, "s", 8, false, &[("a", int, 32), ("b", int, 0)]);
    assert_eq!(reject(&b), (2, "Invalid member bits_offset".into()));

    let (mut b, int) = base();
    b.composite(STRUCT, "s", 4, false, &[("a", int, 64)]);
    assert_eq!(
        reject(&b),
        (2, "Member bits_offset exceeds its struct size".into())
    );

    // kind_flag bitfield wider than its int.
    let (mut b, int) = base();
    b.composite(STRUCT, "s", 8, true, &[("a", int, 40 << 24)]);
    assert_eq!(reject(&b), (2, "Invalid member bitfield_size".into()));

    // Pointer member not on a byte boundary.
    let (mut b, int) = base();
    let p = b.ptr(int);
    b.composite(STRUCT, "s", 16, false, &[("p", p, 4)]);
    assert_eq!(reject(&b), (3, "Member is not byte aligned".into()));

    // Member of a type without size.
    let (mut b, int) = base();
    let proto = b.func_proto(int, &[]);
    b.composite(STRUCT, "s", 16, false, &[("f", proto, 0)]);
    assert_eq!(reject(&b), (3, "Invalid member".into()));

    let (mut b, int) = base();
    b.composite(STRUCT, "1bad", 4, false, &[("a", int, 0)]);
    assert_eq!(reject(&b), (2, "Invalid name".into()));
}

#[test]
fn enum_array_func_var_rules() {
    let mut b = Builder::new();
    b.enum32("e", 3, false, &[("A", 1)]);
    assert_eq!(reject(&b), (1, "Unexpected size".into()));

    let (mut b, int) = base();
    b.array(int, 99, 4);
    assert_eq!(reject(&b), (2, "Invalid index".into()));

    let (mut b, int) = base();
    b.array(0, int, 4);
    assert_eq!(reject(&b), (2, "Invalid elem".into()));

    let (mut b, int) = base();
    let proto = b.func_proto(int, &[("a", int)]);
    b.func("f", proto, 2);
    assert_eq!(reject(&b), (3, "Invalid func linkage".into()));

    let (mut b, int) = base();
    b.func("f", int, 0);
    assert_eq!(reject(&b), (2, "Invalid type_id".into()));

    let (mut b, int) = base();
    let proto = b.func_proto(int, &[("a", int), ("b", 42)]);
    b.func("f", proto, 0);
    assert_eq!(reject(&b), (2, "Invalid arg#2".into()));

    let (mut b, int) = base();
    b.func_proto(50, &[("a", int)]);
    assert_eq!(reject(&b), (2, "Invalid return type".into()));

    let (mut b, int) = base();
    b.var("v", int, 2);
    assert_eq!(reject(&b), (2, "Linkage not supported".into()));

    let (mut b, _) = base();
    let n = b.s("f");
    b.raw(n, FLOAT, false, 0, 3, &[]);
    assert_eq!(reject(&b), (2, "Invalid type_size".into()));

    let (mut b, int) = base();
    let v = b.var("v", int, 1);
    let n = b.s(".data");
    b.raw(n, DATASEC, false, 1, 0, &[v, 0, 4]);
    assert_eq!(reject(&b), (3, "size == 0".into()));

    let (mut b, int) = base();
    let n = b.s(".data");
    b.raw(n, DATASEC, false, 1, 8, &[int, 0, 4]);
    assert_eq!(reject(&b), (2, "Not a VAR kind member".into()));

    let (mut b, int) = base();
    let n = b.s("tag");
    b.raw(n, DECL_TAG, false, 0, int, &[u32::MAX]);
    assert_eq!(reject(&b), (2, "Invalid type_id".into()));
}

#[test]
fn errors_carry_the_type_id() {
    let (mut b, int) = base();
    b.ptr(int);
    b.ptr(int);
    b.composite(STRUCT, "s", 2, false, &[("a", int, 0)]);
    let e = Btf::parse(&b.build()).unwrap().validate().unwrap_err();
    assert_eq!(e.to_string(), "[4] Member exceeds struct_size");
}
