//! Property tests for the instruction set: encode/decode round trips, assembler/disassembler
//! round trips, and robustness of the decoder and disassembler on arbitrary bytes.

use bpfbox_vm::asm::assemble;
use bpfbox_vm::disasm::{disassemble, disassemble_conformance, DisasmOptions, Syntax};
use bpfbox_vm::isa::{
    decode_program, slots_from_bytes, AluOp, AtomicOp, CallTarget, EndKind, Insn, JmpCond,
    LdImm64Kind, RawInsn, Size, Src, Width,
};
use proptest::prelude::*;

fn reg() -> impl Strategy<Value = u8> {
    0u8..=10
}

/// A register the instruction may write (not r10).
fn wreg() -> impl Strategy<Value = u8> {
    0u8..=9
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

fn size_bhw() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W)]
}

fn src() -> impl Strategy<Value = Src> {
    prop_oneof![reg().prop_map(Src::Reg), any::<i32>().prop_map(Src::Imm)]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop::sample::select(AluOp::BINARY.to_vec())
}

fn cond() -> impl Strategy<Value = JmpCond> {
    prop::sample::select(JmpCond::ALL.to_vec())
}

fn ld_kind() -> impl Strategy<Value = LdImm64Kind> {
    prop::sample::select(vec![
        LdImm64Kind::Imm,
        LdImm64Kind::MapFd,
        LdImm64Kind::MapValue,
        LdImm64Kind::BtfId,
        LdImm64Kind::Func,
        LdImm64Kind::MapIdx,
        LdImm64Kind::MapIdxValue,
    ])
}

