//! An object's `.BTF` made acceptable to `BPF_BTF_LOAD`, as libbpf finalizes it.
//!
//! clang leaves the sizes of `DATASEC` types and the offsets of their variables to the
//! loader (they are only known once sections are laid out): a `DATASEC` gets the size of
//! the ELF section of the same name and each variable the value of its symbol. Extern
//! variables (`.kconfig`, `.ksyms`), which the kernel refuses in BTF, become global ones.
//! In `.ksyms`, as libbpf lays it out, every entry becomes a 4-byte slot: variables become
//! `int`s, and extern functions (kfuncs, whose `FUNC` linkage the kernel refuses) become
//! global, their unnamed parameters named, and their slot a `dummy_ksym` variable.
//! Everything else is passed through untouched.

use std::collections::HashMap;

use bpfbox_loader::elf::ElfFile;

const BTF_MAGIC: u16 = 0xeb9f;
const HDR_LEN: usize = 24;
const KIND_INT: u32 = 1;
const KIND_FUNC: u32 = 12;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const VAR_GLOBAL_ALLOCATED: u32 = 1;
const VAR_GLOBAL_EXTERN: u32 = 2;

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
    b.get(off..off + 4)
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

/// The object's `.BTF` with `DATASEC` sizes and variable offsets filled in; `None` when the
/// object has no BTF. Only little-endian BTF is handled (the kernel loads native BTF).
pub fn finalize(elf: &ElfFile<'_>) -> Result<Option<Vec<u8>>, FixupError> {
    let Some(sec) = elf.section_by_name(".BTF") else {
        return Ok(None);
    };
    let mut b = sec.data.to_vec();
    if b.len() < HDR_LEN || u16::from_le_bytes([b[0], b[1]]) != BTF_MAGIC {
        return Err(bad(0, "not little-endian BTF"));
    }
    let hdr_len = rd(&b, 4)? as usize;
    let type_start = hdr_len + rd(&b, 8)? as usize;
    let type_end = type_start + rd(&b, 12)? as usize;
    let str_start = hdr_len + rd(&b, 16)? as usize;
    let str_end = str_start + rd(&b, 20)? as usize;
    if type_end > b.len() || str_end > b.len() {
        return Err(bad(0, "sections past the end"));
    }
    let strings = b[str_start..str_end].to_vec();

    let sections: HashMap<&str, u64> = elf
        .sections
        .iter()
        .map(|s| (s.name.as_str(), s.size))
        .collect();
    // Variables by (section index, name) → symbol value.
    let symbols: HashMap<(usize, &str), u64> = elf
        .symbols
        .iter()
        .map(|s| ((s.shndx, s.name.as_str()), s.value))
        .collect();
    let sec_index: HashMap<&str, usize> = elf
        .sections
        .iter()
        .map(|s| (s.name.as_str(), s.index))
        .collect();

    // First pass: the offset of every type record (ids start at 1), to find VAR names.
    let mut offsets = vec![0usize];
    let mut off = type_start;
    while off < type_end {
        offsets.push(off);
        let info = rd(&b, off + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        off += 12 + trailing(kind, vlen);
    }
    if off != type_end {
        return Err(bad(off, "type section does not end on a type"));
    }

    for id in 1..offsets.len() {
        let at = offsets[id];
        let info = rd(&b, at + 4)?;
        if (info >> 24) & 0x1f != KIND_DATASEC {
            continue;
        }
        let name = cstr(&strings, rd(&b, at)?).to_string();
        if rd(&b, at + 8)? == 0 {
            if let Some(&size) = sections.get(name.as_str()) {
                wr(&mut b, at + 8, size as u32);
            }
        }
        let shndx = sec_index.get(name.as_str()).copied();
        let vlen = (info & 0xffff) as usize;
        for v in 0..vlen {
            let rec = at + 12 + 12 * v;
            let var_id = rd(&b, rec)? as usize;
            let Some(&var_at) = offsets.get(var_id) else {
                return Err(bad(rec, format!("DATASEC {name} refers to type {var_id}")));
            };
            let var_info = rd(&b, var_at + 4)?;
            if (var_info >> 24) & 0x1f != KIND_VAR {
                continue;
            }
            let linkage = rd(&b, var_at + 12)?;
            if linkage == VAR_GLOBAL_EXTERN {
                wr(&mut b, var_at + 12, VAR_GLOBAL_ALLOCATED);
            }
            let var_name = cstr(&strings, rd(&b, var_at)?);
            if let Some(&value) = shndx.and_then(|i| symbols.get(&(i, var_name))) {
                wr(&mut b, rec + 4, value as u32);
            }
        }
    }
    fix_ksyms(&mut b, hdr_len, &offsets, &strings)?;
    Ok(Some(b))
}

/// libbpf's layout of `.ksyms`: one `int` slot per extern; extern functions get global
/// linkage, names for unnamed parameters and a `dummy_ksym` variable in their slot.
fn fix_ksyms(
    b: &mut Vec<u8>,
    hdr_len: usize,
    offsets: &[usize],
    strings: &[u8],
) -> Result<(), FixupError> {
    let kind_of = |b: &[u8], id: usize| -> Result<u32, FixupError> {
        let at = *offsets
            .get(id)
            .ok_or_else(|| bad(0, format!("type {id} out of range")))?;
        Ok((rd(b, at + 4)? >> 24) & 0x1f)
    };
    let mut sec_at = None;
    for &at in offsets.iter().skip(1) {
        let info = rd(b, at + 4)?;
        if (info >> 24) & 0x1f == KIND_DATASEC && cstr(strings, rd(b, at)?) == ".ksyms" {
            sec_at = Some(at);
            break;
        }
    }
    let Some(sec_at) = sec_at else {
        return Ok(());
    };
    let vlen = (rd(b, sec_at + 4)? & 0xffff) as usize;
    // The first 32-bit INT, as libbpf picks it.
    let mut int_id = 0u32;
    for (id, &at) in offsets.iter().enumerate().skip(1) {
        if (rd(b, at + 4)? >> 24) & 0x1f == KIND_INT && rd(b, at + 12)? & 0xff == 32 {
            int_id = id as u32;
            break;
        }
    }
    let mut has_func = false;
    for v in 0..vlen {
        let id = rd(b, sec_at + 12 + 12 * v)? as usize;
        has_func |= kind_of(b, id)? == KIND_FUNC;
    }
    // The dummy variable and its name are appended (ids and string offsets stay valid).
    let (dummy_id, dummy_name) = if has_func {
        let type_len = rd(b, 12)? as usize;
        let str_off = rd(b, 16)? as usize;
        let str_len = rd(b, 20)? as usize;
        let type_end = hdr_len + rd(b, 8)? as usize + type_len;
        if hdr_len + str_off != type_end {
            return Err(bad(0, "strings do not follow the types"));
        }
        let name_off = str_len as u32;
        let mut var = Vec::with_capacity(16);
        for w in [name_off, KIND_VAR << 24, int_id, VAR_GLOBAL_ALLOCATED] {
            var.extend_from_slice(&w.to_le_bytes());
        }
        b.splice(type_end..type_end, var);
        b.extend_from_slice(b"dummy_ksym\0");
        wr(b, 12, (type_len + 16) as u32);
        wr(b, 16, (str_off + 16) as u32);
        wr(b, 20, (str_len + b"dummy_ksym\0".len()) as u32);
        (offsets.len() as u32, name_off)
    } else {
        (0, 0)
    };
    for v in 0..vlen {
        let rec = sec_at + 12 + 12 * v;
        let id = rd(b, rec)? as usize;
        let at = offsets[id];
        if kind_of(b, id)? == KIND_FUNC {
            let proto = rd(b, at + 8)? as usize;
            let proto_at = *offsets
                .get(proto)
                .ok_or_else(|| bad(at, format!("FUNC refers to type {proto}")))?;
            let nparams = (rd(b, proto_at + 4)? & 0xffff) as usize;
            for p in 0..nparams {
                let param = proto_at + 12 + 8 * p;
                if rd(b, param + 4)? != 0 && rd(b, param)? == 0 {
                    wr(b, param, dummy_name);
                }
            }
            let info = rd(b, at + 4)?;
            wr(b, at + 4, (info & !0xffff) | 1);
            wr(b, rec, dummy_id);
        } else if kind_of(b, id)? == KIND_VAR {
            wr(b, at + 8, int_id);
            wr(b, at + 12, VAR_GLOBAL_ALLOCATED);
        }
        wr(b, rec + 4, (4 * v) as u32);
        wr(b, rec + 8, 4);
    }
    wr(b, sec_at + 8, (4 * vlen) as u32);
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
