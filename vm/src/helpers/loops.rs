//! `bpf_loop`: bounded iteration through a callback.

use super::maps::{E2BIG, EINVAL};
use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};

/// The kernel's limit on `nr_loops` (`BPF_MAX_LOOPS`).
pub const BPF_MAX_LOOPS: u64 = 1 << 23;

/// Registers `bpf_loop`.
pub(crate) fn register(r: &mut HelperRegistry) {
    // bpf_loop(nr_loops, callback, ctx, flags): callback(i, ctx) until it returns non-zero;
    // returns the number of iterations run (i + 1 when stopped early).
    reg(
        r,
        181,
        "bpf_loop",
        R::Integer,
        &[A::Anything, A::PtrToFunc, A::PtrToStackOrNull, A::Anything],
        |c, a| {
            if a[3] != 0 {
                return Ok(EINVAL);
            }
            let nr = a[0] & 0xffff_ffff;
            if nr > BPF_MAX_LOOPS {
                return Ok(E2BIG);
            }
            for i in 0..nr {
                if c.call_function(a[1], [i, a[2], 0, 0, 0])? != 0 {
                    return Ok(i + 1);
                }
            }
            Ok(nr)
        },
    );
}
