//! W^X: the code of a compiled program lives in a mapping that is readable and executable
//! but not writable, as /proc/self/maps shows, and no mapping of the process is writable
//! and executable at once.

use std::sync::Arc;

use bpfbox_jit::JitProgram;
use bpfbox_vm::{asm, Vm};

/// `(start, end, perms)` of every mapping.
fn maps() -> Vec<(usize, usize, String)> {
    let text = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let range = it.next()?;
            let perms = it.next()?.to_string();
            let (a, b) = range.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
                perms,
            ))
        })
        .collect()
}

#[test]
fn code_is_read_execute_and_never_writable() {
    let slots = asm::assemble("mov %r0, 1\nadd %r0, 2\nexit").expect("assemble");
    let jit = JitProgram::compile(Arc::new(Vm::new(&slots).expect("valid"))).expect("compile");
    let addr = jit.image().addr();
    let all = maps();
    let (_, _, perms) = all
        .iter()
        .find(|(a, b, _)| (*a..*b).contains(&addr))
        .expect("the code is mapped");
    assert_eq!(&perms[..3], "r-x", "code mapping is {perms}");
    assert!(
        !all.iter().any(|(_, _, p)| p.starts_with("rwx")),
        "a writable and executable mapping exists"
    );
    // And it runs from there.
    assert_eq!(jit.run_mem(&mut []).expect("run").r0, 3);
}
