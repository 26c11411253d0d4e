//! The real BPF objects Debian ships with xdp-tools, xdp-tests and libxdp1
//! (`/usr/lib/x86_64-linux-gnu/bpf`, `/usr/libexec/xdp-tools`): every program runs in the
//! interpreter on crafted frames, xdp-filter's programs give the verdicts its documentation
//! and source promise, and the CO-RE-dependent xdpdump program is reported as such.
//!
//! xdp-filter's conventions (xdp-filter/common_kern_user.h, xdpfilt_prog.h), checked against
//! the objects' `features` section and their disassembly:
//! - `xdpfilt_<policy>_<feature>`: policy `alw` passes unmatched packets and drops matches,
//!   `dny` drops unmatched packets and passes matches (the rules are an allow list);
//! - `filter_ports` (per-CPU array, key = port in network byte order as a `u32`),
//!   `filter_ipv4` / `filter_ipv6` / `filter_ethernet` (per-CPU hashes keyed by address)
//!   hold a `u64` of flags `SRC = 1, DST = 2, TCP = 4, UDP = 8`; each hit adds
//!   `1 << 6` to the value;
//! - `xdp_stats_map` (per-CPU array by action) counts packets and bytes per verdict.

mod common;

use std::path::{Path, PathBuf};

use bpfbox::{Context, Object, Vm};
use common::*;

/// Directories holding Debian's xdp-tools / libxdp objects.
const OBJECT_DIRS: [&str; 2] = ["/usr/lib/x86_64-linux-gnu/bpf", "/usr/libexec/xdp-tools"];

/// Every real object found (sorted), or `None` after reporting a skip.
fn real_objects() -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in OBJECT_DIRS {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        out.extend(
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "o")),
        );
    }
    out.sort();
    if out.is_empty() {
        skip("no xdp-tools BPF objects installed (apt install xdp-tools xdp-tests libxdp1)");
        return None;
    }
    Some(out)
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Crafted frames: Ethernet + IPv4/IPv6 with TCP/UDP/ICMP, ARP, VLAN-tagged, runt.
fn frames() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("tcp4", tcp4(IP_A, IP_B, 40000, 80, b"GET /")),
        ("udp4", udp4(IP_A, IP_B, 5353, 53, b"query")),
        ("icmp4", icmp4(IP_A, IP_B)),
        ("tcp6", tcp6(IP6_A, IP6_B, 40000, 443, b"")),
        ("udp6", udp6(IP6_A, IP6_B, 5353, 53, b"q6")),
        ("icmp6", icmp6(IP6_A, IP6_B)),
        ("arp", arp(IP_A, IP_B)),
        ("vlan_tcp4", vlan(&tcp4(IP_A, IP_B, 40000, 80, b""), 100)),
        (
            "qinq_udp6",
            vlan(&vlan(&udp6(IP6_A, IP6_B, 1, 2, b""), 200), 100),
        ),
        ("runt", vec![0xff; 14]),
        ("truncated_ip", tcp4(IP_A, IP_B, 1, 2, b"")[..20].to_vec()),
    ]
}

