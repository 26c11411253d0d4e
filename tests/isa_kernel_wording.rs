//! Decoding errors against the running kernel: each malformed program is loaded with
//! `BPF_PROG_LOAD`, and the kernel's verifier log must contain the very message our decoder
//! gives (for faults the kernel finds before its walk) or our interpreter's fault carries
//! (for faults it finds only on a walked path). Needs root (CAP_BPF); skips with a reason
//! elsewhere.

use bpfbox::vm::isa::{decode_program, RawInsn};
use bpfbox::vm::Vm;

/// Our message for a malformed program: the decoder's error, or, for an instruction the
/// kernel checks only when its verifier walks it, the fault of running it.
fn our_message(prog: &[RawInsn]) -> String {
    match decode_program(prog) {
        Err(e) => e.kind.to_string(),
        Ok(_) => {
            let vm = Vm::new(prog).expect("a program that decodes builds");
            match vm.run_mem(&mut []) {
                Err(fault) => fault.kind.to_string(),
                Ok(out) => panic!("ran to the end with r0 = {}", out.r0),
            }
        }
    }
}

fn skip_no_bpf() {
    if std::env::var_os("BPFBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("required test skipped: bpf() is not permitted here");
    }
    use std::io::Write;
    // Not `eprintln!`: the test harness captures that, and a skip must show.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: bpf() is not permitted here (needs root / CAP_BPF)"
    );
}

const BPF_PROG_LOAD: libc::c_long = 5;
const SOCKET_FILTER: u32 = 1;

/// The leading fields of `union bpf_attr` for `BPF_PROG_LOAD`; the rest stays zero.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    rest: [u8; 96],
}

/// Loads `prog` and returns the verifier log, or `None` if `bpf()` is not permitted.
fn kernel_log(prog: &[RawInsn]) -> Option<String> {
    let bytes: Vec<u8> = prog.iter().flat_map(|i| i.to_bytes()).collect();
    let license = b"GPL\0";
    let mut log = vec![0u8; 1 << 16];
    let attr = ProgLoadAttr {
        prog_type: SOCKET_FILTER,
        insn_cnt: prog.len() as u32,
        insns: bytes.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        rest: [0; 96],
    };
    // SAFETY: `attr` points at live buffers (`bytes`, `license`, `log`) for the whole call and
    // its size is passed exactly.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if fd >= 0 {
        // SAFETY: the kernel returned a new descriptor that we own.
        unsafe { libc::close(fd as libc::c_int) };
        return Some(String::new());
    }
    if matches!(errno, Some(libc::EPERM) | Some(libc::ENOSYS)) {
        return None;
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    Some(String::from_utf8_lossy(&log[..end]).into_owned())
}

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn::new(code, dst, src, off, imm)
}

const MOV0: RawInsn = RawInsn::new(0xb7, 0, 0, 0, 0);
const EXIT: RawInsn = RawInsn::new(0x95, 0, 0, 0, 0);

#[test]
fn decoder_errors_use_the_kernels_words() {
    let cases: Vec<(&str, Vec<RawInsn>)> = vec![
        ("alu off", vec![MOV0, ins(0x07, 0, 0, 2, 1), EXIT]),
        ("alu x imm", vec![MOV0, ins(0x0f, 0, 1, 0, 1), EXIT]),
        ("neg imm", vec![MOV0, ins(0x87, 0, 0, 0, 1), EXIT]),
        ("end bits", vec![MOV0, ins(0xdc, 0, 0, 0, 8), EXIT]),
        ("mov k src", vec![MOV0, ins(0xb7, 0, 1, 0, 0), EXIT]),
        ("movsx32 off", vec![MOV0, ins(0xbc, 0, 1, 32, 0), EXIT]),
        ("jmp32 call", vec![MOV0, ins(0x86, 0, 0, 0, 5), EXIT]),
        ("ldx memsx dw", vec![MOV0, ins(0x99, 0, 10, -8, 0), EXIT]),
        ("bad register", vec![ins(0xb7, 11, 0, 0, 0), EXIT]),
        ("write r10", vec![MOV0, ins(0xb7, 10, 0, 0, 0), EXIT]),
        ("lddw last", vec![MOV0, ins(0x18, 0, 0, 0, 0)]),
        (
            "lddw second slot",
            vec![ins(0x18, 0, 0, 0, 0), ins(0, 1, 0, 0, 0), EXIT],
        ),
        (
            "lddw pseudo",
            vec![ins(0x18, 1, 7, 0, 0), ins(0, 0, 0, 0, 0), MOV0, EXIT],
        ),
        ("jump out", vec![MOV0, ins(0x05, 0, 0, 5, 0), EXIT]),
        (
            "jump into lddw",
            vec![
                MOV0,
                ins(0x15, 0, 0, 1, 0),
                ins(0x18, 1, 0, 0, 0),
                ins(0, 0, 0, 0, 0),
                EXIT,
            ],
        ),
        ("fall off", vec![MOV0, EXIT, MOV0]),
        ("exit imm", vec![MOV0, ins(0x95, 0, 0, 0, 1)]),
        ("ja imm", vec![MOV0, ins(0x05, 0, 0, 0, 1), EXIT]),
        ("call dst", vec![MOV0, ins(0x85, 1, 0, 0, 5), EXIT]),
        ("stx imm", vec![MOV0, ins(0x7b, 10, 0, -8, 1), EXIT]),
        ("st src", vec![MOV0, ins(0x7a, 10, 1, -8, 1), EXIT]),
        ("ldx imm", vec![MOV0, ins(0x79, 0, 10, -8, 1), EXIT]),
        ("atomic op", vec![MOV0, ins(0xdb, 10, 0, -8, 0x02), EXIT]),
        ("atomic size", vec![MOV0, ins(0xd3, 10, 0, -8, 0x00), EXIT]),
        ("jmp k src", vec![MOV0, ins(0x15, 0, 1, 0, 0), EXIT]),
        ("may_goto imm", vec![MOV0, ins(0xe5, 0, 0, 1, 1), EXIT]),
    ];
    let mut checked = 0;
    for (name, prog) in &cases {
        let ours = our_message(prog);
        let Some(log) = kernel_log(prog) else {
            return skip_no_bpf();
        };
        assert!(
            log.lines().any(|l| l == ours),
            "{name}: we say `{ours}`, the kernel's log is:\n{log}"
        );
        checked += 1;
    }
    assert_eq!(checked, cases.len());
    // callx is the one instruction we decode that the kernel does not: RFC 9669 and the
    // conformance suite define it, the kernel's instruction table lacks it.
    let callx = [MOV0, ins(0x8d, 1, 0, 0, 0), EXIT];
    assert!(decode_program(&callx).is_ok());
    let log = kernel_log(&callx).unwrap_or_default();
    assert!(log.lines().any(|l| l == "unknown opcode 8d"), "{log}");
}

