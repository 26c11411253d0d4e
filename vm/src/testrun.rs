//! A test run mirroring `BPF_PROG_TEST_RUN`: build the context the program type expects,
//! run the program `repeat` times, and report what the kernel reports plus what the program
//! left behind (printk lines, ring buffer records, perf samples, redirects).

use std::time::Instant;

use crate::context::{skb_off, xdp_off, Context, ETH_HLEN};
use crate::env::Env;
use crate::helpers::{HelperRegistry, MapTable};
use crate::interp::{Fault, ProgramTable, RunOptions, Vm};
use crate::isa::IsaError;
use crate::maps::MapType;
use crate::memory::Region;
use crate::program::{ProgType, Program};

/// Input of a test run (the `test` part of `union bpf_attr`).
#[derive(Clone, Debug, Default)]
pub struct TestRun {
    /// Packet data (`data_in`).
    pub data_in: Vec<u8>,
    /// Context bytes (`ctx_in`): `xdp_md`, `__sk_buff`, `pt_regs`, tracepoint args...
    pub ctx_in: Option<Vec<u8>>,
    /// Number of runs (0 counts as 1).
    pub repeat: u32,
    /// Enforce the kernel's input rules (`-EINVAL` where the kernel refuses).
    pub kernel_compat: bool,
    /// Extra memory the program may read (e.g. for `bpf_probe_read`); the caller keeps it
    /// alive and untouched during the run.
    pub regions: Vec<Region>,
}

/// What a test run reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunResult {
    /// `retval` as the kernel reports it (the low 32 bits of r0).
    pub retval: u32,
    /// The full r0.
    pub r0: u64,
    /// The action's name for XDP and TC programs.
    pub action: Option<&'static str>,
    /// Packet after the run (`data_out`; XDP includes metadata).
    pub data_out: Vec<u8>,
    /// Context after the run (`ctx_out`), the uapi struct only.
    pub ctx_out: Vec<u8>,
    /// Lines from `bpf_trace_printk`.
    pub printk: Vec<String>,
    /// Ring buffer records: (map name, record).
    pub ringbuf: Vec<(String, Vec<u8>)>,
    /// Perf samples: (map name, index, sample).
    pub perf: Vec<(String, u32, Vec<u8>)>,
    /// Redirects requested.
    pub redirects: Vec<crate::helpers::Redirect>,
    /// Whether output was dropped: printk lines past the environment's limit, or perf
    /// samples that found their buffer full.
    pub output_limit_reached: bool,
    /// Instructions executed in the last run.
    pub insns: u64,
    /// Average duration of one run.
    pub duration_ns: u64,
}

/// Why a test run could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    /// The input breaks the kernel's rules (`-errno`).
    #[error("invalid input (errno {errno}): {msg}")]
    Invalid {
        /// The errno the kernel would return.
        errno: i32,
        /// Why.
        msg: String,
    },
    /// The program does not decode.
    #[error(transparent)]
    Isa(#[from] IsaError),
    /// The program faulted.
    #[error(transparent)]
    Fault(#[from] Fault),
}

fn invalid(msg: impl Into<String>) -> TestRunError {
    TestRunError::Invalid {
        errno: 22,
        msg: msg.into(),
    }
}

/// The XDP action name for `r0`.
pub fn xdp_action_name(r0: u32) -> Option<&'static str> {
    [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .get(r0 as usize)
    .copied()
}

/// The TC action name for `r0` (`TC_ACT_UNSPEC` is -1).
pub fn tc_action_name(r0: u32) -> Option<&'static str> {
    match r0 as i32 {
        -1 => Some("TC_ACT_UNSPEC"),
        0 => Some("TC_ACT_OK"),
        1 => Some("TC_ACT_RECLASSIFY"),
        2 => Some("TC_ACT_SHOT"),
        3 => Some("TC_ACT_PIPE"),
        4 => Some("TC_ACT_STOLEN"),
        5 => Some("TC_ACT_QUEUED"),
        6 => Some("TC_ACT_REPEAT"),
        7 => Some("TC_ACT_REDIRECT"),
        8 => Some("TC_ACT_TRAP"),
        _ => None,
    }
}

