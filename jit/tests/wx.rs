//! W^X: the code of a compiled program lives in a mapping that is readable and executable
//! but not writable, as /proc/self/maps shows: a shared mapping of the JIT's memfd arena
//! (written through the file, never through a mapping), and no mapping of the process is
//! writable and executable at once.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::{asm, Vm};

/// `(start, end, perms, path)` of every mapping.
fn maps() -> Vec<(usize, usize, String, String)> {
    let text = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let range = it.next()?;
            let perms = it.next()?.to_string();
            // offset, device, inode, then the path (absent for anonymous mappings).
            let path = it.nth(3).unwrap_or("").to_string();
            let (a, b) = range.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
                perms,
                path,
            ))
        })
        .collect()
}

#[test]
fn code_is_read_execute_and_never_writable() {
    let slots = asm::assemble("mov %r0, 1\nadd %r0, 2\nexit").expect("assemble");
    let vm = Arc::new(Vm::new(&slots).expect("valid"));
    let jit = JitProgram::compile(Arc::clone(&vm)).expect("compile");
    // SAFETY: a terminating program without memory accesses.
    let trusted = unsafe { JitProgram::compile_trusted(vm) }.expect("compile");
    let all = maps();
    for addr in [jit.image().addr(), trusted.image().addr()] {
        let (_, _, perms, path) = all
            .iter()
            .find(|(a, b, _, _)| (*a..*b).contains(&addr))
            .expect("the code is mapped");
        assert_eq!(&perms[..3], "r-x", "code mapping is {perms}");
        assert_eq!(
            &perms[3..],
            "s",
            "the arena is a shared mapping of its file"
        );
        assert!(
            path.starts_with("/memfd:bpfbox-jit"),
            "code mapped from {path:?}"
        );
    }
    // No mapping at all is writable and executable, and none of the arena's is writable.
    for (a, b, perms, path) in &all {
        assert!(
            !(perms.contains('w') && perms.contains('x')),
            "{a:x}-{b:x} {perms} {path} is writable and executable"
        );
        assert!(
            !(path.starts_with("/memfd:bpfbox-jit") && perms.contains('w')),
            "{a:x}-{b:x} {perms}: a writable mapping of the code"
        );
    }
    // And it runs from there.
    assert_eq!(jit.run_mem(&mut []).expect("run").r0, 3);
    assert_eq!(trusted.run_mem(&mut []).expect("run").r0, 3);
}
