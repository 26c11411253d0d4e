//! Hand-built programs of every type both sides can test-run (socket filter, TC, XDP,
//! raw tracepoint, syscall), run on the same inputs in the kernel and in bpfbox.

mod common;

use common::insn::*;

use bpfbox_kernel_compare::report::default_inputs;
use bpfbox_kernel_compare::{KernelObject, LoadOptions, RunInput, Session, Verdict};
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program, RawInsn};

/// `counts[key] += 1` for the map at index 0 (a hash u32 -> u64), key in r6. Clobbers r1-r5.
fn count_into_map0() -> Vec<RawInsn> {
    vec![
        i(STXW, 10, 6, -4, 0),   // *(u32 *)(fp - 4) = key
        i(LD_IMM64, 1, 5, 0, 0), // r1 = map[0]
        i(0, 0, 0, 0, 0),
        i(MOV64_REG, 2, 10, 0, 0),
        i(ADD64_IMM, 2, 0, 0, -4),
        i(CALL, 0, 0, 0, 1), // bpf_map_lookup_elem
        i(JEQ_IMM, 0, 0, 3, 0),
        i(LDXDW, 1, 0, 0, 0),
        i(ADD64_IMM, 1, 0, 0, 1),
        i(0x05, 0, 0, 1, 0),      // goto store
        i(MOV64_IMM, 1, 0, 0, 1), // new: 1
        i(STXDW, 10, 1, -16, 0),  // *(u64 *)(fp - 16) = count
        i(LD_IMM64, 1, 5, 0, 0),
        i(0, 0, 0, 0, 0),
        i(MOV64_REG, 2, 10, 0, 0),
        i(ADD64_IMM, 2, 0, 0, -4),
        i(MOV64_REG, 3, 10, 0, 0),
        i(ADD64_IMM, 3, 0, 0, -16),
        i(MOV64_IMM, 4, 0, 0, 0),
        i(CALL, 0, 0, 0, 2), // bpf_map_update_elem
    ]
}

fn programs() -> Vec<Program> {
    // XDP: count packets by their 13th byte (EtherType low byte) and pass them.
    let mut xdp = vec![
        i(LDXW, 2, 1, 0, 0), // r2 = data
        i(LDXW, 3, 1, 4, 0), // r3 = data_end
        i(MOV64_IMM, 6, 0, 0, 255),
        i(MOV64_REG, 4, 2, 0, 0),
        i(ADD64_IMM, 4, 0, 0, 14),
        i(JGT_REG, 4, 3, 1, 0), // if data + 14 > data_end: key 255
        i(LDXB, 6, 2, 13, 0),
    ];
    xdp.extend(count_into_map0());
    xdp.extend([i(MOV64_IMM, 0, 0, 0, 2), i(EXIT, 0, 0, 0, 0)]);

    // Socket filter: count by skb->protocol, return skb->len.
    let mut sock = vec![i(MOV64_REG, 7, 1, 0, 0), i(LDXW, 6, 1, 16, 0)];
    sock.extend(count_into_map0());
    sock.extend([i(LDXW, 0, 7, 0, 0), i(EXIT, 0, 0, 0, 0)]);

    // TC: set skb->mark and skb->priority from the packet length, return TC_ACT_OK.
    let tc = vec![
        i(LDXW, 2, 1, 0, 0),    // r2 = skb->len
        i(STXW, 1, 2, 8, 0),    // skb->mark = len
        i(STW, 1, 0, 32, 7),    // skb->priority = 7
        i(STW, 1, 0, 48, 0x55), // skb->cb[0] = 0x55
        i(MOV64_IMM, 0, 0, 0, 0),
        i(EXIT, 0, 0, 0, 0),
    ];

    // Raw tracepoint: r0 = arg0 + arg1.
    let raw_tp = vec![
        i(LDXDW, 0, 1, 0, 0),
        i(LDXDW, 2, 1, 8, 0),
        i(0x0f, 0, 2, 0, 0),
        i(EXIT, 0, 0, 0, 0),
    ];

    // Syscall: ctx[1] = ctx[0] + 1 (u32 words); r0 = ctx[0].
    let syscall = vec![
        i(LDXW, 2, 1, 0, 0),
        i(MOV64_REG, 0, 2, 0, 0),
        i(ADD64_IMM, 2, 0, 0, 1),
        i(STXW, 1, 2, 4, 0),
        i(EXIT, 0, 0, 0, 0),
    ];
    // LWT xmit and cgroup skb: r0 = skb->len + data[0], which shows whether the test run
    // pulled the Ethernet header (only TC programs keep it).
    let len_and_first = vec![
        i(LDXW, 0, 1, 0, 0),  // r0 = skb->len
        i(LDXW, 2, 1, 76, 0), // r2 = data
        i(LDXW, 3, 1, 80, 0), // r3 = data_end
        i(MOV64_REG, 4, 2, 0, 0),
        i(ADD64_IMM, 4, 0, 0, 1),
        i(JGT_REG, 4, 3, 2, 0), // if data + 1 > data_end: exit
        i(LDXB, 2, 2, 0, 0),
        i(0x0f, 0, 2, 0, 0),
        i(EXIT, 0, 0, 0, 0),
    ];
    vec![
        program("kc_lwt_xmit_len", ProgType::LwtXmit, len_and_first.clone()),
        program("kc_lwt_in_len", ProgType::LwtIn, len_and_first.clone()),
        program("kc_xdp_count", ProgType::Xdp, xdp),
        program("kc_sock_count", ProgType::SocketFilter, sock),
        program("kc_tc_mark", ProgType::SchedCls, tc),
        program("kc_rawtp_sum", ProgType::RawTracepoint, raw_tp),
        Program {
            prog_flags: 1 << 4, // BPF_F_SLEEPABLE: syscall programs must be sleepable
            ..program("kc_syscall", ProgType::Syscall, syscall)
        },
    ]
}

#[test]
fn each_runnable_type_agrees_with_the_kernel() {
    let Some(probe) = common::kernel() else {
        return;
    };
    let progs = programs();
    let maps = [MapSpec::new("counts", MapType::Hash, 4, 8, 64)];
    let k = KernelObject::from_programs(&progs, &maps, &LoadOptions::default());
    for p in &k.programs {
        assert_eq!(p.verdict, Verdict::Accepted, "{}: {}", p.name, p.log);
    }
    let mut s = Session::from_programs(&progs, &k, probe.possible_cpus);
    let (mut runs, mut mismatches) = (0, Vec::new());
    for p in &progs {
        let mut inputs = default_inputs(p.prog_type);
        if p.prog_type == ProgType::Syscall {
            // A syscall program reading its context needs one.
            inputs.retain(|i| i.ctx.is_some());
        }
        if p.prog_type == ProgType::SchedCls {
            inputs.push(RunInput {
                name: "with_ctx".into(),
                data: inputs[0].data.clone(),
                ctx: Some({
                    let mut c = vec![0u8; 192];
                    c[8] = 1; // mark
                    c
                }),
            });
        }
        assert!(!inputs.is_empty());
        for input in &inputs {
            let c = s.run(&p.name, input).unwrap();
            runs += 1;
            if !c.matches() {
                eprintln!("MISMATCH {} {}", p.name, input.name);
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
    eprintln!("{runs} runs compared, {} mismatches", mismatches.len());
    assert!(mismatches.is_empty(), "{mismatches:?}");
}
