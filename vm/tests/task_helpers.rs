//! The task, sequence-file and socket-option helpers over the models a test fills, with the
//! values the kernel's sources give (kernel/bpf/task_iter.c `bpf_find_vma`,
//! kernel/bpf/helpers.c `bpf_copy_from_user_task`, kernel/trace/bpf_trace.c `bpf_d_path`
//! and `bpf_seq_write`, kernel/bpf/stackmap.c `bpf_get_task_stack`, net/core/filter.c
//! `bpf_{get,set}sockopt`, net/core/sock_map.c `bpf_sock_map_update`,
//! `sk_select_reuseport`), worked out by hand.

use bpfbox_vm::asm::assemble;
use bpfbox_vm::context::Context;
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::maps::{Map, MapConfig, MapSpec, MapType};
use bpfbox_vm::testrun::{prepare, run_context, RunResult, RunSetup};
use bpfbox_vm::{Env, ProgType};

fn run_with(src: &str, t: ProgType, env: &mut Env, maps: &MapTable, ctx: Context) -> RunResult {
    let vm = prepare(&assemble(src).expect("assembles"), t, maps).expect("validates");
    env.maps = maps.clone();
    run_context(&vm, t, ctx, env, &RunSetup::default()).expect("runs")
}

fn run(src: &str, t: ProgType, env: &mut Env) -> RunResult {
    run_with(
        src,
        t,
        env,
        &MapTable::default(),
        Context::raw_tracepoint(&[0; 4]),
    )
}

const ENOENT: u64 = -2i64 as u64;
const EINVAL: u64 = -22i64 as u64;
const EFAULT: u64 = -14i64 as u64;

#[test]
fn current_task_btf_points_at_the_task_the_test_filled() {
    let mut env = Env::default();
    env.task.struct_bytes_mut()[100..108].copy_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
    let src = "
        call bpf_get_current_task_btf
        ldxdw %r0, [%r0+100]
        exit";
    assert_eq!(
        run(src, ProgType::Tracing, &mut env).r0,
        0x1122_3344_5566_7788
    );
    let src = "
        call bpf_get_current_task
        mov %r6, %r0
        call bpf_get_current_task_btf
        sub %r0, %r6
        exit";
    assert_eq!(run(src, ProgType::Kprobe, &mut env).r0, 0);
    // The task structure is the kernel's: programs cannot write it.
    let src = "
        call bpf_get_current_task_btf
        stdw [%r0+0], 1
        mov %r0, 0
        exit";
    let vm = prepare(
        &assemble(src).unwrap(),
        ProgType::Tracing,
        &MapTable::default(),
    )
    .unwrap();
    let r = run_context(
        &vm,
        ProgType::Tracing,
        Context::raw_tracepoint(&[0]),
        &mut env,
        &RunSetup::default(),
    );
    assert!(
        r.is_err(),
        "a store into the task structure must fault: {r:?}"
    );
}

