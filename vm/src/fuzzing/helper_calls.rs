//! The helper-call fuzzer of the checked interpreter (issue 11's audit, kept): a carrier
//! program for a program type, with random helper calls and context stores patched in.
//!
//! The carrier sets up pointers into every kind of memory a run has — r6 the context, r7 a
//! map value, r8 the packet (the stack for types without one), r9 a reserved ring buffer
//! record — then runs the patched steps: helper calls with any id and arguments drawn from
//! interesting values and from pointers into those regions (or a callback), and stores of
//! any size at any offset of the context. [`run`] runs it in checked mode through the test
//! run of its program type; whatever the program does, the result must be a result or a
//! typed error, with every per-run accumulation inside its bound. A panic, an abort or a
//! hang is the bug the fuzzer looks for.
//!
//! Cases are built from bytes ([`Case::from_bytes`]), so the `helper_calls` fuzz target and
//! the proptest in `vm/tests/helper_fuzz.rs` share them.

use crate::env::{Env, SEQ_BUF_SIZE};
use crate::helpers::MapTable;
use crate::maps::{Map, MapConfig, MapSpec, MapType};
use crate::program::ProgType;
use crate::testrun::{build_context, run_context, RunSetup, TestRun, TestRunError};

/// Bytes of context input each case gets: more than the largest context struct
/// (`bpf_sock_ops`, 224 bytes).
pub const CTX_IN_LEN: usize = 256;

/// Where a pointer argument points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// r10: the top of the stack.
    Stack,
    /// r6: the context.
    Ctx,
    /// r7: a map value (or NULL when the lookup failed).
    MapValue,
    /// r8: packet data (the stack for types without a packet).
    Packet,
    /// r9: a reserved ring buffer record (or NULL).
    Ringbuf,
    /// The map handles (`map_idx 0..2`).
    Map(u8),
    /// The carrier's callback function.
    Func,
}

/// A helper argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A constant.
    Imm(i64),
    /// A pointer: a base plus an offset.
    Ptr(Base, i32),
}

/// One patched step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `call id` with r1..r5 set from the arguments.
    Call {
        /// Helper id (any value, known or not).
        id: u32,
        /// r1..r5.
        args: [Arg; 5],
    },
    /// `*(size *)(r6 + off) = value`.
    CtxStore {
        /// Offset from the context.
        off: i16,
        /// 1, 2, 4 or 8 bytes.
        size: u8,
        /// The value stored.
        value: i64,
    },
}

/// A program type and the steps patched into its carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The program type (and so the context and helper rules).
    pub prog_type: ProgType,
    /// The `expected_attach_type` it is loaded with (which context fields a cgroup program
    /// may write depends on it).
    pub attach: Option<u32>,
    /// The patched steps.
    pub steps: Vec<Step>,
}

/// Values that make helpers take their edge paths: zero, small sizes, sign boundaries,
/// sizes around pages and the 32-bit range, flag bits.
pub const INTERESTING: [i64; 24] = [
    0,
    1,
    2,
    4,
    8,
    14,
    16,
    64,
    255,
    256,
    512,
    4096,
    65535,
    65536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    -1,
    -4096,
    i64::MIN,
    i64::MAX,
    0x3fff_ffff,
    1 << 40,
];

/// The ids of the helpers the kernel catalogue implements.
fn known_helpers() -> &'static [u32] {
    static IDS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        crate::helpers::HelperRegistry::kernel()
            .iter()
            .map(|h| h.id)
            .collect()
    })
}

/// Reads bytes in order, zero once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn i32(&mut self) -> i32 {
        i32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn i64(&mut self) -> i64 {
        (i64::from(self.i32()) << 32) | i64::from(self.i32() as u32)
    }

    fn arg(&mut self) -> Arg {
        let sel = self.u8();
        let small_off = || i32::from(sel >> 4) * 8 - 64;
        match sel % 12 {
            0 => Arg::Imm(INTERESTING[usize::from(self.u8()) % INTERESTING.len()]),
            1 => Arg::Imm(self.i64()),
            2 => Arg::Ptr(Base::Stack, -(i32::from(self.u16() % 520))),
            3 => Arg::Ptr(Base::Ctx, small_off() + 64),
            4 => Arg::Ptr(Base::MapValue, small_off() + 64),
            5 => Arg::Ptr(Base::Packet, small_off() + 64),
            6 => Arg::Ptr(Base::Ringbuf, small_off() + 64),
            7 => Arg::Ptr(Base::Map(self.u8() % 3), 0),
            8 => Arg::Ptr(Base::Func, 0),
            9 => Arg::Ptr(Base::Stack, self.i32()),
            10 => Arg::Imm(i64::from(self.u8())),
            _ => Arg::Ptr(Base::Ctx, self.i32()),
        }
    }
}

