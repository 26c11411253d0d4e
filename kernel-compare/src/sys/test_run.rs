//! `BPF_PROG_TEST_RUN`.

use super::*;

// ---- PROG_TEST_RUN ---------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// Input of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, Default)]
pub struct TestRunIn<'a> {
    /// Packet (or other data) in.
    pub data_in: &'a [u8],
    /// Capacity for the data out; `None` asks for no data out. The kernel reports
    /// `ENOSPC` when it does not fit, and the buffer is then grown once.
    pub data_out_cap: Option<usize>,
    /// Context in (`xdp_md`, `__sk_buff`, raw tracepoint args, ...).
    pub ctx_in: Option<&'a [u8]>,
    /// Capacity for the context out; `None` asks for none.
    pub ctx_out_cap: Option<usize>,
    /// Repetitions (0 counts as 1).
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// CPU with [`BPF_F_TEST_RUN_ON_CPU`].
    pub cpu: u32,
    /// Batch size for live XDP frames.
    pub batch_size: u32,
}

/// Output of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestRunOut {
    /// The program's return value (low 32 bits of r0).
    pub retval: u32,
    /// Average duration of one run in nanoseconds.
    pub duration_ns: u32,
    /// Data after the run (empty when not asked for).
    pub data_out: Vec<u8>,
    /// Context after the run (empty when not asked for).
    pub ctx_out: Vec<u8>,
    /// The context in after the run: syscall programs write their context back into it.
    pub ctx_in_after: Vec<u8>,
}

/// `BPF_PROG_TEST_RUN`.
pub fn prog_test_run(prog: &Fd, input: &TestRunIn<'_>) -> SysResult<TestRunOut> {
    let mut data_cap = input.data_out_cap.unwrap_or(0);
    let mut ctx_cap = input.ctx_out_cap.unwrap_or(0);
    let mut grown = false;
    // The kernel may write the context back into ctx_in (syscall programs): give it a
    // buffer we own.
    let mut ctx_in = input.ctx_in.map(<[u8]>::to_vec);
    loop {
        let mut data_out = vec![0u8; data_cap];
        let mut ctx_out = vec![0u8; ctx_cap];
        let mut a = TestRunAttr::zeroed();
        a.prog_fd = prog.raw() as u32;
        a.data_size_in = input.data_in.len() as u32;
        a.data_in = ptr(input.data_in);
        if input.data_out_cap.is_some() {
            a.data_size_out = data_cap as u32;
            a.data_out = ptr_mut(&mut data_out);
        }
        a.repeat = input.repeat;
        if let Some(c) = ctx_in.as_mut() {
            a.ctx_size_in = c.len() as u32;
            a.ctx_in = ptr_mut(c);
        }
        if input.ctx_out_cap.is_some() {
            a.ctx_size_out = ctx_cap as u32;
            a.ctx_out = ptr_mut(&mut ctx_out);
        }
        a.flags = input.flags;
        a.cpu = input.cpu;
        a.batch_size = input.batch_size;
        match bpf(cmd::PROG_TEST_RUN, "BPF_PROG_TEST_RUN", &mut a) {
            Ok(_) => {
                data_out.truncate(a.data_size_out as usize);
                ctx_out.truncate(a.ctx_size_out as usize);
                return Ok(TestRunOut {
                    retval: a.retval,
                    duration_ns: a.duration,
                    data_out,
                    ctx_out,
                    ctx_in_after: ctx_in.unwrap_or_default(),
                });
            }
            Err(e) if e.errno == ENOSPC && !grown => {
                // The kernel wrote back the sizes it needed.
                grown = true;
                data_cap = data_cap.max(a.data_size_out as usize);
                ctx_cap = ctx_cap.max(a.ctx_size_out as usize);
            }
            Err(e) => return Err(e),
        }
    }
}
