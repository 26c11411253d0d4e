//! An object's `.BTF` made acceptable to `BPF_BTF_LOAD`, as libbpf finalizes it before
//! loading (its extern collection and `btf_fixup_datasec`).
//!
//! - clang leaves the sizes of `DATASEC` types and the offsets of their variables to the
//!   loader: a `DATASEC` gets the size of the ELF section of the same name and each
//!   variable the value of its global symbol; a variable whose symbol is hidden becomes
//!   static.
//! - `.ksyms` externs: the kernel refuses extern `FUNC`s and extern variables. Every entry
//!   becomes a 4-byte slot at offset `4 * i`: a variable becomes an allocated `int`; a
//!   function becomes global, its unnamed parameters get a name, and its slot points to an
//!   allocated `int` variable `dummy_ksym` added to the BTF.
//! - `.kconfig` externs become allocated variables at their offsets in the kconfig map.
//! - A global subprogram (in `.text`) whose symbol is hidden becomes a static `FUNC`, so
//!   the verifier checks it in its callers' context (libbpf's `mark_btf_static`).
//! - The variables of every `DATASEC` are sorted by offset.
//!
//! Everything else is passed through untouched.

use std::collections::HashMap;

use bpfbox_loader::elf::{ElfFile, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_OBJECT};

const BTF_MAGIC: u16 = 0xeb9f;
const HDR_LEN: usize = 24;
const KIND_INT: u32 = 1;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const VAR_STATIC: u32 = 0;
const VAR_GLOBAL_ALLOCATED: u32 = 1;
const VAR_GLOBAL_EXTERN: u32 = 2;
const FUNC_STATIC: u32 = 0;
const FUNC_GLOBAL: u32 = 1;
const STV_INTERNAL: u8 = 1;
const STV_HIDDEN: u8 = 2;
const KSYMS: &str = ".ksyms";
const KCONFIG: &str = ".kconfig";
const DUMMY_KSYM: &str = "dummy_ksym";

/// Why an object's BTF cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed .BTF at byte {offset}: {msg}")]
pub struct FixupError {
    /// Byte offset in the `.BTF` section.
    pub offset: usize,
    /// What is wrong.
    pub msg: String,
}

fn bad(offset: usize, msg: impl Into<String>) -> FixupError {
    FixupError {
        offset,
        msg: msg.into(),
    }
}

fn rd(b: &[u8], off: usize) -> Result<u32, FixupError> {
    off.checked_add(4)
        .and_then(|end| b.get(off..end))
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad(off, "truncated"))
}

