//! Memory forms against the running kernel: constant-string arguments and `bpf_snprintf`'s
//! format (frozen read-only maps, filled and frozen on both sides), loads from frozen maps
//! that become constants, map-in-map lookups, and variable-offset stack reads and writes.
//! Each case must get the kernel's verdict and, when refused, the kernel's error line.

mod common;

use bpfbox_kernel_compare::load::{KernelObject, LoadOptions, Verdict as KVerdict};
use bpfbox_verifier::{verify, Options};
use bpfbox_vm::maps::spec::{MapSpec, MapType, BPF_F_RDONLY_PROG};
use bpfbox_vm::{ProgType, Program};
use common::{asm, program};

/// The format map's value: a format at 0, an unterminated run at 6.
fn fmt_value() -> Vec<u8> {
    let mut v = b"%d %s\0".to_vec();
    v.resize(16, b'x');
    v
}

/// Maps 0-5 for the string cases, 6-7 for map-in-map, with what is frozen.
fn maps() -> (Vec<MapSpec>, Vec<Option<Vec<u8>>>) {
    let ro = |max| MapSpec::new("ro", MapType::Array, 4, 16, max).with_flags(BPF_F_RDONLY_PROG);
    let mut bad = b"%lllu\0".to_vec();
    bad.resize(16, 0);
    let mut outer_a = MapSpec::new("outer_a", MapType::ArrayOfMaps, 4, 4, 2);
    outer_a.inner = Some(Box::new(MapSpec::new("in_a", MapType::Array, 4, 8, 2)));
    let mut outer_h = MapSpec::new("outer_h", MapType::HashOfMaps, 4, 4, 2);
    outer_h.inner = Some(Box::new(MapSpec::new("in_h", MapType::Hash, 4, 4, 8)));
    let maps = vec![
        ro(1),
        MapSpec::new("rw", MapType::Array, 4, 16, 1),
        ro(1),
        ro(2),
        MapSpec::new("roh", MapType::Hash, 4, 16, 2).with_flags(BPF_F_RDONLY_PROG),
        ro(1),
        outer_a,
        outer_h,
    ];
    let frozen = vec![
        Some(fmt_value()),
        None,
        None, // read-only but never frozen
        Some(fmt_value()),
        Some(fmt_value()),
        Some(bad),
        None,
        None,
    ];
    (maps, frozen)
}

fn sf(text: &str) -> Program {
    program(ProgType::SocketFilter, asm(text))
}

/// `bpf_snprintf(NULL, 0, r3, fp-16, len)` with r3 set up by `fmt` and two u64s of data.
fn snprintf(fmt: &str, len: u32) -> Program {
    sf(&format!(
        "stdw [%r10-8], 7\nstdw [%r10-16], 0\n{fmt}\nmov %r1, 0\nmov %r2, 0\n\
         mov %r4, %r10\nadd %r4, -16\nmov %r5, {len}\ncall 165\nmov %r0, 0\nexit"
    ))
}

/// `bpf_strncmp(fp-8, 8, r3)`.
fn strncmp(fmt: &str) -> Program {
    sf(&format!(
        "stdw [%r10-8], 0\n{fmt}\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\n\
         call 182\nmov %r0, 0\nexit"
    ))
}

/// A lookup of key 0 in map `m`, the NULL path exiting, then `rest` with r0 the element.
fn lookup(m: u32, rest: &str) -> String {
    format!(
        "stw [%r10-4], 0\nlddw %r1, map_idx {m}\nmov %r2, %r10\nadd %r2, -4\ncall 1\n\
         jne %r0, 0, +2\nmov %r0, 0\nexit\n{rest}"
    )
}

/// An unknown scalar in r2 (the packet length) masked with `mask`.
fn unknown(mask: u32) -> String {
    format!("ldxw %r2, [%r1+0]\nand %r2, {mask}\n")
}

