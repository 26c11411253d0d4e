//! Parser for bpf_conformance `.data` test files (see `FORMAT.md`, section 2), and the
//! upstream runner's classification of a test by CPU version and conformance groups
//! (section 5).
//!
//! Lines are preprocessed exactly as upstream: one trailing `\r` is removed, the line is cut
//! at its first `#`, a line still containing `--` is a section header (matched by substring
//! in the order `asm`, `result`, `mem`, `raw`, `no register offset`, ` c`, `error`; anything
//! else is an unknown directive and the whole file is skipped), and blank lines are ignored.

use std::fmt;

use crate::asm::{assemble_lines, AsmError, AsmOptions};
use crate::isa::RawInsn;

/// A parsed conformance test file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConformanceFile {
    /// `-- asm` lines, with their 1-based line numbers in the file (comments already cut).
    pub asm: Vec<(usize, String)>,
    /// `-- raw` instruction words (one 64-bit slot each); used instead of `asm` when non-empty.
    pub raw: Vec<u64>,
    /// `-- mem` bytes.
    pub mem: Vec<u8>,
    /// `-- result`: the expected r0 (last line wins).
    pub result: Option<u64>,
    /// `-- error`: the expected error text (last line wins).
    pub error: Option<String>,
    /// The first unknown section header, if any (upstream then skips the file).
    pub unknown_directive: Option<String>,
}

/// A malformed data line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConformanceError {
    /// A `-- mem` token that is not a hex byte.
    #[error("line {line}: invalid memory byte `{token}`")]
    BadMemByte {
        /// 1-based line number.
        line: usize,
        /// The token.
        token: String,
    },
    /// A `-- raw` token that is not a 64-bit number.
    #[error("line {line}: invalid raw instruction word `{token}`")]
    BadRawWord {
        /// 1-based line number.
        line: usize,
        /// The token.
        token: String,
    },
    /// A `-- result` line that is not a 64-bit number.
    #[error("line {line}: invalid result `{text}`")]
    BadResult {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Why the upstream runner would skip a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// An unknown section header (the file is treated as having no instructions).
    UnknownDirective(String),
    /// The file yields no instructions.
    NoInstructions,
    /// The file has neither `-- result` nor `-- error`.
    NoExpectation,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnknownDirective(d) => write!(f, "unknown directive `{d}`"),
            SkipReason::NoInstructions => f.write_str("no BPF instructions"),
            SkipReason::NoExpectation => f.write_str("no result or error"),
        }
    }
}

/// Minimum CPU version (`--cpu_version`) a test needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuVersion {
    /// v1.
    V1 = 1,
    /// v2: `jlt`, `jle`, `jslt`, `jsle`.
    V2 = 2,
    /// v3: JMP32, local/runtime calls, atomics.
    V3 = 3,
    /// v4: `ja32`, sign-extending loads, `movsx`, `sdiv`/`smod`, `bswap`.
    V4 = 4,
}

/// Conformance groups, as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Groups(pub u8);

impl Groups {
    /// `base32`.
    pub const BASE32: Groups = Groups(1);
    /// `base64`.
    pub const BASE64: Groups = Groups(2);
    /// `divmul32`.
    pub const DIVMUL32: Groups = Groups(4);
    /// `divmul64`.
    pub const DIVMUL64: Groups = Groups(8);
    /// `atomic32`.
    pub const ATOMIC32: Groups = Groups(16);
    /// `atomic64`.
    pub const ATOMIC64: Groups = Groups(32);
    /// `packet` (legacy `ld abs/ind`).
    pub const PACKET: Groups = Groups(64);
    /// `callx`.
    pub const CALLX: Groups = Groups(128);
    /// The upstream runner's default set: everything but `packet` and `callx`.
    pub const DEFAULT: Groups = Groups(63);

    /// Every group with its upstream name.
    pub const NAMES: [(Groups, &'static str); 8] = [
        (Groups::BASE32, "base32"),
        (Groups::BASE64, "base64"),
        (Groups::DIVMUL32, "divmul32"),
        (Groups::DIVMUL64, "divmul64"),
        (Groups::ATOMIC32, "atomic32"),
        (Groups::ATOMIC64, "atomic64"),
        (Groups::PACKET, "packet"),
        (Groups::CALLX, "callx"),
    ];

    /// Union.
    pub fn union(self, o: Groups) -> Groups {
        Groups(self.0 | o.0)
    }

    /// Whether every group in `o` is in `self`.
    pub fn contains(self, o: Groups) -> bool {
        self.0 & o.0 == o.0
    }

    /// Group names in the set, in [`Groups::NAMES`] order.
    pub fn names(self) -> Vec<&'static str> {
        Groups::NAMES
            .iter()
            .filter(|(g, _)| self.contains(*g))
            .map(|(_, n)| *n)
            .collect()
    }

    /// A group by upstream name.
    pub fn from_name(name: &str) -> Option<Groups> {
        Groups::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(g, _)| *g)
    }
}