/// An instruction the verifier would refuse, behind a branch it knows is never taken
/// (`r0 = 0; if r0 == 0 goto +1`): the kernel checks register numbers, `r10` writes and most
/// reserved fields only on the paths it walks, so it loads the program, and so must we; the
/// checks it makes on every instruction before the walk reject the program wherever the
/// instruction is.
#[test]
fn only_walked_instructions_get_the_walk_checks() {
    let cases: Vec<(&str, RawInsn, bool)> = vec![
        // (name, instruction, whether the kernel checks it only when walked)
        ("write r10", ins(0xb7, 10, 0, 0, 0), true),
        ("ldx into r10", ins(0x79, 10, 10, -8, 0), true),
        ("bad dst register", ins(0xb7, 11, 0, 0, 0), true),
        ("bad src register", ins(0xbf, 0, 12, 0, 0), true),
        ("neg r10", ins(0x87, 10, 0, 0, 0), true),
        ("alu off", ins(0x07, 0, 0, 2, 1), true),
        ("alu x imm", ins(0x0f, 0, 1, 0, 1), true),
        ("end bits", ins(0xdc, 0, 0, 0, 8), true),
        ("mov k src", ins(0xb7, 0, 1, 0, 0), true),
        ("stx imm", ins(0x7b, 10, 0, -8, 1), true),
        ("st src", ins(0x7a, 10, 1, -8, 1), true),
        ("atomic op", ins(0xdb, 10, 0, -8, 0x02), true),
        ("atomic size", ins(0xd3, 10, 0, -8, 0x00), true),
        ("jmp k src", ins(0x15, 0, 1, 0, 0), true),
        ("call dst", ins(0x85, 1, 0, 0, 5), true),
        ("ldx imm", ins(0x79, 0, 10, -8, 1), false),
        ("ldx memsx dw", ins(0x99, 0, 10, -8, 0), false),
        ("unknown opcode", ins(0xff, 0, 0, 0, 0), false),
        ("jmp32 call", ins(0x86, 0, 0, 0, 5), false),
    ];
    for (name, bad, lazy) in cases {
        let prog = [MOV0, ins(0x15, 0, 0, 1, 0), bad, EXIT];
        let Some(log) = kernel_log(&prog) else {
            return skip_no_bpf();
        };
        let kernel_accepts = log.is_empty();
        assert_eq!(kernel_accepts, lazy, "{name}: the kernel's log is:\n{log}");
        match decode_program(&prog) {
            Ok(d) => {
                assert!(lazy, "{name}: we accept what the kernel refuses:\n{log}");
                assert_eq!(d.rejected.len(), 1, "{name}");
                let out = Vm::new(&prog).unwrap().run_mem(&mut []).unwrap();
                assert_eq!(out.r0, 0, "{name}");
            }
            Err(e) => {
                assert!(!lazy, "{name}: we refuse ({e}) what the kernel loads");
                let ours = e.kind.to_string();
                assert!(
                    log.lines().any(|l| l == ours),
                    "{name}: we say `{ours}`, the kernel's log is:\n{log}"
                );
            }
        }
        // On the walked path, the kernel refuses it with the words our run fault carries.
        let live = [MOV0, ins(0x55, 0, 0, 1, 0), bad, EXIT];
        let log = kernel_log(&live).unwrap_or_default();
        let ours = our_message(&live);
        assert!(
            log.lines().any(|l| l == ours),
            "{name} (walked): we say `{ours}`, the kernel's log is:\n{log}"
        );
    }
}
