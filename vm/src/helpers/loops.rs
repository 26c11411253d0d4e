//! `bpf_loop`: bounded iteration through a callback.

use super::maps::{E2BIG, EINVAL};
use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};

/// The kernel's limit on `nr_loops` (`BPF_MAX_LOOPS`).
pub const BPF_MAX_LOOPS: u64 = 1 << 23;

/// `-E2BIG` as the kernel's inlined `bpf_loop` leaves it in r0: set by a 32-bit move, so
/// zero-extended (4294967289, not -7).
const E2BIG_INLINED: u64 = E2BIG & 0xffff_ffff;

/// Registers `bpf_loop`.
///
/// The kernel's verifier replaces a `bpf_loop` call whose flags are known to be zero and
/// whose callback is the same at every visit with inline instructions
/// (`inline_bpf_loop`), and those differ from the helper at the edges: the limit is checked
/// on all 64 bits of `nr_loops` (the helper takes its low 32 bits) and `-E2BIG` is
/// zero-extended. Flags of zero at run time are taken as the inlined form, which is what the
/// verifier sees for every call written with a literal 0; other flags get the helper's
/// `-EINVAL`.
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
            let nr = a[0];
            if nr > BPF_MAX_LOOPS {
                return Ok(E2BIG_INLINED);
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
