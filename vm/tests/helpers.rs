//! Helper catalogue and test-run checks against kernel semantics.

use bpfbox_vm::asm::assemble;
use bpfbox_vm::helpers::csum::{csum_fold, csum_partial};
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::maps::{Map, MapConfig, MapSpec, MapType};
use bpfbox_vm::testrun::{test_run_insns, TestRun};
use bpfbox_vm::{Env, ProgType};

fn run(src: &str, t: ProgType, maps: &MapTable, data: &[u8]) -> bpfbox_vm::testrun::RunResult {
    let insns = assemble(src).expect("assembles");
    let mut env = Env::default();
    let tr = TestRun {
        data_in: data.to_vec(),
        repeat: 1,
        ..Default::default()
    };
    test_run_insns(&insns, t, maps, &mut env, &tr).expect("runs")
}

/// RFC 1071 checksum over big-endian 16-bit words.
fn rfc1071(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for w in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn csum_partial_matches_rfc1071() {
    let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
    // csum_fold works on native words; the folded result stored in memory equals RFC 1071's.
    let folded = csum_fold(csum_partial(&data, 0));
    assert_eq!(u16::from_be_bytes(folded.to_ne_bytes()), rfc1071(&data));
}

#[test]
fn xdp_reads_packet_through_ctx() {
    let src = "
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r4, %r2
        add %r4, 14
        jgt %r4, %r3, drop
        ldxb %r0, [%r2+13]
        exit
    drop:
        mov %r0, 1
        exit";
    let mut pkt = vec![0u8; 60];
    pkt[13] = 2;
    let r = run(src, ProgType::Xdp, &MapTable::default(), &pkt);
    assert_eq!(r.retval, 2);
    assert_eq!(r.action, Some("XDP_PASS"));
    assert_eq!(r.data_out, pkt);
}

#[test]
fn xdp_adjust_head_bounds() {
    // Growing past the headroom (256 - sizeof(xdp_frame)) is -EINVAL; 216 is allowed.
    let prog = |d: i32| format!("mov %r6, %r1\nmov %r2, {d}\ncall bpf_xdp_adjust_head\nexit");
    let pkt = vec![0u8; 64];
    let t = MapTable::default();
    assert_eq!(run(&prog(-216), ProgType::Xdp, &t, &pkt).r0, 0);
    assert_eq!(run(&prog(-217), ProgType::Xdp, &t, &pkt).r0 as i64, -22);
    // Shrinking below ETH_HLEN is -EINVAL.
    assert_eq!(run(&prog(50), ProgType::Xdp, &t, &pkt).r0, 0);
    assert_eq!(run(&prog(51), ProgType::Xdp, &t, &pkt).r0 as i64, -22);
    let r = run(&prog(-4), ProgType::Xdp, &t, &pkt);
    assert_eq!(r.data_out.len(), 68);
}

#[test]
fn xdp_adjust_tail_bounds() {
    let prog = |d: i32| format!("mov %r2, {d}\ncall bpf_xdp_adjust_tail\nexit");
    let pkt = vec![0u8; 64];
    let t = MapTable::default();
    assert_eq!(run(&prog(-50), ProgType::Xdp, &t, &pkt).r0, 0);
    assert_eq!(run(&prog(-51), ProgType::Xdp, &t, &pkt).r0 as i64, -22);
    // Frame is a page: 4096 - 256 - 320 - 64 bytes of tailroom.
    assert_eq!(run(&prog(3456), ProgType::Xdp, &t, &pkt).r0, 0);
    assert_eq!(run(&prog(3457), ProgType::Xdp, &t, &pkt).r0 as i64, -22);
}

#[test]
fn map_helpers_agree_with_user_api() {
    let m = Map::create(
        &MapSpec::new("h", MapType::Hash, 4, 8, 4),
        &MapConfig { ncpus: 1 },
    )
    .unwrap();
    let t = MapTable::new(vec![m.clone()]);
    let src = "
        stw [%r10-4], 7
        stdw [%r10-16], 99
        lddw %r1, map_idx 0
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 0
        call bpf_map_update_elem
        lddw %r1, map_idx 0
        mov %r2, %r10
        add %r2, -4
        call bpf_map_lookup_elem
        jeq %r0, 0, +2
        ldxdw %r0, [%r0]
        exit
        mov %r0, -1
        exit";
    let r = run(src, ProgType::SocketFilter, &t, &[0u8; 20]);
    assert_eq!(r.r0, 99);
    assert_eq!(m.lookup(&7u32.to_ne_bytes()).unwrap(), 99u64.to_ne_bytes());
}

#[test]
fn trace_printk_formats() {
    let src = "
        stdw [%r10-16], 0
        stdw [%r10-8], 0
        lddw %r1, 0x7525207825206425
        stxdw [%r10-16], %r1
        stb [%r10-8], 0
        mov %r1, %r10
        add %r1, -16
        mov %r2, 9
        mov %r3, -5
        mov %r4, 255
        mov %r5, -1
        call bpf_trace_printk
        exit";
    let r = run(src, ProgType::Kprobe, &MapTable::default(), &[]);
    assert_eq!(r.printk, vec!["-5 ff 4294967295".to_string()]);
    assert_eq!(r.r0, 16);
}

#[test]
fn bpf_loop_stops_when_callback_returns_one() {
    let src = "
        mov %r1, 10
        lddw %r2, func cb
        mov %r3, 0
        mov %r4, 0
        call bpf_loop
        exit
    cb:
        mov %r0, 0
        jne %r1, 3, +1
        mov %r0, 1
        exit";
    assert_eq!(run(src, ProgType::Kprobe, &MapTable::default(), &[]).r0, 4);
}

#[test]
fn skb_kernel_compat_rules() {
    let insns = assemble("mov %r0, 0\nexit").unwrap();
    let mut env = Env::default();
    let mut ctx = vec![0u8; 192];
    ctx[8] = 1; // mark: allowed
    let tr = TestRun {
        data_in: vec![0; 14],
        ctx_in: Some(ctx.clone()),
        repeat: 1,
        kernel_compat: true,
        ..Default::default()
    };
    assert!(test_run_insns(
        &insns,
        ProgType::SchedCls,
        &MapTable::default(),
        &mut env,
        &tr
    )
    .is_ok());
    ctx[0] = 1; // len: not allowed
    let tr = TestRun {
        ctx_in: Some(ctx),
        ..tr
    };
    assert!(test_run_insns(
        &insns,
        ProgType::SchedCls,
        &MapTable::default(),
        &mut env,
        &tr
    )
    .is_err());
    let short = TestRun {
        data_in: vec![0; 13],
        ctx_in: None,
        repeat: 1,
        kernel_compat: true,
        ..Default::default()
    };
    assert!(test_run_insns(
        &insns,
        ProgType::Xdp,
        &MapTable::default(),
        &mut env,
        &short
    )
    .is_err());
}

/// `bpf_perf_event_output` with `BPF_F_CTXLEN_MASK`: networking programs get the first bytes
/// of the packet appended to the sample; too many bytes is -EFAULT; tracing programs may not
/// ask (-EINVAL). Facts from `bpf_xdp_event_output` and the tracing variant.
#[test]
fn perf_event_output_appends_packet_bytes() {
    let perf = |ncpus| {
        Map::create(
            &MapSpec::new("events", MapType::PerfEventArray, 4, 4, 1),
            &MapConfig { ncpus },
        )
        .unwrap()
    };
    let prog = |ctx_len: u64| {
        format!(
            "
        stdw [%r10-8], 0x11223344
        lddw %r2, map_idx 0
        lddw %r3, {flags:#x}
        mov %r4, %r10
        add %r4, -8
        mov %r5, 8
        call bpf_perf_event_output
        exit",
            flags = (ctx_len << 32) | 0xffff_ffff
        )
    };
    let pkt: Vec<u8> = (0..64u8).collect();
    for (t, ctx_len, want_ret, appended) in [
        (ProgType::Xdp, 6, 0i64, Some(6usize)),
        (ProgType::Xdp, 65, -14, None),
        (ProgType::SchedCls, 10, 0, Some(10)),
        (ProgType::Kprobe, 1, -22, None),
    ] {
        let m = perf(1);
        m.perf_open(0, 0).unwrap();
        let maps = MapTable::new(vec![m.clone()]);
        let data = if t == ProgType::Kprobe {
            vec![]
        } else {
            pkt.clone()
        };
        let r = run(&prog(ctx_len), t, &maps, &data);
        assert_eq!(r.r0 as i64, want_ret, "{t:?} ctx_len {ctx_len}");
        let samples: Vec<_> = r.perf.iter().map(|(_, _, d)| d.clone()).collect();
        match appended {
            Some(n) => {
                let mut want = 0x11223344u64.to_ne_bytes().to_vec();
                want.extend_from_slice(&pkt[..n]);
                // A perf raw record is `u32 size` + data, padded to 8 bytes with zeros.
                while !(want.len() + 4).is_multiple_of(8) {
                    want.push(0);
                }
                assert_eq!(samples, vec![want]);
            }
            None => assert!(samples.is_empty()),
        }
    }
}