fn wr(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

fn cstr(strings: &[u8], off: u32) -> &str {
    let s = strings.get(off as usize..).unwrap_or(&[]);
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    std::str::from_utf8(&s[..end]).unwrap_or("")
}

/// Size of the data following a type's 12-byte header.
fn trailing(kind: u32, vlen: usize) -> usize {
    match kind {
        1 | 14 | 17 => 4,     // INT, VAR, DECL_TAG
        3 => 12,              // ARRAY
        4 | 5 => 12 * vlen,   // STRUCT, UNION
        6 | 13 => 8 * vlen,   // ENUM, FUNC_PROTO
        15 | 19 => 12 * vlen, // DATASEC, ENUM64
        _ => 0,
    }
}

/// The type section being edited: the bytes of every type record, by id (id 0 is void
/// and has none).
struct Types {
    /// Type section bytes.
    b: Vec<u8>,
    /// Offset of each type record in `b`, indexed by id (`at[0]` unused).
    at: Vec<usize>,
    strings: Vec<u8>,
}

impl Types {
    fn info(&self, id: usize) -> Result<u32, FixupError> {
        let at = *self
            .at
            .get(id)
            .ok_or_else(|| bad(0, format!("no type {id}")))?;
        rd(&self.b, at + 4)
    }

    fn kind(&self, id: usize) -> Result<u32, FixupError> {
        Ok((self.info(id)? >> 24) & 0x1f)
    }

    fn name(&self, id: usize) -> Result<&str, FixupError> {
        let at = *self
            .at
            .get(id)
            .ok_or_else(|| bad(0, format!("no type {id}")))?;
        Ok(cstr(&self.strings, rd(&self.b, at)?))
    }

    fn find(&self, name: &str, kind: u32) -> Option<usize> {
        (1..self.at.len())
            .find(|&id| self.kind(id).ok() == Some(kind) && self.name(id).ok() == Some(name))
    }

    /// libbpf's `find_int_btf_id`: the first 32-bit integer type, 0 when none.
    fn int32(&self) -> usize {
        (1..self.at.len())
            .find(|&id| {
                self.kind(id).ok() == Some(KIND_INT)
                    && rd(&self.b, self.at[id] + 12).is_ok_and(|enc| enc & 0xff == 32)
            })
            .unwrap_or(0)
    }

    fn add_string(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends a global allocated `VAR` and returns its id.
    fn add_var(&mut self, name: &str, type_id: usize) -> usize {
        let name_off = self.add_string(name);
        self.at.push(self.b.len());
        for w in [
            name_off,
            KIND_VAR << 24,
            type_id as u32,
            VAR_GLOBAL_ALLOCATED,
        ] {
            self.b.extend_from_slice(&w.to_le_bytes());
        }
        self.at.len() - 1
    }

    /// The `(type, offset, size)` records of a `DATASEC`, with the byte offset of each.
    fn secinfos(&self, id: usize) -> Result<Vec<usize>, FixupError> {
        let vlen = (self.info(id)? & 0xffff) as usize;
        let start = self.at[id] + 12;
        if start + 12 * vlen > self.b.len() {
            return Err(bad(
                self.at[id],
                format!("DATASEC {id} runs past the types"),
            ));
        }
        Ok((0..vlen).map(|i| start + 12 * i).collect())
    }
}

/// The object's `.BTF`, finalized as libbpf does before `BPF_BTF_LOAD`; `None` when the
/// object has no BTF. `kconfig` gives the offset of each `.kconfig` extern in the kconfig
/// map and `kconfig_size` its size (see [`bpfbox_loader::Object::kconfig_layout`]). Only
/// little-endian BTF is handled (the kernel loads native BTF).
pub fn finalize(
    elf: &ElfFile<'_>,
    kconfig: &[(String, u32)],
    kconfig_size: u32,
) -> Result<Option<Vec<u8>>, FixupError> {
    let Some(sec) = elf.section_by_name(".BTF") else {
        return Ok(None);
    };
    let raw = sec.data;
    if raw.len() < HDR_LEN || u16::from_le_bytes([raw[0], raw[1]]) != BTF_MAGIC {
        return Err(bad(0, "not little-endian BTF"));
    }
    let hdr_len = rd(raw, 4)? as usize;
    let span = |off: usize, len: usize| -> Result<&[u8], FixupError> {
        let start = hdr_len
            .checked_add(off)
            .ok_or_else(|| bad(4, "bad header"))?;
        start
            .checked_add(len)
            .and_then(|end| raw.get(start..end))
            .ok_or_else(|| bad(0, "sections past the end"))
    };
    let type_bytes = span(rd(raw, 8)? as usize, rd(raw, 12)? as usize)?;
    let strings = span(rd(raw, 16)? as usize, rd(raw, 20)? as usize)?;
    let header = raw
        .get(..hdr_len)
        .ok_or_else(|| bad(0, "bad header length"))?;

    let mut at = vec![0usize];
    let mut off = 0;
    while off < type_bytes.len() {
        at.push(off);
        let info = rd(type_bytes, off + 4)?;
        off += 12 + trailing((info >> 24) & 0x1f, (info & 0xffff) as usize);
    }
    if off != type_bytes.len() {
        return Err(bad(off, "type section does not end on a type"));
    }
    let mut t = Types {
        b: type_bytes.to_vec(),
        at,
        strings: strings.to_vec(),
    };

    fix_ksyms(&mut t)?;
    if let Some(sec) = t.find(KCONFIG, KIND_DATASEC) {
        let offsets: HashMap<&str, u32> = kconfig.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        wr(&mut t.b, t.at[sec] + 8, kconfig_size);
        for rec in t.secinfos(sec)? {
            let var = rd(&t.b, rec)? as usize;
            if t.kind(var)? != KIND_VAR {
                continue;
            }
            let var_at = t.at[var];
            wr(&mut t.b, var_at + 12, VAR_GLOBAL_ALLOCATED);
            if let Some(&o) = offsets.get(t.name(var)?) {
                wr(&mut t.b, rec + 4, o);
            }
        }
    }
    fix_datasecs(&mut t, elf)?;
    hidden_subprogs_static(&mut t, elf)?;

    // Reassemble: header, types, strings.
    let mut out = header.to_vec();
    wr(&mut out, 8, 0);
    wr(&mut out, 12, t.b.len() as u32);
    wr(&mut out, 16, t.b.len() as u32);
    wr(&mut out, 20, t.strings.len() as u32);
    out.extend_from_slice(&t.b);
    out.extend_from_slice(&t.strings);
    Ok(Some(out))
}

/// The `.ksyms` rewrite of libbpf's extern collection.
fn fix_ksyms(t: &mut Types) -> Result<(), FixupError> {
    let Some(sec) = t.find(KSYMS, KIND_DATASEC) else {
        return Ok(());
    };
    let recs = t.secinfos(sec)?;
    let has_func = recs.iter().try_fold(false, |acc, &rec| {
        Ok::<_, FixupError>(acc || t.kind(rd(&t.b, rec)? as usize)? == KIND_FUNC)
    })?;
    let int_id = t.int32();
    let dummy = has_func.then(|| t.add_var(DUMMY_KSYM, int_id));
    let dummy_name = dummy.map(|d| rd(&t.b, t.at[d])).transpose()?.unwrap_or(0);
    let mut off = 0u32;
    for rec in &recs {
        let rec = *rec;
        let ty = rd(&t.b, rec)? as usize;
        let ty_at = *t
            .at
            .get(ty)
            .ok_or_else(|| bad(rec, format!("no type {ty}")))?;
        match t.kind(ty)? {
            KIND_FUNC => {
                let proto = rd(&t.b, ty_at + 8)? as usize;
                if t.kind(proto)? == KIND_FUNC_PROTO {
                    let vlen = (t.info(proto)? & 0xffff) as usize;
                    for j in 0..vlen {
                        let p = t.at[proto] + 12 + 8 * j;
                        if rd(&t.b, p + 4)? != 0 && rd(&t.b, p)? == 0 {
                            wr(&mut t.b, p, dummy_name);
                        }
                    }
                }
                let info = rd(&t.b, ty_at + 4)?;
                wr(&mut t.b, ty_at + 4, (info & !0xffff) | FUNC_GLOBAL);
                wr(&mut t.b, rec, dummy.unwrap_or(0) as u32);
            }
            KIND_VAR => {
                wr(&mut t.b, ty_at + 12, VAR_GLOBAL_ALLOCATED);
                wr(&mut t.b, ty_at + 8, int_id as u32);
            }
            _ => {}
        }
        wr(&mut t.b, rec + 4, off);
        wr(&mut t.b, rec + 8, 4);
        off += 4;
    }
    wr(&mut t.b, t.at[sec] + 8, off);
    Ok(())
}

/// libbpf's `mark_btf_static`: the global `FUNC` of each hidden global subprogram becomes
/// static.
fn hidden_subprogs_static(t: &mut Types, elf: &ElfFile<'_>) -> Result<(), FixupError> {
    let Some(text) = elf
        .sections
        .iter()
        .find(|s| s.name == ".text" && s.is_exec())
    else {
        return Ok(());
    };
    for sym in &elf.symbols {
        let hidden = matches!(sym.visibility & 3, STV_HIDDEN | STV_INTERNAL);
        if sym.shndx != text.index || sym.kind != STT_FUNC || sym.bind != STB_GLOBAL || !hidden {
            continue;
        }
        let func = (1..t.at.len()).find(|&id| {
            t.kind(id).ok() == Some(KIND_FUNC)
                && t.info(id).is_ok_and(|i| i & 0xffff == FUNC_GLOBAL)
                && t.name(id).ok() == Some(sym.name.as_str())
        });
        if let Some(id) = func {
            wr(&mut t.b, t.at[id] + 4, (KIND_FUNC << 24) | FUNC_STATIC);
        }
    }
    Ok(())
}

/// libbpf's `btf_fixup_datasec` over every `DATASEC`.
fn fix_datasecs(t: &mut Types, elf: &ElfFile<'_>) -> Result<(), FixupError> {
    let sizes: HashMap<&str, u64> = elf
        .sections
        .iter()
        .map(|s| (s.name.as_str(), s.size))
        .collect();
    // libbpf's `find_elf_var_sym`: the first global or weak object symbol of that name.
    let mut symbols: HashMap<&str, (u64, u8)> = HashMap::new();
    for s in &elf.symbols {
        if s.kind == STT_OBJECT && (s.bind == STB_GLOBAL || s.bind == STB_WEAK) {
            symbols
                .entry(s.name.as_str())
                .or_insert((s.value, s.visibility & 3));
        }
    }
    for id in 1..t.at.len() {
        if t.kind(id)? != KIND_DATASEC {
            continue;
        }
        let name = t.name(id)?.to_string();
        let recs = t.secinfos(id)?;
        if name != KSYMS && name != KCONFIG {
            let at = t.at[id];
            let mut fix_offsets = false;
            if rd(&t.b, at + 8)? == 0 {
                // libbpf fails the object here when the section is missing or empty; the
                // kernel then says what it thinks of the size-0 DATASEC.
                if let Some(&size) = sizes.get(name.as_str()).filter(|&&s| s > 0) {
                    wr(&mut t.b, at + 8, size as u32);
                    fix_offsets = true;
                }
            }
            for &rec in &recs {
                let var = rd(&t.b, rec)? as usize;
                if t.kind(var)? != KIND_VAR {
                    continue;
                }
                let var_at = t.at[var];
                let linkage = rd(&t.b, var_at + 12)?;
                if linkage == VAR_STATIC || linkage == VAR_GLOBAL_EXTERN {
                    continue;
                }
                let Some(&(value, vis)) = symbols.get(t.name(var)?) else {
                    continue;
                };
                if fix_offsets {
                    wr(&mut t.b, rec + 4, value as u32);
                }
                if vis == STV_HIDDEN || vis == STV_INTERNAL {
                    wr(&mut t.b, var_at + 12, VAR_STATIC);
                }
            }
        }
        // Sort the variables by offset (stable, so equal offsets keep their order).
        let mut entries: Vec<[u8; 12]> = recs
            .iter()
            .map(|&r| t.b[r..r + 12].try_into().unwrap_or([0; 12]))
            .collect();
        entries.sort_by_key(|e| u32::from_le_bytes([e[4], e[5], e[6], e[7]]));
        for (r, e) in recs.iter().zip(entries) {
            t.b[*r..*r + 12].copy_from_slice(&e);
        }
    }
    Ok(())
}

/// Offsets of every string of a BTF string section, for building `bpf_line_info` records
/// from resolved line strings.
pub fn string_offsets(btf: &[u8]) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    let (Ok(hdr_len), Ok(str_off), Ok(str_len)) = (rd(btf, 4), rd(btf, 16), rd(btf, 20)) else {
        return out;
    };
    let start = hdr_len as usize + str_off as usize;
    let Some(strings) = btf.get(start..start + str_len as usize) else {
        return out;
    };
    let mut off = 0usize;
    for s in strings.split(|&b| b == 0) {
        if let Ok(s) = std::str::from_utf8(s) {
            out.entry(s.to_string()).or_insert(off as u32);
        }
        off += s.len() + 1;
    }
    out
}
