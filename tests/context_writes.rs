//! Context stores of every program-type family, in checked mode through the interpreter and
//! the JIT (the engine `Engine::Jit` runs, compiled checked): a store into a field the
//! kernel's `is_valid_access` keeps read-only (or a store shaped as the kernel refuses) is a
//! typed out-of-bounds fault naming the store's instruction; a store into a writable field
//! runs and is in the context afterwards. Before, every type without a context kind of its
//! own ran on a context writable throughout.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::asm::assemble;
use bpfbox_vm::helpers::MapTable;
use bpfbox_vm::testrun::{
    build_context, prepare, run_context, RunResult, RunSetup, TestRun, TestRunError,
};
use bpfbox_vm::{Env, FaultKind, ProgType};

/// Attach types (`enum bpf_attach_type`).
const INET_SOCK_CREATE: u32 = 2;
const INET4_CONNECT: u32 = 10;
const INET4_POST_BIND: u32 = 12;
const UDP6_SENDMSG: u32 = 15;
const GETSOCKOPT: u32 = 21;
const SETSOCKOPT: u32 = 22;

/// Runs `src` as a `t` program loaded with `attach` over a zeroed 256-byte context input,
/// through the interpreter and through the JIT's checked mode; both must agree.
fn run(t: ProgType, attach: Option<u32>, src: &str) -> Result<RunResult, TestRunError> {
    let maps = MapTable::default();
    let vm = Arc::new(prepare(&assemble(src).expect("assembles"), t, &maps).expect("validates"));
    let jit = JitProgram::compile(Arc::clone(&vm)).expect("compiles");
    let mut results = Vec::new();
    for runner in [None, Some(&jit as &dyn bpfbox_vm::testrun::Runner)] {
        let input = TestRun {
            data_in: vec![0; 64],
            ctx_in: Some(vec![0; 256]),
            ..TestRun::default()
        };
        let ctx = build_context(t, &input).expect("context");
        let base = ctx.ptr();
        let mut env = Env::default();
        let setup = RunSetup {
            runner,
            expected_attach_type: attach,
            ..RunSetup::default()
        };
        let r = run_context(&vm, t, ctx, &mut env, &setup);
        results.push(match r {
            Ok(mut r) => {
                r.duration_ns = 0;
                Ok(r)
            }
            // Addresses as offsets from the context, which each run allocates anew.
            Err(TestRunError::Fault(mut f)) => {
                if let FaultKind::OutOfBounds { addr, .. } = &mut f.kind {
                    *addr = addr.wrapping_sub(base);
                }
                Err(TestRunError::Fault(f))
            }
            Err(e) => Err(e),
        });
    }
    let jit = results.pop().unwrap();
    let interp = results.pop().unwrap();
    assert_eq!(
        format!("{interp:?}"),
        format!("{jit:?}"),
        "{} {attach:?}: the interpreter and the JIT differ on\n{src}",
        t.name()
    );
    interp
}

/// `size` bytes of 0x11.. stored at `off` (the store is instruction 2).
fn store(off: i32, size: u32) -> String {
    let sfx = match size {
        1 => "b",
        2 => "h",
        4 => "w",
        _ => "dw",
    };
    format!("lddw %r3, 0x1111111111111111\nstx{sfx} [%r1{off:+}], %r3\nmov %r0, 0\nexit")
}

/// The store at `off` faults, as an out-of-bounds store at instruction 2.
fn refused(t: ProgType, attach: Option<u32>, off: i32, size: u32) {
    let what = format!("{} {attach:?}: store of {size} at {off}", t.name());
    match run(t, attach, &store(off, size)) {
        Err(TestRunError::Fault(f)) => {
            assert_eq!(f.pc, 2, "{what}: {f}");
            assert!(
                matches!(
                    f.kind,
                    FaultKind::OutOfBounds { addr, size: s, write: true }
                        if s == u64::from(size) && addr == off as i64 as u64
                ),
                "{what}: {f}"
            );
            assert_eq!(
                f.to_string(),
                format!("insn 2: invalid store of {size} bytes at {off:#x}"),
            );
        }
        other => panic!("{what}: expected a fault, got {other:?}"),
    }
}

/// The store at `off` runs and its bytes are in the context afterwards (`ctx_out`).
fn written(t: ProgType, attach: Option<u32>, off: i32, size: u32) {
    let what = format!("{} {attach:?}: store of {size} at {off}", t.name());
    let r = run(t, attach, &store(off, size)).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (o, n) = (off as usize, size as usize);
    assert_eq!(r.ctx_out[o..o + n], vec![0x11; n][..], "{what}");
    // Nothing else changed.
    let others = r
        .ctx_out
        .iter()
        .enumerate()
        .filter(|&(i, _)| !(o..o + n).contains(&i))
        .all(|(_, &b)| b == 0);
    assert!(others, "{what}: {:?}", r.ctx_out);
}

