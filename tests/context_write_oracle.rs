//! The context a run registers against the verifier's context rules, which the verifier's
//! own tests hold against the kernel (`verifier/tests/ctx_kernel.rs`, every offset × size ×
//! load and store of every context): for every program type, every attach type, every
//! offset and every size 1/2/4/8, the verifier allows a store there exactly when the run's
//! context regions admit it. A second sweep makes the engines themselves (the checked
//! interpreter and the JIT's checked mode) store at each place.
//!
//! The verifier's context module lacks some types (tracing, LSM, struct_ops, extension,
//! lirc_mode2, unspec): for those the run must be read-only, as the kernel's
//! `tracing_prog_is_valid_access`, `bpf_tracing_btf_ctx_access`,
//! `bpf_struct_ops_is_valid_access` and `lirc_mode2_is_valid_access` refuse every store (an
//! extension program takes its target's rules, unknown here, and fails closed).

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_verifier::ctx::{self, Access, CtxError, Load};
use bpfbox_vm::context::Context;
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::interp::RunOptions;
use bpfbox_vm::memory::{check_access, Region, RegionKind};
use bpfbox_vm::testrun::{build_context, prepare, Runner, TestRun};
use bpfbox_vm::{Env, FaultKind, ProgType};

/// `__MAX_BPF_ATTACH_TYPE` in Linux 6.12: attach types 0 to 56.
const ATTACH_TYPES: u32 = 57;
/// Bytes of context input: more than any context struct (the largest, `bpf_sock_ops`, is
/// 224), so stores past a struct's end meet the run's read-only rest of the buffer.
const CTX_IN: usize = 256;
const SIZES: [u32; 4] = [1, 2, 4, 8];

/// The verifier's answer to a store, `None` when its context module lacks the type.
fn verifier_allows(t: ProgType, attach: u32, off: i32, size: u32) -> Option<bool> {
    let load = Load {
        prog_type: t,
        attach,
        // Runs here are privileged (cgroup_skb's `tstamp` needs CAP_BPF).
        privileged: true,
    };
    let a = Access {
        off,
        size,
        write: true,
        signed: false,
    };
    match ctx::access(&load, a) {
        Ok(_) => Some(true),
        Err(CtxError::Invalid { .. }) => Some(false),
        Err(CtxError::Unsupported(_)) => None,
    }
}

/// The context a test run of `t` builds from a zeroed input.
fn context(t: ProgType) -> Context {
    // An IPv4 frame, so the kernel-shaped packet contexts build.
    let mut packet = vec![0u8; 64];
    packet[12] = 0x08;
    packet[14] = 0x45;
    let run = TestRun {
        data_in: packet,
        ctx_in: Some(vec![0; CTX_IN]),
        ..TestRun::default()
    };
    build_context(t, &run).unwrap_or_else(|e| panic!("{}: {e}", t.name()))
}

/// The context's own regions (the frame, a separate buffer, is left out).
fn ctx_regions(c: &Context, t: ProgType, attach: Option<u32>) -> Vec<Region> {
    c.regions_for(t, attach)
        .into_iter()
        .filter(|r| r.kind() == RegionKind::Context)
        .collect()
}

/// The offsets swept: around the whole context buffer. A syscall program's stores are
/// checked against the buffer given at run time, so only its inside is compared.
fn offsets(t: ProgType, c: &Context, size: u32) -> std::ops::Range<i32> {
    let len = c.ctx_bytes().len() as i32;
    if t == ProgType::Syscall {
        0..len - size as i32 + 1
    } else {
        -8..len + 8
    }
}

