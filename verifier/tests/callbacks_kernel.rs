//! Callbacks against the running kernel: an object compiled here with clang-19 (skipped
//! without it) whose programs hand a static function to `bpf_loop`,
//! `bpf_for_each_map_elem` and `bpf_user_ringbuf_drain`, accepted and refused forms; every
//! program's verdict, error line and processed-instruction count is compared with the
//! kernel's, and we must never accept what it rejects.

mod common;

const SOURCE: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair { long a; long b; };

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, struct pair); } arr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
         __type(key, __u32); __type(value, struct pair); } hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, long); } pcpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4);
         __type(key, __u64); __type(value, long); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 4);
         __type(value, long); } queue SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_USER_RINGBUF); __uint(max_entries, 4096); } urb SEC(".maps");

char buf8[8];
int sink;

struct lctx { long i; long sum; char *p; };

static int count_cb(__u32 idx, struct lctx *c) { c->i++; return 0; }
static int sum_cb(__u32 idx, struct lctx *c) { c->sum += idx; return 0; }
static int stop_cb(__u32 idx, struct lctx *c) { return c->i++ > 3; }
static int ret2_cb(__u32 idx, void *c) { return 2; }
static int retidx_cb(__u32 idx, void *c) { return idx; }
static int retmasked_cb(__u32 idx, void *c) { return idx & 1; }
static int index_cb(__u32 idx, struct lctx *c)
{
    if (idx < 8)
        buf8[idx] = 1;
    return 0;
}
static int index_unchecked_cb(__u32 idx, struct lctx *c)
{
    buf8[idx & 15] = 1;
    return 0;
}
static int ptr_cb(__u32 idx, struct lctx *c)
{
    if (c->i < 8)
        buf8[c->i] = 1;
    c->i++;
    return 0;
}
static int ctx_past_end_cb(__u32 idx, struct lctx *c) { return ((long *)c)[3] & 1; }
static int null_ctx_cb(__u32 idx, struct lctx *c) { return c->i & 1; }
static int three_args_cb(__u32 idx, void *c, long extra) { return extra & 1; }
static int inner_cb(__u32 idx, struct lctx *c) { c->sum += 2; return 0; }
static int outer_cb(__u32 idx, struct lctx *c)
{
    bpf_loop(2, inner_cb, c, 0);
    return 0;
}
static int rec_cb(__u32 idx, void *c)
{
    bpf_loop(1, rec_cb, c, 0);
    return 0;
}
__noinline int global_cb(__u32 idx, void *c) { return 0; }

SEC("socket") int loop_count(void *ctx)
{
    struct lctx c = {};
    bpf_loop(10, count_cb, &c, 0);
    return c.i;
}
SEC("socket") int loop_sum(void *ctx)
{
    struct lctx c = {};
    bpf_loop(100, sum_cb, &c, 0);
    return c.sum;
}
SEC("socket") int loop_stop(void *ctx)
{
    struct lctx c = {};
    return bpf_loop(1000, stop_cb, &c, 0);
}
SEC("socket") int loop_null_ctx(void *ctx) { return bpf_loop(3, retmasked_cb, 0, 0); }
SEC("socket") int loop_null_ctx_deref(void *ctx) { return bpf_loop(3, null_ctx_cb, 0, 0); }
SEC("socket") int loop_bad_return(void *ctx) { return bpf_loop(3, ret2_cb, 0, 0); }
SEC("socket") int loop_return_index(void *ctx) { return bpf_loop(3, retidx_cb, 0, 0); }
SEC("socket") int loop_flags(void *ctx) { return bpf_loop(3, retmasked_cb, 0, 1); }
SEC("socket") int loop_zero(void *ctx) { return bpf_loop(0, retmasked_cb, 0, 0); }
SEC("socket") int loop_unknown_count(struct __sk_buff *skb)
{
    struct lctx c = {};
    bpf_loop(skb->len, count_cb, &c, 0);
    return 0;
}
SEC("socket") int loop_index_checked(void *ctx) { return bpf_loop(20, index_cb, 0, 0); }
SEC("socket") int loop_index_unchecked(void *ctx)
{
    return bpf_loop(20, index_unchecked_cb, 0, 0);
}
SEC("socket") int loop_ctx_pointer(void *ctx)
{
    struct lctx c = {};
    bpf_loop(20, ptr_cb, &c, 0);
    return 0;
}
SEC("socket") int loop_ctx_past_end(void *ctx)
{
    struct lctx c = {};
    return bpf_loop(2, ctx_past_end_cb, &c, 0);
}
SEC("socket") int loop_three_args(void *ctx) { return bpf_loop(2, three_args_cb, 0, 0); }
SEC("socket") int loop_nested(void *ctx)
{
    struct lctx c = {};
    bpf_loop(3, outer_cb, &c, 0);
    return c.sum;
}
SEC("socket") int loop_recursive(void *ctx) { return bpf_loop(1, rec_cb, 0, 0); }
SEC("socket") int loop_global_cb(void *ctx) { return bpf_loop(1, global_cb, 0, 0); }
SEC("socket") int loop_after_loop(void *ctx)
{
    struct lctx c = {};
    bpf_loop(4, count_cb, &c, 0);
    bpf_loop(4, sum_cb, &c, 0);
    return c.i + c.sum;
}

