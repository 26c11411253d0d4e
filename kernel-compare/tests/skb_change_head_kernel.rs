//! `bpf_skb_change_head` held against the kernel's `BPF_PROG_TEST_RUN`: TC (the program
//! sees the Ethernet header) and LWT xmit (it does not) programs grow the head by many
//! sizes and flags; the return value, the packet out and `skb->len` as the program reads it
//! afterwards (stored in `cb[0]`) must be the kernel's.

mod common;

use common::insn::*;

use bpfbox_kernel_compare::sys::{self, TestRunIn};
use bpfbox_kernel_compare::{KernelObject, LoadOptions, Verdict};
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::testrun::{test_run, TestRun};
use bpfbox_vm::{Env, ProgType, Program};

/// `r0 = bpf_skb_change_head(skb, head, flags); cb[0] = skb->len; return r0`.
fn prog(t: ProgType, head: u32, flags: i32) -> Program {
    let v = vec![
        i(MOV64_REG, 6, 1, 0, 0),
        i(LD_IMM64, 2, 0, 0, head as i32),
        i(0, 0, 0, 0, 0),
        i(MOV64_IMM, 3, 0, 0, flags),
        i(CALL, 0, 0, 0, 43),
        i(LDXW, 1, 6, 0, 0),
        i(STXW, 6, 1, 48, 0),
        i(EXIT, 0, 0, 0, 0),
    ];
    program(&format!("head_{head}_{flags}"), t, v)
}

fn packet(len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|k| (k * 7 + 3) as u8).collect();
    // An IPv4 Ethertype, which the LWT test run needs to find a network header.
    p[12] = 0x08;
    p[13] = 0x00;
    p[14] = 0x45;
    p
}

/// `(retval, data out, cb[0])` of the kernel.
fn kernel(k: &KernelObject, name: &str, data: &[u8]) -> (u32, Vec<u8>, u32) {
    let fd = k.program(name).and_then(|p| p.fd.as_ref()).unwrap();
    let ctx = vec![0u8; 192];
    let out = sys::prog_test_run(
        fd,
        &TestRunIn {
            data_in: data,
            data_out_cap: Some(data.len() + 17000),
            ctx_in: Some(&ctx),
            ctx_out_cap: Some(192),
            repeat: 1,
            ..TestRunIn::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let cb0 = u32::from_ne_bytes(out.ctx_out[48..52].try_into().unwrap());
    (out.retval, out.data_out, cb0)
}

/// The same from bpfbox's test run.
fn ours(p: &Program, data: &[u8]) -> (u32, Vec<u8>, u32) {
    let run = TestRun {
        data_in: data.to_vec(),
        ctx_in: Some(vec![0u8; 192]),
        repeat: 1,
        kernel_compat: true,
        regions: Vec::new(),
    };
    let r = test_run(p, &MapTable::default(), &mut Env::default(), &run)
        .unwrap_or_else(|e| panic!("{}: {e}", p.name));
    let cb0 = u32::from_ne_bytes(r.ctx_out[48..52].try_into().unwrap());
    (r.retval, r.data_out, cb0)
}

#[test]
fn change_head_agrees_with_the_kernel() {
    if let Some(reason) = bpfbox_kernel_compare::probe::Probe::run().reason() {
        return common::skip(&reason);
    }
    let data = packet(60);
    let mut compared = 0;
    for t in [ProgType::SchedCls, ProgType::LwtXmit] {
        let mut progs = Vec::new();
        for head in [
            0u32,
            1,
            14,
            50,
            64,
            65,
            200,
            4000,
            16004,
            16005,
            16050,
            16064,
            0x7fff_ffff,
            u32::MAX,
        ] {
            for flags in [0, 1] {
                progs.push(prog(t, head, flags));
            }
        }
        let k = KernelObject::from_programs(&progs, &[], &LoadOptions::default());
        for (p, kp) in progs.iter().zip(&k.programs) {
            assert_eq!(kp.verdict, Verdict::Accepted, "{}: {}", kp.name, kp.log);
            let want = kernel(&k, &p.name, &data);
            let got = ours(p, &data);
            assert_eq!(got, want, "{t:?} {}", p.name);
            compared += 1;
        }
    }
    assert_eq!(compared, 56);
}