/// What a test needs from the runner: minimum CPU version and groups used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Requirements {
    /// Minimum CPU version.
    pub cpu: CpuVersion,
    /// Groups used.
    pub groups: Groups,
}

impl Requirements {
    /// Whether the upstream runner would run the test at `cpu` with `enabled` groups.
    pub fn allowed(&self, cpu: CpuVersion, enabled: Groups) -> bool {
        self.cpu <= cpu && enabled.contains(self.groups)
    }
}

/// Classifies one instruction slot as the upstream runner does; `None` for an encoding the
/// runner's table does not know (it then contributes nothing).
pub fn classify(r: RawInsn) -> Option<(CpuVersion, Groups)> {
    use CpuVersion::*;
    let code = r.code;
    let class = code & 7;
    let opv = code & 0xf0;
    let g = |w64: bool| if w64 { Groups::BASE64 } else { Groups::BASE32 };
    Some(match class {
        // ALU / ALU64
        4 | 7 => {
            let w64 = class == 7;
            let divmul = if w64 {
                Groups::DIVMUL64
            } else {
                Groups::DIVMUL32
            };
            match opv {
                0x80 => (V1, Groups::BASE32),
                0xd0 if w64 => {
                    if code & 8 != 0 {
                        return None;
                    }
                    (V4, Groups::BASE32)
                }
                0xd0 => (V1, Groups::BASE32),
                0x20 => (V1, divmul),
                0x30 | 0x90 => (if r.off == 1 { V4 } else { V1 }, divmul),
                0xb0 if code & 8 != 0 && matches!(r.off, 8 | 16 | 32) => (V4, g(w64)),
                0x00 | 0x10 | 0x40 | 0x50 | 0x60 | 0x70 | 0xa0 | 0xb0 | 0xc0 => (V1, g(w64)),
                _ => return None,
            }
        }
        // JMP / JMP32
        5 | 6 => {
            let j32 = class == 6;
            match opv {
                0x00 if code & 8 == 0 => (if j32 { V4 } else { V1 }, Groups::BASE32),
                0x80 if !j32 && code & 8 != 0 => (V1, Groups::CALLX),
                0x80 if !j32 => (if r.src == 0 { V1 } else { V3 }, Groups::BASE32),
                0x90 if !j32 && code & 8 == 0 => (V1, Groups::BASE32),
                0x10..=0x70 | 0xa0..=0xd0 => {
                    if j32 {
                        (V3, Groups::BASE32)
                    } else if opv >= 0xa0 {
                        (V2, Groups::BASE64)
                    } else {
                        (V1, Groups::BASE64)
                    }
                }
                _ => return None,
            }
        }
        // LD
        0 => match code {
            0x18 => (V1, Groups::BASE64),
            0x20 | 0x28 | 0x30 | 0x40 | 0x48 | 0x50 => (V1, Groups::PACKET),
            _ => return None,
        },
        // LDX
        1 => match code {
            0x61 | 0x69 | 0x71 => (V1, Groups::BASE32),
            0x79 => (V1, Groups::BASE64),
            0x81 | 0x89 | 0x91 => (V4, Groups::BASE32),
            _ => return None,
        },
        // ST / STX
        _ => match code {
            0x62 | 0x6a | 0x72 | 0x63 | 0x6b | 0x73 => (V1, Groups::BASE32),
            0x7a | 0x7b => (V1, Groups::BASE64),
            0xc3 => (V3, Groups::ATOMIC32),
            0xdb => (V3, Groups::ATOMIC64),
            _ => return None,
        },
    })
}

/// The requirements of a program: the maximum version and the union of groups over its
/// instructions (the second slot of `lddw` is skipped).
pub fn requirements_of(slots: &[RawInsn]) -> Requirements {
    let mut req = Requirements {
        cpu: CpuVersion::V1,
        groups: Groups::default(),
    };
    let mut i = 0;
    while i < slots.len() {
        let r = slots[i];
        if let Some((v, g)) = classify(r) {
            req.cpu = req.cpu.max(v);
            req.groups = req.groups.union(g);
        }
        i += if r.code == 0x18 { 2 } else { 1 };
    }
    req
}

enum Section {
    None,
    Asm,
    Result,
    Mem,
    Raw,
    Ignored,
    Error,
}

