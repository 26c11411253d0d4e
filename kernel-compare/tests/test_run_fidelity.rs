//! Test-run details held against the kernel's `BPF_PROG_TEST_RUN`: the receive queue XDP
//! programs see and the devices a context may name, legacy packet loads at the negative
//! `SKF_LL_OFF`/`SKF_NET_OFF` bases, and `bpf_csum_diff`'s return value.

mod common;

use common::insn::*;

use bpfbox_kernel_compare::{KernelObject, LoadOptions, RunInput, Session, Verdict};
use bpfbox_vm::{ProgType, Program};

const SKF_LL_OFF: i32 = -0x200000;
const SKF_NET_OFF: i32 = -0x100000;

/// An Ethernet/IPv4/UDP frame whose bytes are all non-zero where the loads read.
fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    f[6..12].copy_from_slice(&[0x02, 0x66, 0x77, 0x88, 0x99, 0xaa]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    for (k, b) in f[42..].iter_mut().enumerate() {
        *b = 0xa0 + k as u8;
    }
    f
}

/// Runs every program on every input on both sides and fails on any difference.
fn compare(progs: &[Program], inputs: &[RunInput]) {
    let Some(probe) = common::kernel() else {
        return;
    };
    let k = KernelObject::from_programs(progs, &[], &LoadOptions::default());
    for p in &k.programs {
        assert_eq!(p.verdict, Verdict::Accepted, "{}: {}", p.name, p.log);
    }
    let mut s = Session::from_programs(progs, &k, probe.possible_cpus);
    let mut mismatches = Vec::new();
    for p in progs {
        for input in inputs {
            let c = s.run(&p.name, input).unwrap();
            eprintln!(
                "{} {}: kernel {:?}",
                p.name,
                input.name,
                match &c.kernel {
                    bpfbox_kernel_compare::Outcome::Ran { retval, .. } => format!("{retval:#x}"),
                    other => format!("{other:?}"),
                }
            );
            if !c.matches() {
                for d in &c.differences {
                    eprintln!(
                        "  {}:\n    kernel {}\n    bpfbox {}",
                        d.what, d.kernel, d.bpfbox
                    );
                }
                mismatches.push(format!("{} {}", p.name, input.name));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

fn xdp_md(ingress: u32, rxq: u32, data_end: usize) -> Vec<u8> {
    let mut md = vec![0u8; 24];
    md[4..8].copy_from_slice(&(data_end as u32).to_ne_bytes());
    md[12..16].copy_from_slice(&ingress.to_ne_bytes());
    md[16..20].copy_from_slice(&rxq.to_ne_bytes());
    md
}

/// XDP runs receive on the loopback device's queue 0; a context naming the loopback device
/// runs, one naming a device that does not exist is ENODEV, a queue the device lacks or a
/// queue without a device is EINVAL.
#[test]
fn xdp_receive_queue_and_devices() {
    let prog = program(
        "kc_xdp_rxq",
        ProgType::Xdp,
        vec![
            i(LDXW, 2, 1, 12, 0), // ingress_ifindex
            i(LDXW, 3, 1, 16, 0), // rx_queue_index
            i(MOV64_REG, 0, 2, 0, 0),
            i(LSH64_IMM, 0, 0, 0, 16),
            i(OR64_REG, 0, 3, 0, 0),
            i(LSH64_IMM, 0, 0, 0, 4),
            i(ADD64_IMM, 0, 0, 0, 2), // keep XDP_PASS in the low bits
            i(EXIT, 0, 0, 0, 0),
        ],
    );
    let f = frame();
    let input = |name: &str, ctx: Option<Vec<u8>>| RunInput {
        name: name.into(),
        data: f.clone(),
        ctx,
    };
    let inputs = [
        input("no_ctx", None),
        input("zero_ifindex", Some(xdp_md(0, 0, f.len()))),
        input("loopback", Some(xdp_md(1, 0, f.len()))),
        input("loopback_queue_1", Some(xdp_md(1, 1, f.len()))),
        input("queue_without_device", Some(xdp_md(0, 1, f.len()))),
        input("no_such_device", Some(xdp_md(0x7fff_fff0, 0, f.len()))),
    ];
    compare(&[prog], &inputs);
}

/// `r0 = (load at off1) << 32 | (load at off2) << 16 | (load at off3)`, with r6 = ctx.
fn ld_abs_prog(name: &str, t: ProgType, loads: &[(u8, i32)]) -> Program {
    let mut v = vec![i(MOV64_REG, 6, 1, 0, 0), i(MOV64_IMM, 7, 0, 0, 0)];
    for &(code, off) in loads {
        v.push(i(code, 0, 0, 0, off));
        v.push(i(LSH64_IMM, 7, 0, 0, 16));
        v.push(i(OR64_REG, 7, 0, 0, 0));
    }
    v.push(i(MOV64_REG, 0, 7, 0, 0));
    v.push(i(EXIT, 0, 0, 0, 0));
    program(name, t, v)
}

/// `LD_ABS`/`LD_IND` from the MAC and network headers through the negative bases, in a
/// socket filter (which sees the packet from layer 3) and a TC program (from layer 2), and
/// loads that fall outside, which end the program with 0.
#[test]
fn ld_abs_negative_bases() {
    let mut progs = Vec::new();
    for (t, tag) in [(ProgType::SocketFilter, "sf"), (ProgType::SchedCls, "tc")] {
        progs.push(ld_abs_prog(
            &format!("kc_ll_{tag}"),
            t,
            &[
                (LD_ABS_B, SKF_LL_OFF + 1),
                (LD_ABS_H, SKF_LL_OFF + 12),
                (LD_ABS_H, SKF_LL_OFF + 6),
            ],
        ));
        progs.push(ld_abs_prog(
            &format!("kc_net_{tag}"),
            t,
            &[
                (LD_ABS_B, SKF_NET_OFF + 9),
                (LD_ABS_W, SKF_NET_OFF + 12),
                (LD_ABS_H, SKF_NET_OFF + 22),
            ],
        ));
        progs.push(ld_abs_prog(
            &format!("kc_pos_{tag}"),
            t,
            &[(LD_ABS_B, 0), (LD_ABS_H, 2), (LD_ABS_B, 9)],
        ));
        // Past the end of the packet through each base, and below SKF_LL_OFF.
        for (k, off) in [
            SKF_LL_OFF + 59,
            SKF_LL_OFF + 60,
            SKF_NET_OFF + 45,
            SKF_NET_OFF + 46,
            SKF_LL_OFF - 1,
            -1,
        ]
        .into_iter()
        .enumerate()
        {
            progs.push(ld_abs_prog(
                &format!("kc_edge{k}_{tag}"),
                t,
                &[(LD_ABS_B, SKF_LL_OFF + 1), (LD_ABS_B, off)],
            ));
        }
        // LD_IND: r7 = SKF_NET_OFF, load at r7 + 16 (destination address byte 0).
        progs.push(program(
            &format!("kc_ind_{tag}"),
            t,
            vec![
                i(MOV64_REG, 6, 1, 0, 0),
                i(MOV64_IMM, 7, 0, 0, SKF_NET_OFF),
                i(LD_IND_B, 0, 7, 0, 16),
                i(ADD64_IMM, 0, 0, 0, 0x100),
                i(EXIT, 0, 0, 0, 0),
            ],
        ));
    }
    let inputs = [RunInput {
        name: "udp4".into(),
        data: frame(),
        ctx: None,
    }];
    compare(&progs, &inputs);
}

/// `bpf_csum_diff(NULL, 0, to, size, seed)` and `(from, 8, to, 8, seed)` with sums that
/// carry past 16 bits, so the value shows whether the running kernel folds.
#[test]
fn csum_diff_return_value() {
    let mut progs = Vec::new();
    let words: [(u64, u64); 3] = [
        (0xffff_ffff_ffff_ffff, 0xfffe_fffd_fffc_fffb),
        (0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
        (0, 0),
    ];
    for (n, &(a, b)) in words.iter().enumerate() {
        for (m, &(seed, from_size)) in [(0i32, 0i32), (0x7654_3210, 0), (-1, 8), (0x1234, 8)]
            .iter()
            .enumerate()
        {
            let (from_ptr, from_len) = if from_size == 0 {
                (vec![i(MOV64_IMM, 1, 0, 0, 0)], 0)
            } else {
                (
                    vec![i(MOV64_REG, 1, 10, 0, 0), i(ADD64_IMM, 1, 0, 0, -16)],
                    from_size,
                )
            };
            let mut v = vec![
                i(LD_IMM64, 1, 0, 0, a as u32 as i32),
                i(0, 0, 0, 0, (a >> 32) as u32 as i32),
                i(STXDW, 10, 1, -8, 0),
                i(LD_IMM64, 1, 0, 0, b as u32 as i32),
                i(0, 0, 0, 0, (b >> 32) as u32 as i32),
                i(STXDW, 10, 1, -16, 0),
            ];
            v.extend(from_ptr);
            v.extend([
                i(MOV64_IMM, 2, 0, 0, from_len),
                i(MOV64_REG, 3, 10, 0, 0),
                i(ADD64_IMM, 3, 0, 0, -16),
                i(MOV64_IMM, 4, 0, 0, 16),
                i(MOV64_IMM, 5, 0, 0, seed),
                i(CALL, 0, 0, 0, 28),
                // r0's upper half too: retval is 32 bits.
                i(MOV64_REG, 1, 0, 0, 0),
                i(0x77, 1, 0, 0, 32), // rsh64
                i(0xaf, 0, 1, 0, 0),  // xor64
                i(EXIT, 0, 0, 0, 0),
            ]);
            progs.push(program(&format!("kc_csum_{n}_{m}"), ProgType::Xdp, v));
        }
    }
    let inputs = [RunInput {
        name: "udp4".into(),
        data: frame(),
        ctx: None,
    }];
    compare(&progs, &inputs);
}
