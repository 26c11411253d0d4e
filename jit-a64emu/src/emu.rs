//! The Unicorn executor.

use std::collections::HashSet;
use std::ffi::c_void;

use bpfbox_jit::aarch64::{callout, Executor, N_CALLOUTS};
use bpfbox_jit::layout::RunCtx;
use unicorn_engine::unicorn_const::{Arch, HookType, MemType, Mode, Permission};
use unicorn_engine::{RegisterARM64, Unicorn};

const PAGE: u64 = 4096;
/// `ret`.
const RET: u32 = 0xd65f_03c0;
/// Index in the call-out page of the address the entry stub returns to (where emulation
/// stops).
const EXIT: u64 = 64;
/// Bytes of native stack the emulated code gets.
const STACK: usize = 256 * 1024;

extern "C" {
    /// `uc_ctl` (variadic) from libunicorn, which the bindings of 2.0.1 do not wrap.
    fn uc_ctl(uc: *mut c_void, control: u32, ...) -> u32;
}
/// `UC_CTL_WRITE(UC_CTL_CPU_MODEL, 1)`.
const CTL_WRITE_CPU_MODEL: u32 = 7 | (1 << 26) | (1 << 30);
/// `UC_CPU_ARM64_MAX`: every feature the emulator has, LSE atomics among them.
const CPU_ARM64_MAX: i32 = 3;

/// A page of `ret` instructions, allocated once and never freed.
fn callout_page() -> u64 {
    static PAGE_ADDR: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE_ADDR.get_or_init(|| {
        let mut v: Vec<u32> = vec![RET; 2 * PAGE as usize / 4];
        let start = v.as_mut_ptr() as u64;
        let aligned = start.div_ceil(PAGE) * PAGE;
        std::mem::forget(v);
        aligned
    })
}

/// Whether the host page at `page` is mapped readable (from /proc/self/maps).
fn host_readable(page: u64) -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return false;
    };
    maps.lines().any(|l| {
        let mut it = l.split_whitespace();
        let (Some(range), Some(perms)) = (it.next(), it.next()) else {
            return false;
        };
        let Some((a, b)) = range.split_once('-') else {
            return false;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            return false;
        };
        a <= page && page < b && perms.starts_with('r')
    })
}

/// Runs aarch64 code under Unicorn (a fresh engine per run, so no translation outlives
/// code it was made from).
pub struct Emulator {
    stack_top: u64,
}

thread_local! {
    /// The native stack of emulated code on this thread, allocated once (a run allocates
    /// nothing the interpreter's run does not, so the BPF stacks of both land alike).
    static STACK_TOP: u64 = {
        let v = vec![0u8; STACK + PAGE as usize];
        let top = (v.as_ptr() as u64 + STACK as u64) & !(PAGE - 1);
        std::mem::forget(v);
        top
    };
}

impl Emulator {
    /// An emulator (always available with the `unicorn` feature).
    pub fn new() -> Result<Emulator, String> {
        Ok(Emulator {
            stack_top: STACK_TOP.with(|t| *t),
        })
    }
}

struct State {
    mapped: HashSet<u64>,
    error: Option<String>,
}

impl Executor for Emulator {
    fn callouts(&self) -> [u64; N_CALLOUTS] {
        let p = callout_page();
        std::array::from_fn(|k| p + 4 * k as u64)
    }

