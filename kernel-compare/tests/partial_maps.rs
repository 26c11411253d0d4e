//! A map bpfbox cannot create (here a sockmap, which the kernel creates) fails only the
//! programs that use it: the object's other programs run on both sides and agree, and the
//! stand-in in the map's place is never compared.

mod common;

use bpfbox_kernel_compare::report::default_inputs;
use bpfbox_kernel_compare::{KernelObject, LoadOptions, Session, Verdict};
use bpfbox_loader::Object;
use bpfbox_vm::maps::{Map, MapConfig};

const SRC: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_SOCKMAP); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } sm SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("tc") int uses_sockmap(struct __sk_buff *skb) {
	__u32 k = 0;
	struct bpf_sock *s = bpf_map_lookup_elem(&sm, &k);
	if (s)
		bpf_sk_release(s);
	return 1;
}
SEC("xdp") int plain(struct xdp_md *ctx) {
	__u32 k = 0;
	__u64 *c = bpf_map_lookup_elem(&counts, &k);
	if (c)
		*c += 1;
	return 2;
}
char _license[] SEC("license") = "GPL";
"#;

#[test]
fn only_the_programs_using_the_map_do_not_run() {
    let Some(probe) = common::kernel() else {
        return;
    };
    let Some(path) = common::compile_bpf("sockmap", SRC) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let obj = Object::from_file(&path).unwrap();
    let cfg = MapConfig {
        ncpus: probe.possible_cpus,
    };
    let sm = obj.map_index("sm").unwrap();
    if Map::create(&obj.maps()[sm], &cfg).is_ok() {
        common::skip("bpfbox now runs sockmaps: this test needs another map type it does not run");
        return;
    }
    let k = KernelObject::load(&bytes, &obj, &LoadOptions::default()).unwrap();
    for p in &k.programs {
        assert_eq!(p.verdict, Verdict::Accepted, "{}: {}", p.name, p.log);
    }
    let mut s = Session::new(&obj, &k, probe.possible_cpus);
    let why = s
        .not_runnable("uses_sockmap")
        .expect("uses a map bpfbox cannot create");
    assert!(why.contains("bpfbox cannot create a map it uses"), "{why}");
    assert!(s.not_runnable("plain").is_none());
    let inputs = default_inputs(bpfbox_vm::ProgType::Xdp);
    assert!(!inputs.is_empty());
    for input in &inputs {
        let c = s.run("plain", input).unwrap();
        assert!(c.matches(), "{:?}", c.differences);
    }
    assert!(s.prefill("sm", &[0; 4], &[0; 4]).is_err());
}
