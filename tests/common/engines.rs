//! What every engine-against-engine test on real objects shares (the x86-64 JIT's through
//! the facade, the aarch64 backend's under emulation): the inputs each program type runs
//! on, the objects, and fault text without host addresses.

use std::path::{Path, PathBuf};

use bpfbox_vm::testrun::TestRun;
use bpfbox_vm::ProgType;

use super::*;

/// Crafted frames: TCP, UDP and ICMP over IPv4, TCP over IPv6, ARP, a VLAN tag, and a
/// frame of 0xff.
pub fn frames() -> Vec<Vec<u8>> {
    vec![
        tcp4(IP_A, IP_B, 40000, 80, b"GET /"),
        udp4(IP_A, IP_B, 5353, 53, b"query"),
        icmp4(IP_A, IP_B),
        tcp6(IP6_A, IP6_B, 40000, 443, b""),
        arp(IP_A, IP_B),
        vlan(&tcp4(IP_A, IP_B, 40000, 80, b""), 100),
        vec![0xff; 14],
    ]
}

/// The runs a program of type `t` gets: each frame for packet programs, a zeroed context
/// for the rest.
pub fn inputs(t: ProgType) -> Vec<TestRun> {
    let packet = matches!(
        t,
        ProgType::Xdp
            | ProgType::SchedCls
            | ProgType::SchedAct
            | ProgType::SocketFilter
            | ProgType::CgroupSkb
            | ProgType::LwtIn
            | ProgType::LwtOut
            | ProgType::LwtXmit
            | ProgType::SkSkb
    );
    if packet {
        frames()
            .into_iter()
            .map(|f| TestRun {
                data_in: f,
                ..TestRun::default()
            })
            .collect()
    } else {
        vec![TestRun {
            ctx_in: Some(vec![0; 64]),
            ..TestRun::default()
        }]
    }
}

/// `text` with host addresses (`0x7f...`) blanked: two runs allocate their stacks and
/// buffers at different places.
pub fn without_addresses(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.starts_with("0x7") && w.len() > 10 {
                "ADDR"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The project's compiled fixtures (`tests/fixtures/obj/*.o`), found from whichever crate
/// of the workspace includes this module.
pub fn fixture_objects() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("tests/fixtures/obj").is_dir())
        .expect("the workspace's tests/fixtures/obj");
    objects_in(&[root.join("tests/fixtures/obj")])
}

/// Debian's xdp-tools and libxdp objects, empty when not installed.
pub fn xdp_tools_objects() -> Vec<PathBuf> {
    objects_in(&[
        PathBuf::from("/usr/lib/x86_64-linux-gnu/bpf"),
        PathBuf::from("/usr/libexec/xdp-tools"),
    ])
}

/// Why [`xdp_tools_objects`] is empty, for a skip.
pub const NO_XDP_TOOLS: &str =
    "no xdp-tools BPF objects installed (apt install xdp-tools xdp-tests libxdp1)";

fn objects_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    v.sort();
    v
}
