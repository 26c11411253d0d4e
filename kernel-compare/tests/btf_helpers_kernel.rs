//! Helpers that need map values with BTF-described fields (`struct bpf_timer`,
//! `struct bpf_spin_lock`), held against the kernel: an object compiled here with clang
//! (skipped without it) runs once on both sides, and the return codes each program stores
//! in a results map must agree, as must every map afterwards.

mod common;

use std::process::Command;

use bpfbox_kernel_compare::{KernelObject, LoadOptions, RunInput, Session, Verdict};

const SOURCE: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CLOCK_MONOTONIC 1

struct tval { struct bpf_timer t; __u64 fired; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct tval); } timers SEC(".maps");
struct lval { struct bpf_spin_lock l; __u64 n; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct lval); } locked SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __s64); } results SEC(".maps");

static void put(__u32 k, __s64 v)
{
    bpf_map_update_elem(&results, &k, &v, BPF_ANY);
}

static int cb(void *map, __u32 *key, struct tval *v)
{
    v->fired++;
    return 0;
}

SEC("xdp") int timer_codes(struct xdp_md *ctx)
{
    __u32 k = 0;
    struct tval *v = bpf_map_lookup_elem(&timers, &k);
    if (!v)
        return XDP_ABORTED;
    put(0, bpf_timer_init(&v->t, &timers, 5));
    put(1, bpf_timer_init(&v->t, &timers, CLOCK_MONOTONIC));
    put(2, bpf_timer_init(&v->t, &timers, CLOCK_MONOTONIC));
    put(3, bpf_timer_start(&v->t, 1000000000, 0));
    put(4, bpf_timer_cancel(&v->t));
    put(5, bpf_timer_set_callback(&v->t, cb));
    put(6, bpf_timer_start(&v->t, 1000000000, 4));
    put(7, bpf_timer_start(&v->t, 1000000000, 0));
    put(8, bpf_timer_cancel(&v->t));
    put(9, bpf_timer_cancel(&v->t));
    /* A cancel drops the callback: starting again needs a new one. */
    put(10, bpf_timer_start(&v->t, 1000000000, 0));
    put(11, bpf_timer_set_callback(&v->t, cb));
    put(12, bpf_timer_start(&v->t, 1000000000, 2 /* BPF_F_TIMER_CPU_PIN */));
    put(13, bpf_timer_cancel(&v->t));
    put(14, bpf_timer_set_callback(&v->t, cb));
    put(15, bpf_timer_cancel(&v->t));
    return XDP_PASS;
}

SEC("xdp") int lock_count(struct xdp_md *ctx)
{
    __u32 k = 0;
    struct lval *v = bpf_map_lookup_elem(&locked, &k);
    if (!v)
        return XDP_ABORTED;
    bpf_spin_lock(&v->l);
    v->n += 3;
    bpf_spin_unlock(&v->l);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn timer_and_spin_lock_codes_agree_with_the_kernel() {
    let Some(probe) = common::kernel() else {
        return;
    };
    if Command::new("clang-19").arg("--version").output().is_err() {
        common::skip("clang-19 not found: cannot build the test object");
        return;
    }
    let dir = std::env::temp_dir().join(format!("bpfbox-btf-helpers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, obj) = (dir.join("t.bpf.c"), dir.join("t.o"));
    std::fs::write(&src, SOURCE).unwrap();
    let arch_inc = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let st = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-I", &arch_inc, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap();
    assert!(st.success(), "clang failed");
    let (object, k) = KernelObject::load_file(&obj, &LoadOptions::default()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    for p in &k.programs {
        assert_eq!(p.verdict, Verdict::Accepted, "{}: {}", p.name, p.log);
    }
    let mut s = Session::new(&object, &k, probe.possible_cpus);
    assert_eq!(s.bpfbox_error(), None);
    let mut frame = vec![0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let input = RunInput {
        name: "frame".into(),
        data: frame,
        ctx: None,
    };
    for name in ["timer_codes", "lock_count", "lock_count"] {
        let c = s.run(name, &input).unwrap();
        assert!(c.matches(), "{name}: {:#?}", c.differences);
    }
}
