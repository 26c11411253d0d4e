//! Task helpers over the run's [`crate::task::Task`]: `bpf_get_current_task{,_btf}`,
//! `bpf_get_task_stack` (kernel/bpf/stackmap.c), `bpf_copy_from_user_task`
//! (kernel/bpf/helpers.c), `bpf_find_vma` (kernel/bpf/task_iter.c) and `bpf_d_path`
//! (kernel/trace/bpf_trace.c).
//!
//! A task pointer is the address of the task structure; the only task bpfbox knows is the
//! current one, so another pointer is a task with no address space and no stack.

use super::maps::{EFAULT, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;

/// `-ENOENT`.
const ENOENT: u64 = -2i64 as u64;
/// `-ENAMETOOLONG`.
const ENAMETOOLONG: u64 = -36i64 as u64;

/// Whether `task` is the current task (the only one with memory and a stack here).
fn is_current(c: &mut HelperCtx<'_, '_>, task: u64) -> bool {
    task == c.env().task.addr()
}

/// `bpf_copy_from_user_task(dst, size, user_ptr, task, flags)`: reads the task's memory
/// (the run's regions, for the current task); a failed or partial read clears `dst` and is
/// `-EFAULT`.
fn copy_from_user_task(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if a[4] != 0 {
        return Ok(EINVAL);
    }
    let size = a[1] & 0xffff_ffff;
    if size == 0 {
        return Ok(0);
    }
    c.check_writable(a[0], size as usize)?;
    let mut buf = vec![0u8; size as usize];
    if is_current(c, a[3]) && c.read_into(a[2], &mut buf).is_ok() {
        c.write(a[0], &buf)?;
        return Ok(0);
    }
    super::stack::clear(c, a[0], size)?;
    Ok(EFAULT)
}

/// `bpf_find_vma(task, addr, callback, ctx, flags)`: calls `callback(task, vma, ctx)` for
/// the mapping containing `addr` and returns 0, or `-ENOENT` when none does.
fn find_vma(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if a[4] != 0 {
        return Ok(EINVAL);
    }
    if a[0] == 0 || !is_current(c, a[0]) {
        return Ok(ENOENT);
    }
    let Some(vma) = c.env().task.vma_at(a[1]).map(|v| v.addr()) else {
        return Ok(ENOENT);
    };
    c.call_function(a[2], [a[0], vma, a[3], 0, 0])?;
    Ok(0)
}

/// `bpf_d_path(path, buf, sz)`: the path's name and a NUL at the start of `buf`, returning
/// the length with the NUL; `-ENAMETOOLONG` when it does not fit. A `struct path` the
/// model does not know cannot be read (`copy_from_kernel_nofault` fails: `-EFAULT`).
fn d_path(c: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let sz = a[2] & 0xffff_ffff;
    if sz == 0 {
        return Ok(0);
    }
    c.check_writable(a[1], sz as usize)?;
    let Some(path) = c.env().task.path(a[0]).map(str::to_owned) else {
        return Ok(EFAULT);
    };
    let mut bytes = path.into_bytes();
    bytes.push(0);
    if bytes.len() as u64 > sz {
        return Ok(ENAMETOOLONG);
    }
    c.write(a[1], &bytes)?;
    Ok(bytes.len() as u64)
}

/// Registers the task helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(r, 35, "bpf_get_current_task", R::Integer, &[], |c, _| {
        Ok(c.env().task.addr())
    });
    reg(
        r,
        158,
        "bpf_get_current_task_btf",
        R::PtrToBtfId,
        &[],
        |c, _| Ok(c.env().task.addr()),
    );
    // bpf_get_task_stack(task, buf, size, flags): no stack (another task, or an exited
    // one) clears the buffer and is -EFAULT; otherwise as bpf_get_stack.
    reg(
        r,
        141,
        "bpf_get_task_stack",
        R::Integer,
        &[
            A::PtrToBtfId,
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::Anything,
        ],
        |c, a| {
            if !is_current(c, a[0]) || !c.env().task.has_stack {
                super::stack::clear(c, a[1], a[2] & 0xffff_ffff)?;
                return Ok(EFAULT);
            }
            super::stack::get_stack(c, a[1], a[2], a[3])
        },
    );
    reg(
        r,
        191,
        "bpf_copy_from_user_task",
        R::Integer,
        &[
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::Anything,
            A::PtrToBtfId,
            A::Anything,
        ],
        copy_from_user_task,
    );
    reg(
        r,
        180,
        "bpf_find_vma",
        R::Integer,
        &[
            A::PtrToBtfId,
            A::Anything,
            A::PtrToFunc,
            A::PtrToStackOrNull,
            A::Anything,
        ],
        find_vma,
    );
    reg(
        r,
        147,
        "bpf_d_path",
        R::Integer,
        &[A::PtrToBtfId, A::PtrToUninitMem, A::ConstSizeOrZero],
        d_path,
    );
}
