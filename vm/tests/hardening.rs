//! Issue 11's findings against the checked interpreter, each as the program that found it:
//! program-chosen sizes are checked before anything is allocated (this test binary runs
//! under a 1 GiB address-space limit, so an allocation of the program's size aborts it),
//! the context's private fields and the ring buffer's headers are out of the program's
//! reach, and context fields are writable only where the kernel lets the program type
//! write.

use bpfbox_vm::asm::assemble;
use bpfbox_vm::context::Context;
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::maps::{Map, MapConfig, MapSpec, MapType};
use bpfbox_vm::testrun::{prepare, run_context, RunResult, RunSetup, TestRunError};
use bpfbox_vm::{Env, FaultKind, ProgType};

/// Caps this process's address space, once, so that an allocation sized by a program
/// aborts the test instead of passing unnoticed on an overcommitting host.
fn limit_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read or fill the struct passed; nothing is shared.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut lim), 0, "getrlimit");
            // Within whatever limit the process already has (the hard limit stays).
            lim.rlim_cur = lim.rlim_max.min(1 << 30);
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &lim), 0, "setrlimit");
        }
    });
}

fn run(src: &str, t: ProgType, maps: &MapTable, ctx: Context) -> Result<RunResult, TestRunError> {
    limit_memory();
    let vm = prepare(&assemble(src).expect("assembles"), t, maps).expect("validates");
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    run_context(&vm, t, ctx, &mut env, &RunSetup::default())
}

/// The run ended in an out-of-bounds fault (a store when `write`).
fn assert_oob(r: Result<RunResult, TestRunError>, write: bool, what: &str) {
    match r {
        Err(TestRunError::Fault(f)) => match f.kind {
            FaultKind::OutOfBounds { write: w, .. } => assert_eq!(w, write, "{what}: {f}"),
            other => panic!("{what}: expected an out-of-bounds fault, got {other:?}"),
        },
        other => panic!("{what}: expected a fault, got {other:?}"),
    }
}

fn skb() -> Context {
    Context::skb(&[0u8; 64])
}

#[test]
fn program_sized_buffers_are_checked_before_they_are_allocated() {
    // Each helper gets a destination on the stack and a size of 4 GiB - 1.
    let calls = [
        (ProgType::SchedCls, "mov %r1, %r6\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov32 %r4, -1\ncall bpf_skb_load_bytes"),
        (ProgType::Kprobe, "mov %r1, %r10\nadd %r1, -8\nmov32 %r2, -1\nmov %r3, 0\ncall bpf_probe_read_kernel"),
        (ProgType::Kprobe, "mov %r1, %r10\nadd %r1, -8\nmov32 %r2, -1\nmov %r3, 0\ncall bpf_probe_read_kernel_str"),
        (ProgType::Kprobe, "mov %r1, %r10\nadd %r1, -8\nmov32 %r2, -1\nmov %r3, 0\ncall bpf_probe_read"),
        (ProgType::Kprobe, "mov %r1, %r10\nadd %r1, -8\nmov32 %r2, -1\ncall bpf_get_current_comm"),
        (ProgType::Kprobe, "mov %r1, %r6\nmov %r2, %r10\nadd %r2, -8\nmov32 %r3, -1\nmov %r4, 0\ncall bpf_get_stack"),
    ];
    for (t, call) in calls {
        let src = format!("mov %r6, %r1\n{call}\nexit");
        let ctx = if t == ProgType::SchedCls {
            skb()
        } else {
            Context::kprobe(Default::default())
        };
        assert_oob(run(&src, t, &MapTable::default(), ctx), true, call);
    }
}

