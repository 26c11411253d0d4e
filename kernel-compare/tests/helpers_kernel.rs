//! Helpers held against the running kernel: `bpf_strtol`/`bpf_strtoul` on many strings,
//! `bpf_sk_lookup_tcp`/`_udp` against real sockets of this process (entered into bpfbox's
//! socket table with the same addresses), and `bpf_fib_lookup`'s answers that do not depend
//! on the machine's routes.

mod common;

use common::insn::*;

use std::net::{TcpListener, UdpSocket};

use bpfbox_kernel_compare::sys::{self, TestRunIn};
use bpfbox_kernel_compare::{KernelObject, LoadOptions, Verdict};
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::net::Socket;
use bpfbox_vm::testrun::{test_run, TestRun};
use bpfbox_vm::{Env, ProgType, Program};

/// Loads `progs` into the kernel (all must be accepted).
fn load(progs: &[Program]) -> KernelObject {
    let k = KernelObject::from_programs(progs, &[], &LoadOptions::default());
    for p in &k.programs {
        assert_eq!(p.verdict, Verdict::Accepted, "{}: {}", p.name, p.log);
    }
    k
}

/// The kernel's test run of `prog`: `(retval, ctx after)` or the errno.
fn kernel_run(
    k: &KernelObject,
    name: &str,
    data: &[u8],
    ctx: Option<&[u8]>,
) -> Result<(u32, Vec<u8>), i32> {
    let fd = k.program(name).and_then(|p| p.fd.as_ref()).unwrap();
    let packet = !data.is_empty();
    let out = sys::prog_test_run(
        fd,
        &TestRunIn {
            data_in: data,
            data_out_cap: packet.then_some(data.len() + 256),
            ctx_in: ctx,
            repeat: u32::from(packet),
            ..TestRunIn::default()
        },
    )
    .map_err(|e| e.errno)?;
    Ok((out.retval, out.ctx_in_after))
}

/// Our test run of `prog` in `env`: `(retval, ctx after)` or the errno.
fn our_run(
    prog: &Program,
    env: &mut Env,
    data: &[u8],
    ctx: Option<&[u8]>,
) -> Result<(u32, Vec<u8>), i32> {
    let run = TestRun {
        data_in: data.to_vec(),
        ctx_in: ctx.map(<[u8]>::to_vec),
        repeat: 1,
        kernel_compat: true,
        regions: Vec::new(),
    };
    match test_run(prog, &MapTable::default(), env, &run) {
        Ok(r) => Ok((r.retval, r.ctx_out)),
        Err(bpfbox_vm::testrun::TestRunError::Invalid { errno, .. }) => Err(errno),
        Err(e) => panic!("{}: {e}", prog.name),
    }
}

/// A syscall program: copies the context's first 64 bytes to the stack, then
/// `ctx[64] = helper(copy, n, flags, &res); ctx[72] = res`.
fn strtox_prog(helper: i32, n: i32, flags: i32) -> Program {
    let mut v = vec![i(MOV64_REG, 6, 1, 0, 0)];
    for k in 0..8i16 {
        v.push(i(LDXDW, 1, 6, 8 * k, 0));
        v.push(i(STXDW, 10, 1, -72 + 8 * k, 0));
    }
    v.extend([i(MOV64_REG, 1, 10, 0, 0), i(ADD64_IMM, 1, 0, 0, -72)]);
    program(
        &format!("s{helper}_{n}_{flags}"),
        ProgType::Syscall,
        [
            v,
            vec![
                i(MOV64_IMM, 2, 0, 0, n),
                i(MOV64_IMM, 3, 0, 0, flags),
                i(MOV64_REG, 4, 10, 0, 0),
                i(ADD64_IMM, 4, 0, 0, -8),
                i(CALL, 0, 0, 0, helper),
                i(STXDW, 6, 0, 64, 0),
                i(LDXDW, 1, 10, -8, 0),
                i(STXDW, 6, 1, 72, 0),
                i(MOV64_IMM, 0, 0, 0, 0),
                i(EXIT, 0, 0, 0, 0),
            ],
        ]
        .concat(),
    )
}

