//! `bpf_seq_write` (kernel/trace/bpf_trace.c): iterator programs append to the `seq_file`
//! buffer, here [`crate::env::Env::seq`], bounded as the kernel's buffer is.

use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};
use crate::env::SEQ_BUF_SIZE;

/// `-EOVERFLOW`.
const EOVERFLOW: u64 = -75i64 as u64;

/// Registers `bpf_seq_write`.
pub(crate) fn register(r: &mut HelperRegistry) {
    // bpf_seq_write(m, data, len): all of `data` or nothing; a write that does not fit in
    // the buffer is -EOVERFLOW (the kernel then retries the object with a bigger buffer
    // only for the first object, which a single run does not model).
    reg(
        r,
        127,
        "bpf_seq_write",
        R::Integer,
        &[A::PtrToBtfId, A::PtrToMem, A::ConstSizeOrZero],
        |c, a| {
            let len = a[2] & 0xffff_ffff;
            let used = c.env().seq.len() as u64;
            if used + len > SEQ_BUF_SIZE as u64 {
                // Marks the buffer full, as seq_write's seq_set_overflow does.
                c.env().output_limit_reached = true;
                return Ok(EOVERFLOW);
            }
            let data = c.read(a[1], len as usize)?;
            c.env().seq.extend_from_slice(&data);
            Ok(0)
        },
    );
}
