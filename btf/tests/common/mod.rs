//! Helpers shared by the integration tests: skipping, a tiny ELF reader and
//! running `bpftool`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Directory where Debian/Ubuntu's xdp-tools install their BPF objects.
pub const XDP_OBJ_DIR: &str = "/usr/lib/x86_64-linux-gnu/bpf";
/// The running kernel's BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Report a skipped check. Fails instead when `BPFBOX_REQUIRE_ALL=1`.
pub fn skip(reason: &str) {
    if std::env::var("BPFBOX_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required check skipped: {reason}");
    }
    // Not `eprintln!`: the test harness captures that and shows it only for failures, so a
    // skip would be invisible in a plain `cargo test`. The stderr handle is not captured.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
}

/// Path of an executable on PATH, if any.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// Run a tool and return its stdout, panicking on failure.
pub fn run(tool: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "{} {:?} failed: {}",
        tool.display(),
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The xdp-tools BPF objects present on this machine.
pub fn xdp_objects() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(XDP_OBJ_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "o"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A section of an ELF file.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub sh_type: u32,
    pub offset: usize,
    pub size: usize,
    pub link: u32,
}

/// A symbol from `.symtab`.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub info: u8,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
}

impl Symbol {
    /// `STT_FUNC`?
    pub fn is_func(&self) -> bool {
        self.info & 0xf == 2
    }
}

/// A minimal little-endian ELF64 reader: section headers and symbols.
pub struct Elf {
    pub data: Vec<u8>,
    pub sections: Vec<Section>,
}

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(d[o..o + 2].try_into().unwrap())
}
fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}
fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
}
fn cstr(d: &[u8], o: usize) -> String {
    let end = d[o..].iter().position(|&b| b == 0).unwrap() + o;
    String::from_utf8_lossy(&d[o..end]).into_owned()
}

impl Elf {
    pub fn open(path: &Path) -> Elf {
        let data = std::fs::read(path).unwrap();
        assert_eq!(&data[..4], b"\x7fELF", "{} is not ELF", path.display());
        assert_eq!(data[4], 2, "only ELF64 is supported");
        assert_eq!(data[5], 1, "only little-endian ELF is supported");
        let shoff = u64_at(&data, 0x28) as usize;
        let shentsize = u16_at(&data, 0x3a) as usize;
        let shnum = u16_at(&data, 0x3c) as usize;
        let shstrndx = u16_at(&data, 0x3e) as usize;
        let raw: Vec<(u32, u32, usize, usize, u32)> = (0..shnum)
            .map(|i| {
                let h = shoff + i * shentsize;
                (
                    u32_at(&data, h),
                    u32_at(&data, h + 4),
                    u64_at(&data, h + 24) as usize,
                    u64_at(&data, h + 32) as usize,
                    u32_at(&data, h + 40),
                )
            })
            .collect();
        let shstr_off = raw[shstrndx].2;
        let sections = raw
            .iter()
            .map(|&(name, sh_type, offset, size, link)| Section {
                name: cstr(&data, shstr_off + name as usize),
                sh_type,
                offset,
                size,
                link,
            })
            .collect();
        Elf { data, sections }
    }

    pub fn section(&self, name: &str) -> Option<&[u8]> {
        let s = self.sections.iter().find(|s| s.name == name)?;
        Some(&self.data[s.offset..s.offset + s.size])
    }

    pub fn section_index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }

    pub fn symbols(&self) -> Vec<Symbol> {
        let Some(symtab) = self.sections.iter().find(|s| s.sh_type == 2) else {
            return Vec::new();
        };
        let strtab = &self.sections[symtab.link as usize];
        (0..symtab.size / 24)
            .map(|i| {
                let o = symtab.offset + i * 24;
                Symbol {
                    name: cstr(&self.data, strtab.offset + u32_at(&self.data, o) as usize),
                    info: self.data[o + 4],
                    shndx: u16_at(&self.data, o + 6),
                    value: u64_at(&self.data, o + 8),
                    size: u64_at(&self.data, o + 16),
                }
            })
            .collect()
    }
}
pub mod builder;