impl Case {
    /// A case from fuzzer bytes: the program type, then up to eight steps.
    pub fn from_bytes(data: &[u8]) -> Case {
        let mut b = Bytes(data);
        let prog_type = ProgType::ALL[usize::from(b.u8()) % ProgType::ALL.len()];
        // Any attach type of Linux 6.12 (0 to 56), or none.
        let attach = u32::from(b.u8() % 64);
        let attach = (attach < 57).then_some(attach);
        let n = usize::from(b.u8() % 8) + 1;
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            if b.0.is_empty() {
                break;
            }
            let kind = b.u8();
            // One step in eight is a context store (most offsets fault, ending the run);
            // calls go mostly to helpers the catalogue has, sometimes to any id.
            if kind % 8 == 0 {
                steps.push(Step::CtxStore {
                    off: (b.u16() % 320) as i16 - 32,
                    size: 1 << ((kind >> 3) & 3),
                    value: b.i64(),
                });
            } else {
                let known = known_helpers();
                let id = match kind % 8 {
                    1 => b.i32() as u32,
                    2 => u32::from(b.u8() % 220),
                    _ => known[usize::from(b.u8()) % known.len()],
                };
                let args = [b.arg(), b.arg(), b.arg(), b.arg(), b.arg()];
                steps.push(Step::Call { id, args });
            }
        }
        Case {
            prog_type,
            attach,
            steps,
        }
    }

    /// The carrier with the steps patched in, as assembly text (the assembler checks it).
    pub fn source(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from(
            "mov %r6, %r1
            stw [%r10-4], 0
            lddw %r1, map_idx 0
            mov %r2, %r10
            add %r2, -4
            call bpf_map_lookup_elem
            mov %r7, %r0
            lddw %r1, map_idx 1
            mov %r2, 64
            mov %r3, 0
            call bpf_ringbuf_reserve
            mov %r9, %r0
            mov %r8, %r10
            add %r8, -256
",
        );
        match self.prog_type {
            ProgType::Xdp => s.push_str("ldxw %r8, [%r6+0]\n"),
            t if crate::testrun::has_skb_context(t) => s.push_str("ldxw %r8, [%r6+76]\n"),
            _ => {}
        }
        for step in &self.steps {
            match step {
                Step::Call { id, args } => {
                    for (i, a) in args.iter().enumerate() {
                        let r = i + 1;
                        let _ = match *a {
                            Arg::Imm(v) => writeln!(s, "lddw %r{r}, {v}"),
                            Arg::Ptr(Base::Map(m), _) => writeln!(s, "lddw %r{r}, map_idx {m}"),
                            Arg::Ptr(Base::Func, _) => writeln!(s, "lddw %r{r}, func callback"),
                            Arg::Ptr(base, off) => {
                                let reg = match base {
                                    Base::Stack => 10,
                                    Base::Ctx => 6,
                                    Base::MapValue => 7,
                                    Base::Packet => 8,
                                    _ => 9,
                                };
                                writeln!(s, "mov %r{r}, %r{reg}\nadd %r{r}, {off}")
                            }
                        };
                    }
                    let _ = writeln!(s, "call {}", *id as i32);
                }
                Step::CtxStore { off, size, value } => {
                    let w = match size {
                        1 => "b",
                        2 => "h",
                        4 => "w",
                        _ => "dw",
                    };
                    let _ = writeln!(s, "lddw %r1, {value}\nstx{w} [%r6{off:+}], %r1");
                }
            }
        }
        s.push_str(
            "mov %r0, 0
            exit
        callback:
            mov %r0, 0
            exit
",
        );
        s
    }
}

/// The maps every carrier is bound to: an array (index 0), a ring buffer (1), a hash (2).
pub fn carrier_maps() -> MapTable {
    let cfg = MapConfig { ncpus: 2 };
    let specs = [
        MapSpec::new("array", MapType::Array, 4, 64, 4),
        MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096),
        MapSpec::new("hash", MapType::Hash, 4, 8, 16),
    ];
    MapTable::new(
        specs
            .iter()
            .filter_map(|s| Map::create(s, &cfg).ok())
            .collect(),
    )
}

/// The instruction budget of a fuzzed run: enough for every step and a few callbacks, small
/// enough that a run ends quickly.
pub const FUZZ_BUDGET: u64 = 200_000;

/// What a fuzzed run came to.
#[derive(Debug)]
pub enum Outcome {
    /// The program ran to its `exit`.
    Ran,
    /// It faulted, or the input was refused: a typed error.
    Refused(TestRunError),
}

/// Assembles and runs `case` in checked mode through its type's test run. `Err` is a broken
/// promise other than a crash: output past its bound.
pub fn run(case: &Case) -> Result<Outcome, String> {
    let insns = crate::asm::assemble(&case.source())
        .map_err(|e| format!("the carrier does not assemble: {e}"))?;
    let maps = carrier_maps();
    let mut env = Env {
        printk_limit: 64,
        ..Env::default()
    };
    let input = TestRun {
        data_in: vec![0x45; 64],
        // Room for every context struct, so stores meet its writable fields.
        ctx_in: Some(vec![0; CTX_IN_LEN]),
        repeat: 1,
        ..TestRun::default()
    };
    let mut vm = match crate::testrun::prepare(&insns, case.prog_type, &maps) {
        Ok(vm) => vm,
        Err(e) => return Ok(Outcome::Refused(TestRunError::Isa(e))),
    };
    vm.set_budget(FUZZ_BUDGET);
    env.maps = maps.clone();
    let setup = RunSetup {
        repeat: input.repeat,
        expected_attach_type: case.attach,
        ..RunSetup::default()
    };
    let r = build_context(case.prog_type, &input)
        .and_then(|ctx| run_context(&vm, case.prog_type, ctx, &mut env, &setup));
    if env.printk.len() > env.printk_limit {
        return Err(format!("{} printk lines kept", env.printk.len()));
    }
    if env.seq.len() > SEQ_BUF_SIZE {
        return Err(format!("{} seq bytes kept", env.seq.len()));
    }
    match r {
        Ok(res) => {
            let rb: usize = res.ringbuf.iter().map(|(_, r)| r.len()).sum();
            if rb > 4096 {
                return Err(format!("{rb} ring buffer bytes from a 4096-byte ring"));
            }
            Ok(Outcome::Ran)
        }
        Err(e) => Ok(Outcome::Refused(e)),
    }
}

/// [`run`] of [`Case::from_bytes`]: what the fuzz target calls.
pub fn run_bytes(data: &[u8]) -> Result<Outcome, String> {
    run(&Case::from_bytes(data))
}