#[test]
fn sock_ops_writes_reply_and_sk_txhash_only() {
    let t = ProgType::SockOps;
    written(t, None, 4, 4); // reply
    written(t, None, 164, 4); // sk_txhash
    refused(t, None, 0, 4); // op
    refused(t, None, 8, 4); // replylong[1]
    refused(t, None, 4, 2); // reply, narrow
    refused(t, None, 4, 8); // reply and replylong[1] at once
    refused(t, None, 184, 8); // sk, the socket pointer
    refused(t, None, 192, 8); // skb_data
}

#[test]
fn cgroup_sock_writes_by_attach_type() {
    let t = ProgType::CgroupSock;
    for attach in [None, Some(0), Some(INET_SOCK_CREATE)] {
        written(t, attach, 0, 4); // bound_dev_if
        written(t, attach, 16, 4); // mark
        written(t, attach, 20, 4); // priority
        refused(t, attach, 4, 4); // family
        refused(t, attach, 16, 1);
    }
    refused(t, Some(INET4_POST_BIND), 16, 4);
    refused(t, Some(INET4_POST_BIND), 24, 4); // src_ip4
}

#[test]
fn sock_addr_writes_the_attach_types_address() {
    let t = ProgType::CgroupSockAddr;
    let v4 = Some(INET4_CONNECT);
    written(t, v4, 4, 4); // user_ip4
    written(t, v4, 24, 4); // user_port
    refused(t, v4, 8, 4); // user_ip6: not this family
    refused(t, v4, 28, 4); // family
    refused(t, v4, 64, 8); // sk
    let v6 = Some(UDP6_SENDMSG);
    written(t, v6, 8, 8); // user_ip6[0..2]
    written(t, v6, 20, 4); // user_ip6[3]
    written(t, v6, 48, 8); // msg_src_ip6[1..3]
    refused(t, v6, 12, 8); // a pair across an 8-byte boundary
    refused(t, v6, 40, 4); // msg_src_ip4
    refused(t, v6, 24, 2); // user_port, narrow
}

#[test]
fn sockopt_writes_by_attach_type() {
    let t = ProgType::CgroupSockopt;
    let get = Some(GETSOCKOPT);
    written(t, get, 36, 4); // retval
    written(t, get, 32, 4); // optlen
    refused(t, get, 24, 4); // level
    refused(t, get, 8, 8); // optval, the buffer pointer
    let set = Some(SETSOCKOPT);
    written(t, set, 24, 4); // level
    written(t, set, 28, 4); // optname
    refused(t, set, 36, 4); // retval
    refused(t, set, 16, 8); // optval_end
}

#[test]
fn sysctl_writes_file_pos_only() {
    let t = ProgType::CgroupSysctl;
    written(t, None, 4, 4);
    refused(t, None, 0, 4); // write
    refused(t, None, 4, 2);
}

#[test]
fn lwt_seg6local_writes_its_sk_buff_fields() {
    let t = ProgType::LwtSeg6local;
    written(t, None, 8, 4); // mark
    written(t, None, 56, 8); // cb[2..4]
    refused(t, None, 0, 4); // len
    refused(t, None, 76, 4); // data
}

#[test]
fn read_only_contexts_refuse_every_store() {
    let cases = [
        (ProgType::SkMsg, 16, 4),         // family
        (ProgType::SkMsg, 0, 8),          // data
        (ProgType::SkReuseport, 16, 4),   // len
        (ProgType::SkReuseport, 40, 8),   // sk
        (ProgType::SkLookup, 8, 4),       // family
        (ProgType::SkLookup, 0, 8),       // sk
        (ProgType::FlowDissector, 48, 4), // cb
        (ProgType::FlowDissector, 8, 4),  // mark
        (ProgType::CgroupDevice, 0, 4),   // access_type
        (ProgType::PerfEvent, 168, 8),    // sample_period
        (ProgType::PerfEvent, 0, 8),      // regs
        (ProgType::LircMode2, 0, 4),      // the sample
        (ProgType::Netfilter, 0, 8),      // state
        (ProgType::Tracing, 0, 8),        // the arguments
        (ProgType::Lsm, 0, 8),
        (ProgType::StructOps, 0, 8),
        (ProgType::Ext, 0, 8),
    ];
    for (t, off, size) in cases {
        refused(t, None, off, size);
    }
}

#[test]
fn syscall_contexts_stay_writable() {
    written(ProgType::Syscall, None, 0, 8);
    written(ProgType::Syscall, None, 250, 2);
    // The kernel refuses a misaligned store (`off % size`), and so does the run.
    refused(ProgType::Syscall, None, 2, 4);
}