impl ConformanceFile {
    /// Parses a file's text.
    pub fn parse(text: &str) -> Result<ConformanceFile, ConformanceError> {
        let mut f = ConformanceFile::default();
        let mut section = Section::None;
        for (i, line) in text.split('\n').enumerate() {
            let lineno = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line = line.split('#').next().unwrap_or("");
            if line.contains("--") {
                section = if line.contains("asm") {
                    Section::Asm
                } else if line.contains("result") {
                    Section::Result
                } else if line.contains("mem") {
                    Section::Mem
                } else if line.contains("raw") {
                    Section::Raw
                } else if line.contains("no register offset") || line.contains(" c") {
                    Section::Ignored
                } else if line.contains("error") {
                    Section::Error
                } else {
                    if f.unknown_directive.is_none() {
                        f.unknown_directive = Some(line.trim().to_string());
                    }
                    Section::Ignored
                };
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            match section {
                Section::None | Section::Ignored => {}
                Section::Asm => f.asm.push((lineno, line.to_string())),
                Section::Mem => {
                    for t in line.split_whitespace() {
                        let b = u8::from_str_radix(t, 16)
                            .ok()
                            .filter(|_| !t.starts_with('+'))
                            .ok_or_else(|| ConformanceError::BadMemByte {
                                line: lineno,
                                token: t.to_string(),
                            })?;
                        f.mem.push(b);
                    }
                }
                Section::Raw => {
                    for t in line.split_whitespace() {
                        let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                            Some(h) => u64::from_str_radix(h, 16).ok(),
                            None => t.parse::<u64>().ok(),
                        }
                        .filter(|_| !t.contains('+'))
                        .ok_or_else(|| ConformanceError::BadRawWord {
                            line: lineno,
                            token: t.to_string(),
                        })?;
                        f.raw.push(v);
                    }
                }
                Section::Result => {
                    let t = line.trim();
                    let v = match t.find("0x") {
                        Some(p) => u64::from_str_radix(t[p + 2..].trim(), 16).ok(),
                        None => t.parse::<u64>().ok(),
                    };
                    f.result = Some(v.ok_or_else(|| ConformanceError::BadResult {
                        line: lineno,
                        text: t.to_string(),
                    })?);
                }
                Section::Error => f.error = Some(line.trim_end().to_string()),
            }
        }
        Ok(f)
    }

    /// The program: the `-- raw` words if there are any, else the assembled `-- asm` text.
    /// Assembly errors carry the line number in the file.
    pub fn program(&self) -> Result<Vec<RawInsn>, AsmError> {
        if !self.raw.is_empty() {
            return Ok(self.raw.iter().map(|&w| RawInsn::from_u64(w)).collect());
        }
        self.assemble_asm()
    }

    /// Assembles the `-- asm` section (even when `-- raw` is present).
    pub fn assemble_asm(&self) -> Result<Vec<RawInsn>, AsmError> {
        assemble_lines(
            self.asm.iter().map(|(n, l)| (*n, l.as_str())),
            &AsmOptions::default(),
        )
    }

    /// The expected r0: the result, or 0 when only an error is expected.
    pub fn expected(&self) -> u64 {
        self.result.unwrap_or(0)
    }

    /// Why the upstream runner would skip this file, if it would. An assembly error is not a
    /// skip reason (it is reported by [`ConformanceFile::program`]).
    pub fn skip_reason(&self) -> Option<SkipReason> {
        if let Some(d) = &self.unknown_directive {
            return Some(SkipReason::UnknownDirective(d.clone()));
        }
        if matches!(self.program(), Ok(p) if p.is_empty()) {
            return Some(SkipReason::NoInstructions);
        }
        if self.result.is_none() && self.error.is_none() {
            return Some(SkipReason::NoExpectation);
        }
        None
    }

    /// The minimum CPU version and groups of the program (section 5 of `FORMAT.md`).
    pub fn requirements(&self) -> Result<Requirements, AsmError> {
        Ok(requirements_of(&self.program()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections() {
        let t = "# c\r\n-- asm\r\nmov %r0, %r2 # x\r\n\r\nexit\n-- mem\n00 FF\nee\n-- result\n0x1\n0xFFFFFFF6\n";
        let f = ConformanceFile::parse(t).unwrap();
        assert_eq!(f.asm.len(), 2);
        assert_eq!(f.asm[0].0, 3);
        assert_eq!(f.mem, vec![0, 0xff, 0xee]);
        assert_eq!(f.result, Some(0xffff_fff6));
        assert_eq!(f.skip_reason(), None);
        assert_eq!(f.program().unwrap().len(), 2);
        let r = f.requirements().unwrap();
        assert_eq!(r.cpu, CpuVersion::V1);
        assert_eq!(r.groups, Groups::BASE32.union(Groups::BASE64));
    }

    #[test]
    fn skips() {
        let f = ConformanceFile::parse("-- asm\nexit\n-- bogus\n-- result\n1\n").unwrap();
        assert!(matches!(
            f.skip_reason(),
            Some(SkipReason::UnknownDirective(_))
        ));
        let f = ConformanceFile::parse("-- asm\nexit\n").unwrap();
        assert_eq!(f.skip_reason(), Some(SkipReason::NoExpectation));
        let f = ConformanceFile::parse("-- asm\n-- result\n1\n").unwrap();
        assert_eq!(f.skip_reason(), Some(SkipReason::NoInstructions));
        let f = ConformanceFile::parse("-- asm\nexit\n-- error\nbad thing  \n").unwrap();
        assert_eq!(f.error.as_deref(), Some("bad thing"));
        assert_eq!(f.expected(), 0);
        assert_eq!(f.skip_reason(), None);
        assert!(ConformanceFile::parse("-- mem\nzz\n").is_err());
    }
}
