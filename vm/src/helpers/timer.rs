//! `bpf_timer_init`, `bpf_timer_set_callback`, `bpf_timer_start` and `bpf_timer_cancel`
//! (kernel/bpf/helpers.c), and the bookkeeping that lets an embedder fire them.
//!
//! A timer lives in a map value (`struct bpf_timer`); here its state is kept in the run's
//! [`Env::timers`](crate::env::Env::timers), keyed by that address, and never fires on its
//! own: the embedder fires the armed ones when a test says so, in expiry order, calling
//! `callback(map, key, value)` as the kernel's `bpf_timer_cb` does.

use super::maps::{map_arg, EINVAL};
use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

/// `EBUSY`.
const EBUSY: u64 = -16i64 as u64;
/// `EDEADLK`.
const EDEADLK: u64 = -35i64 as u64;
/// `BPF_F_TIMER_ABS`: the expiry is absolute.
pub const BPF_F_TIMER_ABS: u64 = 1;
/// `BPF_F_TIMER_CPU_PIN`: fire on the starting CPU.
pub const BPF_F_TIMER_CPU_PIN: u64 = 2;

/// One initialised timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Address of the `struct bpf_timer` in the map value.
    pub addr: u64,
    /// The map's handle (what the callback gets in r1).
    pub map: u64,
    /// The key of the map element holding the timer.
    pub key: Vec<u8>,
    /// Address of the map value holding the timer (r3 of the callback).
    pub value: u64,
    /// Clock id given to `bpf_timer_init`.
    pub clock: u32,
    /// The callback's instruction index, once set.
    pub callback: Option<u64>,
    /// The embedder's program that set the callback ([`Env::current_prog`](crate::env::Env)).
    pub prog: Option<u32>,
    /// Expiry time in nanoseconds on the run's clock, when armed.
    pub expires: Option<u64>,
    /// Whether its callback is running now (cancelling it from there is `-EDEADLK`).
    pub running: bool,
}

/// Indices into `timers` of the armed ones, soonest first (ties in creation order).
pub fn due(timers: &[Timer]) -> Vec<usize> {
    let mut v: Vec<(u64, usize)> = timers
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.expires.map(|e| (e, i)))
        .collect();
    v.sort();
    v.into_iter().map(|(_, i)| i).collect()
}

/// Fires every armed timer of `env`, soonest first, as the kernel's `bpf_timer_cb` would:
/// `callback(map, &key, value)` in the program that set it (`engine` maps the program
/// recorded in [`Timer::prog`] to its VM), with the clock moved to the expiry when later.
/// Timers a callback arms stay for the next call. Returns how many fired, or the program
/// and fault of a callback that faulted.
pub fn fire_timers<'a>(
    env: &mut crate::env::Env,
    engine: impl Fn(Option<u32>) -> Option<&'a crate::interp::Vm>,
    opts: impl Fn() -> crate::interp::RunOptions<'a>,
) -> Result<usize, (Option<u32>, crate::interp::Fault)> {
    use crate::memory::{Region, RegionKind};
    let mut fired = 0;
    for i in due(&env.timers) {
        let t = env.timers[i].clone();
        let (Some(expires), Some(pc)) = (t.expires, t.callback) else {
            continue;
        };
        let Some(vm) = engine(t.prog) else {
            continue;
        };
        env.timers[i].expires = None;
        env.clock_ns = env.clock_ns.max(expires);
        // The key lives with the run's scratch memory, where the callback may read it.
        env.scratch.push(t.key.clone().into_boxed_slice());
        let key = env.scratch.last().map_or(0, |k| k.as_ptr() as u64);
        let mut regions = env.maps.regions();
        regions.extend(env.net.sockets.regions());
        regions.extend(env.task.regions());
        // SAFETY: the key was just boxed into the environment's scratch space, kept (never
        // moved) for the rest of the run.
        regions
            .push(unsafe { Region::new(key as *const u8, t.key.len(), false, RegionKind::User) });
        env.timers[i].running = true;
        env.current_prog = t.prog;
        let r = vm.run_function(
            pc as usize,
            [t.map, key, t.value, 0, 0],
            &regions,
            env,
            opts(),
        );
        env.timers[i].running = false;
        r.map_err(|f| (t.prog, f))?;
        fired += 1;
    }
    Ok(fired)
}

fn find(c: &mut HelperCtx<'_, '_>, addr: u64) -> Option<usize> {
    c.env().timers.iter().position(|t| t.addr == addr)
}

/// The key and value address of the element of `map` whose value holds `addr`.
fn locate(c: &mut HelperCtx<'_, '_>, map: u64, addr: u64) -> Option<(Vec<u8>, u64)> {
    let m = c.env().maps.by_handle(map)?.clone();
    let cpu = c.env().cpu;
    let size = u64::from(m.value_size());
    m.keys().into_iter().find_map(|k| {
        let p = m.lookup_ptr(&k, cpu)? as u64;
        (addr >= p && addr < p + size).then_some((k, p))
    })
}

fn init(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, super::HelperError> {
    // CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME only.
    if !matches!(a[2], 0 | 1 | 7) {
        return Ok(EINVAL);
    }
    map_arg(c, a[1])?;
    if find(c, a[0]).is_some() {
        return Ok(EBUSY);
    }
    let Some((key, value)) = locate(c, a[1], a[0]) else {
        return Err(super::HelperError::Message(format!(
            "{:#x} is not inside a value of the map passed",
            a[0]
        )));
    };
    c.env().timers.push(Timer {
        addr: a[0],
        map: a[1],
        key,
        value,
        clock: a[2] as u32,
        callback: None,
        prog: None,
        expires: None,
        running: false,
    });
    Ok(0)
}

/// Registers the timer helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        169,
        "bpf_timer_init",
        R::Integer,
        &[A::PtrToMapValue, A::ConstMapPtr, A::Anything],
        init,
    );
    reg(
        r,
        170,
        "bpf_timer_set_callback",
        R::Integer,
        &[A::PtrToMapValue, A::PtrToFunc],
        |c, a| {
            let Some(i) = find(c, a[0]) else {
                return Ok(EINVAL);
            };
            let prog = c.env().current_prog;
            let t = &mut c.env().timers[i];
            t.callback = Some(a[1]);
            t.prog = prog;
            Ok(0)
        },
    );
    reg(
        r,
        171,
        "bpf_timer_start",
        R::Integer,
        &[A::PtrToMapValue, A::Anything, A::Anything],
        |c, a| {
            if a[2] & !(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN) != 0 {
                return Ok(EINVAL);
            }
            let Some(i) = find(c, a[0]) else {
                return Ok(EINVAL);
            };
            let now = c.env().clock_ns;
            let t = &mut c.env().timers[i];
            if t.callback.is_none() {
                return Ok(EINVAL);
            }
            t.expires = Some(if a[2] & BPF_F_TIMER_ABS != 0 {
                a[1]
            } else {
                now.saturating_add(a[1])
            });
            Ok(0)
        },
    );
    reg(
        r,
        172,
        "bpf_timer_cancel",
        R::Integer,
        &[A::PtrToMapValue],
        |c, a| {
            let Some(i) = find(c, a[0]) else {
                return Ok(EINVAL);
            };
            let t = &mut c.env().timers[i];
            if t.running {
                return Ok(EDEADLK);
            }
            // Linux 6.18 (the kernel compared against) drops the callback on every cancel,
            // armed or not: a later start is -EINVAL until a callback is set again.
            t.callback = None;
            Ok(u64::from(t.expires.take().is_some()))
        },
    );
}
