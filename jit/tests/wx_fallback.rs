//! The fallback for systems without an executable memfd arena: each image in an anonymous
//! mapping of its own, written while read-write and then made read-execute. This binary
//! switches the arena off for the whole process, so every image here takes that path.

use std::sync::Arc;

use bpfbox_jit::code::{set_use_arena, Backing, Code};
use bpfbox_jit::JitProgram;
use bpfbox_vm::{asm, Vm};

const SUM: &str = "
    mov %r0, 0
    mov %r1, 10
loop:
    add %r0, %r1
    sub %r1, 1
    jne %r1, 0, loop
    exit";

#[test]
fn fallback_code_is_anonymous_read_execute_and_runs() {
    set_use_arena(false);
    let code = Code::new(&[0xc3; 100]).expect("map");
    assert_eq!(code.backing(), Backing::Own);
    assert_eq!(code.bytes(), &[0xc3; 100][..]);

    let slots = asm::assemble(SUM).expect("assemble");
    let vm = Arc::new(Vm::new(&slots).expect("valid"));
    let jit = JitProgram::compile(Arc::clone(&vm)).expect("compile");
    let addr = jit.image().addr();
    let text = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    let line = text
        .lines()
        .find(|l| {
            let (a, b) = l
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'))
                .unwrap();
            let (a, b) = (
                usize::from_str_radix(a, 16).unwrap(),
                usize::from_str_radix(b, 16).unwrap(),
            );
            (a..b).contains(&addr)
        })
        .expect("the code is mapped");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], "r-xp", "{line}");
    assert_eq!(fields.len(), 5, "an anonymous mapping: {line}");
    assert!(
        !text.lines().any(|l| {
            let p = l.split_whitespace().nth(1).unwrap_or("");
            p.contains('w') && p.contains('x')
        }),
        "a writable and executable mapping exists"
    );
    // The interpreter is the oracle.
    let want = vm.run_mem(&mut []).expect("interpreter").r0;
    assert_eq!(jit.run_mem(&mut []).expect("run").r0, want);
    assert_eq!(want, 55);
}