#[test]
fn context_private_fields_and_packet_pointers_are_read_only() {
    // XDP: no field of xdp_md is writable, nor the private tail (data at 24 onwards).
    for off in [0, 4, 12, 24, 32, 48, 56] {
        let src = format!("stw [%r1+{off}], 0\nmov %r0, 2\nexit");
        assert_oob(
            run(
                &src,
                ProgType::Xdp,
                &MapTable::default(),
                Context::xdp(&[0; 64]),
            ),
            true,
            &format!("xdp ctx+{off}"),
        );
    }
    // The private copy of data_end, forged wide, once let a helper trust it.
    let forge = "lddw %r2, 0x7fffffff0000\nstxdw [%r1+200], %r2\nmov %r0, 0\nexit";
    assert_oob(
        run(forge, ProgType::SchedCls, &MapTable::default(), skb()),
        true,
        "skb private data_end",
    );
    // TC may write mark, cb and the rest of its list, not data or len.
    let ok =
        "stw [%r1+8], 7\nstw [%r1+48], 1\nstw [%r1+64], 1\nstdw [%r1+152], 1\nmov %r0, 0\nexit";
    run(ok, ProgType::SchedCls, &MapTable::default(), skb()).expect("TC writes its fields");
    for off in [0, 76, 80, 140, 192] {
        let src = format!("stw [%r1+{off}], 0\nmov %r0, 0\nexit");
        assert_oob(
            run(&src, ProgType::SchedCls, &MapTable::default(), skb()),
            true,
            &format!("tc ctx+{off}"),
        );
    }
    // A socket filter may write only cb.
    run(
        "stw [%r1+52], 3\nmov %r0, 0\nexit",
        ProgType::SocketFilter,
        &MapTable::default(),
        skb(),
    )
    .expect("cb is writable");
    assert_oob(
        run(
            "stw [%r1+8], 3\nmov %r0, 0\nexit",
            ProgType::SocketFilter,
            &MapTable::default(),
            skb(),
        ),
        true,
        "socket filter mark",
    );
    // Reading every field (and the packet pointers the rewrite loads) still works.
    let r = run(
        "ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r0, %r3\nsub %r0, %r2\nexit",
        ProgType::SchedCls,
        &MapTable::default(),
        skb(),
    )
    .unwrap();
    assert_eq!(r.r0, 64);
}

#[test]
fn kprobe_and_tracepoint_contexts_are_read_only() {
    let src = "stdw [%r1+0], 1\nmov %r0, 0\nexit";
    assert_oob(
        run(
            src,
            ProgType::Kprobe,
            &MapTable::default(),
            Context::kprobe(Default::default()),
        ),
        true,
        "pt_regs",
    );
    assert_oob(
        run(
            src,
            ProgType::Tracepoint,
            &MapTable::default(),
            Context::tracepoint(&[0; 16]),
        ),
        true,
        "tracepoint record",
    );
    // A syscall program's context is the user's memory: writable.
    run(
        src,
        ProgType::Syscall,
        &MapTable::default(),
        Context::syscall(&[0; 16]),
    )
    .expect("syscall contexts are writable");
}

fn ringbuf() -> MapTable {
    let m = Map::create(
        &MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096),
        &MapConfig { ncpus: 1 },
    )
    .unwrap();
    MapTable::new(vec![m])
}

/// Reserves 16 bytes into r6 (exits 1 when the reserve fails).
const RESERVE: &str = "
    lddw %r1, map_idx 0
    mov %r2, 16
    mov %r3, 0
    call bpf_ringbuf_reserve
    jne %r0, 0, +2
    mov %r0, 1
    exit
    mov %r6, %r0
";

#[test]
fn ring_buffer_headers_are_out_of_reach() {
    // The record itself is writable and is what the consumer sees.
    let ok = format!("{RESERVE}\nstdw [%r6+8], 0x42\nmov %r1, %r6\nmov %r2, 0\ncall bpf_ringbuf_submit\nmov %r0, 0\nexit");
    let r = run(
        &ok,
        ProgType::Kprobe,
        &ringbuf(),
        Context::kprobe(Default::default()),
    )
    .unwrap();
    assert_eq!(r.ringbuf.len(), 1);
    assert_eq!(r.ringbuf[0].1[8], 0x42);
    // The header before it: once rewritten to a 1 GiB length, and the CLI hex-dumped it.
    let forge = format!("{RESERVE}\nstw [%r6-8], 0x3fffffff\nmov %r1, %r6\nmov %r2, 0\ncall bpf_ringbuf_submit\nmov %r0, 0\nexit");
    assert_oob(
        run(
            &forge,
            ProgType::Kprobe,
            &ringbuf(),
            Context::kprobe(Default::default()),
        ),
        true,
        "ring buffer header",
    );
    // Past the record, and after it was submitted.
    let past = format!("{RESERVE}\nstw [%r6+16], 1\nmov %r0, 0\nexit");
    assert_oob(
        run(
            &past,
            ProgType::Kprobe,
            &ringbuf(),
            Context::kprobe(Default::default()),
        ),
        true,
        "past the record",
    );
    let stale = format!("{RESERVE}\nmov %r1, %r6\nmov %r2, 0\ncall bpf_ringbuf_submit\nstw [%r6+0], 1\nmov %r0, 0\nexit");
    assert_oob(
        run(
            &stale,
            ProgType::Kprobe,
            &ringbuf(),
            Context::kprobe(Default::default()),
        ),
        true,
        "a submitted record",
    );
}

