//! Helpers whose expected values come from the kernel's documented semantics, worked out
//! by hand: timers (fired on request), spin locks, user ring buffers drained through
//! dynptrs, socket and cgroup storage, `bpf_fib_lookup` over a filled route table,
//! `bpf_redirect_map` recording its target, and the missing-helper check.

use bpfbox_vm::asm::assemble;
use bpfbox_vm::context::Context;
use bpfbox_vm::helpers::fib::{fib_lookup, ret, BPF_FIB_LOOKUP_SKIP_NEIGH, FIB_LOOKUP_SIZE};
use bpfbox_vm::helpers::{timer, HelperRegistry, MapTable};
use bpfbox_vm::interp::RunOptions;
use bpfbox_vm::maps::{Errno, Map, MapConfig, MapRef, MapSpec, MapType};
use bpfbox_vm::net::{v4, Device, Fib, Neighbour, Route, RouteKind, Socket, AF_INET};
use bpfbox_vm::testrun::{prepare, run_context, RunResult, RunSetup};
use bpfbox_vm::{Env, ProgType, Vm};

fn map(spec: MapSpec) -> MapRef {
    Map::create(&spec, &MapConfig { ncpus: 2 }).unwrap()
}

/// Prepares `src` as a kprobe program bound to `maps`.
fn vm(src: &str, maps: &MapTable, t: ProgType) -> Vm {
    prepare(&assemble(src).expect("assembles"), t, maps).expect("validates")
}

