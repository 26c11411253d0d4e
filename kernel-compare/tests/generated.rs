//! Generated programs (see `bpfbox_kernel_compare::gen`) run in the kernel and in our
//! interpreter with identical results: return value, every register and stack slot of `main`
//! at its exit, and both helper maps. A program the verifier refuses is a generator bug and
//! fails the test too. A difference passes only when `gen::explain` reproduces the kernel's
//! result exactly from a known kernel behaviour that the kernel's own log or image confirms.

mod common;

use std::cell::Cell;
use std::collections::BTreeSet;

use bpfbox_kernel_compare::gen::{
    from_bytes, from_seed, judge_explained, program_strategy, reproducer, run_interpreter,
    GenConfig, KernelRunner, Verdict,
};
use bpfbox_vm::isa::{decode_program, Insn};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Programs compared with the kernel per `cargo test` (override with `BPFBOX_GEN_CASES`).
const CASES: u32 = 2000;

#[test]
fn generated_programs_match_the_kernel() {
    if common::kernel().is_none() {
        return;
    }
    let kernel = KernelRunner::new().expect("create the kernel maps");
    let cases = std::env::var("BPFBOX_GEN_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let (ran, slots, explained) = (Cell::new(0u32), Cell::new(0usize), Cell::new(0u32));
    let result = runner.run(&program_strategy(GenConfig::default()), |p| {
        let insns = p.insns().map_err(|e| TestCaseError::fail(e.to_string()))?;
        ran.set(ran.get() + 1);
        slots.set(slots.get() + insns.len());
        let interp = run_interpreter(&p, &insns);
        let k = kernel
            .run(&p, &insns)
            .map_err(|e| TestCaseError::fail(format!("kernel: {e}")))?;
        let verdict = judge_explained(&kernel, &p, &insns, k, interp)
            .map_err(|e| TestCaseError::fail(format!("kernel: {e}")))?;
        match verdict {
            Verdict::Match => Ok(()),
            Verdict::Explained { known, .. } => {
                eprintln!("explained: {known}");
                explained.set(explained.get() + 1);
                Ok(())
            }
            Verdict::Rejected { errno, log } => Err(TestCaseError::fail(format!(
                "the verifier refused a generated program (errno {errno}):\n{log}\n{}",
                bpfbox_vm::disasm::disassemble_conformance(&insns).unwrap_or_default()
            ))),
            Verdict::Mismatch {
                kernel,
                interpreter,
            } => Err(TestCaseError::fail(reproducer(
                "generated",
                &p,
                &insns,
                &kernel,
                &interpreter,
            ))),
        }
    });
    eprintln!(
        "{} generated programs ({} slots on average) compared with the kernel, {} differences \
         explained by known kernel behaviours",
        ran.get(),
        slots.get() / ran.get().max(1) as usize,
        explained.get()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(ran.get() >= cases);
}

#[test]
fn generated_programs_decode_and_run_in_the_interpreter() {
    for seed in 0..300 {
        let p = from_seed(seed, GenConfig::default()).expect("generate");
        let insns = p.insns().expect("emit");
        decode_program(&insns).expect("decodes");
        let text = bpfbox_vm::disasm::disassemble_conformance(&insns).expect("disassembles");
        assert_eq!(bpfbox_vm::asm::assemble(&text).expect("assembles"), insns);
        let out = run_interpreter(&p, &insns).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(out.reg(0).map(|r0| r0 as u32), Some(out.retval));
    }
}

#[test]
fn any_bytes_give_a_runnable_program() {
    let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0xff; 7], (0..=255).collect()];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for len in [16, 64, 300, 2000] {
        inputs.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
    }
    for bytes in inputs {
        let p = from_bytes(&bytes, GenConfig::default()).expect("generate");
        let insns = p.insns().expect("emit");
        run_interpreter(&p, &insns).expect("runs");
    }
}

