//! Reading programs from files: raw bytecode, assembly text, or a conformance `.data` file.

use std::path::Path;

use bpfbox_vm::asm::assemble;
use bpfbox_vm::conformance_file::ConformanceFile;
use bpfbox_vm::isa::{slots_from_bytes, RawInsn};

use super::CliError;

/// A program read from a file, with the memory the file supplies (conformance files).
pub struct LoadedProgram {
    /// Instruction slots.
    pub slots: Vec<RawInsn>,
    /// Input memory from a `-- mem` section.
    pub mem: Option<Vec<u8>>,
}

/// Reads `path` as a conformance `.data` file, assembly text, or raw bytecode, in that order
/// of preference: text that parses as a conformance file or assembles is text, anything else
/// is bytecode.
pub fn load_program(path: &Path) -> Result<LoadedProgram, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    if bytes.starts_with(b"\x7fELF") {
        return Err(CliError::internal(format!(
            "{}: ELF objects are not supported by this command yet; give raw bytecode, \
             assembly text or a conformance .data file",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| !t.contains('\0'));
    if let Some(text) = text {
        if text.lines().any(|l| l.trim_start().starts_with("--")) {
            let f = ConformanceFile::parse(text)
                .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
            let slots = f
                .program()
                .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
            let mem = (!f.mem.is_empty()).then(|| f.mem.clone());
            return Ok(LoadedProgram { slots, mem });
        }
        match assemble(text) {
            Ok(slots) => return Ok(LoadedProgram { slots, mem: None }),
            // Text that is not valid assembly may still be bytecode that happens to be UTF-8;
            // only report the assembly error when it cannot be bytecode.
            Err(e) if !bytes.len().is_multiple_of(8) => {
                return Err(CliError::usage(format!("{}: {e}", path.display())))
            }
            Err(_) => {}
        }
    }
    let slots = slots_from_bytes(&bytes)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    Ok(LoadedProgram { slots, mem: None })
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
