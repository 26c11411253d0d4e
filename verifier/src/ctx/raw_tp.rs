//! Raw tracepoint arguments, `u64 args[MAX_BPF_FUNC_ARGS]` (`bpf_tracing_ctx_access`);
//! writable raw tracepoints also read a buffer pointer at offset 0.

use super::{Access, Field};

/// `MAX_BPF_FUNC_ARGS` arguments of 8 bytes.
const SIZE: i32 = 12 * 8;

pub(super) fn access(a: Access, writable: bool) -> Option<Field> {
    let mut field = Field::Scalar;
    if writable && a.off == 0 {
        if a.size != 8 || a.write {
            return None;
        }
        field = Field::Unmodelled("tracepoint buffers");
    }
    let ok = (0..SIZE).contains(&a.off) && !a.write && a.aligned();
    ok.then_some(field)
}
