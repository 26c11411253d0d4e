//! The ELF container: header checks, section table, symbols and relocation records.
//!
//! goblin decodes the fixed-size records (header, section headers, symbols, relocations), but
//! only after every range it will read has been checked against the file here. goblin's
//! whole-file `Elf::parse` is not used: it also walks program headers and dynamic tables that
//! a relocatable BPF object does not have and that a hostile one could use to make it
//! allocate or misbehave. With the ranges pre-checked no `catch_unwind` is needed.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::reloc::RelocSection;
use goblin::elf::section_header::SectionHeader;
use goblin::elf::sym::Sym;

use crate::error::{LoadError, Result};

/// `EM_BPF`.
pub const EM_BPF: u16 = 247;
/// `ET_REL`.
const ET_REL: u16 = 1;
/// Size of an ELF64 header.
const EHDR_SIZE: usize = 64;
/// Size of an ELF64 section header.
const SHDR_SIZE: u64 = 64;
/// Size of an ELF64 symbol.
const SYM_SIZE: u64 = 24;
/// Size of an ELF64 `Rel` record.
pub const REL_SIZE: u64 = 16;

/// `SHT_PROGBITS`.
pub const SHT_PROGBITS: u32 = 1;
/// `SHT_SYMTAB`.
pub const SHT_SYMTAB: u32 = 2;
/// `SHT_STRTAB`.
pub const SHT_STRTAB: u32 = 3;
/// `SHT_NOBITS`.
pub const SHT_NOBITS: u32 = 8;
/// `SHT_REL`.
pub const SHT_REL: u32 = 9;
/// `SHF_EXECINSTR`.
pub const SHF_EXECINSTR: u64 = 4;

/// `STT_NOTYPE`.
pub const STT_NOTYPE: u8 = 0;
/// `STT_OBJECT`.
pub const STT_OBJECT: u8 = 1;
/// `STT_FUNC`.
pub const STT_FUNC: u8 = 2;
/// `STT_SECTION`.
pub const STT_SECTION: u8 = 3;
/// `STB_LOCAL`.
pub const STB_LOCAL: u8 = 0;
/// `STB_GLOBAL`.
pub const STB_GLOBAL: u8 = 1;
/// `STB_WEAK`.
pub const STB_WEAK: u8 = 2;
/// `SHN_UNDEF`.
pub const SHN_UNDEF: usize = 0;
/// `SHN_LORESERVE`.
pub const SHN_LORESERVE: usize = 0xff00;

