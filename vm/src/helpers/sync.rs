//! `bpf_spin_lock` and `bpf_spin_unlock`.
//!
//! A run is single-threaded, so a lock is a word set while held; taking a lock that is
//! already held would spin forever in the kernel and is reported as a fault here.

use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};

/// Registers the spin lock helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        93,
        "bpf_spin_lock",
        R::Void,
        &[A::PtrToMapValue],
        |c, a| {
            let mut w = [0u8; 4];
            c.read_into(a[0], &mut w)?;
            if u32::from_ne_bytes(w) != 0 {
                return Err(HelperError::Message(format!(
                    "deadlock: the bpf_spin_lock at {:#x} is already held",
                    a[0]
                )));
            }
            c.write(a[0], &1u32.to_ne_bytes())?;
            Ok(0)
        },
    );
    reg(
        r,
        94,
        "bpf_spin_unlock",
        R::Void,
        &[A::PtrToMapValue],
        |c, a| {
            c.write(a[0], &0u32.to_ne_bytes())?;
            Ok(0)
        },
    );
}