/// Every operation the brief names appears among a few hundred programs.
#[test]
fn the_generator_covers_the_instruction_set() {
    let mut seen = BTreeSet::new();
    for seed in 0..400 {
        let p = from_seed(seed, GenConfig::default()).expect("generate");
        let insns = p.insns().expect("emit");
        let d = decode_program(&insns).expect("decodes");
        for (_, insn) in &d.insns {
            seen.insert(kind(insn));
        }
    }
    let mut missing = Vec::new();
    for want in [
        "alu32 Add",
        "alu32 Sub",
        "alu32 Mul",
        "alu32 Div",
        "alu32 SDiv",
        "alu32 Or",
        "alu32 And",
        "alu32 Lsh",
        "alu32 Rsh",
        "alu32 Mod",
        "alu32 SMod",
        "alu32 Xor",
        "alu32 Mov",
        "alu32 Arsh",
        "alu64 Add",
        "alu64 Sub",
        "alu64 Mul",
        "alu64 Div",
        "alu64 SDiv",
        "alu64 Or",
        "alu64 And",
        "alu64 Lsh",
        "alu64 Rsh",
        "alu64 Mod",
        "alu64 SMod",
        "alu64 Xor",
        "alu64 Mov",
        "alu64 Arsh",
        "alu32 MovSx(8)",
        "alu32 MovSx(16)",
        "alu64 MovSx(8)",
        "alu64 MovSx(16)",
        "alu64 MovSx(32)",
        "neg32",
        "neg64",
        "end ToLe",
        "end ToBe",
        "end Swap",
        "jmp32 Eq",
        "jmp32 Gt",
        "jmp32 Ge",
        "jmp32 Set",
        "jmp32 Ne",
        "jmp32 Sgt",
        "jmp32 Sge",
        "jmp32 Lt",
        "jmp32 Le",
        "jmp32 Slt",
        "jmp32 Sle",
        "jmp64 Eq",
        "jmp64 Gt",
        "jmp64 Ge",
        "jmp64 Set",
        "jmp64 Ne",
        "jmp64 Sgt",
        "jmp64 Sge",
        "jmp64 Lt",
        "jmp64 Le",
        "jmp64 Slt",
        "jmp64 Sle",
        "ja",
        "gotol",
        "ldx B",
        "ldx H",
        "ldx W",
        "ldx DW",
        "ldxsx B",
        "ldxsx H",
        "ldxsx W",
        "st B",
        "st H",
        "st W",
        "st DW",
        "stx B",
        "stx H",
        "stx W",
        "stx DW",
        "atomic W Add { fetch: false }",
        "atomic W Add { fetch: true }",
        "atomic DW Or { fetch: true }",
        "atomic DW And { fetch: false }",
        "atomic W Xor { fetch: true }",
        "atomic DW Xchg",
        "atomic W Cmpxchg",
        "atomic B LoadAcquire",
        "atomic H LoadAcquire",
        "atomic DW LoadAcquire",
        "atomic B StoreRelease",
        "atomic W StoreRelease",
        "atomic DW StoreRelease",
        "atomic DW Cmpxchg",
        "call local",
        "call helper 1",
        "call helper 2",
        "call helper 3",
        "lddw Imm",
        "lddw MapIdx",
        "lddw MapIdxValue",
    ] {
        if !seen.contains(want) {
            missing.push(want);
        }
    }
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

fn kind(insn: &Insn) -> String {
    use bpfbox_vm::isa::{CallTarget, Width};
    let w = |w: &Width, a: &str, b: &str| {
        if *w == Width::W32 {
            a.to_string()
        } else {
            b.to_string()
        }
    };
    match insn {
        Insn::Alu { width, op, .. } => format!("{} {op:?}", w(width, "alu32", "alu64")),
        Insn::Neg { width, .. } => w(width, "neg32", "neg64"),
        Insn::End { kind, .. } => format!("end {kind:?}"),
        Insn::Jmp { width, cond, .. } => format!("{} {cond:?}", w(width, "jmp32", "jmp64")),
        Insn::Ja { long: false, .. } => "ja".into(),
        Insn::Ja { long: true, .. } => "gotol".into(),
        Insn::Ldx { size, .. } => format!("ldx {size:?}"),
        Insn::LdxSx { size, .. } => format!("ldxsx {size:?}"),
        Insn::St { size, .. } => format!("st {size:?}"),
        Insn::Stx { size, .. } => format!("stx {size:?}"),
        Insn::Atomic { size, op, .. } => format!("atomic {size:?} {op:?}"),
        Insn::Call(CallTarget::Local(_)) => "call local".into(),
        Insn::Call(CallTarget::Helper(id)) => format!("call helper {id}"),
        Insn::LdImm64 { kind, .. } => format!("lddw {kind:?}"),
        other => format!("{other:?}"),
    }
}

fn has_cmpxchg32(p: &bpfbox_kernel_compare::gen::GenProgram) -> bool {
    p.insns()
        .map(|i| i.iter().any(|x| x.code == 0xc3 && x.imm == 0xf1))
        .unwrap_or(false)
}

#[test]
fn shrinking_keeps_the_property_and_makes_the_program_smaller() {
    use bpfbox_kernel_compare::gen::shrink_seed;
    let seed = (0..500)
        .find(|&s| has_cmpxchg32(&from_seed(s, GenConfig::default()).expect("generate")))
        .expect("a seed with a 32-bit cmpxchg");
    let original = from_seed(seed, GenConfig::default()).expect("generate");
    let shrunk = shrink_seed(seed, GenConfig::default(), 2000, has_cmpxchg32).expect("shrink");
    assert!(has_cmpxchg32(&shrunk));
    let len = |p: &bpfbox_kernel_compare::gen::GenProgram| p.insns().expect("emit").len();
    assert!(
        len(&shrunk) < len(&original),
        "{} -> {}",
        len(&original),
        len(&shrunk)
    );
    // A property the seed's program lacks leaves it as it is.
    let same = shrink_seed(seed, GenConfig::default(), 2000, |_| false).expect("shrink");
    assert_eq!(same, original);
}

#[test]
fn the_cmpxchg32_quirk_changes_only_programs_with_a_cmpxchg32() {
    use bpfbox_kernel_compare::gen::Quirks;
    let quirks = Quirks {
        cmpxchg32_keeps_r0: true,
    };
    let (mut with, mut without) = (0, 0);
    for seed in 0..300 {
        let p = from_seed(seed, GenConfig::default()).expect("generate");
        let plain = p.insns().expect("emit");
        let q = p.insns_with(quirks).expect("emit");
        if has_cmpxchg32(&p) {
            with += 1;
            assert!(q.len() > plain.len(), "seed {seed}");
            run_interpreter(&p, &q).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        } else {
            without += 1;
            assert_eq!(q, plain, "seed {seed}");
        }
    }
    assert!(with > 0 && without > 0);
}

/// The generator writes bounded loops (backward jumps) into a good share of its programs,
/// besides calls, helpers and atomics.
#[test]
fn the_generator_writes_loops_calls_helpers_and_atomics() {
    use bpfbox_vm::isa::CallTarget;
    let (mut loops, mut calls, mut helpers, mut atomics) = (0, 0, 0, 0);
    for seed in 0..300 {
        let p = from_seed(seed, GenConfig::default()).expect("generate");
        let insns = p.insns().expect("emit");
        let decoded = decode_program(&insns).expect("decode");
        let has = |f: &dyn Fn(usize, &Insn) -> bool| decoded.insns.iter().any(|(pc, i)| f(*pc, i));
        loops += usize::from(has(&|pc, i| {
            matches!(i, Insn::Ja { .. }) && i.jump_target(pc).is_some_and(|t| t <= pc as i64)
        }));
        calls += usize::from(has(&|_, i| matches!(i, Insn::Call(CallTarget::Local(_)))));
        helpers += usize::from(has(&|_, i| matches!(i, Insn::Call(CallTarget::Helper(_)))));
        atomics += usize::from(has(&|_, i| matches!(i, Insn::Atomic { .. })));
    }
    eprintln!("of 300: {loops} with loops, {calls} with calls, {helpers} with helpers, {atomics} with atomics");
    assert!(loops >= 30 && calls >= 30 && helpers >= 30 && atomics >= 30);
}
