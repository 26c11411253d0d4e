//! The task a run executes in, as the task helpers see it: the `struct task_struct`
//! `bpf_get_current_task{,_btf}` point at, the address space `bpf_find_vma` and
//! `bpf_copy_from_user_task` consult, and the paths `bpf_d_path` resolves. Tests fill it
//! through [`crate::env::Env::task`]; by default the task is zeroed, maps nothing and knows
//! no path, so the helpers answer what the kernel answers when it finds nothing.

use crate::memory::{Region, RegionKind};

/// Bytes kept for the task structure programs read (zero unless the test fills them).
pub const TASK_STRUCT_SIZE: usize = 4096;
/// Bytes kept for each `struct vm_area_struct` (`vm_start` at 0, `vm_end` at 8, as in the
/// kernel's layout; the rest zero unless the test fills it).
pub const VMA_STRUCT_SIZE: usize = 256;

/// One mapping of the task's address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First address of the mapping.
    pub start: u64,
    /// First address past the mapping.
    pub end: u64,
    /// The `struct vm_area_struct` a `bpf_find_vma` callback receives (read-only to the
    /// program); stable in memory while the task lives.
    bytes: Box<[u64]>,
}

impl Vma {
    /// The address of the structure a callback receives.
    pub fn addr(&self) -> u64 {
        self.bytes.as_ptr() as u64
    }

    /// The structure's bytes, for a test to fill beyond `vm_start`/`vm_end`.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.bytes)
    }
}

/// The current task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The task structure (read-only to programs).
    task_struct: Box<[u64]>,
    /// The mappings of the task's address space, ordered as added.
    vmas: Vec<Vma>,
    /// Paths `bpf_d_path` resolves, keyed by the address of the `struct path` the program
    /// passes.
    pub paths: Vec<(u64, String)>,
    /// Whether the task has a kernel stack to walk (`try_get_task_stack`); an exited task
    /// has none, and `bpf_get_task_stack` answers `-EFAULT`.
    pub has_stack: bool,
}

impl Default for Task {
    fn default() -> Self {
        Task {
            task_struct: vec![0u64; TASK_STRUCT_SIZE / 8].into_boxed_slice(),
            vmas: Vec::new(),
            paths: Vec::new(),
            has_stack: true,
        }
    }
}

impl Task {
    /// The address programs get for the current task.
    pub fn addr(&self) -> u64 {
        self.task_struct.as_ptr() as u64
    }

    /// The task structure's bytes, for a test to fill.
    pub fn struct_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.task_struct)
    }

    /// Adds a mapping `[start, end)` and returns it for the test to fill further.
    pub fn add_vma(&mut self, start: u64, end: u64) -> &mut Vma {
        let mut bytes = vec![0u64; VMA_STRUCT_SIZE / 8].into_boxed_slice();
        bytes[0] = start;
        bytes[1] = end;
        self.vmas.push(Vma { start, end, bytes });
        let last = self.vmas.len() - 1;
        &mut self.vmas[last]
    }

    /// The mappings.
    pub fn vmas(&self) -> &[Vma] {
        &self.vmas
    }

    /// The mapping containing `addr`, as the kernel's `find_vma` then the helper's
    /// `vm_start <= addr < vm_end` check select it.
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vmas.iter().find(|v| v.start <= addr && addr < v.end)
    }

    /// The path registered for the `struct path` at `addr`.
    pub fn path(&self, addr: u64) -> Option<&str> {
        self.paths
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, p)| p.as_str())
    }

    /// The memory programs may read: the task structure and every mapping's structure.
    pub fn regions(&self) -> Vec<Region> {
        // SAFETY: boxed buffers the task owns and never resizes; runs borrow the
        // environment holding the task for as long as they use the regions.
        let mut v = vec![unsafe {
            Region::new(
                self.task_struct.as_ptr() as *const u8,
                TASK_STRUCT_SIZE,
                false,
                RegionKind::User,
            )
        }];
        v.extend(self.vmas.iter().map(|m| {
            // SAFETY: as above, for each mapping's structure.
            unsafe {
                Region::new(
                    m.bytes.as_ptr() as *const u8,
                    VMA_STRUCT_SIZE,
                    false,
                    RegionKind::User,
                )
            }
        }));
        v
    }
}
