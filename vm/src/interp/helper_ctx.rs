//! What a helper implementation sees of a run: its memory (every access checked against
//! the live regions), its environment, and calls back into the program.

use super::{exec, Fault, FaultKind, Frame, Machine, MAX_CALL_FRAMES, STACK_FRAME_SIZE};
use crate::env::Env;
use crate::helpers::HelperError;
use crate::memory::Region;

/// What a helper implementation sees: the run's memory (checked), its environment, and a way
/// to call back into the program.
pub struct HelperCtx<'a, 'r> {
    pub(super) m: &'a mut Machine<'r>,
}

impl HelperCtx<'_, '_> {
    /// The run's environment.
    pub fn env(&mut self) -> &mut Env {
        self.m.env
    }

    /// The slot index of the call instruction.
    pub fn pc(&self) -> usize {
        self.m.pc
    }

    /// The live memory regions.
    pub fn regions(&self) -> &[Region] {
        &self.m.regions
    }

    /// Makes more memory visible to the program for the rest of the run.
    ///
    /// A helper registered from safe code cannot call it (issue 11: a safe override once
    /// pointed the interpreter at foreign memory):
    ///
    /// ```compile_fail,E0133
    /// use bpfbox_vm::helpers::HelperRegistry;
    /// use bpfbox_vm::memory::{Region, RegionKind};
    /// let mut r = HelperRegistry::new();
    /// r.override_fn(1, |c, _| {
    ///     c.add_region(Region::from_static(&[0u8; 8], RegionKind::User));
    ///     Ok(0)
    /// });
    /// ```
    ///
    /// # Safety
    ///
    /// The region's memory must stay valid for the rest of the run, as [`Region::new`]
    /// requires.
    pub unsafe fn add_region(&mut self, region: Region) {
        self.m.regions.push(region);
    }

    /// Withdraws the region starting at `start` (a ring buffer record once submitted), so
    /// the program can no longer reach that memory.
    pub fn remove_region(&mut self, start: u64, kind: crate::memory::RegionKind) {
        if let Some(i) = self
            .m
            .regions
            .iter()
            .rposition(|r| r.start() == start && r.kind() == kind)
        {
            self.m.regions.remove(i);
        }
    }

    /// Writes `data` into the run's context at `addr` whether or not the program may store
    /// there: the context's private fields and the pointer fields the kernel keeps
    /// read-only, which helpers such as `bpf_xdp_adjust_head` update. The range must lie
    /// in the context.
    pub fn write_context(&mut self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        let in_ctx = self.m.regions.iter().any(|r| {
            r.kind() == crate::memory::RegionKind::Context && r.contains(addr, data.len() as u64)
        });
        if !in_ctx {
            return Err(HelperError::Fault(Box::new(Fault {
                pc: self.m.pc,
                kind: FaultKind::OutOfBounds {
                    addr,
                    size: data.len() as u64,
                    write: true,
                },
            })));
        }
        // SAFETY: the range lies in the context region, memory the run's owner registered
        // as valid for reads and writes of the engine for the whole run; the program's view
        // of it is only ever through raw pointers.
        unsafe { std::ptr::copy(data.as_ptr(), addr as usize as *mut u8, data.len()) };
        Ok(())
    }

    fn check(&self, addr: u64, len: usize, write: bool) -> Result<(), HelperError> {
        if len == 0 {
            return Ok(());
        }
        crate::memory::check_helper_access(&self.m.regions, addr, len as u64, write).map_err(
            |kind| {
                HelperError::Fault(Box::new(Fault {
                    pc: self.m.pc,
                    kind,
                }))
            },
        )
    }

    /// Copies `buf.len()` bytes of program memory at `addr` into `buf`.
    pub fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<(), HelperError> {
        self.check(addr, buf.len(), false)?;
        if buf.is_empty() {
            return Ok(());
        }
        // SAFETY: the whole range lies in a live region (checked above), and `buf` is a
        // distinct Rust-owned buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(addr as usize as *const u8, buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Reads `len` bytes of program memory at `addr`.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, HelperError> {
        // Checked before allocating, so a huge size from a program cannot exhaust memory.
        self.check(addr, len, false)?;
        let mut v = vec![0u8; len];
        self.read_into(addr, &mut v)?;
        Ok(v)
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, HelperError> {
        let mut out = Vec::new();
        for i in 0..max as u64 {
            let mut b = [0u8];
            self.read_into(addr.wrapping_add(i), &mut b)?;
            if b[0] == 0 {
                return Ok(out);
            }
            out.push(b[0]);
        }
        Ok(out)
    }

    /// Faults unless `[addr, addr + len)` is writable program memory: checked before a
    /// helper allocates a buffer of a size the program chose.
    pub fn check_writable(&self, addr: u64, len: usize) -> Result<(), HelperError> {
        self.check(addr, len, true)
    }

    /// Whether `[addr, addr + len)` is readable (or writable) program memory.
    pub fn is_accessible(&self, addr: u64, len: usize, write: bool) -> bool {
        self.check(addr, len, write).is_ok()
    }

    /// Writes `data` into program memory at `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        self.check(addr, data.len(), true)?;
        if data.is_empty() {
            return Ok(());
        }
        // SAFETY: the whole range lies in a live writable region (checked above); `data` is
        // Rust-owned and may alias program memory only if the caller read it from there, which
        // `copy` (not `copy_nonoverlapping`) tolerates.
        unsafe { std::ptr::copy(data.as_ptr(), addr as usize as *mut u8, data.len()) };
        Ok(())
    }

    /// Calls the BPF function at slot `target` with r1..r5 = `args` and returns its r0, as the
    /// kernel does for callbacks of `bpf_loop` and `bpf_for_each_map_elem`.
    pub fn call_function(&mut self, target: u64, args: [u64; 5]) -> Result<u64, HelperError> {
        let m = &mut *self.m;
        let fault = |kind| HelperError::Fault(Box::new(Fault { pc: m.pc, kind }));
        let target = usize::try_from(target).map_err(|_| fault(FaultKind::PcOutOfRange))?;
        if !m.code().decoded.subprogs.contains(&target) {
            return Err(fault(FaultKind::PcOutOfRange));
        }
        if m.frames.len() + 1 >= MAX_CALL_FRAMES {
            return Err(fault(FaultKind::CallDepth {
                max: MAX_CALL_FRAMES,
            }));
        }
        let saved_regs = m.regs;
        let saved_pc = m.pc;
        let depth = m.frames.len();
        m.frames.push(Frame {
            ret_pc: usize::MAX,
            code: m.current,
            saved: [m.regs[6], m.regs[7], m.regs[8], m.regs[9], m.regs[10]],
            may_goto: exec::MAY_GOTO_BUDGET,
        });
        m.regs[1..6].copy_from_slice(&args);
        m.regs[10] = m.regs[10].wrapping_sub(STACK_FRAME_SIZE as u64);
        let result = m.run_from(target, depth + 1);
        // The callee's `exit` at depth+1 left its frame on the stack; drop it.
        m.frames.truncate(depth);
        let count = m.count;
        m.regs = saved_regs;
        m.count = count;
        m.pc = saved_pc;
        result.map_err(|f| HelperError::Fault(Box::new(f)))
    }
}
