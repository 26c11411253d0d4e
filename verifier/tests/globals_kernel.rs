//! Global functions against the running kernel: an object compiled here with clang-19
//! (skipped without it) whose programs call global functions with each kind of argument
//! (context, scalar, sized memory, `arg:nonnull`, `arg:ctx`); every program's verdict and
//! error line must be the kernel's, and we must never accept what it rejects.

mod common;

const SOURCE: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_bad __attribute__((btf_decl_tag("arg:bogus")))

struct pair { long a; long b; };
struct big { long v[16]; };

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct pair); } pairs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, long); } longs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct pair); } hpairs SEC(".maps");

__noinline int g_len(struct __sk_buff *skb, int k) { return skb->len + k; }
__noinline int g_sum(struct pair *p) { return p ? p->a + p->b : 0; }
__noinline int g_sum_unchecked(struct pair *p) { return p->a + p->b; }
__noinline int g_sum_nonnull(struct pair *p __arg_nonnull) { return p->a + p->b; }
__noinline int g_past_end(struct pair *p __arg_nonnull) { return ((long *)p)[2]; }
__noinline int g_void_ctx(void *ctx __arg_ctx) { return g_len(ctx, 1); }
__noinline int g_chain(struct pair *p) { return g_sum(p) + 1; }
__noinline void g_void(int k) { asm volatile("" :: "r"(k)); }
__noinline int g_bad_tag(int k __arg_bad) { return k; }
__noinline int g_write(struct pair *p __arg_nonnull) { p->a = 1; return 0; }
__noinline int g_big(struct big *b) { return b ? (int)b->v[15] : 0; }

SEC("socket") int call_ctx(struct __sk_buff *skb) { return g_len(skb, 2); }
SEC("socket") int call_stack(struct __sk_buff *skb)
{
    struct pair p = { .a = skb->len, .b = 2 };
    return g_sum(&p);
}
SEC("socket") int call_null(struct __sk_buff *skb) { return g_sum(0); }
SEC("socket") int call_unchecked(struct __sk_buff *skb)
{
    struct pair p = { .a = skb->len, .b = 2 };
    return g_sum_unchecked(&p);
}
SEC("socket") int call_nonnull(struct __sk_buff *skb)
{
    struct pair p = { .a = skb->len, .b = 2 };
    return g_sum_nonnull(&p);
}
SEC("socket") int call_nonnull_maybe_null(struct __sk_buff *skb)
{
    __u32 k = 0;
    return g_sum_nonnull(bpf_map_lookup_elem(&hpairs, &k));
}
SEC("socket") int call_map_value(struct __sk_buff *skb)
{
    __u32 k = 0;
    struct pair *p = bpf_map_lookup_elem(&pairs, &k);
    return p ? g_sum_nonnull(p) : 0;
}
SEC("socket") int call_small_map_value(struct __sk_buff *skb)
{
    __u32 k = 0;
    long *p = bpf_map_lookup_elem(&longs, &k);
    return p ? g_sum_nonnull((struct pair *)p) : 0;
}
SEC("socket") int call_past_end(struct __sk_buff *skb)
{
    struct pair p = { .a = skb->len, .b = 2 };
    return g_past_end(&p);
}
SEC("socket") int call_small_stack(struct __sk_buff *skb)
{
    long v = skb->len;
    return g_sum((struct pair *)&v);
}
SEC("socket") int call_scalar_as_ptr(struct __sk_buff *skb)
{
    return g_sum((struct pair *)(long)skb->len);
}
SEC("socket") int call_void_ctx(struct __sk_buff *skb) { return g_void_ctx(skb); }
SEC("socket") int call_chain(struct __sk_buff *skb)
{
    struct pair p = { .a = 1, .b = 2 };
    return g_chain(&p);
}
SEC("socket") int call_void(struct __sk_buff *skb) { g_void(skb->len); return 0; }
SEC("socket") int call_bad_tag(struct __sk_buff *skb) { return g_bad_tag(1); }
SEC("socket") int call_write(struct __sk_buff *skb)
{
    struct pair p = { .a = skb->len, .b = 2 };
    g_write(&p);
    return p.a;
}
SEC("socket") int call_big_stack(struct __sk_buff *skb)
{
    struct big b = {};
    b.v[3] = skb->len;
    return g_big(&b);
}
SEC("socket") int call_ctx_wrong(struct __sk_buff *skb)
{
    struct pair p = { .a = skb->len, .b = 2 };
    return g_len((struct __sk_buff *)&p, 1);
}

struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __type(value, __u32); } jmp SEC(".maps");

static __noinline int tail(struct __sk_buff *skb)
{
    bpf_tail_call(skb, &jmp, 0);
    return skb->len;
}
static __noinline void tail_void(struct __sk_buff *skb)
{
    bpf_tail_call(skb, &jmp, 0);
}
SEC("socket") int tail_small_stack(struct __sk_buff *skb)
{
    volatile char buf[64];
    buf[0] = skb->len;
    return tail(skb) + buf[0];
}
SEC("socket") int tail_big_stack(struct __sk_buff *skb)
{
    volatile char buf[300];
    buf[0] = skb->len;
    buf[299] = 1;
    return tail(skb) + buf[0] + buf[299];
}
SEC("socket") int tail_in_void(struct __sk_buff *skb)
{
    tail_void(skb);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn global_functions_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let Some((object, k)) = common::load_c("globals", SOURCE) else {
        return;
    };
    let mut same = 0;
    let mut false_accepts = Vec::new();
    let mut rejected = 0;
    for j in common::judge_each(&object, &k) {
        let (p, v, ours, theirs) = (j.kernel, &j.ours, j.our_line, j.kernel_line);
        if theirs.is_some() {
            rejected += 1;
        }
        if v.accepted && theirs.is_some() {
            false_accepts.push(format!("{}: kernel {theirs:?}", p.name));
        } else if ours == theirs {
            same += 1;
        } else {
            eprintln!("{}: kernel {theirs:?}; ours {ours:?}", p.name);
        }
    }
    assert!(
        false_accepts.is_empty(),
        "accepted where the kernel rejects: {false_accepts:?}"
    );
    let n = k.programs.len();
    eprintln!("{same} of {n} programs identical to the kernel ({rejected} rejected by it)");
    assert!(rejected >= 5, "the object should exercise rejections");
    assert!(same * 100 >= n * 90, "only {same} of {n} identical");
}