/// The action name of `retval` for program types that have them (XDP and TC).
pub fn action_name(t: ProgType, retval: u32) -> Option<&'static str> {
    match t {
        ProgType::Xdp => xdp_action_name(retval),
        ProgType::SchedCls | ProgType::SchedAct => tc_action_name(retval),
        _ => None,
    }
}

/// Whether programs of type `t` get a `struct __sk_buff` context.
pub fn has_skb_context(t: ProgType) -> bool {
    is_skb(t)
}

fn is_skb(t: ProgType) -> bool {
    use ProgType::*;
    matches!(
        t,
        SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit | SkSkb
    )
}

/// Whether the kernel's skb test run leaves the Ethernet header in the packet the program
/// sees (`is_l2` in `bpf_prog_test_run_skb`: TC programs only; the LWT and cgroup programs
/// and socket filters see the packet from the network header).
fn skb_l2(t: ProgType) -> bool {
    matches!(t, ProgType::SchedCls | ProgType::SchedAct)
}

fn read_u32(b: &[u8], off: u64) -> u32 {
    let o = off as usize;
    b.get(o..o + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// `xdp_convert_md_to_buff`: a queue without a device is `EINVAL`; a device other than the
/// loopback device (the only one a test run here has) is `ENODEV`; a queue the loopback
/// device lacks (it has one) is `EINVAL`.
fn check_xdp_rxq(ingress: u32, rxq: u32) -> Result<(), TestRunError> {
    if ingress == 0 && rxq != 0 {
        return Err(invalid("xdp_md.rx_queue_index set without ingress_ifindex"));
    }
    if ingress != 0 && ingress != crate::context::LOOPBACK_IFINDEX {
        return Err(TestRunError::Invalid {
            errno: 19,
            msg: format!("no network device with ifindex {ingress} (ENODEV)"),
        });
    }
    if ingress != 0 && rxq != 0 {
        return Err(invalid(format!(
            "the loopback device has no receive queue {rxq}"
        )));
    }
    Ok(())
}

/// What a test run gives a `t` program as its context (see [`build_context`]).
pub fn context_of(t: ProgType) -> &'static str {
    match t {
        ProgType::Xdp => "struct xdp_md over the packet",
        _ if is_skb(t) => "struct __sk_buff over the packet",
        ProgType::Kprobe => "struct pt_regs from ctx_in",
        ProgType::RawTracepoint | ProgType::RawTracepointWritable => "u64 arguments from ctx_in",
        ProgType::Tracepoint => "the tracepoint record from ctx_in",
        ProgType::Syscall => "the ctx_in bytes",
        _ => "its uapi context struct from ctx_in",
    }
}

/// The context a test run of a `t` program gets from `run`'s data and context input,
/// enforcing the kernel's input rules when `run.kernel_compat` is set.
pub fn build_context(t: ProgType, run: &TestRun) -> Result<Context, TestRunError> {
    let ctx_in = run.ctx_in.as_deref();
    if t == ProgType::Xdp {
        let (mut meta, mut ingress, mut rxq) = (0usize, 0, 0);
        if let Some(c) = ctx_in {
            if run.kernel_compat
                && c.len() > xdp_off::UAPI_SIZE as usize
                && c[xdp_off::UAPI_SIZE as usize..].iter().any(|&b| b != 0)
            {
                return Err(invalid("xdp_md has non-zero bytes past its end"));
            }
            let (data, end, dmeta) = (read_u32(c, 0), read_u32(c, 4), read_u32(c, 8));
            if run.kernel_compat
                && (dmeta != 0
                    || (end != 0 && end as usize != run.data_in.len())
                    || data as usize > run.data_in.len()
                    || read_u32(c, 20) != 0)
            {
                return Err(invalid("inconsistent xdp_md"));
            }
            meta = data as usize;
            if meta & 3 != 0 || meta > 32 {
                return Err(invalid("bad metadata size"));
            }
            ingress = read_u32(c, xdp_off::INGRESS_IFINDEX);
            rxq = read_u32(c, xdp_off::RX_QUEUE_INDEX);
        }
        if run.kernel_compat && run.data_in.len().saturating_sub(meta) < ETH_HLEN {
            return Err(invalid("packet shorter than ETH_HLEN"));
        }
        if run.kernel_compat {
            check_xdp_rxq(ingress, rxq)?;
        }
        let mut c = Context::xdp_with_meta(&run.data_in, meta);
        // The input's fields come back unchanged as context out; the program reads the
        // receive queue the run uses (the loopback device's unless the input names one).
        c.put_u32_raw(xdp_off::INGRESS_IFINDEX, ingress);
        c.put_u32_raw(xdp_off::RX_QUEUE_INDEX, rxq);
        if ingress != 0 {
            c.set_xdp_rxq(ingress, rxq);
        }
        return Ok(c);
    }
    if is_skb(t) {
        if run.kernel_compat && run.data_in.len() < ETH_HLEN {
            return Err(invalid("packet shorter than ETH_HLEN"));
        }
        if run.kernel_compat {
            // bpf_prog_test_run_skb reads the addresses of an IPv4/IPv6 packet's header
            // for its socket, and refuses packets too short to hold one.
            let l3 = run.data_in.len() - ETH_HLEN;
            match u16::from_be_bytes([run.data_in[12], run.data_in[13]]) {
                0x0800 if l3 < 20 => return Err(invalid("IPv4 packet shorter than its header")),
                0x86dd if l3 < 40 => return Err(invalid("IPv6 packet shorter than its header")),
                _ => {}
            }
        }
        let mut c = Context::skb_at(&run.data_in, skb_l2(t));
        if let Some(inp) = ctx_in {
            // Fields a test run may set (convert___skb_to_skb); the rest must be zero.
            let settable: [(u64, u64); 9] = [
                (skb_off::MARK, 4),
                (skb_off::PRIORITY, 4),
                (skb_off::INGRESS_IFINDEX, 8),
                (skb_off::CB, 20),
                (skb_off::TSTAMP, 8),
                (skb_off::WIRE_LEN, 8),
                (skb_off::GSO_SIZE, 4),
                (skb_off::HWTSTAMP, 8),
                (0, 0),
            ];
            let allowed = |i: u64| settable.iter().any(|&(o, n)| i >= o && i < o + n);
            if run.kernel_compat
                && inp
                    .iter()
                    .enumerate()
                    .any(|(i, &b)| b != 0 && !allowed(i as u64))
            {
                return Err(invalid("__sk_buff field that a test run may not set"));
            }
            for &(o, n) in &settable {
                let (o, n) = (o as usize, n as usize);
                if let Some(src) = inp.get(o..o + n) {
                    let src = src.to_vec();
                    c.ctx_bytes_mut()[o..o + n].copy_from_slice(&src);
                }
            }
            if read_u32(inp, skb_off::IFINDEX) == 0 {
                c.set_u32(skb_off::IFINDEX, 1);
            }
        }
        // convert___skb_to_skb: a zero wire_len stands for the skb's length.
        if c.get_u32(skb_off::WIRE_LEN) == 0 {
            let len = c.get_u32(skb_off::LEN);
            c.set_u32(skb_off::WIRE_LEN, len);
        }
        return Ok(c);
    }
    let bytes = ctx_in.unwrap_or(&[]);
    Ok(match t {
        ProgType::Kprobe => Context::raw_like_kprobe(bytes),
        ProgType::RawTracepoint | ProgType::RawTracepointWritable => {
            let args: Vec<u64> = bytes
                .chunks(8)
                .map(|w| {
                    let mut b = [0u8; 8];
                    b[..w.len()].copy_from_slice(w);
                    u64::from_ne_bytes(b)
                })
                .collect();
            Context::raw_tracepoint(&args)
        }
        ProgType::Tracepoint => Context::tracepoint(bytes),
        ProgType::Syscall => Context::syscall(bytes),
        // sock_ops, the cgroup types, sk_msg, sk_lookup, flow_dissector, ...: the bytes as
        // the type's uapi struct, writable only where the type's rules allow.
        _ => Context::uapi_struct(bytes),
    })
}

/// Validates `insns` of type `prog_type` for runs bound to `maps`: context accesses are
/// rewritten to our layout, map references bound, and the kernel's helper catalogue attached.
pub fn prepare(
    insns: &[crate::isa::RawInsn],
    prog_type: ProgType,
    maps: &MapTable,
) -> Result<Vm, IsaError> {
    let code = crate::context::rewrite_ctx_access(prog_type, insns);
    let mut vm = Vm::with_binder(&code, Some(maps))?;
    vm.set_helpers(HelperRegistry::kernel());
    Ok(vm)
}

/// Runs `insns` of type `prog_type` bound to `maps`, with the full helper catalogue.
pub fn test_run_insns(
    insns: &[crate::isa::RawInsn],
    prog_type: ProgType,
    maps: &MapTable,
    env: &mut Env,
    run: &TestRun,
) -> Result<RunResult, TestRunError> {
    let vm = prepare(insns, prog_type, maps)?;
    run_prepared(&vm, prog_type, maps, env, run)
}

/// [`run_prepared`] of a program loaded with `expected_attach_type` `attach`.
fn run_prepared_as(
    vm: &Vm,
    prog_type: ProgType,
    attach: Option<u32>,
    maps: &MapTable,
    env: &mut Env,
    run: &TestRun,
) -> Result<RunResult, TestRunError> {
    let ctx = build_context(prog_type, run)?;
    env.maps = maps.clone();
    let setup = RunSetup {
        repeat: run.repeat,
        regions: &run.regions,
        expected_attach_type: attach,
        ..RunSetup::default()
    };
    run_context(vm, prog_type, ctx, env, &setup)
}

/// [`test_run_insns`] of a program already [`prepare`]d (with its budget and engine set).
pub fn run_prepared(
    vm: &Vm,
    prog_type: ProgType,
    maps: &MapTable,
    env: &mut Env,
    run: &TestRun,
) -> Result<RunResult, TestRunError> {
    run_prepared_as(vm, prog_type, None, maps, env, run)
}

/// How [`run_context`] runs, beyond the program and its context.
#[derive(Debug, Default)]
pub struct RunSetup<'a> {
    /// Number of runs (0 counts as 1); the result is the last run's, the duration the mean.
    pub repeat: u32,
    /// Extra memory the program may read or write (see [`TestRun::regions`]).
    pub regions: &'a [Region],
    /// Programs `bpf_tail_call` may enter.
    pub programs: Option<&'a ProgramTable>,
    /// Helpers replacing the VM's for these runs.
    pub overrides: Option<&'a HelperRegistry>,
    /// The engine that runs the program instead of the interpreter (a JIT of the same
    /// program), if any.
    pub runner: Option<&'a dyn Runner>,
    /// Leave ring buffer records where they are instead of consuming them into the result.
    /// The kernel's test run has no consumer: records accumulate across runs until the
    /// buffer is full, which a harness comparing run after run with the kernel must mirror.
    pub keep_ringbuf: bool,
    /// The program's `expected_attach_type` ([`Program::expected_attach_type`]): which
    /// context fields a cgroup program may write depends on it.
    pub expected_attach_type: Option<u32>,
}

