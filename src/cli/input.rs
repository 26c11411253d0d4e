//! Reading input files, with one error scheme for every command, and deciding what a file
//! holds from its content: an ELF object (the ELF magic), text (valid UTF-8 without NUL
//! bytes: assembly, or a conformance `.data` file when it has `-- ` sections), or raw
//! bytecode (anything else). Text that does not assemble is reported as the assembler's
//! error at its line and column, never run as bytecode.

use std::path::Path;

use bpfbox_vm::asm::{assemble, AsmError, AsmErrorKind};
use bpfbox_vm::conformance_file::ConformanceFile;
use bpfbox_vm::isa::{slots_from_bytes, RawInsn};

use super::CliError;

/// The ELF magic number.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// A program read from a file, with the memory the file supplies (conformance files).
pub struct LoadedProgram {
    /// Instruction slots.
    pub slots: Vec<RawInsn>,
    /// Input memory from a `-- mem` section.
    pub mem: Option<Vec<u8>>,
}

/// What a file holds, decided from its content.
pub enum Content {
    /// An ELF file (a BPF object, or a malformed one).
    Elf,
    /// UTF-8 text without NUL bytes.
    Text(String),
    /// Anything else: raw bytecode.
    Binary(Vec<u8>),
}

/// Reads `path` whole: a missing or unreadable file, a directory and an empty file are input
/// errors (status 2) that name the file.
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| cannot_read(path, &e))?;
    if bytes.is_empty() {
        return Err(CliError::usage(format!("{}: empty file", path.display())));
    }
    Ok(bytes)
}

/// The message for a file that cannot be read.
pub fn cannot_read(path: &Path, e: &std::io::Error) -> CliError {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    CliError::usage(format!("{}: cannot read: {why}", path.display()))
}

/// Reads `path` and decides what it holds. A file named `*.o` must be an ELF object.
pub fn classify(path: &Path) -> Result<Content, CliError> {
    let bytes = read(path)?;
    if bytes.starts_with(ELF_MAGIC) {
        return Ok(Content::Elf);
    }
    if path.extension().is_some_and(|e| e == "o") {
        return Err(not_elf(path));
    }
    if !bytes.contains(&0) {
        if let Ok(text) = String::from_utf8(bytes.clone()) {
            return Ok(Content::Text(text));
        }
    }
    Ok(Content::Binary(bytes))
}

/// The error for a file that should be an ELF object and is not.
pub fn not_elf(path: &Path) -> CliError {
    CliError::usage(format!(
        "{}: not an ELF object (no ELF magic)",
        path.display()
    ))
}

/// Checks that `path` can be read, is not empty and starts with the ELF magic.
pub fn check_object(path: &Path) -> Result<(), CliError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| cannot_read(path, &e))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match f.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(cannot_read(path, &e)),
        }
    }
    if n == 0 {
        return Err(CliError::usage(format!("{}: empty file", path.display())));
    }
    if n < magic.len() || magic != *ELF_MAGIC {
        return Err(not_elf(path));
    }
    Ok(())
}

/// Reads `path` as a conformance `.data` file, assembly text, or raw bytecode (see the
/// module documentation); an ELF object is not a program of this kind.
pub fn load_program(path: &Path, content: Content) -> Result<LoadedProgram, CliError> {
    match content {
        Content::Elf => Err(CliError::internal(format!(
            "{}: ELF objects are not supported by this command; give raw bytecode, \
             assembly text or a conformance .data file",
            path.display()
        ))),
        Content::Text(text) => load_text(path, &text),
        Content::Binary(bytes) => {
            let slots = slots_from_bytes(&bytes)
                .map_err(|e| CliError::usage(format!("{}: raw bytecode: {e}", path.display())))?;
            Ok(LoadedProgram { slots, mem: None })
        }
    }
}

/// Whether `text` is a conformance `.data` file rather than plain assembly.
pub fn is_conformance(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("--"))
}

/// Assembles text: a conformance file's program, or assembly.
pub fn load_text(path: &Path, text: &str) -> Result<LoadedProgram, CliError> {
    if is_conformance(text) {
        let f = ConformanceFile::parse(text)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
        let slots = f.program().map_err(|e| asm_error(path, text, &e))?;
        let mem = (!f.mem.is_empty()).then(|| f.mem.clone());
        return Ok(LoadedProgram { slots, mem });
    }
    let slots = assemble(text).map_err(|e| asm_error(path, text, &e))?;
    if slots.is_empty() {
        return Err(CliError::usage(format!(
            "{}: no instructions in the assembly text",
            path.display()
        )));
    }
    Ok(LoadedProgram { slots, mem: None })
}

/// An assembler error as `FILE:LINE:COLUMN: message`, the column being where the offending
/// token starts (or the line's first non-blank character).
pub fn asm_error(path: &Path, text: &str, e: &AsmError) -> CliError {
    let line = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
    let token = match &e.kind {
        AsmErrorKind::UnknownMnemonic(t)
        | AsmErrorKind::InvalidRegister(t)
        | AsmErrorKind::InvalidImmediate(t)
        | AsmErrorKind::ImmediateOutOfRange(t)
        | AsmErrorKind::InvalidMemoryOperand(t)
        | AsmErrorKind::OffsetOutOfRange(t)
        | AsmErrorKind::UnknownLabel(t)
        | AsmErrorKind::DuplicateLabel(t)
        | AsmErrorKind::InvalidOperand(t) => Some(t.as_str()),
        AsmErrorKind::TargetOutOfRange { target, .. } => Some(target.as_str()),
        _ => None,
    };
    let byte = token
        .filter(|t| !t.is_empty())
        .and_then(|t| line.find(t))
        .unwrap_or_else(|| line.len() - line.trim_start().len());
    let column = line[..byte].chars().count() + 1;
    CliError::usage(format!(
        "{}:{}:{column}: {}",
        path.display(),
        e.line,
        e.kind
    ))
}

/// Parses hex bytes, with or without spaces (`"01 02 ff"`, `"0102ff"`, `"01  02  "`).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, CliError> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = digits.strip_prefix("0x").unwrap_or(&digits);
    if !digits.len().is_multiple_of(2) {
        return Err(CliError::usage(format!(
            "odd number of hex digits in `{}`",
            s.trim()
        )));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| CliError::usage(format!("invalid hex byte in `{}`", s.trim())))
        })
        .collect()
}