#[test]
fn legacy_packet_loads_are_held_against_the_regions() {
    use bpfbox_vm::interp::{RunOptions, SkbBounds};
    // Bounds an embedder got wrong (here: memory no region covers) fault instead of being
    // read.
    let vm = prepare(
        &assemble("ldabsw 0\nexit").unwrap(),
        ProgType::SocketFilter,
        &MapTable::default(),
    )
    .unwrap();
    let bogus = SkbBounds {
        data: 0x1000,
        len: 64,
        mac: 0x1000,
        network: 0x100e,
    };
    let r = vm.run(
        [0; 5],
        &[],
        &mut Env::default(),
        RunOptions {
            skb: Some(bogus),
            ..RunOptions::default()
        },
    );
    match r {
        Err(f) => assert!(
            matches!(f.kind, FaultKind::OutOfBounds { write: false, .. }),
            "{f}"
        ),
        Ok(o) => panic!("read unregistered memory: {o:?}"),
    }
}

/// BPF atomics on a map shared by programs on four threads: every `lock add` lands (they
/// were a load and a store, and concurrent runs lost increments).
#[test]
fn atomics_on_a_shared_map_are_atomic() {
    let m = Map::create(
        &MapSpec::new("counter", MapType::Array, 4, 8, 1),
        &MapConfig { ncpus: 1 },
    )
    .unwrap();
    let maps = MapTable::new(vec![m.clone()]);
    let src = "
        stw [%r10-4], 0
        lddw %r1, map_idx 0
        mov %r2, %r10
        add %r2, -4
        call bpf_map_lookup_elem
        jne %r0, 0, +2
        mov %r0, 1
        exit
        mov %r1, 1
        mov %r6, 20000
    loop:
        lock add [%r0+0], %r1
        sub %r6, 1
        jne %r6, 0, loop
        mov %r0, 0
        exit";
    let vm = prepare(&assemble(src).unwrap(), ProgType::Kprobe, &maps).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (vm, maps) = (&vm, maps.clone());
            s.spawn(move || {
                let mut env = Env {
                    maps,
                    ..Env::default()
                };
                let ctx = Context::kprobe(Default::default());
                run_context(vm, ProgType::Kprobe, ctx, &mut env, &RunSetup::default()).unwrap();
            });
        }
    });
    let v = m.lookup(&0u32.to_ne_bytes()).unwrap();
    assert_eq!(u64::from_ne_bytes(v[..8].try_into().unwrap()), 80_000);
}

/// The kernel ignores `exit`'s offset; decoding kept the instruction but encoding dropped
/// the offset, so the `decode` fuzz target's round trip failed.
#[test]
fn exit_keeps_its_ignored_offset() {
    use bpfbox_vm::isa::{decode_program, Insn, RawInsn};
    let slots = [
        RawInsn::new(0xb7, 0, 0, 0, 0),
        RawInsn::new(0x95, 0, 0, 0x1234, 0),
    ];
    let insn = Insn::decode(&slots, 1).expect("the kernel accepts it");
    assert_eq!(insn, Insn::Exit { off: 0x1234 });
    let (enc, n) = insn.encode();
    assert_eq!(&enc[..n], &slots[1..]);
    decode_program(&slots).expect("a valid program");
}

/// Per-run accumulations stay bounded: redirects past the cap are dropped and flagged, and
/// the keys `bpf_for_each_map_elem` hands its callback are freed after each call (a loop of
/// calls kept every key, and a region for it, for the rest of the run).
#[test]
fn redirects_and_callback_keys_do_not_accumulate() {
    limit_memory();
    let src = "
        mov %r6, 5000
    again:
        mov %r1, 1
        mov %r2, 0
        call bpf_redirect
        sub %r6, 1
        jne %r6, 0, again
        mov %r0, 0
        exit";
    let r = run(src, ProgType::SchedCls, &MapTable::default(), skb()).unwrap();
    assert_eq!(r.redirects.len(), bpfbox_vm::helpers::packet::MAX_REDIRECTS);
    assert!(r.output_limit_reached);

    let m = Map::create(
        &MapSpec::new("a", MapType::Array, 4, 8, 4),
        &MapConfig { ncpus: 1 },
    )
    .unwrap();
    let maps = MapTable::new(vec![m]);
    let src = "
        mov %r6, 2000
    again:
        lddw %r1, map_idx 0
        lddw %r2, func cb
        mov %r3, 0
        mov %r4, 0
        call bpf_for_each_map_elem
        sub %r6, 1
        jne %r6, 0, again
        mov %r0, 0
        exit
    cb:
        ldxw %r0, [%r2+0]
        mov %r0, 0
        exit";
    let vm = prepare(&assemble(src).unwrap(), ProgType::Kprobe, &maps).unwrap();
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let ctx = Context::kprobe(Default::default());
    run_context(&vm, ProgType::Kprobe, ctx, &mut env, &RunSetup::default()).unwrap();
    assert!(env.scratch.is_empty(), "{} keys kept", env.scratch.len());
}