fn rmw_op() -> impl Strategy<Value = AtomicOp> {
    prop_oneof![
        any::<bool>().prop_map(|fetch| AtomicOp::Add { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::Or { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::And { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::Xor { fetch }),
        Just(AtomicOp::Xchg),
        Just(AtomicOp::Cmpxchg),
    ]
}

/// Every valid instruction: all variants, every field within the kernel's rules.
fn insn() -> impl Strategy<Value = Insn> {
    prop_oneof![
        (width(), alu_op(), wreg(), src()).prop_map(|(width, op, dst, src)| Insn::Alu {
            width,
            op,
            dst,
            src
        }),
        (width(), wreg(), reg(), any::<u8>()).prop_map(|(width, dst, s, k)| {
            let bits = match (width, k % 3) {
                (_, 0) => 8,
                (_, 1) => 16,
                (Width::W64, _) => 32,
                (Width::W32, _) => 16,
            };
            Insn::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst,
                src: Src::Reg(s),
            }
        }),
        (width(), wreg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        (
            prop::sample::select(vec![EndKind::ToLe, EndKind::ToBe, EndKind::Swap]),
            prop::sample::select(vec![16u8, 32, 64]),
            wreg()
        )
            .prop_map(|(kind, bits, dst)| Insn::End { kind, bits, dst }),
        (wreg(), reg(), prop::sample::select(vec![1i32, 1 << 16]))
            .prop_map(|(dst, src, imm)| Insn::AddrSpaceCast { dst, src, imm }),
        any::<i16>().prop_map(|o| Insn::Ja {
            off: o as i32,
            long: false
        }),
        any::<i32>().prop_map(|off| Insn::Ja { off, long: true }),
        any::<i16>()
            .prop_filter("may_goto off != 0", |o| *o != 0)
            .prop_map(|off| Insn::MayGoto { off }),
        (width(), cond(), reg(), src(), any::<i16>()).prop_map(|(width, cond, dst, src, off)| {
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            }
        }),
        any::<i32>().prop_map(|i| Insn::Call(CallTarget::Helper(i))),
        any::<i32>().prop_map(|i| Insn::Call(CallTarget::Local(i))),
        (any::<i32>(), any::<i16>())
            .prop_map(|(btf_id, off)| Insn::Call(CallTarget::Kfunc { btf_id, off })),
        reg().prop_map(|reg| Insn::Callx { reg }),
        Just(Insn::EXIT),
        (wreg(), ld_kind(), any::<u64>()).prop_map(|(dst, kind, imm)| {
            let imm = if matches!(kind, LdImm64Kind::MapFd | LdImm64Kind::MapIdx) {
                imm & 0xffff_ffff
            } else {
                imm
            };
            Insn::LdImm64 { dst, kind, imm }
        }),
        (size(), wreg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::Ldx {
            size,
            dst,
            src,
            off
        }),
        (size_bhw(), wreg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| {
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            }
        }),
        (size(), reg(), any::<i16>(), any::<i32>()).prop_map(|(size, dst, off, imm)| Insn::St {
            size,
            dst,
            off,
            imm
        }),
        (size(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::Stx {
            size,
            dst,
            src,
            off
        }),
        (
            prop_oneof![Just(Size::W), Just(Size::DW)],
            rmw_op(),
            reg(),
            reg(),
            wreg(),
            any::<i16>()
        )
            .prop_map(|(size, op, dst, s, ws, off)| Insn::Atomic {
                size,
                op,
                dst,
                // A fetching op (other than cmpxchg, which writes r0) writes src.
                src: if op.fetches() && op != AtomicOp::Cmpxchg {
                    ws
                } else {
                    s
                },
                off,
            }),
        (size(), wreg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::Atomic {
            size,
            op: AtomicOp::LoadAcquire,
            dst,
            src,
            off
        }),
        (size(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::Atomic {
            size,
            op: AtomicOp::StoreRelease,
            dst,
            src,
            off
        }),
        (size_bhw(), any::<i32>()).prop_map(|(size, imm)| Insn::LdAbs { size, imm }),
        (size_bhw(), reg(), any::<i32>()).prop_map(|(size, src, imm)| Insn::LdInd {
            size,
            src,
            imm
        }),
    ]
}

/// A program of valid instructions whose jumps and local calls target instruction starts
/// inside the program.
fn program() -> impl Strategy<Value = Vec<RawInsn>> {
    prop::collection::vec((insn(), any::<u16>()), 1..40).prop_map(|v| {
        let mut starts = Vec::new();
        let mut slot = 0usize;
        for (i, _) in &v {
            starts.push(slot);
            slot += i.slots();
        }
        let mut out = Vec::new();
        for (k, (mut i, pick)) in v.into_iter().enumerate() {
            let target = starts[pick as usize % starts.len()] as i64;
            let rel = target - starts[k] as i64 - 1;
            match &mut i {
                Insn::Jmp { off, .. } | Insn::MayGoto { off } => {
                    *off = rel as i16;
                    if *off == 0 && matches!(i, Insn::MayGoto { .. }) {
                        i = Insn::MayGoto { off: -1 };
                    }
                }
                Insn::Ja { off, .. } => *off = rel as i32,
                Insn::Call(CallTarget::Local(imm)) => *imm = rel as i32,
                _ => {}
            }
            i.encode_into(&mut out);
        }
        out
    })
}

/// Raw slots biased towards real opcodes so that the deeper decoder paths are exercised.
fn raw_slot() -> impl Strategy<Value = RawInsn> {
    let code = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0x18u8, 0x00, 0x07, 0x0f, 0x04, 0x0c, 0xbf, 0xbc, 0xb7, 0xd4, 0xdc, 0xd7, 0x85, 0x8d,
            0x95, 0x05, 0x06, 0xe5, 0x15, 0x1d, 0x16, 0xc3, 0xdb, 0xd3, 0xcb, 0x61, 0x79, 0x81,
            0x62, 0x7b, 0x20, 0x40, 0x37, 0x3f, 0x9f, 0x87,
        ])
    ];
    let small_imm = prop_oneof![any::<i32>(), -4i32..300, Just(0x100), Just(0x110)];
    let off = prop_oneof![any::<i16>(), -3i16..33];
    (code, 0u8..16, 0u8..16, off, small_imm)
        .prop_map(|(code, dst, src, off, imm)| RawInsn::new(code, dst, src, off, imm))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000), ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trip(i in insn()) {
        let (slots, n) = i.encode();
        prop_assert_eq!(Insn::decode(&slots[..n], 0), Ok(i));
        // Through bytes, too.
        let bytes: Vec<u8> = slots[..n].iter().flat_map(|s| s.to_bytes()).collect();
        let back = slots_from_bytes(&bytes).unwrap();
        prop_assert_eq!(Insn::decode(&back, 0), Ok(i));
    }

    #[test]
    fn decoder_and_disassembler_never_panic(slots in prop::collection::vec(raw_slot(), 0..12)) {
        for pc in 0..=slots.len() {
            let _ = Insn::decode(&slots, pc);
        }
        let _ = decode_program(&slots);
        let opts = DisasmOptions { opcodes: true, symbolizer: None };
        for syn in [Syntax::Kernel, Syntax::Llvm, Syntax::Conformance] {
            let lines = disassemble(&slots, syn, &opts);
            let covered: usize = lines.iter().map(|l| l.raw.len()).sum();
            prop_assert_eq!(covered, slots.len());
            let _ = bpfbox_vm::disasm::format_lines(&lines, syn, &opts);
        }
        // Whatever decodes must survive the conformance round trip.
        if let Ok(text) = disassemble_conformance(&slots) {
            prop_assert_eq!(assemble(&text), Ok(slots.clone()), "{}", text);
        }
    }

    #[test]
    fn decode_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        match slots_from_bytes(&bytes) {
            Ok(slots) => {
                for pc in 0..slots.len() {
                    let _ = Insn::decode(&slots, pc);
                }
                let _ = decode_program(&slots);
                let _ = disassemble(&slots, Syntax::Kernel, &DisasmOptions::default());
            }
            Err(_) => prop_assert!(bytes.len() % 8 != 0),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000), ..ProptestConfig::default() })]

    #[test]
    fn conformance_syntax_round_trip(p in program()) {
        let text = disassemble_conformance(&p).expect("valid program disassembles");
        prop_assert_eq!(assemble(&text), Ok(p.clone()), "{}", text);
        // Every syntax prints every instruction without a decode error.
        for syn in [Syntax::Kernel, Syntax::Llvm] {
            let lines = disassemble(&p, syn, &DisasmOptions::default());
            prop_assert!(lines.iter().all(|l| l.error.is_none()));
        }
    }
}