/// `find_vma(current, addr, cb, &ctx, flags)`; the callback stores `vm_end - vm_start` in
/// the caller's stack slot, which the program returns in the high half with r0 low.
fn find_vma_src(addr: u64, flags: u32) -> String {
    format!(
        "
        stdw [%r10-8], 0
        call bpf_get_current_task_btf
        mov %r1, %r0
        lddw %r2, {addr:#x}
        lddw %r3, func cb
        mov %r4, %r10
        add %r4, -8
        mov %r5, {flags}
        call bpf_find_vma
        ldxdw %r1, [%r10-8]
        lsh %r1, 32
        and %r0, 0xffff
        or %r0, %r1
        exit
    cb:
        ldxdw %r4, [%r2+8]
        ldxdw %r5, [%r2+0]
        sub %r4, %r5
        stxdw [%r3+0], %r4
        mov %r0, 0
        exit"
    )
}

#[test]
fn find_vma_calls_back_with_the_mapping_or_says_enoent() {
    let mut env = Env::default();
    env.task.add_vma(0x40_0000, 0x40_3000);
    env.task.add_vma(0x7fff_0000_0000, 0x7fff_0002_1000);
    let r = run(&find_vma_src(0x40_2fff, 0), ProgType::Tracing, &mut env).r0;
    assert_eq!(r, 0x3000 << 32, "inside the first mapping");
    let r = run(
        &find_vma_src(0x7fff_0000_0000, 0),
        ProgType::Tracing,
        &mut env,
    )
    .r0;
    assert_eq!(r, 0x21000 << 32, "start of the second");
    // vm_end is exclusive; a gap, or non-zero flags, calls nothing back.
    let r = run(&find_vma_src(0x40_3000, 0), ProgType::Tracing, &mut env).r0;
    assert_eq!(r, ENOENT & 0xffff);
    let r = run(&find_vma_src(0x40_1000, 1), ProgType::Tracing, &mut env).r0;
    assert_eq!(r, EINVAL & 0xffff);
    // With no mapping at all.
    let r = run(
        &find_vma_src(0x40_1000, 0),
        ProgType::Tracing,
        &mut Env::default(),
    )
    .r0;
    assert_eq!(r, ENOENT & 0xffff);
}

#[test]
fn d_path_copies_the_name_or_returns_the_kernels_errno() {
    let mut env = Env::default();
    env.task
        .paths
        .push((0xffff_8880_0000_1000, "/etc/passwd".into()));
    let src = |path: u64, sz: u32| {
        format!(
            "
            lddw %r1, {path:#x}
            mov %r2, %r10
            add %r2, -32
            mov %r3, {sz}
            call bpf_d_path
            mov %r6, %r0
            ldxdw %r7, [%r10-32]
            ldxdw %r8, [%r10-24]
            mov %r0, %r6
            jslt %r6, 1, +3
            lsh %r0, 56
            rsh %r7, 8
            or %r0, %r7
            exit"
        )
    };
    // "/etc/passwd\0" is 12 bytes; the first eight (after the length byte) read back.
    let r = run(&src(0xffff_8880_0000_1000, 32), ProgType::Lsm, &mut env).r0;
    assert_eq!(r >> 56, 12);
    assert_eq!(
        r & 0x00ff_ffff_ffff_ffff,
        u64::from_le_bytes(*b"/etc/pas") >> 8
    );
    assert_eq!(
        run(&src(0xffff_8880_0000_1000, 12), ProgType::Lsm, &mut env).r0 >> 56,
        12,
        "exactly fits"
    );
    assert_eq!(
        run(&src(0xffff_8880_0000_1000, 11), ProgType::Lsm, &mut env).r0,
        -36i64 as u64,
        "ENAMETOOLONG"
    );
    assert_eq!(
        run(&src(0xffff_8880_0000_2000, 32), ProgType::Lsm, &mut env).r0,
        EFAULT
    );
    assert_eq!(
        run(&src(0xffff_8880_0000_2000, 0), ProgType::Lsm, &mut env).r0,
        0
    );
}

#[test]
fn copy_from_user_task_reads_only_the_current_task() {
    let src = |task: &str, flags: u32| {
        format!(
            "
            stdw [%r10-16], 0x1234
            stdw [%r10-8], -1
            {task}
            mov %r4, %r0
            mov %r1, %r10
            add %r1, -8
            mov %r2, 8
            mov %r3, %r10
            add %r3, -16
            mov %r5, {flags}
            call bpf_copy_from_user_task
            ldxw %r1, [%r10-8]
            lsh %r0, 32
            or %r0, %r1
            exit"
        )
    };
    let mut env = Env::default();
    let cur = "call bpf_get_current_task_btf";
    assert_eq!(run(&src(cur, 0), ProgType::Tracing, &mut env).r0, 0x1234);
    // Another task has no memory here: the destination is cleared, -EFAULT.
    let r = run(
        &src("lddw %r0, 0xffff888000001000", 0),
        ProgType::Tracing,
        &mut env,
    )
    .r0;
    assert_eq!(r, EFAULT << 32);
    // Flags are checked first and leave the destination alone.
    let r = run(&src(cur, 2), ProgType::Tracing, &mut env).r0;
    assert_eq!(r, (EINVAL << 32) | 0xffff_ffff);
}

#[test]
fn get_task_stack_is_empty_for_the_current_task_and_efault_without_a_stack() {
    let src = |task: &str, flags: u32| {
        format!(
            "
            stdw [%r10-8], -1
            {task}
            mov %r1, %r0
            mov %r2, %r10
            add %r2, -8
            mov %r3, 8
            mov %r4, {flags}
            call bpf_get_task_stack
            ldxdw %r1, [%r10-8]
            lsh %r0, 32
            or %r0, %r1
            exit"
        )
    };
    let cur = "call bpf_get_current_task_btf";
    let mut env = Env::default();
    assert_eq!(run(&src(cur, 0), ProgType::Tracing, &mut env).r0, 0);
    assert_eq!(
        run(&src(cur, 1), ProgType::Tracing, &mut env).r0,
        EFAULT << 32
    );
    assert_eq!(
        run(&src(cur, 1 << 11), ProgType::Tracing, &mut env).r0,
        EINVAL << 32
    );
    env.task.has_stack = false;
    assert_eq!(
        run(&src(cur, 0), ProgType::Tracing, &mut env).r0,
        EFAULT << 32
    );
}

#[test]
fn seq_write_appends_until_the_buffer_is_full() {
    let src = "
        stw [%r10-8], 0x6c6c6568
        stb [%r10-4], 0x6f
        mov %r1, 0
        mov %r2, %r10
        add %r2, -8
        mov %r3, 5
        call bpf_seq_write
        exit";
    let mut env = Env::default();
    assert_eq!(run(src, ProgType::Tracing, &mut env).r0, 0);
    assert_eq!(env.seq, b"hello");
    env.seq.resize(bpfbox_vm::env::SEQ_BUF_SIZE - 4, b'.');
    assert_eq!(run(src, ProgType::Tracing, &mut env).r0, -75i64 as u64);
    assert_eq!(
        env.seq.len(),
        bpfbox_vm::env::SEQ_BUF_SIZE - 4,
        "all or nothing"
    );
}

#[test]
fn sockopts_set_then_get_and_refuse_what_sol_socket_refuses() {
    // setsockopt(ctx, level, opt, &val, len) then getsockopt into another slot.
    let src = |level: i32, opt: i32, len: u32| {
        format!(
            "
            mov %r6, %r1
            stdw [%r10-8], 77
            stdw [%r10-16], -1
            mov %r1, %r6
            mov %r2, {level}
            mov %r3, {opt}
            mov %r4, %r10
            add %r4, -8
            mov %r5, {len}
            call bpf_setsockopt
            mov %r7, %r0
            mov %r1, %r6
            mov %r2, {level}
            mov %r3, {opt}
            mov %r4, %r10
            add %r4, -16
            mov %r5, {len}
            call bpf_getsockopt
            lsh %r7, 48
            lsh %r0, 48
            rsh %r0, 16
            ldxw %r1, [%r10-16]
            or %r0, %r7
            or %r0, %r1
            exit"
        )
    };
    let ctx = || Context::syscall(&[0; 64]);
    let t = ProgType::CgroupSockAddr;
    let mut env = Env::default();
    // SO_MARK (36) with an int: stored, read back.
    let r = run_with(&src(1, 36, 4), t, &mut env, &MapTable::default(), ctx()).r0;
    assert_eq!(r, 77);
    // SO_MARK with 8 bytes, and an option SOL_SOCKET does not know: -EINVAL both ways,
    // and the get clears its buffer.
    let e16 = EINVAL & 0xffff;
    for (opt, len) in [(36, 8), (99, 4)] {
        let r = run_with(&src(1, opt, len), t, &mut env, &MapTable::default(), ctx()).r0;
        assert_eq!(r, (e16 << 48) | (e16 << 32), "opt {opt} len {len}");
    }
    // A TCP option never set reads as -EINVAL.
    let mut fresh = Env::default();
    let get_only = "
        stdw [%r10-8], -1
        mov %r2, 6
        mov %r3, 1
        mov %r4, %r10
        add %r4, -8
        mov %r5, 4
        call bpf_getsockopt
        ldxw %r1, [%r10-8]
        lsh %r0, 32
        or %r0, %r1
        exit";
    let r = run_with(get_only, t, &mut fresh, &MapTable::default(), ctx()).r0;
    assert_eq!(r, EINVAL << 32);
}

#[test]
fn socket_map_helpers_find_no_socket() {
    let m = Map::create(
        &MapSpec::new("arr", MapType::Array, 4, 8, 4),
        &MapConfig { ncpus: 1 },
    )
    .unwrap();
    let maps = MapTable::new(vec![m]);
    let src = |helper: &str| {
        format!(
            "
            stw [%r10-4], 0
            lddw %r2, map_idx 0
            mov %r3, %r10
            add %r3, -4
            mov %r4, 0
            call {helper}
            exit"
        )
    };
    let mut env = Env::default();
    let ctx = || Context::syscall(&[0; 64]);
    for h in ["bpf_sock_map_update", "bpf_sock_hash_update"] {
        let r = run_with(&src(h), ProgType::SockOps, &mut env, &maps, ctx()).r0;
        assert_eq!(r, -95i64 as u64, "{h}: EOPNOTSUPP without a socket");
    }
    let r = run_with(
        &src("bpf_sk_select_reuseport"),
        ProgType::SkReuseport,
        &mut env,
        &maps,
        ctx(),
    )
    .r0;
    assert_eq!(r, ENOENT);
}
