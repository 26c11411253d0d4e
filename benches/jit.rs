//! JIT speed: our JIT (trusted and checked) against the kernel's JIT on the same bytecode
//! (`BPF_PROG_TEST_RUN` with repeat; skipped without root or when the verifier refuses the
//! program), rbpf's JIT and our interpreter, on the programs in `benches/programs/`.
//! `tests/bench_programs.rs` checks every engine's result on these inputs.
//!
//! Besides criterion's timings it prints, per program, the compile times and native code
//! sizes (ours, rbpf's is not exposed, the kernel's `jited_prog_len`).
//!
//! Run: `cargo bench --bench jit -- --warm-up-time 1 --measurement-time 2`

#[path = "programs/inputs.rs"]
mod inputs;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bpfbox_jit::JitProgram;
use bpfbox_kernel_compare::conformance::{wrap, BPF_XDP, MIN_PACKET};
use bpfbox_kernel_compare::sys;
use bpfbox_vm::maps::{MapSpec, MapType};
use bpfbox_vm::{asm, isa, ProgType, RawInsn, Vm};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use inputs::PROGRAMS;

/// A program loaded into the kernel, run through `BPF_PROG_TEST_RUN`.
struct KernelProg {
    prog: sys::Fd,
    _result: sys::Fd,
    packet: Vec<u8>,
    jited_len: u32,
}

impl KernelProg {
    /// Loads `slots` wrapped as the conformance kernel plugin wraps them; `Err` says why not.
    fn load(slots: &[RawInsn], mem: &[u8]) -> Result<KernelProg, String> {
        let spec = MapSpec::new("bench_result", MapType::Array, 4, 8, 1);
        let result = sys::map_create(&sys::MapCreate::from(&spec)).map_err(|e| e.to_string())?;
        let insns = wrap(slots, mem.len());
        let fds = [result.raw()];
        let mut load = sys::ProgLoad {
            prog_type: ProgType::Xdp.id(),
            expected_attach_type: BPF_XDP,
            insns: &insns,
            license: "MIT",
            name: "bench",
            fd_array: &fds,
            ..sys::ProgLoad::default()
        };
        let prog = match sys::prog_load(&load) {
            Ok(p) => p,
            Err(_) => {
                load.log_level = sys::BPF_LOG_LEVEL1;
                let log = sys::prog_load(&load)
                    .err()
                    .map(|e| e.log)
                    .unwrap_or_default();
                let why = bpfbox_kernel_compare::conformance::verifier_message(&log);
                return Err(format!("verifier: {why}"));
            }
        };
        let jited_len = sys::prog_info(&prog.fd)
            .map(|i| i.jited.len() as u32)
            .unwrap_or(0);
        let mut packet = mem.to_vec();
        packet.resize(packet.len().max(MIN_PACKET), 0);
        Ok(KernelProg {
            prog: prog.fd,
            _result: result,
            packet,
            jited_len,
        })
    }

    /// Mean duration of `repeat` runs, as the kernel measures it.
    fn run(&self, repeat: u32) -> Duration {
        let out = sys::prog_test_run(
            &self.prog,
            &sys::TestRunIn {
                data_in: &self.packet,
                repeat,
                ..sys::TestRunIn::default()
            },
        )
        .expect("test run");
        Duration::from_nanos(out.duration_ns as u64)
    }
}

/// `slots` with a `may_goto` before every backward jump, exiting at an `exit` appended at
/// the end: the same computation (the budget of 8M per frame is never reached here) in a
/// form the kernel's verifier accepts for loops whose trip count it cannot bound.
fn with_may_goto(slots: &[RawInsn]) -> Vec<RawInsn> {
    use bpfbox_vm::isa::Insn;
    let decoded = isa::decode_program(slots).expect("valid program");
    let back = |pc: usize, i: &Insn| {
        matches!(i, Insn::Ja { .. } | Insn::Jmp { .. })
            && i.jump_target(pc).is_some_and(|t| t <= pc as i64)
    };
    // New slot of every old slot, with one more slot before each backward jump.
    let mut new_pc = vec![0i64; slots.len() + 1];
    let mut at = 0i64;
    for &(pc, insn) in &decoded.insns {
        if back(pc, &insn) {
            at += 1;
        }
        new_pc[pc] = at;
        at += insn.slots() as i64;
    }
    new_pc[slots.len()] = at;
    let exit_at = at;
    let mut out = Vec::with_capacity(slots.len() + 8);
    for &(pc, insn) in &decoded.insns {
        let here = new_pc[pc];
        if back(pc, &insn) {
            let off = exit_at - here;
            Insn::MayGoto { off: off as i16 }.encode_into(&mut out);
        }
        let rel = |t: Option<i64>| new_pc[t.unwrap_or(0) as usize] - (here + 1);
        let insn = match insn {
            Insn::Ja { long, .. } => Insn::Ja {
                off: rel(insn.jump_target(pc)) as i32,
                long,
            },
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off: rel(insn.jump_target(pc)) as i16,
            },
            other => other,
        };
        insn.encode_into(&mut out);
    }
    Insn::EXIT.encode_into(&mut out);
    out
}

