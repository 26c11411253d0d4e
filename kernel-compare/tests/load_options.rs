//! What `LoadOptions` asks of the kernel: the log level and size, extra program flags and
//! the programs to load. The kernel is the oracle.

mod common;

use std::path::Path;

use bpfbox_kernel_compare::flags::{BPF_F_STRICT_ALIGNMENT, BPF_F_TEST_RND_HI32};
use bpfbox_kernel_compare::{Error, KernelObject, LoadOptions, Verdict};
use bpfbox_vm::{ProgType, Program, RawInsn};

fn program(name: &str, insns: Vec<RawInsn>) -> Program {
    Program {
        name: name.into(),
        section: "xdp".into(),
        prog_type: ProgType::Xdp,
        expected_attach_type: None,
        attach_target: None,
        prog_flags: 0,
        insns,
        license: "GPL".into(),
        kern_version: 0,
        func_info: Vec::new(),
        line_info: Vec::new(),
    }
}

/// `exit` without setting r0: refused with `R0 !read_ok`.
fn unset_r0() -> Program {
    program("unset_r0", vec![RawInsn::new(0x95, 0, 0, 0, 0)])
}

/// Loads a `u32` from packet offset 1 after the bounds check: accepted on x86, refused
/// under `BPF_F_STRICT_ALIGNMENT`.
fn unaligned_packet_load() -> Program {
    let i = RawInsn::new;
    program(
        "unaligned",
        vec![
            i(0x61, 2, 1, 0, 0),  // r2 = ctx->data
            i(0x61, 3, 1, 4, 0),  // r3 = ctx->data_end
            i(0xbf, 4, 2, 0, 0),  // r4 = r2
            i(0x07, 4, 0, 0, 16), // r4 += 16
            i(0xb7, 0, 0, 0, 2),  // r0 = XDP_PASS
            i(0x2d, 4, 3, 1, 0),  // if r4 > r3 goto exit
            i(0x61, 0, 2, 1, 0),  // r0 = *(u32 *)(r2 + 1)
            i(0x95, 0, 0, 0, 0),
        ],
    )
}

#[test]
fn one_load_at_level_4_carries_the_reason() {
    if common::kernel().is_none() {
        return;
    }
    let k = KernelObject::from_programs(&[unset_r0()], &[], &LoadOptions::default());
    let p = &k.programs[0];
    assert_eq!(p.verdict, Verdict::Rejected);
    assert_eq!(p.errno, Some(libc::EACCES));
    assert_eq!(p.reason.as_deref(), Some("R0 !read_ok"), "{}", p.log);
    assert!(p.stats.processed_insns.is_some(), "{}", p.log);
    // Statistics and the reason only: no instruction-by-instruction trace.
    assert!(!p.log.contains("0: (95) exit"), "{}", p.log);

    let level1 = LoadOptions {
        log_level: 1,
        ..LoadOptions::default()
    };
    let k = KernelObject::from_programs(&[unset_r0()], &[], &level1);
    assert!(
        k.programs[0].log.contains("0: (95) exit"),
        "{}",
        k.programs[0].log
    );
    assert_eq!(k.programs[0].reason.as_deref(), Some("R0 !read_ok"));

    // Level 0: no log at all, unless asked to load again for the reason as libbpf does.
    let level0 = LoadOptions {
        log_level: 0,
        ..LoadOptions::default()
    };
    let k = KernelObject::from_programs(&[unset_r0()], &[], &level0);
    assert_eq!(k.programs[0].verdict, Verdict::Rejected);
    assert!(k.programs[0].log.is_empty());
    let retry = LoadOptions {
        log_on_failure: true,
        ..level0
    };
    let k = KernelObject::from_programs(&[unset_r0()], &[], &retry);
    assert_eq!(k.programs[0].reason.as_deref(), Some("R0 !read_ok"));
}

#[test]
fn a_fixed_log_buffer_is_what_the_kernel_gets() {
    if common::kernel().is_none() {
        return;
    }
    // A level-2 log of an accepted program does not fit 256 bytes: the kernel says ENOSPC.
    let opts = LoadOptions {
        log_level: 2,
        log_size: Some(256),
        ..LoadOptions::default()
    };
    let k = KernelObject::from_programs(&[unaligned_packet_load()], &[], &opts);
    let p = &k.programs[0];
    assert_eq!(p.errno, Some(libc::ENOSPC), "{:?} {}", p.verdict, p.log);
    assert!(p.log.len() < 256);
    // Growing (the default) loads it with its whole log.
    let opts = LoadOptions {
        log_level: 2,
        ..LoadOptions::default()
    };
    let k = KernelObject::from_programs(&[unaligned_packet_load()], &[], &opts);
    assert_eq!(k.programs[0].verdict, Verdict::Accepted);
    assert!(k.programs[0].log.len() > 256);
}

#[test]
fn extra_flags_reach_the_verifier() {
    if common::kernel().is_none() {
        return;
    }
    let load = |flags: u32| {
        let opts = LoadOptions {
            prog_flags: flags,
            ..LoadOptions::default()
        };
        let k = KernelObject::from_programs(&[unaligned_packet_load()], &[], &opts);
        let p = &k.programs[0];
        (p.verdict.clone(), p.errno, p.reason.clone())
    };
    assert_eq!(load(0).0, Verdict::Accepted);
    assert_eq!(load(BPF_F_TEST_RND_HI32).0, Verdict::Accepted);
    let (v, errno, reason) = load(BPF_F_STRICT_ALIGNMENT);
    assert_eq!((v, errno), (Verdict::Rejected, Some(libc::EACCES)));
    assert!(reason
        .unwrap_or_default()
        .starts_with("misaligned packet access"));
    // A bit the kernel does not know.
    let (v, errno, _) = load(1 << 20);
    assert_eq!((v, errno), (Verdict::Rejected, Some(libc::EINVAL)));
}

#[test]
fn only_the_programs_asked_for_and_their_tail_call_targets_load() {
    if common::kernel().is_none() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/obj/tailcall.o");
    let obj = bpfbox_loader::Object::from_file(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let slots: Vec<String> = obj.program_slots().into_iter().map(|s| s.program).collect();
    assert!(!slots.is_empty());
    let (_, k) = KernelObject::load_file(&path, &LoadOptions::only(["tc_chain"])).unwrap();
    let mut loaded: Vec<&str> = k.programs.iter().map(|p| p.name.as_str()).collect();
    loaded.sort();
    let mut want: Vec<&str> = slots.iter().map(String::as_str).collect();
    want.push("tc_chain");
    want.sort();
    want.dedup();
    assert_eq!(loaded, want);
    assert!(k.programs.iter().all(|p| p.verdict == Verdict::Accepted));
    assert!(
        obj.programs().len() > loaded.len(),
        "the fixture should have more programs"
    );

    match KernelObject::load(&bytes, &obj, &LoadOptions::only(["nope"])) {
        Err(Error::UnknownProgram {
            name, available, ..
        }) => {
            assert_eq!(name, "nope");
            let mut all: Vec<String> = obj.programs().iter().map(|p| p.name.clone()).collect();
            all.sort();
            let mut available = available;
            available.sort();
            assert_eq!(available, all);
        }
        other => panic!("{other:?}"),
    }
}
