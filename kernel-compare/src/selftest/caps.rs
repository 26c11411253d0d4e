//! Running with fewer capabilities: without `CAP_SYS_ADMIN`, as the selftests' verifier tests
//! run (`prog_tests/verifier.c` drops it around every test, keeping `CAP_BPF` and
//! `CAP_PERFMON`), or with `CAP_BPF` alone among the BPF-relevant ones, the kernel's
//! unprivileged verification (`allow_ptr_leaks`, `allow_uninit_stack`, `bypass_spec_v1`/`v4`
//! all false) with `bpf_capable` still true.
//!
//! Capabilities are per thread: the guards change only the calling thread's effective set
//! and restore it when dropped.

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;
/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`.
const CAP_PERFMON: u32 = 38;
/// `CAP_BPF`.
const CAP_BPF: u32 = 39;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
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

/// While alive, the calling thread keeps `CAP_BPF` but runs without `CAP_PERFMON` and
/// `CAP_SYS_ADMIN` (which implies it): the kernel verifies its loads as unprivileged ones
/// (no pointer leaks, no uninitialised stack reads, Spectre sanitisation) while still
/// `bpf_capable` (bounded loops, calls, the CAP_BPF helpers, the 1M limit).
/// `CAP_NET_ADMIN` is kept: it only decides which program types may load, not how the
/// verifier judges them, and keeping it lets XDP and TC programs be judged too.
pub struct BpfOnly {
    saved: Option<[CapData; 2]>,
    active: bool,
}

fn has(data: &[CapData; 2], cap: u32) -> bool {
    data[(cap / 32) as usize].effective & (1 << (cap % 32)) != 0
}

fn clear(data: &mut [CapData; 2], cap: u32) {
    data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
}

impl BpfOnly {
    /// Drops `CAP_PERFMON` and `CAP_SYS_ADMIN` from the effective set.
    pub fn new() -> BpfOnly {
        let Some(old) = capget() else {
            return BpfOnly {
                saved: None,
                active: false,
            };
        };
        let mut new = old;
        clear(&mut new, CAP_SYS_ADMIN);
        clear(&mut new, CAP_PERFMON);
        let changed = new != old;
        let set = changed && capset(&new);
        let now = capget().unwrap_or(old);
        BpfOnly {
            saved: set.then_some(old),
            active: has(&now, CAP_BPF) && !has(&now, CAP_PERFMON) && !has(&now, CAP_SYS_ADMIN),
        }
    }

    /// Whether the thread now has `CAP_BPF` and neither `CAP_PERFMON` nor `CAP_SYS_ADMIN`.
    pub fn active(&self) -> bool {
        self.active
    }
}

impl Default for BpfOnly {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BpfOnly {
    fn drop(&mut self) {
        if let Some(old) = &self.saved {
            capset(old);
        }
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

    #[test]
    fn bpf_only_keeps_cap_bpf_and_restores() {
        let Some(before) = capget() else { return };
        {
            let g = BpfOnly::new();
            let now = capget().unwrap();
            assert!(!has(&now, CAP_PERFMON) && !has(&now, CAP_SYS_ADMIN));
            assert_eq!(g.active(), has(&before, CAP_BPF));
        }
        let after = capget().unwrap();
        assert!(before == after, "the effective set is restored");
    }
}
