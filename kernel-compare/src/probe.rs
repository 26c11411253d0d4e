//! What this machine lets us do with the kernel: its version, whether `bpf()` is permitted,
//! and whether the JIT is on. When something is missing, [`Probe::reason`] says why in one
//! line.

use crate::sys;

/// The result of probing the running kernel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Probe {
    /// `uname -r`.
    pub kernel_release: String,
    /// `(major, minor, patch)` parsed from the release.
    pub kernel_version: (u32, u32, u32),
    /// Whether a trivial program loads (`BPF_PROG_LOAD` of a socket filter).
    pub bpf_permitted: bool,
    /// The errno of the failed probe load, when not permitted.
    pub bpf_errno: Option<i32>,
    /// `net.core.bpf_jit_enable` (`None` if unreadable).
    pub jit_enabled: Option<bool>,
    /// `kernel.unprivileged_bpf_disabled` (`None` if unreadable).
    pub unprivileged_bpf_disabled: Option<u32>,
    /// Number of possible CPUs (`/sys/devices/system/cpu/possible`; 0 when unreadable): the
    /// number of copies of per-CPU map values.
    pub possible_cpus: u32,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn kernel_release() -> String {
    read_trim("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".to_string())
}

fn parse_version(release: &str) -> (u32, u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next(), next())
}

/// Counts CPUs in a list such as `0-3,5,7-8`.
pub fn parse_cpu_list(s: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                n = n.checked_add(b.checked_sub(a)?.checked_add(1)?)?;
            }
            None => {
                part.parse::<u32>().ok()?;
                n = n.checked_add(1)?;
            }
        }
    }
    (n > 0).then_some(n)
}

/// Number of possible CPUs, as the kernel sizes per-CPU values; `None` when
/// `/sys/devices/system/cpu/possible` cannot be read or parsed (never a guess: a per-CPU
/// buffer sized for fewer CPUs than the kernel writes corrupts the heap).
pub fn possible_cpus() -> Option<u32> {
    read_trim(POSSIBLE_CPUS).and_then(|s| parse_cpu_list(&s))
}

/// Where the possible CPUs are listed.
pub const POSSIBLE_CPUS: &str = "/sys/devices/system/cpu/possible";

/// Tries to load `r0 = 0; exit` as a socket filter.
fn try_load() -> Result<(), i32> {
    use bpfbox_vm::RawInsn;
    let insns = [
        RawInsn::new(0xb7, 0, 0, 0, 0), // mov r0, 0
        RawInsn::new(0x95, 0, 0, 0, 0), // exit
    ];
    let p = sys::ProgLoad {
        prog_type: bpfbox_vm::ProgType::SocketFilter.id(),
        insns: &insns,
        license: "GPL",
        name: "bpfbox_probe",
        ..sys::ProgLoad::default()
    };
    sys::prog_load(&p).map(drop).map_err(|e| e.errno)
}

impl Probe {
    /// Probes the running kernel (loads and drops one trivial program).
    pub fn run() -> Probe {
        let kernel_release = kernel_release();
        let loaded = try_load();
        Probe {
            kernel_version: parse_version(&kernel_release),
            kernel_release,
            bpf_permitted: loaded.is_ok(),
            bpf_errno: loaded.err(),
            jit_enabled: read_trim("/proc/sys/net/core/bpf_jit_enable").map(|s| s != "0"),
            unprivileged_bpf_disabled: read_trim("/proc/sys/kernel/unprivileged_bpf_disabled")
                .and_then(|s| s.parse().ok()),
            possible_cpus: possible_cpus().unwrap_or(0),
        }
    }

    /// Why the kernel cannot be used, in one line; `None` when `bpf()` works.
    pub fn reason(&self) -> Option<String> {
        if self.bpf_permitted {
            return None;
        }
        let errno = self.bpf_errno.unwrap_or(0);
        let why = match errno {
            libc::ENOSYS => "the kernel has no bpf() syscall (CONFIG_BPF_SYSCALL off)".to_string(),
            libc::EPERM | libc::EACCES => {
                let unpriv = match self.unprivileged_bpf_disabled {
                    Some(0) | None => String::new(),
                    Some(v) => format!(", kernel.unprivileged_bpf_disabled={v}"),
                };
                format!("bpf() is not permitted: run as root or with CAP_BPF{unpriv}")
            }
            _ => format!("bpf() failed with {}", sys::errno_name(errno)),
        };
        Some(format!("kernel {}: {why}", self.kernel_release))
    }

    /// A one-line summary (`kernel 6.18.4: bpf() permitted, JIT on, 2 CPUs`).
    pub fn summary(&self) -> String {
        let jit = match self.jit_enabled {
            Some(true) => "JIT on",
            Some(false) => "JIT off",
            None => "JIT unknown",
        };
        match self.reason() {
            Some(r) => r,
            None => format!(
                "kernel {}: bpf() permitted, {jit}, {} possible CPUs",
                self.kernel_release, self.possible_cpus
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,5,7-8"), Some(7));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.18.44-fc-v509"), (6, 18, 44));
        assert_eq!(parse_version("5.10"), (5, 10, 0));
    }
}