static long arr_cb(void *map, __u32 *key, struct pair *v, struct lctx *c)
{
    c->sum += v->a + *key;
    return 0;
}
static long arr_write_cb(void *map, __u32 *key, struct pair *v, void *c)
{
    v->b = *key;
    return 0;
}
static long key_write_cb(void *map, __u32 *key, struct pair *v, void *c)
{
    *key = 1;
    return 0;
}
static long value_past_end_cb(void *map, __u32 *key, struct pair *v, void *c)
{
    return ((long *)v)[2] & 1;
}
static long key_past_end_cb(void *map, __u32 *key, struct pair *v, void *c)
{
    return key[1] & 1;
}
static long stop_at_cb(void *map, __u32 *key, struct pair *v, struct lctx *c)
{
    if (*key == 2)
        return 1;
    c->i++;
    return 0;
}
static long pcpu_cb(void *map, __u32 *key, long *v, struct lctx *c)
{
    c->sum += *v;
    return 0;
}
static long lru_cb(void *map, __u64 *key, long *v, void *c)
{
    return (*key + *v) & 1;
}
static long queue_cb(void *map, void *key, long *v, void *c) { return 0; }
static long ret_ptr_cb(void *map, __u32 *key, struct pair *v, void *c)
{
    return (long)v;
}

SEC("socket") int each_array(void *ctx)
{
    struct lctx c = {};
    bpf_for_each_map_elem(&arr, arr_cb, &c, 0);
    return c.sum;
}
SEC("socket") int each_hash(void *ctx)
{
    struct lctx c = {};
    return bpf_for_each_map_elem(&hash, arr_cb, &c, 0);
}
SEC("socket") int each_write_value(void *ctx)
{
    return bpf_for_each_map_elem(&arr, arr_write_cb, 0, 0);
}
SEC("socket") int each_write_key(void *ctx)
{
    return bpf_for_each_map_elem(&arr, key_write_cb, 0, 0);
}
SEC("socket") int each_value_past_end(void *ctx)
{
    return bpf_for_each_map_elem(&hash, value_past_end_cb, 0, 0);
}
SEC("socket") int each_key_past_end(void *ctx)
{
    return bpf_for_each_map_elem(&hash, key_past_end_cb, 0, 0);
}
SEC("socket") int each_stop(void *ctx)
{
    struct lctx c = {};
    bpf_for_each_map_elem(&arr, stop_at_cb, &c, 0);
    return c.i;
}
SEC("socket") int each_percpu(void *ctx)
{
    struct lctx c = {};
    bpf_for_each_map_elem(&pcpu, pcpu_cb, &c, 0);
    return c.sum;
}
SEC("socket") int each_lru(void *ctx) { return bpf_for_each_map_elem(&lru, lru_cb, 0, 0); }
SEC("socket") int each_queue(void *ctx) { return bpf_for_each_map_elem(&queue, queue_cb, 0, 0); }
SEC("socket") int each_flags(void *ctx) { return bpf_for_each_map_elem(&arr, arr_write_cb, 0, 4); }
SEC("socket") int each_return_pointer(void *ctx)
{
    return bpf_for_each_map_elem(&arr, ret_ptr_cb, 0, 0);
}

static long drain_cb(struct bpf_dynptr *d, struct lctx *c)
{
    c->i++;
    return 0;
}
static long drain_stop_cb(struct bpf_dynptr *d, struct lctx *c) { return c->i > 1; }
static long drain_deref_cb(struct bpf_dynptr *d, void *c) { return *(long *)d & 1; }

SEC("tracepoint") int drain(void *ctx)
{
    struct lctx c = {};
    bpf_user_ringbuf_drain(&urb, drain_cb, &c, 0);
    return c.i;
}
SEC("tracepoint") int drain_stop(void *ctx)
{
    struct lctx c = {};
    return bpf_user_ringbuf_drain(&urb, drain_stop_cb, &c, 0);
}
SEC("tracepoint") int drain_deref(void *ctx)
{
    return bpf_user_ringbuf_drain(&urb, drain_deref_cb, 0, 0);
}
SEC("tracepoint") int drain_wrong_map(void *ctx)
{
    struct lctx c = {};
    return bpf_user_ringbuf_drain(&arr, drain_cb, &c, 0);
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn callbacks_match_the_kernel() {
    if !common::kernel() {
        return;
    }
    let Some((object, k)) = common::load_c("callbacks", SOURCE) else {
        return;
    };
    let (mut same, mut rejected, mut accepted, mut insns_equal, mut insns_near) = (0, 0, 0, 0, 0);
    let mut false_accepts = Vec::new();
    let mut unsupported = Vec::new();
    for j in common::judge_each(&object, &k) {
        let (p, v, ours, theirs) = (j.kernel, &j.ours, j.our_line, j.kernel_line);
        if v.unsupported {
            unsupported.push(format!("{}: {ours:?}", p.name));
        }
        if theirs.is_some() {
            rejected += 1;
        } else {
            accepted += 1;
            let (kn, bn) = (
                p.stats.processed_insns.unwrap_or(0),
                v.stats.processed_insns,
            );
            if v.accepted {
                insns_equal += usize::from(kn == bn);
                insns_near += usize::from(2 * bn >= kn && bn <= 2 * kn);
                if kn != bn {
                    eprintln!("{}: processed insns kernel {kn}, ours {bn}", p.name);
                }
            }
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
    assert!(
        unsupported.is_empty(),
        "callbacks left unsupported: {unsupported:?}"
    );
    let n = k.programs.len();
    eprintln!(
        "{same} of {n} programs identical to the kernel ({rejected} rejected by it); \
         processed insns equal on {insns_equal} of {accepted} accepted"
    );
    assert!(
        rejected >= 8 && accepted >= 8,
        "the object should exercise both verdicts"
    );
    assert!(same * 100 >= n * 90, "only {same} of {n} identical");
    assert!(
        insns_near == accepted,
        "processed insns outside 0.5-2x of the kernel's"
    );
}
