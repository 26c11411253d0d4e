//! The library's defaults: objects relocate against the host's BTF (CO-RE) without being
//! asked, a context of the wrong kind is refused with both kinds named, and a socket filter
//! run on `Context::skb` sees what the kernel's test run shows it.

mod common;

use bpfbox::btf::{Btf, Kind};
use bpfbox::kernel_compare::load::{KernelObject, LoadOptions};
use bpfbox::kernel_compare::run::{Outcome, RunInput, Session};
use bpfbox::loader::ProgramError;
use bpfbox::{Context, Error, Object, PtRegs, Vm};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// `BPF_KPROBE` against a cut-down vmlinux.h whose `struct pt_regs` lists its fields in
/// another order than the kernel's: only relocation against the host's BTF reads the
/// arguments right.
#[test]
fn from_file_relocates_against_the_host_btf() {
    let path = common::fixture("core_kprobe");
    if !std::path::Path::new(VMLINUX).exists() {
        return common::skip("this kernel publishes no /sys/kernel/btf/vmlinux");
    }
    let object = Object::from_file(&path).unwrap();
    assert!(
        object.program_errors().is_empty(),
        "{:?}",
        object.program_errors()
    );
    assert_eq!(object.core_relocations().len(), 4);
    // The kernel's verifier refuses this program (an unbounded variable-offset stack read),
    // and so does ours; it is here to exercise CO-RE, so it runs unverified.
    let mut vm = Vm::builder().verify(false).build(&object).unwrap();
    let regs = PtRegs {
        di: 7,
        si: 0x1111_2222,
        dx: 0x3333_4444,
        ..PtRegs::default()
    };
    let res = vm.run("core_openat2", Context::kprobe(regs)).unwrap();
    assert_eq!(res.retval, 8);
    // Verified first (the default), it is refused with the kernel's words.
    let mut checked = Vm::builder().build(&object).unwrap();
    match checked.run("core_openat2", Context::kprobe(regs)) {
        Err(Error::Rejected { message, .. }) => {
            assert_eq!(
                message,
                "invalid unbounded variable-offset read from stack R3"
            )
        }
        other => panic!("{other:?}"),
    }
    // The oracle for sizeof(struct open_how): the host's BTF, read here directly.
    let host = Btf::parse(&std::fs::read(VMLINUX).unwrap()).unwrap();
    let id = host.find_by_name_kind("open_how", Kind::Struct).unwrap();
    let size = u64::from(host.type_by_id(id).unwrap().size_or_type);
    let seen = vm.array::<u64>("seen").unwrap();
    let got: Vec<u64> = (0..4).map(|i| seen.get(i).unwrap()).collect();
    assert_eq!(got, [7, 0x1111_2222, 0x3333_4444, size]);
}

/// Without a target the program says why it cannot load, naming the missing BTF.
#[test]
fn no_target_btf_is_said_clearly() {
    let bytes = std::fs::read(common::fixture("core_kprobe")).unwrap();
    let object = Object::parse(&bytes).unwrap();
    let [e] = object.program_errors() else {
        panic!("{:?}", object.program_errors());
    };
    assert!(matches!(e, ProgramError::NeedsCore { count: 4, .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("no target BTF") && msg.contains(VMLINUX),
        "{msg}"
    );
    let mut vm = Vm::builder().build(&object).unwrap();
    let err = vm
        .run("core_openat2", Context::kprobe(PtRegs::default()))
        .unwrap_err();
    assert!(err.to_string().contains("no target BTF"), "{err}");
}

#[test]
fn a_context_of_the_wrong_kind_names_both_kinds() {
    let object = Object::from_file(common::fixture("tc")).unwrap();
    let mut vm = Vm::builder().build(&object).unwrap();
    let prog = vm.programs()[0].name.clone();
    let frame = vec![0u8; 64];
    let err = vm.run(&prog, Context::xdp(&frame)).unwrap_err();
    assert!(matches!(err, Error::WrongContext { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("sched_cls")
            && msg.contains("takes a socket-buffer context")
            && msg.contains("the context given is an XDP context"),
        "{msg}"
    );
}

/// An IPv4/UDP frame to port 53 from 10.0.0.1.
fn dns_frame() -> Vec<u8> {
    let payload = [0u8; 12];
    let mut udp = vec![0x30, 0x39, 0, 53, 0, 20, 0, 0];
    udp.extend_from_slice(&payload);
    let mut f = common::eth(common::MAC_B, common::MAC_A, common::ETH_P_IP);
    f.extend(common::ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        common::IPPROTO_UDP,
        udp.len(),
    ));
    f.extend(udp);
    f
}

/// A socket filter on `Context::skb(frame)` returns what the kernel's `BPF_PROG_TEST_RUN`
/// of the same frame returns (the kernel pulls the Ethernet header for socket filters).
#[test]
fn socket_filter_on_skb_matches_the_kernels_test_run() {
    let path = common::fixture("socket_filter");
    let frame = dns_frame();
    let object = Object::from_file(&path).unwrap();
    let mut vm = Vm::builder().build(&object).unwrap();
    let ours: Vec<(String, u32)> = ["dns_only", "ip_sum"]
        .iter()
        .map(|p| {
            let r = vm.run(p, Context::skb(&frame)).unwrap();
            (p.to_string(), r.retval)
        })
        .collect();
    // dns_only returns skb->len: the frame without its Ethernet header.
    assert_eq!(ours[0].1 as usize, frame.len() - 14);
    // ip_sum: a valid IPv4 header sums to 0xffff.
    assert_eq!(ours[1].1, 0xffff);
    let Some(probe) = common_kernel() else {
        return;
    };
    let (obj, kernel) = match KernelObject::load_file(&path, &LoadOptions::default()) {
        Ok(k) => k,
        Err(e) => panic!("the kernel refuses socket_filter.o: {e}"),
    };
    let mut session = Session::new(&obj, &kernel, probe);
    let input = RunInput {
        name: "dns".into(),
        data: frame.clone(),
        ctx: None,
    };
    for (prog, retval) in ours {
        let c = session.run(&prog, &input).unwrap();
        match c.kernel {
            Outcome::Ran { retval: k, .. } => assert_eq!(k, retval, "{prog}"),
            other => panic!("{prog}: the kernel: {other:?}"),
        }
    }
}

/// The number of possible CPUs when `bpf()` works here; `None` after a skip.
fn common_kernel() -> Option<u32> {
    let p = bpfbox::kernel_compare::probe::Probe::run();
    match p.reason() {
        Some(r) => {
            common::skip(&r);
            None
        }
        None => Some(p.possible_cpus),
    }
}