/// One section with its bytes (empty for `SHT_NOBITS`).
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// Index in the section table.
    pub index: usize,
    /// Name from the section-name string table.
    pub name: String,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info`.
    pub info: u32,
    /// `sh_entsize`.
    pub entsize: u64,
    /// The contents (empty for `SHT_NOBITS`).
    pub data: &'a [u8],
}

impl Section<'_> {
    /// Whether the section holds instructions.
    pub fn is_exec(&self) -> bool {
        self.sh_type == SHT_PROGBITS && self.flags & SHF_EXECINSTR != 0
    }
}

/// One symbol with its name resolved.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// Index in the symbol table.
    pub index: usize,
    /// Name (`""` when unnamed).
    pub name: String,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// `STV_*`.
    pub visibility: u8,
    /// `st_shndx`.
    pub shndx: usize,
}

impl Symbol {
    /// libbpf's `sym_is_extern`: undefined, global or weak, no type.
    pub fn is_extern(&self) -> bool {
        self.shndx == SHN_UNDEF
            && (self.bind == STB_GLOBAL || self.bind == STB_WEAK)
            && self.kind == STT_NOTYPE
    }
}

/// One `Rel` record.
#[derive(Debug, Clone, Copy)]
pub struct Rel {
    /// `r_offset`.
    pub offset: u64,
    /// Symbol index.
    pub sym: usize,
    /// `R_BPF_*` type.
    pub r_type: u32,
}

/// The parsed container.
#[derive(Debug)]
pub struct ElfFile<'a> {
    /// Every section, index 0 included.
    pub sections: Vec<Section<'a>>,
    /// Every symbol, index 0 included (empty if there is no symbol table).
    pub symbols: Vec<Symbol>,
    /// Index of the symbol table section (0 if none).
    pub symtab_index: usize,
}

fn elf_err(what: &'static str, offset: u64, msg: impl Into<String>) -> LoadError {
    LoadError::Elf {
        what,
        offset,
        msg: msg.into(),
    }
}

/// The NUL-terminated string at `off` in `table`.
pub fn c_str(table: &[u8], off: usize) -> Option<&str> {
    let tail = table.get(off..)?;
    let len = tail.iter().position(|&b| b == 0)?;
    std::str::from_utf8(tail.get(..len)?).ok()
}

/// Whether `[offset, offset + size)` lies inside a file of `len` bytes.
fn in_file(offset: u64, size: u64, len: usize) -> bool {
    offset
        .checked_add(size)
        .is_some_and(|end| end <= len as u64)
}

impl<'a> ElfFile<'a> {
    /// Checks the header and decodes the section table, section names and symbols.
    pub fn parse(bytes: &'a [u8]) -> Result<ElfFile<'a>> {
        let ident = bytes.get(..EHDR_SIZE).ok_or_else(|| {
            LoadError::NotBpfObject(format!(
                "{} bytes is too short for an ELF64 header",
                bytes.len()
            ))
        })?;
        if ident[..4] != *b"\x7fELF" {
            return Err(LoadError::NotBpfObject("bad ELF magic".into()));
        }
        if ident[4] != 2 {
            return Err(LoadError::NotBpfObject(format!(
                "ELF class {} is not ELF64",
                ident[4]
            )));
        }
        if ident[5] != 1 {
            return Err(LoadError::NotBpfObject(
                "big-endian objects are not supported (expected little-endian)".into(),
            ));
        }
        let header = goblin::elf::Elf::parse_header(bytes)
            .map_err(|e| elf_err("header", 0, e.to_string()))?;
        // libbpf accepts e_machine 0 (very old clang) as well as EM_BPF.
        if header.e_machine != EM_BPF && header.e_machine != 0 {
            return Err(LoadError::NotBpfObject(format!(
                "e_machine {} is not EM_BPF ({EM_BPF})",
                header.e_machine
            )));
        }
        if header.e_type != ET_REL {
            return Err(LoadError::NotBpfObject(format!(
                "e_type {} is not ET_REL (a relocatable object)",
                header.e_type
            )));
        }
        let ctx = Ctx::new(Container::Big, Endian::Little);
        let shnum = u64::from(header.e_shnum);
        if shnum == 0 || header.e_shoff == 0 {
            return Err(elf_err(
                "section table",
                header.e_shoff,
                "no section headers",
            ));
        }
        if u64::from(header.e_shentsize) != SHDR_SIZE {
            return Err(elf_err(
                "section table",
                header.e_shoff,
                format!("e_shentsize {} is not {SHDR_SIZE}", header.e_shentsize),
            ));
        }
        if !in_file(header.e_shoff, shnum * SHDR_SIZE, bytes.len()) {
            return Err(elf_err(
                "section table",
                header.e_shoff,
                format!("{shnum} headers run past the end of the file"),
            ));
        }
        let shdrs = SectionHeader::parse(bytes, header.e_shoff as usize, shnum as usize, ctx)
            .map_err(|e| elf_err("section table", header.e_shoff, e.to_string()))?;
        if shdrs.len() as u64 != shnum {
            return Err(elf_err(
                "section table",
                header.e_shoff,
                "short section table",
            ));
        }
        let shstrndx = usize::from(header.e_shstrndx);
        let shstr = shdrs.get(shstrndx).ok_or_else(|| {
            elf_err(
                "header",
                0,
                format!("e_shstrndx {shstrndx} is not a section"),
            )
        })?;
        let names = section_bytes(bytes, shstr, &format!("#{shstrndx}"))?;
        let mut sections = Vec::with_capacity(shdrs.len());
        for (index, sh) in shdrs.iter().enumerate() {
            let name = if index == 0 {
                String::new()
            } else {
                c_str(names, sh.sh_name)
                    .ok_or_else(|| {
                        elf_err(
                            "section name",
                            header.e_shoff + index as u64 * SHDR_SIZE,
                            format!("section #{index} name offset {:#x} is invalid", sh.sh_name),
                        )
                    })?
                    .to_string()
            };
            let data = if sh.sh_type == SHT_NOBITS || index == 0 {
                &[][..]
            } else {
                section_bytes(bytes, sh, &name)?
            };
            sections.push(Section {
                index,
                name,
                sh_type: sh.sh_type,
                flags: sh.sh_flags,
                offset: sh.sh_offset,
                size: sh.sh_size,
                link: sh.sh_link,
                info: sh.sh_info,
                entsize: sh.sh_entsize,
                data,
            });
        }
        let mut symtabs = sections.iter().filter(|s| s.sh_type == SHT_SYMTAB);
        let symtab = symtabs.next();
        if let Some(second) = symtabs.next() {
            return Err(elf_err(
                "symbol table",
                second.offset,
                "multiple symbol tables",
            ));
        }
        let (symbols, symtab_index) = match symtab {
            Some(st) => (parse_symbols(st, &sections, ctx)?, st.index),
            None => (Vec::new(), 0),
        };
        Ok(ElfFile {
            sections,
            symbols,
            symtab_index,
        })
    }

    /// The section at `index`.
    pub fn section(&self, index: usize) -> Option<&Section<'a>> {
        self.sections.get(index)
    }

    /// Name of section `index`, `?` when there is none.
    pub fn section_name(&self, index: usize) -> &str {
        self.sections.get(index).map_or("?", |s| s.name.as_str())
    }

    /// The first section named `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The `Rel` records of relocation section `sec`.
    pub fn rels(&self, sec: &Section<'a>) -> Result<Vec<Rel>> {
        if sec.entsize != REL_SIZE {
            return Err(LoadError::Section {
                section: sec.name.clone(),
                offset: 0,
                msg: format!("sh_entsize {} is not {REL_SIZE}", sec.entsize),
            });
        }
        let ctx = Ctx::new(Container::Big, Endian::Little);
        // Only whole records are read; `data` is already bounds-checked.
        let whole = sec.data.len() - sec.data.len() % REL_SIZE as usize;
        let relocs = RelocSection::parse(sec.data, 0, whole, false, ctx).map_err(|e| {
            LoadError::Section {
                section: sec.name.clone(),
                offset: 0,
                msg: e.to_string(),
            }
        })?;
        Ok(relocs
            .iter()
            .map(|r| Rel {
                offset: r.r_offset,
                sym: r.r_sym,
                r_type: r.r_type,
            })
            .collect())
    }
}