fn cases() -> Vec<(&'static str, Program)> {
    let fmt0 = "lddw %r3, map_idx_value 0 0";
    vec![
        // Constant strings and the format.
        ("snprintf ok", snprintf(fmt0, 16)),
        ("snprintf too few args", snprintf(fmt0, 8)),
        ("snprintf no data", snprintf(fmt0, 0)),
        (
            "snprintf bad format",
            snprintf("lddw %r3, map_idx_value 5 0", 8),
        ),
        (
            "snprintf unterminated",
            snprintf("lddw %r3, map_idx_value 0 6", 16),
        ),
        (
            "snprintf writable map",
            snprintf("lddw %r3, map_idx_value 1 0", 16),
        ),
        (
            "snprintf not frozen",
            snprintf("lddw %r3, map_idx_value 2 0", 16),
        ),
        (
            "snprintf past the value",
            snprintf("lddw %r3, map_idx_value 0 0\nadd %r3, 16", 16),
        ),
        (
            "snprintf variable offset",
            snprintf(
                &format!("{}lddw %r3, map_idx_value 0 0\nadd %r3, %r2", unknown(1)),
                16,
            ),
        ),
        (
            "snprintf stack fmt",
            snprintf("mov %r3, %r10\nadd %r3, -16", 16),
        ),
        (
            "snprintf array of two",
            sf(&lookup(
                3,
                "mov %r3, %r0\nmov %r1, 0\nmov %r2, 0\nmov %r4, 0\nmov %r5, 0\ncall 165\n\
                 mov %r0, 0\nexit",
            )),
        ),
        (
            "snprintf hash",
            sf(&lookup(
                4,
                "mov %r3, %r0\nmov %r1, 0\nmov %r2, 0\nmov %r4, 0\nmov %r5, 0\ncall 165\n\
                 mov %r0, 0\nexit",
            )),
        ),
        ("strncmp ok", strncmp(fmt0)),
        ("strncmp writable", strncmp("lddw %r3, map_idx_value 1 0")),
        (
            "strncmp unterminated",
            strncmp("lddw %r3, map_idx_value 0 7"),
        ),
        // Loads from a frozen read-only map are constants: the dead path is never walked.
        (
            "frozen byte known",
            sf(
                "lddw %r1, map_idx_value 0 0\nldxb %r0, [%r1+0]\njeq %r0, 0x25, +1\n\
                mov %r0, %r9\nmov %r0, 0\nexit",
            ),
        ),
        (
            "frozen byte other",
            sf(
                "lddw %r1, map_idx_value 0 1\nldxb %r0, [%r1+0]\njeq %r0, 0x25, +1\n\
                mov %r0, %r9\nmov %r0, 0\nexit",
            ),
        ),
        (
            "frozen word known",
            sf(
                "lddw %r1, map_idx_value 0 0\nldxw %r0, [%r1+0]\njeq %r0, 0x25206425, +1\n\
                mov %r0, %r9\nmov %r0, 0\nexit",
            ),
        ),
        (
            "not frozen unknown",
            sf(
                "lddw %r1, map_idx_value 2 0\nldxb %r0, [%r1+0]\njeq %r0, 0, +1\n\
                mov %r0, %r9\nmov %r0, 0\nexit",
            ),
        ),
        // Map-in-map.
        (
            "inner lookup",
            sf(&lookup(
                6,
                "mov %r1, %r0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +1\n\
                 ldxdw %r0, [%r0+0]\nmov %r0, 0\nexit",
            )),
        ),
        (
            "inner value past its size",
            sf(&lookup(
                6,
                "mov %r1, %r0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +1\n\
                 ldxdw %r0, [%r0+4]\nmov %r0, 0\nexit",
            )),
        ),
        (
            "inner not null-checked",
            sf(
                "stw [%r10-4], 0\nlddw %r1, map_idx 6\nmov %r2, %r10\nadd %r2, -4\ncall 1\n\
                mov %r1, %r0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit",
            ),
        ),
        (
            "inner map pointer arithmetic",
            sf(&lookup(
                6,
                "mov %r1, %r0\nadd %r1, 8\nmov %r2, %r10\nadd %r2, -4\ncall 1\n\
                 mov %r0, 0\nexit",
            )),
        ),
        (
            "inner map_ptr_or_null deref",
            sf(
                "stw [%r10-4], 0\nlddw %r1, map_idx 6\nmov %r2, %r10\nadd %r2, -4\ncall 1\n\
                ldxw %r0, [%r0+0]\nmov %r0, 0\nexit",
            ),
        ),
        (
            "inner hash update",
            sf(&lookup(
                7,
                "mov %r1, %r0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -4\n\
                 mov %r4, 0\ncall 2\nmov %r0, 0\nexit",
            )),
        ),
        (
            "outer map value size",
            sf(&lookup(
                6,
                "mov %r1, %r0\nmov %r2, 0\ncall 1\nmov %r0, 0\nexit",
            )),
        ),
        // Helper arguments in a caller's stack.
        (
            "caller stack key",
            sf(
                "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\ncall local f\nmov %r0, 0\nexit\n\
                f:\nlddw %r1, map_idx 1\ncall 1\nmov %r0, 0\nexit",
            ),
        ),
        (
            "caller stack key uninit",
            sf(
                "mov %r2, %r10\nadd %r2, -4\ncall local f\nmov %r0, 0\nexit\n\
                f:\nlddw %r1, map_idx 1\ncall 1\nmov %r0, 0\nexit",
            ),
        ),
        (
            "caller stack key past fp",
            sf(
                "mov %r2, %r10\nadd %r2, -2\ncall local f\nmov %r0, 0\nexit\n\
                f:\nlddw %r1, map_idx 1\ncall 1\nmov %r0, 0\nexit",
            ),
        ),
        (
            "caller stack spill kept",
            sf(
                "stxdw [%r10-8], %r1\nmov %r3, %r10\nadd %r3, -8\ncall local f\n\
                ldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\nexit\n\
                f:\nmov %r0, 0\nexit",
            ),
        ),
        (
            "caller stack written by a helper",
            sf(
                "stxdw [%r10-8], %r1\nmov %r3, %r10\nadd %r3, -8\ncall local f\n\
                ldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\nexit\n\
                f:\nmov %r2, 0\nmov %r4, 8\ncall 26\nmov %r0, 0\nexit",
            ),
        ),
        (
            "caller stack helper write past fp",
            sf(
                "mov %r3, %r10\nadd %r3, -4\ncall local f\nmov %r0, 0\nexit\n\
                f:\nmov %r2, 0\nmov %r4, 8\ncall 26\nmov %r0, 0\nexit",
            ),
        ),
        // Atomics over a spilled register: the fetch is a fill, the slot then holds data.
        (
            "atomic add over a spilled ctx",
            sf("stxdw [%r10-8], %r1\nmov %r2, 1\nlock add [%r10-8], %r2\n\
                ldxdw %r1, [%r10-8]\nldxw %r0, [%r1+0]\nexit"),
        ),
        (
            "atomic fetch of a spilled ctx",
            sf(
                "stxdw [%r10-8], %r1\nmov %r2, 1\nlock fetch add [%r10-8], %r2\n\
                ldxw %r0, [%r2+0]\nexit",
            ),
        ),
        (
            "atomic 32-bit over a spilled ctx",
            sf("stxdw [%r10-8], %r1\nmov %r2, 1\nlock add32 [%r10-8], %r2\nmov %r0, 0\nexit"),
        ),
        (
            "atomic fetch of a spilled constant",
            sf(
                "stdw [%r10-8], 3\nmov %r2, 1\nlock fetch add [%r10-8], %r2\n\
                jeq %r2, 3, +1\nmov %r0, %r9\nmov %r0, 0\nexit",
            ),
        ),
        (
            "atomic leaves data",
            sf("stdw [%r10-8], 3\nmov %r2, 1\nlock add [%r10-8], %r2\n\
                ldxdw %r2, [%r10-8]\njeq %r2, 4, +1\nmov %r0, %r9\nmov %r0, 0\nexit"),
        ),
        // Legacy packet loads in a subprogram need BTF (its return type); the walk of the
        // hidden exit is covered by the selftests, which have it.
        (
            "ld_abs in a subprogram without BTF",
            sf("mov %r6, %r1\ncall local f\nexit\nf:\nldabsb 0\nexit"),
        ),
        // Variable-offset stack access.
        (
            "var-off write then read",
            sf(&format!(
                "{}mov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nstb [%r3+0], 1\n\
                 ldxb %r0, [%r3+0]\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off read uninit",
            sf(&format!(
                "{}mov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nldxb %r0, [%r3+0]\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off read past fp",
            sf(&format!(
                "{}mov %r3, %r10\nadd %r3, -4\nadd %r3, %r2\nldxb %r0, [%r3+0]\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off write below the frame",
            sf(&format!(
                "{}mov %r3, %r10\nadd %r3, -516\nadd %r3, %r2\nstb [%r3+0], 0\n\
                 mov %r0, 0\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off write unbounded",
            sf(&format!(
                "{}mov %r3, %r10\nadd %r3, %r2\nstb [%r3+0], 0\nmov %r0, 0\nexit",
                unknown(0x3fff_ffff)
            )),
        ),
        (
            "var-off read of zeros",
            sf(&format!(
                "stdw [%r10-16], 0\nstdw [%r10-8], 0\n{}mov %r3, %r10\nadd %r3, -16\n\
                 add %r3, %r2\nldxb %r0, [%r3+0]\njeq %r0, 0, +1\nmov %r0, %r9\nmov %r0, 0\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off read of data zeros",
            sf(&format!(
                "stb [%r10-15], 0\nstb [%r10-14], 0\nstb [%r10-13], 0\nstb [%r10-12], 0\n\
                 {}mov %r3, %r10\nadd %r3, -15\nadd %r3, %r2\nldxb %r0, [%r3+0]\n\
                 jeq %r0, 0, +1\nmov %r0, %r9\nmov %r0, 0\nexit",
                unknown(3)
            )),
        ),
        (
            "var-off read of data zeros and one",
            sf(&format!(
                "stb [%r10-15], 0\nstb [%r10-14], 0\nstb [%r10-13], 0\nstb [%r10-12], 1\n\
                 {}mov %r3, %r10\nadd %r3, -15\nadd %r3, %r2\nldxb %r0, [%r3+0]\n\
                 jeq %r0, 0, +1\nmov %r0, %r9\nmov %r0, 0\nexit",
                unknown(3)
            )),
        ),
        (
            "var-off read of some zeros",
            sf(&format!(
                "stdw [%r10-16], 0\nstb [%r10-9], 1\n{}mov %r3, %r10\nadd %r3, -16\n\
                 add %r3, %r2\nldxb %r0, [%r3+0]\njeq %r0, 0, +1\nmov %r0, %r9\nmov %r0, 0\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off misaligned read",
            sf(&format!(
                "stdw [%r10-16], 0\nstdw [%r10-8], 0\n{}mov %r3, %r10\nadd %r3, -16\n\
                 add %r3, %r2\nldxw %r0, [%r3+0]\njeq %r0, 0, +1\nmov %r0, %r9\nmov %r0, 0\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off zero write keeps zeros",
            sf(&format!(
                "stdw [%r10-16], 0\n{}mov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\n\
                 mov %r4, 0\nstxb [%r3+0], %r4\nldxdw %r0, [%r10-16]\njeq %r0, 0, +1\n\
                 mov %r0, %r9\nmov %r0, 0\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off nonzero write over zeros",
            sf(&format!(
                "stdw [%r10-16], 0\n{}mov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\n\
                 stb [%r3+0], 1\nldxdw %r0, [%r10-16]\njeq %r0, 0, +1\n\
                 mov %r0, %r9\nmov %r0, 0\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off write clobbers a spill",
            sf(&format!(
                "stxdw [%r10-8], %r1\n{}mov %r3, %r10\nadd %r3, -8\nadd %r3, %r2\n\
                 stb [%r3+0], 1\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\nexit",
                unknown(7)
            )),
        ),
        (
            "var-off write of a spilled zero",
            sf(&format!(
                "mov %r5, 0\nstxdw [%r10-8], %r5\n{}mov %r3, %r10\nadd %r3, -8\n\
                 add %r3, %r2\nstb [%r3+0], 0\nldxdw %r0, [%r10-8]\njeq %r0, 0, +1\n\
                 mov %r0, %r9\nmov %r0, 0\nexit",
                unknown(7)
            )),
        ),
    ]
}

/// The kernel's verdict: `None` accepted, `Some(error line)` refused.
fn kernel(p: &Program, maps: &[MapSpec], frozen: &[Option<Vec<u8>>]) -> Option<String> {
    let ko = KernelObject::from_programs_frozen(
        std::slice::from_ref(p),
        maps,
        frozen,
        &LoadOptions {
            log_level: 1,
            ..LoadOptions::default()
        },
    );
    if let Some(e) = ko.maps.iter().find_map(|m| m.error.clone()) {
        panic!("map creation failed: {e}");
    }
    let p = &ko.programs[0];
    match p.verdict {
        KVerdict::Accepted => None,
        KVerdict::Rejected => Some(common::error_line(&p.log)),
        ref v => panic!("kernel could not judge: {v:?} {:?}\n{}", p.reason, p.log),
    }
}

#[test]
fn memory_forms_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let (maps, frozen) = maps();
    let opts = Options {
        maps: maps.clone(),
        frozen_values: frozen.clone(),
        ..Options::default()
    };
    let mut wrong = Vec::new();
    for (name, p) in cases() {
        let k = kernel(&p, &maps, &frozen);
        let v = verify(&p, &opts);
        let ours = v
            .error
            .as_deref()
            .and_then(|e| e.lines().last())
            .map(str::to_string);
        eprintln!("{name}: kernel {k:?}, ours {ours:?}");
        let same = if v.unsupported {
            false
        } else if v.accepted {
            k.is_none()
        } else {
            k.is_some() && k == ours
        };
        if !same {
            wrong.push(format!("{name}: kernel {k:?}, ours {ours:?}"));
        }
    }
    assert!(wrong.is_empty(), "differ:\n{}", wrong.join("\n"));
}

/// Without the frozen contents the verifier cannot read a constant string, and says the
/// map is not read-only as the kernel does for a map it did not freeze.
#[test]
fn strings_need_the_frozen_contents() {
    let (maps, _) = maps();
    let opts = Options {
        maps,
        ..Options::default()
    };
    let v = verify(&snprintf("lddw %r3, map_idx_value 0 0", 16), &opts);
    assert_eq!(
        v.error.as_deref(),
        Some("R3 does not point to a readonly map'")
    );
}