#[test]
fn every_program_runs_on_crafted_frames() {
    let Some(objects) = real_objects() else {
        return;
    };
    // xdp-tools 1.3 ships 15 objects in the library directory and 3 test objects.
    assert!(objects.len() >= 18, "{objects:?}");
    let mut ran = 0;
    for path in &objects {
        let name = stem(path);
        let obj = Object::from_file(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut vm = Vm::builder()
            .ncpus(2)
            .build(&obj)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let progs: Vec<String> = vm.programs().iter().map(|p| p.name.clone()).collect();
        if name == "xdpdump_bpf" {
            // fentry/fexit programs (see xdpdump_bpf_needs_core), not XDP ones.
            continue;
        }
        assert!(!progs.is_empty(), "{name}: no programs");
        for prog in &progs {
            for (what, frame) in frames() {
                let r = vm
                    .run(prog, Context::xdp(&frame))
                    .unwrap_or_else(|e| panic!("{name}/{prog} on {what}: {e}"));
                assert!(r.action.is_some(), "{name}/{prog} on {what}: r0 = {}", r.r0);
                ran += 1;
            }
        }
    }
    assert!(ran > 0);
}

#[test]
fn xdpdump_bpf_needs_core() {
    let path = Path::new(OBJECT_DIRS[0]).join("xdpdump_bpf.o");
    if !path.exists() {
        skip("xdpdump_bpf.o not installed (apt install xdp-tools)");
        return;
    }
    // Relocated against the host's BTF by default, both fentry/fexit programs load.
    if Path::new("/sys/kernel/btf/vmlinux").exists() {
        let obj = Object::from_file(&path).unwrap();
        assert!(
            obj.program_errors().is_empty(),
            "{:?}",
            obj.program_errors()
        );
        assert_eq!(obj.programs().len(), 2);
    } else {
        skip("this kernel publishes no /sys/kernel/btf/vmlinux");
    }
    // Without a target BTF they cannot.
    let obj = Object::parse(&std::fs::read(&path).unwrap()).unwrap();
    assert!(obj.programs().is_empty());
    let errs = obj.program_errors();
    assert!(!errs.is_empty());
    for e in errs {
        assert!(
            matches!(e, bpfbox::loader::ProgramError::NeedsCore { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("needs CO-RE"), "{e}");
    }
    // Building a VM still works; running such a program reports why it cannot.
    let mut vm = Vm::builder().build(&obj).unwrap();
    let prog = errs[0].program().to_string();
    let err = vm
        .run(&prog, Context::xdp(&arp(IP_A, IP_B)))
        .expect_err("a CO-RE program cannot run");
    assert!(err.to_string().contains("needs CO-RE"), "{err}");
}

// ---------------------------------------------------------------- xdp-filter

const FLAG_SRC: u64 = 1;
const FLAG_DST: u64 = 2;
const FLAG_TCP: u64 = 4;
const FLAG_UDP: u64 = 8;
const HIT: u64 = 1 << 6;
const NCPUS: u32 = 2;
const CPU: u32 = 1;

/// An xdp-filter program with its VM, or `None` after a skip.
fn xdpfilt(variant: &str) -> Option<Vm> {
    let path = Path::new(OBJECT_DIRS[0]).join(format!("xdpfilt_{variant}.o"));
    if !path.exists() {
        skip(&format!(
            "{} not installed (apt install xdp-tools)",
            path.display()
        ));
        return None;
    }
    let obj = Object::from_file(&path).unwrap();
    Some(Vm::builder().ncpus(NCPUS).cpu(CPU).build(&obj).unwrap())
}

fn port_key(port: u16) -> u32 {
    u32::from(u16::from_ne_bytes(port.to_be_bytes()))
}

/// Sets a filter entry on every CPU (as xdp-filter's user space does).
fn set_rule<K: bytemuck_free::Key>(vm: &Vm, map: &str, key: K, flags: u64) {
    let m = vm.map(map).unwrap();
    let values: Vec<Vec<u8>> = (0..NCPUS).map(|_| flags.to_ne_bytes().to_vec()).collect();
    m.update_percpu(key.bytes().as_ref(), &values, 0).unwrap();
}

/// The value of a filter entry on the CPU the programs run on.
fn rule_value<K: bytemuck_free::Key>(vm: &Vm, map: &str, key: K) -> u64 {
    let v = vm
        .map(map)
        .unwrap()
        .lookup_percpu(key.bytes().as_ref())
        .unwrap();
    u64::from_ne_bytes(v[CPU as usize][..8].try_into().unwrap())
}

/// (packets, bytes) counted for `action` on the CPU the programs run on.
fn stats(vm: &Vm, action: u32) -> (u64, u64) {
    let v = vm
        .map("xdp_stats_map")
        .unwrap()
        .lookup_percpu(&action.to_ne_bytes())
        .unwrap();
    let rec = &v[CPU as usize];
    (
        u64::from_ne_bytes(rec[..8].try_into().unwrap()),
        u64::from_ne_bytes(rec[8..16].try_into().unwrap()),
    )
}

/// Keys as bytes, without a Pod dependency.
mod bytemuck_free {
    pub trait Key {
        fn bytes(&self) -> Vec<u8>;
    }
    impl Key for u32 {
        fn bytes(&self) -> Vec<u8> {
            self.to_ne_bytes().to_vec()
        }
    }
    impl<const N: usize> Key for [u8; N] {
        fn bytes(&self) -> Vec<u8> {
            self.to_vec()
        }
    }
}

fn action(vm: &mut Vm, prog: &str, frame: &[u8]) -> &'static str {
    vm.run(prog, Context::xdp(frame))
        .unwrap_or_else(|e| panic!("{prog}: {e}"))
        .action
        .unwrap()
}

#[test]
fn xdp_filter_tcp_ports_allow_policy_drops_matches() {
    let Some(mut vm) = xdpfilt("alw_tcp") else {
        return;
    };
    let p = "xdpfilt_alw_tcp";
    set_rule(&vm, "filter_ports", port_key(22), FLAG_DST | FLAG_TCP);
    set_rule(&vm, "filter_ports", port_key(6000), FLAG_SRC | FLAG_TCP);
    set_rule(&vm, "filter_ports", port_key(53), FLAG_DST | FLAG_UDP);
    let to22 = tcp4(IP_A, IP_B, 40000, 22, b"");
    assert_eq!(action(&mut vm, p, &to22), "XDP_DROP");
    assert_eq!(
        action(&mut vm, p, &tcp4(IP_A, IP_B, 40000, 23, b"")),
        "XDP_PASS"
    );
    // Port 22 as the source does not match a DST rule; 6000 as the source matches.
    assert_eq!(
        action(&mut vm, p, &tcp4(IP_A, IP_B, 22, 80, b"")),
        "XDP_PASS"
    );
    assert_eq!(
        action(&mut vm, p, &tcp4(IP_A, IP_B, 6000, 80, b"")),
        "XDP_DROP"
    );
    assert_eq!(
        action(&mut vm, p, &tcp6(IP6_A, IP6_B, 1, 22, b"")),
        "XDP_DROP"
    );
    assert_eq!(action(&mut vm, p, &vlan(&to22, 5)), "XDP_DROP");
    // A UDP rule does not apply to TCP, and the TCP program ignores UDP.
    assert_eq!(
        action(&mut vm, p, &tcp4(IP_A, IP_B, 1, 53, b"")),
        "XDP_PASS"
    );
    assert_eq!(
        action(&mut vm, p, &udp4(IP_A, IP_B, 1, 53, b"")),
        "XDP_PASS"
    );
    assert_eq!(action(&mut vm, p, &arp(IP_A, IP_B)), "XDP_PASS");
    // Hit counters: three hits on port 22 (IPv4, IPv6, VLAN), one on 6000, none on 53.
    assert_eq!(
        rule_value(&vm, "filter_ports", port_key(22)),
        FLAG_DST | FLAG_TCP | (3 * HIT)
    );
    assert_eq!(
        rule_value(&vm, "filter_ports", port_key(6000)),
        FLAG_SRC | FLAG_TCP | HIT
    );
    assert_eq!(
        rule_value(&vm, "filter_ports", port_key(53)),
        FLAG_DST | FLAG_UDP
    );
}

#[test]
fn xdp_filter_tcp_ports_deny_policy_passes_matches() {
    let Some(mut vm) = xdpfilt("dny_tcp") else {
        return;
    };
    let p = "xdpfilt_dny_tcp";
    set_rule(&vm, "filter_ports", port_key(443), FLAG_DST | FLAG_TCP);
    let allowed = tcp4(IP_A, IP_B, 40000, 443, b"hello");
    let other = tcp4(IP_A, IP_B, 40000, 8443, b"");
    assert_eq!(action(&mut vm, p, &allowed), "XDP_PASS");
    assert_eq!(action(&mut vm, p, &allowed), "XDP_PASS");
    assert_eq!(action(&mut vm, p, &other), "XDP_DROP");
    assert_eq!(
        action(&mut vm, p, &udp4(IP_A, IP_B, 1, 443, b"")),
        "XDP_DROP"
    );
    // Stats per verdict (XDP_DROP = 1, XDP_PASS = 2): packets and bytes.
    assert_eq!(stats(&vm, 2), (2, 2 * allowed.len() as u64));
    assert_eq!(
        stats(&vm, 1),
        (
            2,
            (other.len() + udp4(IP_A, IP_B, 1, 443, b"").len()) as u64
        )
    );
    assert_eq!(stats(&vm, 0), (0, 0));
    assert_eq!(
        rule_value(&vm, "filter_ports", port_key(443)),
        FLAG_DST | FLAG_TCP | (2 * HIT)
    );
}

#[test]
fn xdp_filter_udp_ports() {
    let Some(mut vm) = xdpfilt("alw_udp") else {
        return;
    };
    let p = "xdpfilt_alw_udp";
    set_rule(&vm, "filter_ports", port_key(53), FLAG_DST | FLAG_UDP);
    assert_eq!(
        action(&mut vm, p, &udp4(IP_A, IP_B, 1000, 53, b"")),
        "XDP_DROP"
    );
    assert_eq!(
        action(&mut vm, p, &udp6(IP6_A, IP6_B, 1000, 53, b"")),
        "XDP_DROP"
    );
    assert_eq!(
        action(&mut vm, p, &udp4(IP_A, IP_B, 53, 1000, b"")),
        "XDP_PASS"
    );
    assert_eq!(
        action(&mut vm, p, &tcp4(IP_A, IP_B, 1000, 53, b"")),
        "XDP_PASS"
    );
}

#[test]
fn xdp_filter_ip_addresses() {
    let Some(mut vm) = xdpfilt("alw_ip") else {
        return;
    };
    let p = "xdpfilt_alw_ip";
    let bad4 = [203, 0, 113, 9];
    let bad6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66,
    ];
    set_rule(&vm, "filter_ipv4", u32::from_ne_bytes(bad4), FLAG_SRC);
    set_rule(&vm, "filter_ipv6", bad6, FLAG_DST);
    assert_eq!(action(&mut vm, p, &udp4(bad4, IP_B, 1, 2, b"")), "XDP_DROP");
    assert_eq!(action(&mut vm, p, &icmp4(bad4, IP_B)), "XDP_DROP");
    // The rule is for the source only.
    assert_eq!(action(&mut vm, p, &udp4(IP_B, bad4, 1, 2, b"")), "XDP_PASS");
    assert_eq!(
        action(&mut vm, p, &tcp6(IP6_A, bad6, 1, 2, b"")),
        "XDP_DROP"
    );
    assert_eq!(
        action(&mut vm, p, &tcp6(bad6, IP6_A, 1, 2, b"")),
        "XDP_PASS"
    );
    assert_eq!(action(&mut vm, p, &icmp6(IP6_A, IP6_B)), "XDP_PASS");
    assert_eq!(
        rule_value(&vm, "filter_ipv4", u32::from_ne_bytes(bad4)),
        FLAG_SRC | (2 * HIT)
    );
    assert_eq!(rule_value(&vm, "filter_ipv6", bad6), FLAG_DST | HIT);
}

#[test]
fn xdp_filter_ethernet_addresses() {
    let Some(mut vm) = xdpfilt("dny_eth") else {
        return;
    };
    let p = "xdpfilt_dny_eth";
    // Deny policy: only frames from MAC_A pass.
    set_rule(&vm, "filter_ethernet", MAC_A, FLAG_SRC);
    assert_eq!(action(&mut vm, p, &arp(IP_A, IP_B)), "XDP_PASS");
    let mut from_c = udp4(IP_A, IP_B, 1, 2, b"");
    from_c[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x0c]);
    assert_eq!(action(&mut vm, p, &from_c), "XDP_DROP");
    // MAC_A as the destination is not a source match.
    let mut to_a = from_c.clone();
    to_a[..6].copy_from_slice(&MAC_A);
    assert_eq!(action(&mut vm, p, &to_a), "XDP_DROP");
}

