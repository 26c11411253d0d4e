//! One error scheme for every command that reads a file: the exit status and a one-line
//! message naming the file, for a missing, unreadable, empty, non-ELF or truncated file, an
//! unsupported feature and a usage error (see `bpfbox --help`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn bpfbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bpfbox"))
}

/// A scratch directory for this test binary's inputs.
fn scratch() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_errors");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs `args` and checks the status and that stderr is one `bpfbox: ` line holding `needle`.
fn expect(args: &[&str], status: i32, needle: &str) {
    let out = bpfbox().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(status),
        "{args:?}: stderr: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: stderr lacks `{needle}`: {stderr}"
    );
    if status != 2 || !stderr.starts_with("error:") {
        assert!(
            stderr.starts_with("bpfbox: ") && stderr.trim_end().lines().count() == 1,
            "{args:?}: not one `bpfbox: ` line: {stderr}"
        );
    }
}

struct Inputs {
    missing: PathBuf,
    dir: PathBuf,
    empty: PathBuf,
    not_elf: PathBuf,
    truncated: PathBuf,
}

fn inputs() -> Inputs {
    let full = std::fs::read(common::fixture("example_xdp")).unwrap();
    let dir = scratch().join("a_directory");
    std::fs::create_dir_all(&dir).unwrap();
    Inputs {
        missing: scratch().join("no_such_file.o"),
        dir,
        empty: write("empty.o", b""),
        not_elf: write("text.o", b"this is not an object\n"),
        truncated: write("truncated.o", &full[..200]),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The rows every file-reading command shares.
fn common_rows(cmd: &[&str]) {
    let i = inputs();
    fn with<'a>(cmd: &[&'a str], p: &'a Path) -> Vec<&'a str> {
        [cmd, &[s(p)]].concat()
    }
    let with = |p| with(cmd, p);
    expect(
        &with(&i.missing),
        2,
        &format!("{}: cannot read: no such file", s(&i.missing)),
    );
    // As root, permissions do not stop a read; a directory is the unreadable file.
    expect(
        &with(&i.dir),
        2,
        &format!("{}: cannot read: is a directory", s(&i.dir)),
    );
    expect(&with(&i.empty), 2, &format!("{}: empty file", s(&i.empty)));
    expect(&with(&i.not_elf), 2, s(&i.not_elf));
    expect(&with(&i.truncated), 2, &format!("{}: ", s(&i.truncated)));
    // Usage error: an option the command does not have.
    let obj = common::fixture("example_xdp");
    expect(
        &[cmd, &[s(&obj), "--no-such-option"]].concat(),
        2,
        "--no-such-option",
    );
}

#[test]
fn run_follows_the_error_scheme() {
    common_rows(&["run"]);
    let i = inputs();
    expect(&["run", s(&i.not_elf)], 2, "not an ELF object");
    // An option for objects given to a raw program is a usage error.
    let asm = write("ok.asm", b"mov %r0, 1\nexit\n");
    expect(
        &["run", s(&asm), "--data-hex", "00"],
        2,
        "apply to ELF objects",
    );
    // Unsupported: addr_space_cast needs an arena, which the interpreter does not have.
    let mut prog = Vec::new();
    prog.extend_from_slice(&[0xbf, 0x11, 1, 0, 1, 0, 0, 0]);
    prog.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
    let raw = write("arena.bin", &prog);
    expect(&["run", s(&raw)], 3, "unsupported");
    // Rejected: a program the kernel refuses.
    let bad = write(
        "jump_out.bin",
        &[0x05, 0, 5, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
    );
    expect(&["run", s(&bad)], 1, "jump out of range from insn 0 to 6");
}

#[test]
fn show_follows_the_error_scheme() {
    common_rows(&["show"]);
    let asm = write("prog.asm", b"mov %r0, 1\nexit\n");
    expect(&["show", s(&asm)], 2, "not an ELF object");
}

#[test]
fn disasm_follows_the_error_scheme() {
    common_rows(&["disasm"]);
    // Random-looking bytes are not a program the kernel would take: status 1, no listing.
    let junk = write(
        "junk.bin",
        &[0xff, 0xee, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
    );
    let out = bpfbox().args(["disasm", s(&junk)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown opcode ff"));
    // A raw file whose length is not a multiple of 8.
    let odd = write("odd.bin", &[0x95, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(&["disasm", s(&odd)], 2, "not a multiple of 8");
}

#[test]
fn asm_follows_the_error_scheme() {
    common_rows(&["asm"]);
    let junk = write("junk.bin", &[0xff, 0xee, 0, 0, 0, 0, 0, 0]);
    expect(&["asm", s(&junk)], 2, "binary content, not assembly text");
    expect(
        &["asm", s(&common::fixture("example_xdp"))],
        2,
        "an ELF object, not assembly text",
    );
}

#[test]
fn btf_dump_follows_the_error_scheme() {
    common_rows(&["btf", "dump"]);
    let junk = write("junk.btf", b"\x01\x02\x03\x04");
    expect(
        &["btf", "dump", s(&junk)],
        2,
        "neither raw BTF nor an ELF object",
    );
}

#[test]
fn reloc_follows_the_error_scheme() {
    common_rows(&["reloc"]);
    let target = scratch().join("no_such.btf");
    expect(
        &[
            "reloc",
            s(&common::fixture("core_prog")),
            "--btf",
            s(&target),
        ],
        2,
        &format!("--btf {}", s(&target)),
    );
}

/// Assembly with a typo is the assembler's error with line and column, whatever its size:
/// it never runs as bytecode, even when its length is a multiple of 8.
#[test]
fn text_that_does_not_assemble_is_an_assembler_error() {
    let text = b"mov %r0, 1\n  exti  \n";
    assert_eq!(text.len() % 8, 4);
    let mut padded = text.to_vec();
    padded.extend_from_slice(b"    ");
    assert_eq!(padded.len() % 8, 0);
    for (name, bytes) in [("typo.asm", text.to_vec()), ("typo8.asm", padded)] {
        let p = write(name, &bytes);
        for cmd in ["run", "disasm", "asm"] {
            expect(
                &[cmd, s(&p)],
                2,
                &format!("{}:2:3: unknown mnemonic `exti`", s(&p)),
            );
        }
    }
}

/// `compare` checks its input files before it asks the kernel anything; the truncated object
/// is found by loading it, which needs `bpf()`.
#[test]
fn compare_follows_the_error_scheme() {
    if let Some(r) = bpfbox::kernel_compare::probe::Probe::run().reason() {
        return common::skip(&r);
    }
    common_rows(&["compare"]);
}

/// `selftest` takes directories of objects, so a directory is not an input error there;
/// every other row is as for the other commands.
#[test]
fn selftest_follows_the_error_scheme() {
    if let Some(r) = bpfbox::kernel_compare::probe::Probe::run().reason() {
        return common::skip(&r);
    }
    let i = inputs();
    expect(
        &["selftest", s(&i.missing)],
        2,
        &format!("{}: cannot read: no such file", s(&i.missing)),
    );
    expect(
        &["selftest", s(&i.empty)],
        2,
        &format!("{}: empty file", s(&i.empty)),
    );
    expect(&["selftest", s(&i.not_elf)], 2, s(&i.not_elf));
    expect(&["selftest", s(&i.truncated)], 2, s(&i.truncated));
}
