//! The code arena across `fork`: its chunks are files the parent and the child share, so
//! neither may write code where the other may run some. Here the parent compiles into a
//! range that is still free in the child's copy of the arena, and frees an image the child
//! still holds and compiles one of the same size where it could reuse its range; then the
//! child compiles a program of the same size. Every image, inherited or new, must give the
//! program's known result on both sides.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::{asm, Vm};

fn compile(r0: u32) -> JitProgram {
    let slots = asm::assemble(&format!("mov %r0, {r0}\nexit")).expect("assemble");
    JitProgram::compile(Arc::new(Vm::new(&slots).expect("valid"))).expect("compile")
}

fn run(jit: &JitProgram) -> u64 {
    jit.run_mem(&mut []).expect("run").r0
}

#[test]
fn parent_and_child_never_write_each_others_code() {
    // A live image before the fork, and a freed range the parent will reuse after it.
    let before = compile(7);
    drop(compile(1));
    let mut pipe = [0i32; 2];
    // SAFETY: `pipe` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child only compiles, runs and leaves with `_exit`; this test binary runs
    // this one test, so no other thread holds a lock the child needs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // Wait until the parent has written its code, then compile into the child's
        // arena and check both the inherited image and the new one.
        let mut byte = 0u8;
        // SAFETY: reads one byte into a local.
        let got = unsafe { libc::read(pipe[0], (&mut byte as *mut u8).cast(), 1) };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let child = compile(2);
            got == 1 && run(&child) == 2 && run(&before) == 7
        }))
        .unwrap_or(false);
        // SAFETY: leaves the child at once, without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    // The parent takes the freed range (free in the child's copy too) and writes its code;
    // then it drops the image the child inherited and compiles into the space it leaves.
    let parent = compile(1);
    drop(before);
    let again = compile(9);
    // SAFETY: writes one byte from a local.
    assert_eq!(unsafe { libc::write(pipe[1], [1u8].as_ptr().cast(), 1) }, 1);
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's code or its inherited code was wrong (status {status}): one side \
         wrote over the other's"
    );
    assert_eq!(run(&parent), 1, "the child wrote over the parent's code");
    assert_eq!(run(&again), 9);
}