/// An engine that runs one prepared program: the interpreter ([`Vm`]) or a compiled form of
/// the same program, with [`Vm::run`]'s contract.
pub trait Runner: std::fmt::Debug {
    /// Runs with r1..r5 = `args`, the given regions (besides the stack) and environment.
    fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<crate::interp::RunOutcome, crate::interp::Fault>;
}

impl Runner for Vm {
    fn run(
        &self,
        args: [u64; 5],
        regions: &[Region],
        env: &mut Env,
        opts: RunOptions<'_>,
    ) -> Result<crate::interp::RunOutcome, crate::interp::Fault> {
        Vm::run(self, args, regions, env, opts)
    }
}

/// Runs a prepared program (see [`prepare`]) on `ctx`, bound to the maps in `env.maps`.
///
/// With `repeat` above 1 the context and packet carry over from one run to the next, as
/// they do in the kernel's test run.
pub fn run_context(
    vm: &Vm,
    prog_type: ProgType,
    ctx: Context,
    env: &mut Env,
    setup: &RunSetup<'_>,
) -> Result<RunResult, TestRunError> {
    env.prog_type = prog_type;
    let mut regions = ctx.regions_for(prog_type, setup.expected_attach_type);
    regions.extend(env.maps.regions());
    regions.extend(env.net.sockets.regions());
    regions.extend(env.task.regions());
    regions.extend_from_slice(setup.regions);
    // BPF_PROG_TEST_RUN gives each run fresh cgroup storage; it stays in the map here so
    // that tests can read it afterwards.
    for m in env.maps.iter() {
        if matches!(
            m.map_type(),
            MapType::CgroupStorage | MapType::PercpuCgroupStorage
        ) {
            m.reset_local_storage(&crate::helpers::storage::cgroup_key(env, m.key_size()));
        }
    }
    env.output_limit_reached = false;
    let perf_lost = |env: &Env| env.maps.iter().map(|m| m.perf_lost()).sum::<u64>();
    let lost_before = perf_lost(env);
    let repeat = setup.repeat.max(1);
    let start = Instant::now();
    let mut last = None;
    for _ in 0..repeat {
        let opts = RunOptions {
            overrides: setup.overrides,
            skb: ctx.skb_bounds(),
            programs: setup.programs,
        };
        let runner: &dyn Runner = setup.runner.unwrap_or(vm);
        last = Some(runner.run([ctx.ptr(), 0, 0, 0, 0], &regions, env, opts)?);
    }
    let duration_ns = (start.elapsed().as_nanos() / u128::from(repeat)) as u64;
    let out = last.unwrap_or(crate::interp::RunOutcome { r0: 0, insns: 0 });
    let retval = out.r0 as u32;
    let action = action_name(prog_type, retval);
    let mut data_out = ctx.packet().to_vec();
    let mut ctx_out = ctx.uapi_bytes().to_vec();
    if is_skb(prog_type) && !skb_l2(prog_type) {
        // The kernel pushes the Ethernet header back for data out, zeroed (an L3 context
        // only exists for packets that had one).
        let mut out = vec![0u8; ETH_HLEN];
        out.extend_from_slice(&data_out);
        data_out = out;
    }
    if prog_type == ProgType::Xdp {
        let meta = ctx.get_u64(xdp_off::DATA_META);
        let rel = |v: u64| (v.wrapping_sub(meta) as u32).to_ne_bytes();
        let (d, e) = (
            rel(ctx.get_u64(xdp_off::DATA)),
            rel(ctx.get_u64(xdp_off::DATA_END)),
        );
        ctx_out[0..4].copy_from_slice(&d);
        ctx_out[4..8].copy_from_slice(&e);
        ctx_out[8..12].fill(0);
    } else if is_skb(prog_type) {
        // convert_skb_to___skb copies back these fields only; the rest reads as zero.
        const COPIED: [(u64, u64); 9] = [
            (skb_off::MARK, 4),
            (skb_off::PRIORITY, 4),
            (skb_off::INGRESS_IFINDEX, 4),
            (skb_off::IFINDEX, 4),
            (skb_off::CB, 20),
            (skb_off::TSTAMP, 8),
            (skb_off::WIRE_LEN, 4),
            (skb_off::GSO_SEGS, 4),
            (skb_off::HWTSTAMP, 8),
        ];
        let mut out = vec![0u8; ctx_out.len()];
        for (o, n) in COPIED {
            let r = o as usize..(o + n) as usize;
            if let (Some(dst), Some(src)) = (out.get_mut(r.clone()), ctx_out.get(r)) {
                dst.copy_from_slice(src);
            }
        }
        ctx_out = out;
    }
    let output_limit_reached =
        std::mem::take(&mut env.output_limit_reached) || perf_lost(env) != lost_before;
    let mut ringbuf = Vec::new();
    let mut perf = Vec::new();
    for m in env.maps.iter() {
        match m.map_type() {
            MapType::Ringbuf if !setup.keep_ringbuf => {
                while let Some(r) = m.ringbuf_consume() {
                    ringbuf.push((m.name().to_string(), r));
                }
            }
            MapType::PerfEventArray => {
                for i in 0..m.max_entries() {
                    for s in m.perf_read(i) {
                        perf.push((m.name().to_string(), i, s));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(RunResult {
        retval,
        r0: out.r0,
        action,
        data_out,
        ctx_out,
        printk: std::mem::take(&mut env.printk),
        ringbuf,
        perf,
        redirects: std::mem::take(&mut env.redirects),
        output_limit_reached,
        insns: out.insns,
        duration_ns,
    })
}

/// Runs `prog` bound to `maps` (see [`test_run_insns`]), with its `expected_attach_type`.
pub fn test_run(
    prog: &Program,
    maps: &MapTable,
    env: &mut Env,
    run: &TestRun,
) -> Result<RunResult, TestRunError> {
    let vm = prepare(&prog.insns, prog.prog_type, maps)?;
    run_prepared_as(
        &vm,
        prog.prog_type,
        prog.expected_attach_type,
        maps,
        env,
        run,
    )
}
