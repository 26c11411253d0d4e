//! Clock, random, CPU and current-task helpers, all answered from the deterministic
//! [`crate::env::Env`].

use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};

/// Registers the clock, random, CPU and task helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(r, 5, "bpf_ktime_get_ns", R::Integer, &[], |c, _| {
        Ok(c.env().read_clock())
    });
    reg(r, 125, "bpf_ktime_get_boot_ns", R::Integer, &[], |c, _| {
        Ok(c.env().read_clock())
    });
    reg(
        r,
        160,
        "bpf_ktime_get_coarse_ns",
        R::Integer,
        &[],
        |c, _| Ok(c.env().read_clock()),
    );
    reg(r, 7, "bpf_get_prandom_u32", R::Integer, &[], |c, _| {
        Ok(u64::from(c.env().next_prandom()))
    });
    reg(r, 8, "bpf_get_smp_processor_id", R::Integer, &[], |c, _| {
        Ok(u64::from(c.env().cpu))
    });
    reg(
        r,
        14,
        "bpf_get_current_pid_tgid",
        R::Integer,
        &[],
        |c, _| {
            let e = c.env();
            Ok(u64::from(e.tgid) << 32 | u64::from(e.pid))
        },
    );
    reg(r, 15, "bpf_get_current_uid_gid", R::Integer, &[], |c, _| {
        let e = c.env();
        Ok(u64::from(e.gid) << 32 | u64::from(e.uid))
    });
    // bpf_get_current_comm(buf, size): strscpy_pad of the task name; always NUL-terminated.
    reg(
        r,
        16,
        "bpf_get_current_comm",
        R::Integer,
        &[A::PtrToUninitMem, A::ConstSize],
        |c, a| {
            let size = usize::try_from(a[1] & 0xffff_ffff).unwrap_or(usize::MAX);
            c.check_writable(a[0], size)?;
            let comm = c.env().comm;
            let mut buf = vec![0u8; size];
            let n = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
            let n = n.min(size.saturating_sub(1));
            buf[..n].copy_from_slice(&comm[..n]);
            c.write(a[0], &buf)?;
            Ok(0)
        },
    );
    // bpf_jiffies64: the clock at Debian's HZ of 250 (4 ms per jiffy).
    reg(r, 118, "bpf_jiffies64", R::Integer, &[], |c, _| {
        Ok(c.env().read_clock() / 4_000_000)
    });
    reg(
        r,
        80,
        "bpf_get_current_cgroup_id",
        R::Integer,
        &[],
        |c, _| Ok(c.env().cgroup_id),
    );
}