fn rbpf_run(vm: &rbpf::EbpfVmRaw<'_>, mem: &mut [u8]) -> u64 {
    // SAFETY: as in benches/interpreter.rs: the reborrow lives only for this call. The JIT'd
    // program only touches its stack and this buffer (tests/bench_programs.rs).
    let mem = unsafe { std::slice::from_raw_parts_mut(mem.as_mut_ptr(), mem.len()) };
    unsafe { vm.execute_program_jit(mem) }.expect("rbpf jit run")
}

/// Micro-programs whose may_goto form the kernel's verifier accepts: a loop over fixed stack
/// slots (the `stack_loop` program indexes the stack by register, which it refuses).
const MICRO: &[inputs::Program] = &[inputs::Program {
    name: "stack_slots",
    asm: "
    ldxdw %r2, [%r1]
    mov %r0, 0
    mov %r3, 0
loop:
    jge %r3, %r2, done
    stxdw [%r10-8], %r3
    ldxdw %r4, [%r10-8]
    add %r0, %r4
    stxw [%r10-16], %r0
    ldxw %r5, [%r10-16]
    add %r0, %r5
    stxb [%r10-17], %r3
    ldxb %r5, [%r10-17]
    xor %r0, %r5
    add %r3, 1
    ja loop
done:
    exit
",
    mutates: false,
    input: || 20_000u64.to_le_bytes().to_vec(),
}];

