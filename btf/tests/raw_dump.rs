//! `dump_raw` must be byte-identical to `bpftool btf dump ... format raw`.

mod common;

use std::path::Path;

use bpfbox_btf::{dump_raw, Btf};
use common::{run, skip, which, xdp_objects, Elf, VMLINUX};

fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let a = String::from_utf8_lossy(ours);
    let b = String::from_utf8_lossy(theirs);
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n ours:    {x}\n bpftool: {y}", i + 1);
        }
    }
    format!(
        "outputs differ in length: ours {} lines, bpftool {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn vmlinux_raw_matches_bpftool() {
    let Some(bpftool) = which("bpftool") else {
        return skip("bpftool not installed");
    };
    if !Path::new(VMLINUX).exists() {
        return skip("no /sys/kernel/btf/vmlinux");
    }
    let btf = Btf::from_file(VMLINUX).expect("parse vmlinux");
    assert!(btf.len() > 1000, "vmlinux has only {} types", btf.len());
    let mut ours = Vec::new();
    dump_raw(&btf, &mut ours).unwrap();
    let theirs = run(&bpftool, &["btf", "dump", "file", VMLINUX, "format", "raw"]);
    assert!(ours == theirs, "{}", first_difference(&ours, &theirs));
    // The kernel accepted this BTF, so must our validator.
    btf.validate().expect("host vmlinux BTF validates");
}

#[test]
fn xdp_objects_raw_match_bpftool() {
    let Some(bpftool) = which("bpftool") else {
        return skip("bpftool not installed");
    };
    let objs = xdp_objects();
    if objs.is_empty() {
        return skip("no xdp-tools objects in /usr/lib/x86_64-linux-gnu/bpf");
    }
    for obj in objs {
        let elf = Elf::open(&obj);
        let Some(sec) = elf.section(".BTF") else {
            continue;
        };
        let btf = Btf::parse(sec).unwrap_or_else(|e| panic!("{}: {e}", obj.display()));
        let mut ours = Vec::new();
        dump_raw(&btf, &mut ours).unwrap();
        let path = obj.to_str().unwrap();
        let theirs = run(&bpftool, &["btf", "dump", "file", path, "format", "raw"]);
        assert!(
            ours == theirs,
            "{}: {}",
            obj.display(),
            first_difference(&ours, &theirs)
        );
        // Object files carry DATASECs of size 0 that libbpf fixes up before
        // loading; the kernel rejects them as they are, and so must we.
        match btf.validate() {
            Ok(()) => {}
            Err(bpfbox_btf::BtfError::Invalid { type_id, msg }) => {
                let t = btf.type_by_id(type_id).unwrap();
                assert_eq!(
                    t.kind(),
                    bpfbox_btf::Kind::Datasec,
                    "{}: {msg}",
                    obj.display()
                );
                assert_eq!(msg, "size == 0");
                assert_eq!(t.size_or_type, 0);
            }
            Err(e) => panic!("{}: unexpected validation error {e}", obj.display()),
        }
    }
}
