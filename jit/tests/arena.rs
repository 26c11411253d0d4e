//! The code arena: images compiled, run and dropped from several threads at once, in
//! orders that interleave their ranges; live images never overlap; the code does not
//! depend on where it is placed.

use std::sync::{Arc, Barrier};

use bpfbox_jit::code::{Backing, Code, GRAIN};
use bpfbox_jit::JitProgram;
use bpfbox_vm::{asm, Vm};

/// A loop summing `n` down to 1, unrolled `k` times (so images differ in size).
fn program(n: u32, k: usize) -> Vec<bpfbox_vm::RawInsn> {
    let mut src = format!("mov %r0, 0\nmov %r1, {n}\nloop:\n");
    for _ in 0..k {
        src.push_str("add %r0, %r1\nsub %r1, 1\njeq %r1, 0, out\n");
    }
    src.push_str("ja loop\nout:\nexit");
    asm::assemble(&src).expect("assemble")
}

#[test]
fn threads_compile_run_and_drop_in_any_order() {
    const THREADS: usize = 4;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut live: Vec<(JitProgram, u64)> = Vec::new();
                for i in 0..200usize {
                    let n = (t * 1000 + i) as u32 % 97 + 1;
                    let vm = Arc::new(Vm::new(&program(n, 1 + (i + t) % 7)).expect("valid"));
                    let want = vm.run_mem(&mut []).expect("interpreter").r0;
                    let jit = if i % 2 == 0 {
                        JitProgram::compile(vm).expect("compile")
                    } else {
                        // SAFETY: a terminating loop without memory accesses.
                        unsafe { JitProgram::compile_trusted(vm) }.expect("compile")
                    };
                    live.push((jit, want));
                    // Drop from the middle, the front and the back in turn, and run all
                    // that remain (their code must be intact).
                    if live.len() > 5 {
                        let at = match i % 3 {
                            0 => 0,
                            1 => live.len() / 2,
                            _ => live.len() - 1,
                        };
                        live.remove(at);
                    }
                    for (jit, want) in &live {
                        assert_eq!(jit.run_mem(&mut []).expect("run").r0, *want);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

#[test]
fn live_ranges_do_not_overlap_and_hold_their_bytes() {
    let mut codes = Vec::new();
    for i in 0..300usize {
        let len = 1 + (i * 37) % 700;
        let bytes: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let code = Code::new(&bytes).expect("install");
        assert_eq!(code.backing(), Backing::Arena);
        assert_eq!(code.addr() % GRAIN, 0);
        codes.push((code, bytes));
        if i % 4 == 3 {
            codes.remove(i % codes.len());
        }
    }
    let mut ranges: Vec<(usize, usize)> = codes
        .iter()
        .map(|(c, b)| (c.addr(), c.addr() + b.len()))
        .collect();
    ranges.sort();
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "{:x?} overlaps {:x?}", w[0], w[1]);
    }
    for (code, bytes) in &codes {
        assert_eq!(code.bytes(), &bytes[..]);
    }
}

#[test]
fn code_is_position_independent() {
    let vm = Arc::new(Vm::new(&program(30, 3)).expect("valid"));
    let a = JitProgram::compile(Arc::clone(&vm)).expect("compile");
    let b = JitProgram::compile(Arc::clone(&vm)).expect("compile");
    assert_ne!(a.image().addr(), b.image().addr());
    assert_eq!(
        a.image().code(),
        b.image().code(),
        "the code depends on its address"
    );
    assert_eq!(
        a.run_mem(&mut []).unwrap().r0,
        b.run_mem(&mut []).unwrap().r0
    );
    assert_eq!(a.run_mem(&mut []).unwrap().r0, (1..=30).sum::<u64>());
}

/// Sizes of the arena's mappings (`/proc/self/maps` lines of its memfd), in bytes.
fn arena_mappings() -> Vec<usize> {
    let text = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    text.lines()
        .filter(|l| l.contains("/memfd:bpfbox-jit"))
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            Some(usize::from_str_radix(b, 16).ok()? - usize::from_str_radix(a, 16).ok()?)
        })
        .collect()
}

#[test]
fn an_image_larger_than_a_chunk_gets_its_own_and_gives_it_back() {
    // 200,000 adds of a 32-bit immediate: 1.4 MB of code, more than an ordinary chunk.
    let mut src = String::from("mov %r0, 0\n");
    for _ in 0..200_000 {
        src.push_str("add %r0, 0x10000\n");
    }
    src.push_str("exit");
    let vm = Arc::new(Vm::new(&asm::assemble(&src).expect("assemble")).expect("valid"));
    // SAFETY: straight-line code without memory accesses.
    let jit = unsafe { JitProgram::compile_trusted(vm) }.expect("compile");
    let len = jit.image().code().len();
    assert!(len > 1 << 20, "the image is {len} bytes");
    let own = len.div_ceil(4096) * 4096;
    assert!(arena_mappings().contains(&own), "{:?}", arena_mappings());
    assert_eq!(jit.run_mem(&mut []).expect("run").r0, 200_000 * 0x10000);
    drop(jit);
    // Released with its image (other tests' chunks are 1 MiB).
    assert!(!arena_mappings().contains(&own), "{:?}", arena_mappings());
}