#[test]
fn the_run_admits_exactly_the_stores_the_verifier_allows() {
    let (mut compared, mut allowed) = (0u64, 0u64);
    let mut lacking = Vec::new();
    let mut bad = Vec::new();
    for t in ProgType::ALL {
        let c = context(t);
        let base = c.ptr();
        for attach in 0..ATTACH_TYPES {
            let regions = ctx_regions(&c, t, Some(attach));
            // `None` and 0 are the same to the kernel (an unset attribute).
            if attach == 0 {
                assert_eq!(regions, ctx_regions(&c, t, None), "{}", t.name());
            }
            for size in SIZES {
                for off in offsets(t, &c, size) {
                    let run = check_access(
                        &regions,
                        base.wrapping_add(off as i64 as u64),
                        size.into(),
                        true,
                    )
                    .is_ok();
                    let verifier = match verifier_allows(t, attach, off, size) {
                        Some(v) => v,
                        None => {
                            if !lacking.contains(&t) {
                                lacking.push(t);
                            }
                            false
                        }
                    };
                    compared += 1;
                    allowed += u64::from(verifier);
                    if run != verifier {
                        bad.push(format!(
                            "{} attach {attach}: store of {size} at {off}: verifier {}, run {}",
                            t.name(),
                            if verifier { "allows" } else { "refuses" },
                            if run { "admits" } else { "faults" },
                        ));
                    }
                }
            }
        }
    }
    let names: Vec<&str> = lacking.iter().map(|t| t.name()).collect();
    eprintln!(
        "{compared} stores compared ({allowed} allowed); the verifier's context module lacks: {}",
        names.join(", ")
    );
    assert!(
        bad.is_empty(),
        "{} of {compared} stores differ:\n{}",
        bad.len(),
        bad.iter().take(50).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        names,
        [
            "unspec",
            "lirc_mode2",
            "tracing",
            "struct_ops",
            "ext",
            "lsm"
        ]
    );
    assert!(allowed > 10_000, "only {allowed} stores allowed");
}

/// `mov r3, 1; stx<size> [r1+off], r3; mov r0, 0; exit`: the store is at pc 1.
fn store_program(off: i32, size: u32) -> Vec<bpfbox_vm::RawInsn> {
    let sfx = match size {
        1 => "b",
        2 => "h",
        4 => "w",
        _ => "dw",
    };
    let src = format!("mov %r3, 1\nstx{sfx} [%r1{off:+}], %r3\nmov %r0, 0\nexit");
    bpfbox_vm::asm::assemble(&src).expect("assembles")
}

/// The attach types whose rules differ, per type: every one for the cgroup families whose
/// rules depend on it, none (0) for the rest.
fn attach_types(t: ProgType) -> Vec<Option<u32>> {
    match t {
        ProgType::CgroupSock | ProgType::CgroupSockAddr | ProgType::CgroupSockopt => {
            std::iter::once(None)
                .chain((0..ATTACH_TYPES).map(Some))
                .collect()
        }
        _ => vec![None],
    }
}

#[test]
fn the_engines_fault_exactly_where_the_verifier_refuses() {
    let maps = MapTable::default();
    let mut runs = 0u64;
    let mut bad = Vec::new();
    for size in SIZES {
        for off in -8..CTX_IN as i32 + 8 {
            // The program is the same for every type (the context rewrite only touches loads).
            let vm = Arc::new(prepare(&store_program(off, size), ProgType::Unspec, &maps).unwrap());
            let jit = JitProgram::compile(Arc::clone(&vm)).expect("compiles");
            let engines: [(&str, &dyn Runner); 2] = [("interpreter", &*vm), ("jit", &jit)];
            for t in ProgType::ALL {
                let c = context(t);
                if !offsets(t, &c, size).contains(&off) {
                    continue;
                }
                for attach in attach_types(t) {
                    let regions = c.regions_for(t, attach);
                    let verifier =
                        verifier_allows(t, attach.unwrap_or(0), off, size).unwrap_or(false);
                    for (name, engine) in engines {
                        let mut env = Env::default();
                        let r = engine.run(
                            [c.ptr(), 0, 0, 0, 0],
                            &regions,
                            &mut env,
                            RunOptions::default(),
                        );
                        runs += 1;
                        let ok = match r {
                            Ok(_) => true,
                            Err(f) => {
                                assert_eq!(f.pc, 1, "{name}: {f}");
                                assert!(
                                    matches!(f.kind, FaultKind::OutOfBounds { write: true, .. }),
                                    "{name}: {f}"
                                );
                                false
                            }
                        };
                        if ok != verifier {
                            bad.push(format!(
                                "{name}: {} attach {attach:?}: store of {size} at {off}: verifier {verifier}, engine {ok}",
                                t.name()
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!("{runs} stores run through the interpreter and the JIT");
    assert!(
        bad.is_empty(),
        "{} stores differ:\n{}",
        bad.len(),
        bad.iter().take(50).cloned().collect::<Vec<_>>().join("\n")
    );
}