#[test]
fn strtol_and_strtoul_agree_with_the_kernel() {
    let Some(_probe) = common::kernel() else {
        return;
    };
    let strings: &[&[u8]] = &[
        b"123",
        b"  -42xyz",
        b"0x1f",
        b"0X1F",
        b"0x",
        b"0xg",
        b"0777",
        b"09",
        b"-0",
        b"+5",
        b"\t\n\x0b\x0c\r 7",
        b"\xa0 8",
        b"9223372036854775807",
        b"9223372036854775808",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"18446744073709551615",
        b"18446744073709551616",
        b"ffffffffffffffff",
        b"0xffffffffffffffff1",
        b"",
        b"-",
        b"   ",
        b"12\x0034",
        b"-  5",
        b"00000000000000000000000000000000000000000000000000000000000000000000000000001",
    ];
    let mut progs = Vec::new();
    for helper in [105, 106] {
        for n in [1, 2, 3, 4, 7, 16, 40, 63, 64] {
            for flags in [0, 8, 10, 16, 2, 0x20] {
                progs.push(strtox_prog(helper, n, flags));
            }
        }
    }
    let k = load(&progs);
    let mut env = Env::default();
    let mut bad = Vec::new();
    let mut runs = 0;
    for s in strings {
        let mut ctx = vec![0u8; 80];
        let n = s.len().min(64);
        ctx[..n].copy_from_slice(&s[..n]);
        for p in &progs {
            let kernel = kernel_run(&k, &p.name, &[], Some(&ctx));
            let ours = our_run(p, &mut env, &[], Some(&ctx));
            runs += 1;
            if kernel != ours {
                bad.push(format!(
                    "{} on {:?}: kernel {kernel:?}, bpfbox {ours:?}",
                    p.name,
                    String::from_utf8_lossy(s)
                ));
            }
        }
    }
    eprintln!("{runs} runs compared");
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A TC program looking up `127.0.0.1:sport -> 127.0.0.1:dport`: returns 1 when nothing is
/// found, else `src_port << 16 | state << 8 | family` of the socket, which it releases.
fn lookup_prog(
    name: &str,
    helper: i32,
    dport: u16,
    tuple_size: i32,
    netns: i32,
    flags: i32,
) -> Program {
    let lo = i32::from_ne_bytes([127, 0, 0, 1]);
    let ports = i32::from_ne_bytes([0x30, 0x39, (dport >> 8) as u8, dport as u8]);
    program(
        name,
        ProgType::SchedCls,
        vec![
            i(STW, 10, 0, -16, lo),
            i(STW, 10, 0, -12, lo),
            i(STW, 10, 0, -8, ports),
            i(STH, 10, 0, -4, 0),
            i(MOV64_REG, 2, 10, 0, 0),
            i(ADD64_IMM, 2, 0, 0, -16),
            i(MOV64_IMM, 3, 0, 0, tuple_size),
            i(MOV64_IMM, 4, 0, 0, netns),
            i(MOV64_IMM, 5, 0, 0, flags),
            i(CALL, 0, 0, 0, helper),
            i(JEQ_IMM, 0, 0, 12, 0),
            i(MOV64_REG, 6, 0, 0, 0),
            i(LDXW, 7, 6, 44, 0),
            i(LDXW, 8, 6, 72, 0),
            i(LDXW, 9, 6, 4, 0),
            i(MOV64_REG, 1, 6, 0, 0),
            i(CALL, 0, 0, 0, 86),
            i(LSH64_IMM, 7, 0, 0, 16),
            i(LSH64_IMM, 8, 0, 0, 8),
            i(MOV64_REG, 0, 7, 0, 0),
            i(OR64_REG, 0, 8, 0, 0),
            i(OR64_REG, 0, 9, 0, 0),
            i(EXIT, 0, 0, 0, 0),
            i(MOV64_IMM, 0, 0, 0, 1),
            i(EXIT, 0, 0, 0, 0),
        ],
    )
}

#[test]
fn socket_lookup_agrees_with_the_kernel() {
    let Some(_probe) = common::kernel() else {
        return;
    };
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (tp, up) = (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    // A port nothing listens on: the one just freed by a dropped listener.
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let progs = vec![
        lookup_prog("tcp_found", 84, tp, 12, -1, 0),
        lookup_prog("tcp_skc_found", 99, tp, 12, -1, 0),
        lookup_prog("tcp_absent", 84, free, 12, -1, 0),
        lookup_prog("tcp_bad_size", 84, tp, 13, -1, 0),
        lookup_prog("tcp_flags", 84, tp, 12, -1, 1),
        lookup_prog("tcp_udp_port", 84, up, 12, -1, 0),
        lookup_prog("udp_found", 85, up, 12, -1, 0),
        lookup_prog("udp_tcp_port", 85, tp, 12, -1, 0),
    ];
    let k = load(&progs);
    let mut env = Env::default();
    env.net
        .sockets
        .add(Socket::tcp_listen_v4([127, 0, 0, 1], tp));
    env.net.sockets.add(Socket::udp_v4([127, 0, 0, 1], up));
    let mut frame = vec![0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    let mut bad = Vec::new();
    for p in &progs {
        let kernel = kernel_run(&k, &p.name, &frame, None).map(|r| r.0);
        let ours = our_run(p, &mut env, &frame, None).map(|r| r.0);
        eprintln!("{}: kernel {kernel:x?} bpfbox {ours:x?}", p.name);
        if kernel != ours {
            bad.push(format!("{}: kernel {kernel:x?}, bpfbox {ours:x?}", p.name));
        }
    }
    drop((tcp, udp));
    assert!(bad.is_empty(), "{bad:#?}");
}

/// An XDP program calling `bpf_fib_lookup` on a parameter block for `family`, `ifindex`
/// and destination 127.0.0.1, with `plen` and `flags`; returns the helper's result.
fn fib_prog(name: &str, family: i32, ifindex: i32, plen: i32, flags: i32) -> Program {
    let mut v = vec![i(MOV64_IMM, 0, 0, 0, 0)];
    for off in (-64..0).step_by(8) {
        v.push(i(STXDW, 10, 0, off, 0));
    }
    v.extend([
        i(0x72, 10, 0, -64, family),                            // family (u8)
        i(STW, 10, 0, -56, ifindex),                            // ifindex
        i(STW, 10, 0, -32, i32::from_ne_bytes([127, 0, 0, 1])), // ipv4_dst
        i(MOV64_REG, 2, 10, 0, 0),
        i(ADD64_IMM, 2, 0, 0, -64),
        i(MOV64_IMM, 3, 0, 0, plen),
        i(MOV64_IMM, 4, 0, 0, flags),
        i(CALL, 0, 0, 0, 69),
        i(EXIT, 0, 0, 0, 0),
    ]);
    program(name, ProgType::Xdp, v)
}

#[test]
fn fib_lookup_answers_that_need_no_routes() {
    let Some(_probe) = common::kernel() else {
        return;
    };
    let progs = vec![
        fib_prog("short_plen", 2, 1, 63, 0),
        fib_prog("bad_flags", 2, 1, 64, 1 << 6),
        fib_prog("mark_flag", 2, 1, 64, 1 << 5),
        fib_prog("bad_family", 3, 1, 64, 0),
        fib_prog("no_device", 2, 0x7fff_fff0, 64, 0),
        fib_prog("lo_local", 2, 1, 64, 2),
        fib_prog("lo_forwarding", 2, 1, 64, 0),
    ];
    let k = load(&progs);
    let mut env = Env::default();
    // What the kernel says about forwarding on the loopback device is the machine's setting.
    let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/conf/lo/forwarding")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    env.net.fib.devices[0].forwarding = fwd;
    let mut frame = vec![0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut md = vec![0u8; 24];
    md[4..8].copy_from_slice(&60u32.to_ne_bytes());
    let mut bad = Vec::new();
    for p in &progs {
        let kernel = kernel_run(&k, &p.name, &frame, Some(&md)).map(|r| r.0 as i32);
        let ours = our_run(p, &mut env, &frame, Some(&md)).map(|r| r.0 as i32);
        eprintln!("{}: kernel {kernel:?} bpfbox {ours:?}", p.name);
        if kernel != ours {
            bad.push(format!("{}: kernel {kernel:?}, bpfbox {ours:?}", p.name));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// `r0 = (check_mtu(ctx, ifindex, &mtu_len, len_diff, flags) & 0xff) << 24 | mtu_len` with
/// `mtu_len` starting at `mtu_in`; the loopback device's MTU fits in 24 bits.
fn mtu_prog(
    t: ProgType,
    n: usize,
    ifindex: i32,
    mtu_in: i32,
    len_diff: i32,
    flags: i32,
) -> Program {
    program(
        &format!("mtu{}_{n}", t.name()),
        t,
        vec![
            i(STW, 10, 0, -8, mtu_in),
            i(STW, 10, 0, -4, 0),
            i(MOV64_IMM, 2, 0, 0, ifindex),
            i(MOV64_REG, 3, 10, 0, 0),
            i(ADD64_IMM, 3, 0, 0, -8),
            i(MOV64_IMM, 4, 0, 0, len_diff),
            i(MOV64_IMM, 5, 0, 0, flags),
            i(CALL, 0, 0, 0, 163),
            i(0x57, 0, 0, 0, 0xff), // r0 &= 0xff
            i(LSH64_IMM, 0, 0, 0, 24),
            i(LDXW, 1, 10, -8, 0),
            i(OR64_REG, 0, 1, 0, 0),
            i(EXIT, 0, 0, 0, 0),
        ],
    )
}

#[test]
fn check_mtu_agrees_with_the_kernel() {
    let Some(_probe) = common::kernel() else {
        return;
    };
    // (ifindex, mtu_len in, len_diff, flags)
    let cases = [
        (0, 0, 0, 0),
        (1, 0, 0, 0),
        (0, 1500, 0, 0),
        (0, 65536, 0, 0),
        (0, 65537, 0, 0),
        (0, 0, 65536 - 60 + 14, 0),
        (0, 0, 65536 - 60 + 15, 0),
        (0, 0, -100, 0),
        (0, 0, 0, 1),
        (0, 0, 5, 1),
        (0, 0, 0, 2),
        (0x7fff_fff0, 0, 0, 0),
    ];
    let mut progs = Vec::new();
    for t in [ProgType::Xdp, ProgType::SchedCls] {
        for (n, &(ifindex, mtu, diff, flags)) in cases.iter().enumerate() {
            progs.push(mtu_prog(t, n, ifindex, mtu, diff, flags));
        }
    }
    let k = load(&progs);
    let mut env = Env::default();
    let mut frame = vec![0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    let mut bad = Vec::new();
    for p in &progs {
        let kernel = kernel_run(&k, &p.name, &frame, None).map(|r| r.0);
        let ours = our_run(p, &mut env, &frame, None).map(|r| r.0);
        if kernel != ours {
            bad.push(format!("{}: kernel {kernel:x?}, bpfbox {ours:x?}", p.name));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}
