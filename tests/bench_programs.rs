//! The interpreter benchmark programs compute the right thing: for each one, a plain Rust
//! oracle over the same input must equal r0 from bpfbox (checked and unchecked) and from
//! rbpf's interpreter. This is what makes the benchmark numbers measure correct runs.

#[path = "../benches/programs/inputs.rs"]
mod inputs;

use bpfbox_vm::{asm, isa, Vm};
use inputs::{Program, PROGRAMS};

fn u64_at(mem: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(mem[off..off + 8].try_into().unwrap())
}

fn u32_at(mem: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(mem[off..off + 4].try_into().unwrap())
}

fn sum_loop(mem: &[u8]) -> u64 {
    (1..=u64_at(mem, 0)).sum()
}

fn alu_block(mem: &[u8]) -> u64 {
    let iterations = u64_at(mem, 0);
    let (mut a, mut b) = (u64_at(mem, 8), u64_at(mem, 16));
    let (mut c, mut d) = (u32_at(mem, 24), 0u64);
    for _ in 0..iterations {
        for k in 1..=20u32 {
            let konst = 0x9e37_79b9u32.wrapping_mul(k) as i32 as i64 as u64;
            a = a.wrapping_add(konst);
            b ^= a;
            b ^= b << 13;
            b ^= b >> 7;
            c = c.wrapping_mul(16_777_619).wrapping_add(b as u32);
            let t = ((a as u32 as i32) >> 3) as u32 as u64;
            a = a.wrapping_sub(t);
            d = (d as u32 ^ c) as u64;
            d = d.wrapping_add(b);
        }
    }
    a ^ b ^ c as u64 ^ d
}

fn stack_loop(mem: &[u8]) -> u64 {
    let n = u64_at(mem, 0);
    let mut counters = [0u64; 32];
    let mut acc = 0u64;
    for i in 0..n {
        counters[(i % 32) as usize] = counters[(i % 32) as usize].wrapping_add(i);
        let w = i.wrapping_mul(3) as u32 as u64;
        let h = i as u16 as u64;
        let b = (i ^ 0x5a) as u8 as u64;
        acc = acc.wrapping_add(w).wrapping_add(h).wrapping_add(b);
    }
    counters.iter().fold(acc, |s, &c| s.wrapping_add(c))
}