fn jit(c: &mut Criterion) {
    for p in PROGRAMS.iter().chain(MICRO) {
        let slots = asm::assemble(p.asm).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        let bytes = isa::slots_to_bytes(&slots);
        let input = (p.input)();
        let vm = Arc::new(Vm::new(&slots).expect("valid program"));

        // Compile times: the mean of 20 compiles after one to warm up.
        let mean = |f: &mut dyn FnMut()| {
            f();
            let t = Instant::now();
            for _ in 0..20 {
                f();
            }
            t.elapsed() / 20
        };
        let checked = JitProgram::compile(Arc::clone(&vm)).expect("compile");
        let checked_compile = mean(&mut || drop(JitProgram::compile(Arc::clone(&vm))));
        let blinded = JitProgram::compile_blinded(Arc::clone(&vm)).expect("compile");
        let blinded_compile = mean(&mut || drop(JitProgram::compile_blinded(Arc::clone(&vm))));
        // SAFETY: these programs only touch their stack and the input buffer, and end
        // (tests/bench_programs.rs runs each one checked, without a fault, on this input).
        let trusted = unsafe { JitProgram::compile_trusted(Arc::clone(&vm)) }.expect("compile");
        let trusted_compile =
            mean(&mut || drop(unsafe { JitProgram::compile_trusted(Arc::clone(&vm)) }));
        let mut rbpf_vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf accepts the program");
        rbpf_vm.jit_compile().expect("rbpf jit");
        let rbpf_compile = mean(&mut || {
            let mut v = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf accepts the program");
            v.jit_compile().expect("rbpf jit");
        });
        // The kernel runs the may_goto form; our JITs run it too, beside it.
        let kslots = with_may_goto(&slots);
        let kvm = Arc::new(Vm::new(&kslots).expect("valid program"));
        let kchecked = JitProgram::compile(Arc::clone(&kvm)).expect("compile");
        // SAFETY: as above: the same program with a loop bound that is never reached.
        let ktrusted = unsafe { JitProgram::compile_trusted(Arc::clone(&kvm)) }.expect("compile");
        let kernel = if unsafe { libc::geteuid() } == 0 {
            KernelProg::load(&kslots, &input)
        } else {
            Err("not root".to_string())
        };
        assert_eq!(
            kvm.run_mem(&mut input.clone()).expect("run").r0,
            vm.run_mem(&mut input.clone()).expect("run").r0,
            "{}: the may_goto form computes the same",
            p.name
        );

        let insns = vm.run_mem(&mut input.clone()).expect("run").insns;
        println!(
            "{}: {} insns ({} slots) per run; compile: ours checked {:.1} us, trusted {:.1} us, \
             checked blinded {:.1} us, rbpf {:.1} us; code: ours trusted {} B (body {} B), \
             checked {} B, checked blinded {} B, kernel {}",
            p.name,
            insns,
            slots.len(),
            checked_compile.as_secs_f64() * 1e6,
            trusted_compile.as_secs_f64() * 1e6,
            blinded_compile.as_secs_f64() * 1e6,
            rbpf_compile.as_secs_f64() * 1e6,
            trusted.image().code().len(),
            trusted.image().body_end() - trusted.image().body_start(),
            checked.image().code().len(),
            blinded.image().code().len(),
            match &kernel {
                Ok(k) => format!("{} B", k.jited_len),
                Err(e) => format!("not run ({e})"),
            }
        );

        let mut group = c.benchmark_group(format!("jit/{}", p.name));
        group.throughput(Throughput::Elements(insns));
        let fresh = |f: &dyn Fn(&mut Vec<u8>) -> u64, b: &mut criterion::Bencher<'_>| {
            if p.mutates {
                // A fresh copy per run, made outside the timed section.
                b.iter_batched_ref(|| input.clone(), |m| f(black_box(m)), BatchSize::SmallInput)
            } else {
                let mut m = input.clone();
                b.iter(|| f(black_box(&mut m)))
            }
        };
        group.bench_function("bpfbox-jit/trusted", |b| {
            fresh(&|m| trusted.run_mem(m).unwrap().r0, b)
        });
        group.bench_function("bpfbox-jit/checked", |b| {
            fresh(&|m| checked.run_mem(m).unwrap().r0, b)
        });
        group.bench_function("bpfbox-jit/checked-blinded", |b| {
            fresh(&|m| blinded.run_mem(m).unwrap().r0, b)
        });
        group.bench_function("bpfbox-interp/checked", |b| {
            fresh(&|m| vm.run_mem(m).unwrap().r0, b)
        });
        group.bench_function("rbpf/jit", |b| fresh(&|m| rbpf_run(&rbpf_vm, m), b));
        group.finish();
        let Ok(k) = &kernel else { continue };
        let kinsns = kvm.run_mem(&mut input.clone()).expect("run").insns;
        // The kernel's image holds the conformance wrapper too: compile exactly what it
        // loaded (the wrapper's map reference stays unbound here, which changes no size).
        let wrapped = Arc::new(Vm::new(&wrap(&kslots, input.len())).expect("valid program"));
        // SAFETY: compiled to measure its size, never run.
        let wrapped = unsafe { JitProgram::compile_trusted(wrapped) }.expect("compile");
        println!(
            "{} (may_goto form): {} insns per run; code of the loaded program: ours trusted {} B, \
             kernel {} B",
            p.name,
            kinsns,
            wrapped.image().code().len(),
            k.jited_len
        );
        let mut group = c.benchmark_group(format!("kernel/{}", p.name));
        group.throughput(Throughput::Elements(kinsns));
        group.bench_function("kernel/jit", |b| {
            b.iter_custom(|iters| {
                let repeat = u32::try_from(iters).unwrap_or(u32::MAX).max(1);
                k.run(repeat) * repeat
            })
        });
        group.bench_function("bpfbox-jit/trusted", |b| {
            fresh(&|m| ktrusted.run_mem(m).unwrap().r0, b)
        });
        group.bench_function("bpfbox-jit/checked", |b| {
            fresh(&|m| kchecked.run_mem(m).unwrap().r0, b)
        });
        group.finish();
    }
}

criterion_group!(benches, jit);
criterion_main!(benches);
