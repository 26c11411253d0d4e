//! Running without `CAP_SYS_ADMIN`, as the selftests' verifier tests run
//! (`prog_tests/verifier.c` drops it around every test, keeping `CAP_BPF` and `CAP_PERFMON`).
//!
//! Capabilities are per thread: the guard changes only the calling thread's effective set
//! and restores it when dropped.

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;
/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capget() -> Option<[CapData; 2]> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `hdr` and the two-element `data` array are what capget(2) reads and writes
    // for version 3; both outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    (rc == 0).then_some(data)
}

fn capset(data: &[CapData; 2]) -> bool {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset(2) reads the version-3 header and two data records, which live for the
    // duration of the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    rc == 0
}

/// While alive, the calling thread runs without `CAP_SYS_ADMIN` in its effective set.
pub struct WithoutSysAdmin {
    saved: Option<[CapData; 2]>,
}

impl WithoutSysAdmin {
    /// Drops `CAP_SYS_ADMIN` from the effective set (nothing happens where it cannot).
    pub fn new() -> WithoutSysAdmin {
        let Some(old) = capget() else {
            return WithoutSysAdmin { saved: None };
        };
        let mut new = old;
        new[0].effective &= !(1 << CAP_SYS_ADMIN);
        let saved = (new[0].effective != old[0].effective && capset(&new)).then_some(old);
        WithoutSysAdmin { saved }
    }

    /// Whether `CAP_SYS_ADMIN` was dropped (it was effective before).
    pub fn active(&self) -> bool {
        self.saved.is_some()
    }
}

impl Default for WithoutSysAdmin {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for WithoutSysAdmin {
    fn drop(&mut self) {
        if let Some(old) = &self.saved {
            capset(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_the_effective_set() {
        let Some(before) = capget() else { return };
        let had = before[0].effective & (1 << CAP_SYS_ADMIN) != 0;
        {
            let g = WithoutSysAdmin::new();
            assert_eq!(g.active(), had, "dropped exactly when it was effective");
            if g.active() {
                let now = capget().unwrap();
                assert_eq!(now[0].effective & (1 << CAP_SYS_ADMIN), 0);
            }
        }
        let after = capget().unwrap();
        assert_eq!(before[0].effective, after[0].effective);
    }
}