fn prime_sieve(mem: &[u8]) -> u64 {
    let n = u64_at(mem, 0);
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

fn log2(mem: &[u8]) -> u64 {
    let m = u64_at(mem, 0) as usize;
    (0..m)
        .map(|i| u64_at(mem, 8 + 8 * i).checked_ilog2().unwrap_or(0) as u64)
        .fold(0u64, |acc, l| acc.wrapping_mul(67).wrapping_add(l))
}

fn switch(mem: &[u8]) -> u64 {
    let m = u64_at(mem, 0) as usize;
    let mut acc = 0u64;
    for (i, &op) in mem[8..8 + m].iter().enumerate() {
        let i = i as u64;
        acc = match op {
            0 => acc.wrapping_add(1),
            1 => acc ^ 0x55,
            2 => acc.wrapping_mul(3),
            3 => acc.wrapping_add(i),
            4 => acc.wrapping_sub(7),
            5 => acc << 1,
            6 => acc >> 1,
            7 => acc | 0x100,
            8 => acc & 0xff_ffff,
            9 => acc.wrapping_add(1000),
            10 => (acc as u32).wrapping_add(12345) as u64,
            11 => acc ^ i,
            12 => acc.wrapping_mul(5).wrapping_add(1),
            13 => acc.wrapping_sub(i),
            14 => !acc,
            15 => acc.wrapping_add(0x7fff_ffff),
            _ => acc.wrapping_add(2),
        };
    }
    acc
}

fn memcpy(mem: &[u8]) -> u64 {
    let l = u64_at(mem, 0) as usize;
    mem[16..16 + l]
        .iter()
        .fold(0u64, |acc, &b| acc.wrapping_mul(31).wrapping_add(b as u64))
}

fn cstr(mem: &[u8], off: usize) -> &[u8] {
    let len = mem[off..].iter().position(|&b| b == 0).unwrap();
    &mem[off..off + len]
}

fn strcmp(mem: &[u8]) -> u64 {
    let (reps, pairs) = (u64_at(mem, 0), u64_at(mem, 8) as usize);
    let mut acc = 0u64;
    for _ in 0..reps {
        for j in 0..pairs {
            let a = cstr(mem, u32_at(mem, 16 + 8 * j) as usize);
            let b = cstr(mem, u32_at(mem, 20 + 8 * j) as usize);
            // C strcmp: the difference of the first differing bytes, the NUL included.
            let d = a
                .iter()
                .chain(&[0])
                .zip(b.iter().chain(&[0]))
                .find(|(x, y)| x != y)
                .map_or(0, |(&x, &y)| x as i64 - y as i64);
            acc = acc.wrapping_mul(31).wrapping_add((d + 256) as u64);
        }
    }
    acc
}

fn oracle(name: &str) -> fn(&[u8]) -> u64 {
    match name {
        "sum_loop" => sum_loop,
        "alu_block" => alu_block,
        "stack_loop" => stack_loop,
        "prime_sieve" => prime_sieve,
        "log2" => log2,
        "switch" => switch,
        "memcpy" => memcpy,
        "strcmp" => strcmp,
        other => panic!("no oracle for {other}"),
    }
}

fn bytecode(p: &Program) -> Vec<u8> {
    let slots = asm::assemble(p.asm).unwrap_or_else(|e| panic!("{}: {e}", p.name));
    isa::slots_to_bytes(&slots)
}

#[test]
fn every_program_has_a_checkable_result() {
    for p in PROGRAMS {
        let input = (p.input)();
        let want = oracle(p.name)(&input);
        let slots = asm::assemble(p.asm).unwrap_or_else(|e| panic!("{}: {e}", p.name));

        let mut vm = Vm::new(&slots).unwrap();
        let mut mem = input.clone();
        let checked = vm.run_mem(&mut mem).unwrap();
        assert_eq!(checked.r0, want, "{}: bpfbox checked", p.name);
        assert!(checked.insns > 1000, "{}: too short to time", p.name);
        if !p.mutates {
            // The benchmark reuses one buffer for these.
            assert_eq!(mem, input, "{}: memory changed", p.name);
        }
        if p.name == "memcpy" {
            let l = u64_at(&input, 0) as usize;
            assert_eq!(mem[16..16 + l], mem[16 + l..16 + 2 * l], "memcpy: copy");
        }

        // SAFETY: the checked run above completed without a fault on this very input, and
        // the programs are deterministic, so every access of the unchecked run is one the
        // checked run validated (stack and input memory only).
        unsafe { vm.set_unchecked() };
        let mut mem = input.clone();
        let unchecked = vm.run_mem(&mut mem).unwrap();
        assert_eq!(unchecked, checked, "{}: bpfbox unchecked", p.name);

        let mut mem = input.clone();
        let prog = bytecode(p);
        let rbpf_vm = rbpf::EbpfVmRaw::new(Some(&prog)).unwrap();
        assert_eq!(
            rbpf_vm.execute_program(&mut mem).unwrap(),
            want,
            "{}: rbpf",
            p.name
        );
    }
}

#[test]
fn program_files_and_table_agree() {
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/programs"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".asm").map(str::to_owned)
            })
            .collect();
    files.sort();
    let mut names: Vec<&str> = PROGRAMS.iter().map(|p| p.name).collect();
    names.sort();
    assert_eq!(files, names);
}

#[test]
fn inputs_exercise_every_case() {
    // The sieve counts the 1229 primes below 10 000.
    assert_eq!(prime_sieve(&inputs::prime_sieve_input()), 1229);
    // Every switch arm, the default included, is taken.
    let mem = inputs::switch_input();
    for op in 0..=16u8 {
        assert!(mem[8..].contains(&op), "switch opcode {op} never used");
    }
    // strcmp sees equal pairs and both signs of difference.
    let mem = inputs::strcmp_input();
    let pairs = u64_at(&mem, 8) as usize;
    let mut signs = [false; 3];
    for j in 0..pairs {
        let a = cstr(&mem, u32_at(&mem, 16 + 8 * j) as usize);
        let b = cstr(&mem, u32_at(&mem, 20 + 8 * j) as usize);
        signs[(a.cmp(b) as i8 + 1) as usize] = true;
    }
    assert_eq!(signs, [true; 3]);
}

#[test]
fn instruction_count_is_exact_against_the_budget() {
    // The benchmark reports ns per instruction from `insns`; the budget check relies on the
    // same count, so a budget of exactly `insns` must suffice and one less must not.
    for p in PROGRAMS {
        let slots = asm::assemble(p.asm).unwrap();
        let mut vm = Vm::new(&slots).unwrap();
        let insns = vm.run_mem(&mut (p.input)()).unwrap().insns;
        vm.set_budget(insns);
        assert_eq!(
            vm.run_mem(&mut (p.input)()).unwrap().insns,
            insns,
            "{}",
            p.name
        );
        vm.set_budget(insns - 1);
        let fault = vm.run_mem(&mut (p.input)()).unwrap_err();
        assert_eq!(
            fault.kind,
            bpfbox_vm::FaultKind::BudgetExhausted { budget: insns - 1 },
            "{}",
            p.name
        );
    }
}