/// The bytes of a section, after checking they lie in the file.
fn section_bytes<'a>(bytes: &'a [u8], sh: &SectionHeader, name: &str) -> Result<&'a [u8]> {
    if !in_file(sh.sh_offset, sh.sh_size, bytes.len()) {
        return Err(LoadError::SectionBounds {
            section: name.to_string(),
            offset: sh.sh_offset,
            size: sh.sh_size,
            file_len: bytes.len(),
        });
    }
    // in_file proved both ends fit in usize.
    Ok(&bytes[sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize])
}

fn parse_symbols(st: &Section<'_>, sections: &[Section<'_>], ctx: Ctx) -> Result<Vec<Symbol>> {
    if st.entsize != SYM_SIZE {
        return Err(elf_err(
            "symbol table",
            st.offset,
            format!("sh_entsize {} is not {SYM_SIZE}", st.entsize),
        ));
    }
    let strtab = sections
        .get(st.link as usize)
        .filter(|s| s.sh_type == SHT_STRTAB)
        .ok_or_else(|| {
            elf_err(
                "symbol table",
                st.offset,
                format!("sh_link {} is not a string table", st.link),
            )
        })?;
    let count = st.data.len() / SYM_SIZE as usize;
    // The count is bounded by the (checked) section size, so this cannot over-allocate.
    let syms = Sym::parse(st.data, 0, count, ctx)
        .map_err(|e| elf_err("symbol table", st.offset, e.to_string()))?;
    let mut out = Vec::with_capacity(syms.len());
    for (index, s) in syms.iter().enumerate() {
        let name = c_str(strtab.data, s.st_name).ok_or_else(|| LoadError::Symbol {
            index,
            name: String::new(),
            msg: format!("name offset {:#x} is outside the string table", s.st_name),
        })?;
        out.push(Symbol {
            index,
            name: name.to_string(),
            value: s.st_value,
            size: s.st_size,
            kind: s.st_info & 0xf,
            bind: s.st_info >> 4,
            visibility: s.st_other & 0x3,
            shndx: s.st_shndx,
        });
    }
    Ok(out)
}