    unsafe fn call(&mut self, entry: u64, ctx: *mut RunCtx) -> Result<u64, String> {
        let mut uc = Unicorn::new_with_data(
            Arch::ARM64,
            Mode::LITTLE_ENDIAN,
            State {
                mapped: HashSet::new(),
                error: None,
            },
        )
        .map_err(|e| format!("unicorn: {e:?}"))?;
        // SAFETY: a freshly opened engine; the model is set before anything else.
        let r = unsafe { uc_ctl(uc.get_handle(), CTL_WRITE_CPU_MODEL, CPU_ARM64_MAX) };
        if r != 0 {
            return Err(format!("unicorn: setting the CPU model failed ({r})"));
        }
        let page = callout_page();
        // SAFETY: the call-out page is a leaked host allocation of two pages.
        unsafe { uc.mem_map_ptr(page, PAGE as usize, Permission::ALL, page as *mut c_void) }
            .map_err(|e| format!("map call-out page: {e:?}"))?;
        uc.get_data_mut().mapped.insert(page);
        let code_hook = uc
            .add_code_hook(page, page + PAGE - 1, move |uc, addr, _| {
                let k = ((addr - page) / 4) as usize;
                if k >= N_CALLOUTS {
                    return;
                }
                let regs = [
                    RegisterARM64::X0,
                    RegisterARM64::X1,
                    RegisterARM64::X2,
                    RegisterARM64::X3,
                    RegisterARM64::X4,
                    RegisterARM64::X5,
                ];
                let mut a = [0u64; 6];
                for (v, r) in a.iter_mut().zip(regs) {
                    *v = uc.reg_read(r).unwrap_or(0);
                }
                // SAFETY: the code passes call-out `k` the arguments it is compiled to pass,
                // in a run set up by `A64Program::run_with`.
                let v = unsafe { callout(k, a) };
                let _ = uc.reg_write(RegisterARM64::X0, v);
            })
            .map_err(|e| format!("code hook: {e:?}"))?;
        let mem_hook = uc
            .add_mem_hook(
                HookType::MEM_UNMAPPED,
                1,
                0,
                |uc, _kind: MemType, addr, size, _v| {
                    let first = addr & !(PAGE - 1);
                    let last = (addr + size.max(1) as u64 - 1) & !(PAGE - 1);
                    let mut p = first;
                    while p <= last {
                        if !uc.get_data().mapped.contains(&p) {
                            if !host_readable(p) {
                                uc.get_data_mut().error =
                                    Some(format!("access to unmapped host memory at {addr:#x}"));
                                return false;
                            }
                            // SAFETY: the page is mapped readable in this process for the run.
                            let r = unsafe {
                                uc.mem_map_ptr(p, PAGE as usize, Permission::ALL, p as *mut c_void)
                            };
                            if r.is_err() {
                                return false;
                            }
                            uc.get_data_mut().mapped.insert(p);
                        }
                        p += PAGE;
                    }
                    true
                },
            )
            .map_err(|e| format!("memory hook: {e:?}"))?;
        let result = run(&mut uc, entry, ctx as u64, self.stack_top, page + 4 * EXIT);
        // The hooks hold the engine: removing them lets it close when `uc` is dropped.
        let _ = uc.remove_hook(code_hook);
        let _ = uc.remove_hook(mem_hook);
        result
    }
}

/// Sets up the registers and runs from `entry` until the return to `exit`; x0 then.
fn run(
    uc: &mut Unicorn<'_, State>,
    entry: u64,
    ctx: u64,
    top: u64,
    exit: u64,
) -> Result<u64, String> {
    uc.reg_write(RegisterARM64::SP, top)
        .map_err(|e| format!("{e:?}"))?;
    uc.reg_write(RegisterARM64::X30, exit)
        .map_err(|e| format!("{e:?}"))?;
    uc.reg_write(RegisterARM64::X0, ctx)
        .map_err(|e| format!("{e:?}"))?;
    let r = uc.emu_start(entry, exit, 0, 0);
    if let Some(e) = uc.get_data_mut().error.take() {
        return Err(e);
    }
    if let Err(e) = r {
        let pc = uc.pc_read().unwrap_or(0);
        return Err(format!(
            "emulation stopped: {e:?} at pc {pc:#x} (entry + {:#x})",
            pc.wrapping_sub(entry)
        ));
    }
    uc.reg_read(RegisterARM64::X0).map_err(|e| format!("{e:?}"))
}