fn run(vm: &Vm, t: ProgType, env: &mut Env, ctx: Context) -> RunResult {
    run_context(vm, t, ctx, env, &RunSetup::default()).expect("runs")
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

/// Looks up key 0 of map 0 into r6 and key 0 of map 1 (results) into r8.
const PROLOGUE: &str = "
    stw [%r10-4], 0
    lddw %r1, map_idx 0
    mov %r2, %r10
    add %r2, -4
    call bpf_map_lookup_elem
    jne %r0, 0, +2
    mov %r0, -1
    exit
    mov %r6, %r0
    lddw %r1, map_idx 1
    mov %r2, %r10
    add %r2, -4
    call bpf_map_lookup_elem
    jne %r0, 0, +2
    mov %r0, -1
    exit
    mov %r8, %r0
";

#[test]
fn timers_follow_the_kernel_rules_and_fire_on_request() {
    // Value: struct bpf_timer (16 bytes) then a counter.
    let timers = map(MapSpec::new("timers", MapType::Array, 4, 24, 1));
    let results = map(MapSpec::new("results", MapType::Array, 4, 64, 1));
    let maps = MapTable::new(vec![timers.clone(), results.clone()]);
    let src = format!(
        "{PROLOGUE}
        mov %r1, %r6
        lddw %r2, map_idx 0
        mov %r3, 5
        call bpf_timer_init
        stxdw [%r8+0], %r0
        mov %r1, %r6
        lddw %r2, map_idx 0
        mov %r3, 1
        call bpf_timer_init
        stxdw [%r8+8], %r0
        mov %r1, %r6
        lddw %r2, map_idx 0
        mov %r3, 1
        call bpf_timer_init
        stxdw [%r8+16], %r0
        mov %r1, %r6
        mov %r2, 1000
        mov %r3, 0
        call bpf_timer_start
        stxdw [%r8+24], %r0
        mov %r1, %r6
        lddw %r2, func cb
        call bpf_timer_set_callback
        stxdw [%r8+32], %r0
        mov %r1, %r6
        mov %r2, 1000
        mov %r3, 4
        call bpf_timer_start
        stxdw [%r8+40], %r0
        mov %r1, %r6
        mov %r2, 500
        mov %r3, 0
        call bpf_timer_start
        mov %r1, %r6
        call bpf_timer_cancel
        stxdw [%r8+48], %r0
        mov %r1, %r6
        call bpf_timer_cancel
        stxdw [%r8+56], %r0
        mov %r1, %r6
        lddw %r2, func cb
        call bpf_timer_set_callback
        mov %r1, %r6
        mov %r2, 700
        mov %r3, 0
        call bpf_timer_start
        mov %r0, 0
        exit
    cb:
        ldxdw %r4, [%r3+16]
        ldxw %r5, [%r2+0]
        add %r4, %r5
        add %r4, 1
        stxdw [%r3+16], %r4
        mov %r1, %r3
        call bpf_timer_cancel
        stxdw [%r3+8], %r0
        mov %r0, 0
        exit"
    );
    let v = vm(&src, &maps, ProgType::Kprobe);
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let start = env.clock_ns;
    run(&v, ProgType::Kprobe, &mut env, Context::syscall(&[]));
    let r = results.lookup(&0u32.to_ne_bytes()).unwrap();
    let got: Vec<i64> = (0..8).map(|k| u64_at(&r, k * 8) as i64).collect();
    // Bad clock id: EINVAL; init: 0; again: EBUSY; start before a callback: EINVAL;
    // set_callback: 0; unknown start flag: EINVAL; cancel of an armed timer: 1, then 0
    // (each cancel drops the callback, so it is set again before the last start).
    assert_eq!(got, vec![-22, 0, -16, -22, 0, -22, 1, 0]);
    let fire =
        |env: &mut Env| timer::fire_timers(env, |_| Some(&v), RunOptions::default).expect("fires");
    assert_eq!(fire(&mut env), 1);
    let t = timers.lookup(&0u32.to_ne_bytes()).unwrap();
    // The callback saw key 0 and its value; cancelling its own timer is EDEADLK.
    assert_eq!(u64_at(&t, 16), 1);
    assert_eq!(u64_at(&t, 8) as i64, -35);
    assert_eq!(env.clock_ns, start + 700);
    assert_eq!(fire(&mut env), 0);
}

#[test]
fn spin_lock_guards_and_a_held_lock_faults() {
    let m = map(MapSpec::new("locked", MapType::Array, 4, 16, 1));
    let results = map(MapSpec::new("results", MapType::Array, 4, 64, 1));
    let maps = MapTable::new(vec![m.clone(), results]);
    let body = |twice: bool| {
        format!(
            "{PROLOGUE}
            mov %r1, %r6
            call bpf_spin_lock
            {}
            ldxdw %r1, [%r6+8]
            add %r1, 1
            stxdw [%r6+8], %r1
            mov %r1, %r6
            call bpf_spin_unlock
            mov %r0, 0
            exit",
            if twice {
                "mov %r1, %r6\ncall bpf_spin_lock"
            } else {
                ""
            }
        )
    };
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let ok = vm(&body(false), &maps, ProgType::Kprobe);
    run(&ok, ProgType::Kprobe, &mut env, Context::syscall(&[]));
    run(&ok, ProgType::Kprobe, &mut env, Context::syscall(&[]));
    let v = m.lookup(&0u32.to_ne_bytes()).unwrap();
    assert_eq!((u64_at(&v, 0), u64_at(&v, 8)), (0, 2));
    let bad = vm(&body(true), &maps, ProgType::Kprobe);
    let e = run_context(
        &bad,
        ProgType::Kprobe,
        Context::syscall(&[]),
        &mut env,
        &RunSetup::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("deadlock"), "{e}");
}

#[test]
fn user_ringbuf_drain_hands_samples_to_the_callback() {
    let rb = map(MapSpec::new("urb", MapType::UserRingbuf, 0, 0, 4096));
    let maps = MapTable::new(vec![rb.clone()]);
    rb.user_ringbuf_submit(b"abc").unwrap();
    rb.user_ringbuf_discard(5).unwrap();
    rb.user_ringbuf_submit(b"xyz!").unwrap();
    // A sample can never exceed the ring; a full ring refuses with ENOSPC.
    assert_eq!(
        rb.user_ringbuf_submit(&[0; 4089]).unwrap_err().errno,
        Errno::E2BIG
    );
    let src = "
        stdw [%r10-8], 0
        lddw %r1, map_idx 0
        lddw %r2, func cb
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call bpf_user_ringbuf_drain
        ldxdw %r1, [%r10-8]
        lsh %r0, 32
        or %r0, %r1
        exit
    cb:
        mov %r6, %r2
        mov %r2, 1
        mov %r3, 2
        call bpf_dynptr_data
        jeq %r0, 0, +5
        ldxb %r1, [%r0+0]
        ldxdw %r2, [%r6+0]
        lsh %r2, 8
        or %r2, %r1
        stxdw [%r6+0], %r2
        mov %r0, 0
        exit";
    let v = vm(src, &maps, ProgType::Kprobe);
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let r = run(&v, ProgType::Kprobe, &mut env, Context::syscall(&[]));
    // Three samples taken, one discarded: 2; bytes 1 of "abc" and "xyz!".
    assert_eq!(r.r0, 2 << 32 | u64::from(b'b') << 8 | u64::from(b'y'));
    assert_eq!(
        run(&v, ProgType::Kprobe, &mut env, Context::syscall(&[])).r0,
        0
    );
    // bpf_dynptr_read past the sample is E2BIG; unknown drain flags EINVAL.
    rb.user_ringbuf_submit(b"12345678").unwrap();
    let src = "
        lddw %r1, map_idx 0
        lddw %r2, func cb
        mov %r3, 0
        mov %r4, 4
        call bpf_user_ringbuf_drain
        jne %r0, -22, +5
        lddw %r1, map_idx 0
        lddw %r2, func cb
        mov %r3, 0
        mov %r4, 0
        call bpf_user_ringbuf_drain
        exit
    cb:
        mov %r3, %r1
        mov %r1, %r10
        add %r1, -16
        mov %r2, 8
        mov %r4, 1
        mov %r5, 0
        call bpf_dynptr_read
        jne %r0, -7, +2
        mov %r0, 1
        exit
        mov %r0, 0
        exit";
    let v = vm(src, &maps, ProgType::Kprobe);
    assert_eq!(
        run(&v, ProgType::Kprobe, &mut env, Context::syscall(&[])).r0,
        1
    );
}

#[test]
fn socket_storage_follows_the_socket() {
    let mut spec = MapSpec::new("sks", MapType::SkStorage, 4, 8, 0).with_flags(1);
    spec.btf_key_type_id = Some(1);
    spec.btf_value_type_id = Some(2);
    let st = map(spec);
    let maps = MapTable::new(vec![st.clone()]);
    let src = "
        mov %r6, %r1
        stw [%r10-16], 0x0100007f
        stw [%r10-12], 0x0100007f
        stw [%r10-8], 0x50003930
        mov %r1, %r6
        mov %r2, %r10
        add %r2, -16
        mov %r3, 12
        mov %r4, -1
        mov %r5, 0
        call bpf_sk_lookup_tcp
        jeq %r0, 0, +14
        mov %r7, %r0
        lddw %r1, map_idx 0
        mov %r2, %r7
        mov %r3, 0
        mov %r4, 1
        call bpf_sk_storage_get
        mov %r8, 0
        jeq %r0, 0, +3
        ldxdw %r8, [%r0+0]
        add %r8, 1
        stxdw [%r0+0], %r8
        mov %r1, %r7
        call bpf_sk_release
        mov %r0, %r8
        exit
        mov %r0, -1
        exit";
    let v = vm(src, &maps, ProgType::SchedCls);
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let h = env
        .net
        .sockets
        .add(Socket::tcp_listen_v4([127, 0, 0, 1], 80));
    let frame = [0u8; 60];
    assert_eq!(
        run(&v, ProgType::SchedCls, &mut env, Context::skb(&frame)).r0,
        1
    );
    assert_eq!(
        run(&v, ProgType::SchedCls, &mut env, Context::skb(&frame)).r0,
        2
    );
    assert_eq!(st.lookup(&h.to_ne_bytes()).unwrap(), 2u64.to_ne_bytes());
    // User space may not walk socket storage (ENOTSUPP) and deletes it per socket.
    assert_eq!(st.get_next_key(None).unwrap_err().errno, Errno::ENOTSUPP);
    st.delete(&h.to_ne_bytes()).unwrap();
    assert_eq!(
        st.delete(&h.to_ne_bytes()).unwrap_err().errno,
        Errno::ENOENT
    );
}

#[test]
fn cgroup_storage_holds_the_last_runs_value() {
    let st = map(MapSpec::new("cst", MapType::PercpuCgroupStorage, 16, 8, 0));
    let maps = MapTable::new(vec![st.clone()]);
    let src = "
        lddw %r1, map_idx 0
        mov %r2, 0
        call bpf_get_local_storage
        ldxdw %r1, [%r0+0]
        add %r1, 5
        stxdw [%r0+0], %r1
        mov %r0, %r1
        exit";
    let v = vm(src, &maps, ProgType::CgroupSkb);
    let mut env = Env {
        maps: maps.clone(),
        cpu: 1,
        cgroup_id: 77,
        cgroup_attach_type: 1,
        ..Env::default()
    };
    let setup = RunSetup {
        repeat: 3,
        ..RunSetup::default()
    };
    let r = run_context(
        &v,
        ProgType::CgroupSkb,
        Context::skb(&[0; 60]),
        &mut env,
        &setup,
    )
    .unwrap();
    assert_eq!(r.r0, 15);
    let mut key = 77u64.to_ne_bytes().to_vec();
    key.extend_from_slice(&[1, 0, 0, 0, 0xee, 0xee, 0xee, 0xee]);
    assert_eq!(
        st.lookup_percpu(&key).unwrap(),
        vec![vec![0; 8], 15u64.to_ne_bytes().to_vec()]
    );
    // The next test run starts from fresh storage.
    let r = run(&v, ProgType::CgroupSkb, &mut env, Context::skb(&[0; 60]));
    assert_eq!(r.r0, 5);
    // User space cannot create or delete cgroup storage.
    assert_eq!(
        st.update(&[0; 16], &[0; 16], 0).unwrap_err().errno,
        Errno::ENOENT
    );
    assert_eq!(st.delete(&key).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn redirect_map_records_its_target() {
    let d = map(MapSpec::new("ports", MapType::DevmapHash, 4, 4, 8));
    d.update(&9u32.to_ne_bytes(), &3u32.to_ne_bytes(), 0)
        .unwrap();
    let maps = MapTable::new(vec![d]);
    let prog = |key: i32, flags: i32| {
        format!(
            "lddw %r1, map_idx 0
            mov %r2, {key}
            mov %r3, {flags}
            call bpf_redirect_map
            exit"
        )
    };
    let mut env = Env {
        maps: maps.clone(),
        ..Env::default()
    };
    let r = run(
        &vm(&prog(9, 0), &maps, ProgType::Xdp),
        ProgType::Xdp,
        &mut env,
        Context::xdp(&[0; 60]),
    );
    assert_eq!(r.action, Some("XDP_REDIRECT"));
    assert_eq!(r.redirects.len(), 1);
    assert_eq!(
        (r.redirects[0].target, r.redirects[0].map.as_deref()),
        (9, Some("ports"))
    );
    let r = run(
        &vm(&prog(8, 2), &maps, ProgType::Xdp),
        ProgType::Xdp,
        &mut env,
        Context::xdp(&[0; 60]),
    );
    assert_eq!((r.r0, r.redirects.len()), (2, 0));
}

fn fib() -> Fib {
    let mut f = Fib::default();
    f.devices.push(Device {
        ifindex: 2,
        mac: [2, 0, 0, 0, 0, 2],
        mtu: 1500,
        forwarding: true,
    });
    let route = |p: [u8; 4], len, kind, gw: Option<[u8; 4]>| Route {
        family: AF_INET,
        prefix: v4(p),
        prefix_len: len,
        kind,
        ifindex: 2,
        gateway: gw.map(v4),
        metric: 100,
        mtu: 0,
    };
    f.routes.push(route(
        [10, 0, 0, 0],
        8,
        RouteKind::Unicast,
        Some([192, 168, 1, 1]),
    ));
    f.routes
        .push(route([10, 9, 0, 0], 16, RouteKind::Blackhole, None));
    f.routes
        .push(route([192, 168, 1, 0], 24, RouteKind::Unicast, None));
    f.neighbours.push(Neighbour {
        ifindex: 2,
        family: AF_INET,
        addr: v4([192, 168, 1, 1]),
        mac: [2, 0, 0, 0, 0, 0xaa],
    });
    f
}

fn params(dst: [u8; 4], tot_len: u16) -> [u8; FIB_LOOKUP_SIZE] {
    let mut p = [0u8; FIB_LOOKUP_SIZE];
    p[0] = AF_INET as u8;
    p[6..8].copy_from_slice(&tot_len.to_ne_bytes());
    p[8..12].copy_from_slice(&2u32.to_ne_bytes());
    p[32..36].copy_from_slice(&dst);
    p
}

#[test]
fn fib_lookup_over_a_filled_route_table() {
    let f = fib();
    // Through the gateway: output device, next hop as destination, both MACs, the MTU.
    let mut p = params([10, 1, 2, 3], 100);
    assert_eq!(fib_lookup(&f, &mut p, 0, true), ret::SUCCESS);
    assert_eq!(p[32..36], [192, 168, 1, 1]);
    assert_eq!(p[52..58], [2, 0, 0, 0, 0, 2]);
    assert_eq!(p[58..64], [2, 0, 0, 0, 0, 0xaa]);
    assert_eq!(u16::from_ne_bytes([p[6], p[7]]), 1500);
    assert_eq!(u32::from_ne_bytes([p[12], p[13], p[14], p[15]]), 100);
    // Too big for the MTU: FRAG_NEEDED with the MTU reported.
    let mut p = params([10, 1, 2, 3], 1501);
    assert_eq!(fib_lookup(&f, &mut p, 0, true), ret::FRAG_NEEDED);
    assert_eq!(u16::from_ne_bytes([p[6], p[7]]), 1500);
    // A directly connected host without a neighbour entry, then skipping the neighbour.
    let mut p = params([192, 168, 1, 7], 0);
    assert_eq!(fib_lookup(&f, &mut p, 0, false), ret::NO_NEIGH);
    let mut p = params([192, 168, 1, 7], 0);
    assert_eq!(
        fib_lookup(&f, &mut p, BPF_FIB_LOOKUP_SKIP_NEIGH, false),
        ret::SUCCESS
    );
    assert_eq!(p[52..64], [0; 12]);
    // The longer blackhole prefix wins; no route at all is NOT_FWDED.
    assert_eq!(
        fib_lookup(&f, &mut params([10, 9, 1, 1], 0), 0, false),
        ret::BLACKHOLE
    );
    assert_eq!(
        fib_lookup(&f, &mut params([8, 8, 8, 8], 0), 0, false),
        ret::NOT_FWDED
    );
}

#[test]
fn missing_helpers_are_named() {
    let reg = HelperRegistry::kernel();
    let insns = assemble(
        "lddw %r1, 0
        call bpf_get_prandom_u32
        call bpf_tail_call
        call bpf_get_stackid
        exit",
    )
    .unwrap();
    assert_eq!(reg.first_missing(&insns), Some((4, 27)));
    for name in [
        "bpf_spin_lock",
        "bpf_timer_init",
        "bpf_timer_set_callback",
        "bpf_timer_start",
        "bpf_timer_cancel",
        "bpf_sk_lookup_tcp",
        "bpf_sk_lookup_udp",
        "bpf_skc_lookup_tcp",
        "bpf_sk_release",
        "bpf_fib_lookup",
        "bpf_strtol",
        "bpf_strtoul",
        "bpf_get_local_storage",
        "bpf_user_ringbuf_drain",
        "bpf_dynptr_read",
        "bpf_dynptr_data",
    ] {
        assert!(reg.by_name(name).is_some(), "{name}");
    }
}

#[test]
fn output_past_its_bounds_is_dropped_and_flagged() {
    let perf = map(MapSpec::new("events", MapType::PerfEventArray, 4, 4, 1));
    perf.perf_open(0, bpfbox_vm::maps::PERF_ANY_CPU).unwrap();
    let maps = MapTable::new(vec![perf.clone()]);
    // 5 printk lines, then up to 600 perf samples of 508 bytes (520-byte records with the
    // size word and header): 504 fill the 256 KiB buffer and the next is lost with ENOSPC,
    // which ends the loop.
    let src = "
        mov %r6, %r1
        mov %r1, 5
        lddw %r2, func line
        mov %r3, 0
        mov %r4, 0
        call bpf_loop
        mov %r1, 600
        lddw %r2, func sample
        mov %r3, %r6
        mov %r4, 0
        call bpf_loop
        exit
    line:
        stw [%r10-8], 0x0a7869
        mov %r1, %r10
        add %r1, -8
        mov %r2, 4
        call bpf_trace_printk
        mov %r0, 0
        exit
    sample:
        mov %r1, %r2
        lddw %r2, map_idx 0
        mov %r3, 0
        mov %r4, %r10
        add %r4, -512
        mov %r5, 508
        call bpf_perf_event_output
        mov %r1, %r0
        mov %r0, 0
        jeq %r1, 0, +1
        mov %r0, 1
        exit";
    let v = vm(src, &maps, ProgType::Kprobe);
    let mut env = Env {
        maps: maps.clone(),
        printk_limit: 2,
        ..Env::default()
    };
    let r = run(
        &v,
        ProgType::Kprobe,
        &mut env,
        Context::kprobe(Default::default()),
    );
    assert_eq!(r.printk, vec!["ix".to_string(), "ix".to_string()]);
    assert!(r.output_limit_reached);
    let fit = bpfbox_vm::maps::perf::PERF_MAX_PENDING_BYTES / 520;
    assert_eq!(r.perf.len(), fit);
    assert_eq!(r.r0, fit as u64 + 1);
    // The next run starts unflagged.
    let quiet = vm("mov %r0, 0\nexit", &maps, ProgType::Kprobe);
    let r = run(
        &quiet,
        ProgType::Kprobe,
        &mut env,
        Context::kprobe(Default::default()),
    );
    assert!(!r.output_limit_reached);
}