#[test]
fn xdp_filter_all_features_and_policies_agree() {
    let (Some(mut alw), Some(mut dny)) = (xdpfilt("alw_all"), xdpfilt("dny_all")) else {
        return;
    };
    for vm in [&alw, &dny] {
        set_rule(vm, "filter_ports", port_key(22), FLAG_DST | FLAG_TCP);
        set_rule(vm, "filter_ipv4", u32::from_ne_bytes(IP_B), FLAG_DST);
    }
    let cases = [
        (tcp4(IP_A, [1, 1, 1, 1], 1, 22, b""), true),
        (udp4(IP_A, IP_B, 1, 9, b""), true),
        (udp4(IP_A, [1, 1, 1, 1], 1, 22, b""), false),
        (arp(IP_A, IP_B), false),
    ];
    for (frame, matched) in &cases {
        let (a, d) = (
            action(&mut alw, "xdpfilt_alw_all", frame),
            action(&mut dny, "xdpfilt_dny_all", frame),
        );
        if *matched {
            assert_eq!((a, d), ("XDP_DROP", "XDP_PASS"));
        } else {
            assert_eq!((a, d), ("XDP_PASS", "XDP_DROP"));
        }
    }
}

#[test]
fn simple_test_objects() {
    let dir = Path::new(OBJECT_DIRS[1]);
    if !dir.join("xdp_drop.o").exists() {
        skip("xdp-tests objects not installed (apt install xdp-tests)");
        return;
    }
    let frame = udp4(IP_A, IP_B, 1, 2, b"");
    for (file, want) in [("xdp_drop", "XDP_DROP"), ("xdp_pass", "XDP_PASS")] {
        let obj = Object::from_file(dir.join(format!("{file}.o"))).unwrap();
        let mut vm = Vm::builder().build(&obj).unwrap();
        let prog = vm.programs()[0].name.clone();
        assert_eq!(action(&mut vm, &prog, &frame), want, "{file}");
    }
}
