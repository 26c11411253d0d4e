//! `run --dump-maps`: every map as `bpftool map dump` prints it. With BTF for the map's
//! value, keys and values are decoded from it (bpftool's `btf_dumper`): a pretty JSON-like
//! listing in plain mode, and `"formatted"` beside the raw bytes in JSON mode. Without, the
//! plain form is bpftool's hex lines and `Found N elements`. Per-CPU maps list every CPU.

use bpfbox_btf::types::{Kind, TypeData};
use bpfbox_btf::{Btf, TypeId};
use bpfbox_vm::maps::{Map, MapType};

use super::jsonw::JsonWriter;

/// Why a value could not be decoded (bpftool stops the enclosing container there).
struct Stop;

type Dumped = Result<(), Stop>;

/// Decodes values with a BTF, as bpftool's `btf_dumper` does.
struct Dumper<'a> {
    btf: &'a Btf,
    w: &'a mut JsonWriter,
    plain: bool,
}

fn le_bytes<const N: usize>(data: &[u8]) -> Option<[u8; N]> {
    data.get(..N).and_then(|s| s.try_into().ok())
}

impl<'a> Dumper<'a> {
    fn name_of(&self, off: u32) -> &'a str {
        self.btf.string_at(off).unwrap_or("")
    }

    fn do_type(&mut self, id: TypeId, bit_offset: u32, data: &[u8]) -> Dumped {
        if id == 0 {
            self.w.raw("(unknown)");
            return Ok(());
        }
        let Some(t) = self.btf.type_by_id(id) else {
            self.w.raw("(unknown)");
            return Err(Stop);
        };
        match (&t.data, t.kind()) {
            (TypeData::Int(info), _) => self.int(*info, bit_offset, data),
            (TypeData::Struct(members) | TypeData::Union(members), _) => {
                let flag = t.kind_flag();
                self.w.start_object();
                let mut res = Ok(());
                for m in members {
                    self.w.name(self.name_of(m.name_off));
                    let at = data.get((m.bit_offset / 8) as usize..).unwrap_or(&[]);
                    let bits = m.bit_offset % 8;
                    if flag && m.bitfield_size != 0 {
                        self.bitfield(m.bitfield_size, bits, at);
                    } else if let Err(e) = self.do_type(m.type_id, bits, at) {
                        res = Err(e);
                        break;
                    }
                }
                self.w.end_object();
                res
            }
            (TypeData::Array(a), _) => {
                if self.is_str_array(a.elem_type, a.nelems, data) {
                    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                    self.w.string(&data[..end]);
                    return Ok(());
                }
                let Ok(size) = self.btf.resolve_size(a.elem_type) else {
                    return Err(Stop);
                };
                self.w.start_array();
                let mut res = Ok(());
                for i in 0..a.nelems as usize {
                    let at = data.get(i * size as usize..).unwrap_or(&[]);
                    if let Err(e) = self.do_type(a.elem_type, 0, at) {
                        res = Err(e);
                        break;
                    }
                }
                self.w.end_array();
                res
            }
            (TypeData::Enum(values), _) => {
                let v: i64 = match t.size_or_type {
                    8 => le_bytes::<8>(data).map(i64::from_le_bytes),
                    4 => le_bytes::<4>(data).map(|b| i64::from(i32::from_le_bytes(b))),
                    2 => le_bytes::<2>(data).map(|b| i64::from(i16::from_le_bytes(b))),
                    1 => data.first().map(|&b| i64::from(b as i8)),
                    _ => None,
                }
                .ok_or(Stop)?;
                match values.iter().find(|e| i64::from(e.val as i32) == v) {
                    Some(e) => self
                        .w
                        .string(self.btf.string_at(e.name_off).unwrap_or("").as_bytes()),
                    None => self.w.raw(&v.to_string()),
                }
                Ok(())
            }
            (TypeData::Enum64(values), _) => {
                let v = le_bytes::<8>(data).map(u64::from_le_bytes).ok_or(Stop)?;
                match values.iter().find(|e| e.val == v) {
                    Some(e) => self
                        .w
                        .string(self.btf.string_at(e.name_off).unwrap_or("").as_bytes()),
                    None => self.w.raw(&(v as i64).to_string()),
                }
                Ok(())
            }
            (TypeData::Ptr, _) => {
                let v = le_bytes::<8>(data).map(u64::from_le_bytes).ok_or(Stop)?;
                if self.plain {
                    // glibc's %p, unquoted as bpftool 7.1 prints it (later versions quote it).
                    if v == 0 {
                        self.w.raw("(nil)");
                    } else {
                        self.w.raw(&format!("{v:#x}"));
                    }
                } else {
                    self.w.raw(&v.to_string());
                }
                Ok(())
            }
            (TypeData::Fwd, _) => {
                self.w.raw("(fwd-kind-invalid)");
                Err(Stop)
            }
            (TypeData::Var { .. }, _) => {
                self.w.start_object();
                self.w.name(self.btf.type_name(t));
                let res = self.do_type(t.size_or_type, bit_offset, data);
                self.w.end_object();
                res
            }
            (TypeData::Datasec(vars), _) => {
                self.w.start_object();
                self.w.name(self.btf.type_name(t));
                self.w.start_array();
                let mut res = Ok(());
                for v in vars {
                    let at = data.get(v.offset as usize..).unwrap_or(&[]);
                    if let Err(e) = self.do_type(v.type_id, 0, at) {
                        res = Err(e);
                        break;
                    }
                }
                self.w.end_array();
                self.w.end_object();
                res
            }
            (_, Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict) => {
                let resolved = self.resolve(id).ok_or(Stop)?;
                self.do_type(resolved, bit_offset, data)
            }
            _ => {
                self.w.raw("(unsupported-kind");
                Err(Stop)
            }
        }
    }

    /// libbpf's `btf__resolve_type`: through typedefs, modifiers, variables and tags.
    fn resolve(&self, mut id: TypeId) -> Option<TypeId> {
        for _ in 0..=bpfbox_btf::MAX_RESOLVE_DEPTH {
            let t = self.btf.type_by_id(id)?;
            match t.kind() {
                Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Var
                | Kind::DeclTag
                | Kind::TypeTag => id = t.size_or_type,
                _ => return Some(id),
            }
            if id == 0 {
                return Some(0);
            }
        }
        None
    }

    /// A char array holding a NUL-terminated printable string prints as a string.
    fn is_str_array(&self, elem: TypeId, nelems: u32, data: &[u8]) -> bool {
        if nelems == 0 {
            return false;
        }
        let mut id = elem;
        let mut t = self.btf.type_by_id(id);
        // Modifiers are skipped; a typedef to char is not a string.
        while let Some(x) = t.filter(|x| {
            matches!(
                x.kind(),
                Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
            )
        }) {
            id = x.size_or_type;
            t = self.btf.type_by_id(id);
        }
        let Some(t) = t else { return false };
        let TypeData::Int(info) = &t.data else {
            return false;
        };
        if t.size_or_type != 1 || (!info.is_char() && self.btf.type_name(t) != "char") {
            return false;
        }
        for &b in data.iter().take(nelems as usize) {
            if b == 0 {
                return true;
            }
            // `char` is signed: bytes from 0x80 count as below 0x20.
            if b <= 0x1f || b >= 0x7f {
                return false;
            }
        }
        false
    }

    fn int(&mut self, info: bpfbox_btf::types::IntInfo, bit_offset: u32, data: &[u8]) -> Dumped {
        let nr_bits = info.nr_bits();
        if bit_offset != 0 || info.bits_offset() != 0 || !nr_bits.is_multiple_of(8) {
            self.int_bits(info, bit_offset, data);
            return Ok(());
        }
        if nr_bits == 128 {
            let v = le_bytes::<16>(data).map(u128::from_le_bytes).ok_or(Stop)?;
            self.int128(v);
            return Ok(());
        }
        let get = |n: usize| data.get(..n).ok_or(Stop);
        match info.encoding() {
            0 | 1 => {
                let signed = info.encoding() == 1;
                let text = match (nr_bits, signed) {
                    (64, false) => u64::from_le_bytes(le_bytes(get(8)?).ok_or(Stop)?).to_string(),
                    (32, false) => u32::from_le_bytes(le_bytes(get(4)?).ok_or(Stop)?).to_string(),
                    (16, false) => u16::from_le_bytes(le_bytes(get(2)?).ok_or(Stop)?).to_string(),
                    (8, false) => get(1)?[0].to_string(),
                    (64, true) => i64::from_le_bytes(le_bytes(get(8)?).ok_or(Stop)?).to_string(),
                    (32, true) => i32::from_le_bytes(le_bytes(get(4)?).ok_or(Stop)?).to_string(),
                    (16, true) => i16::from_le_bytes(le_bytes(get(2)?).ok_or(Stop)?).to_string(),
                    (8, true) => (get(1)?[0] as i8).to_string(),
                    _ => {
                        self.int_bits(info, bit_offset, data);
                        return Ok(());
                    }
                };
                self.w.raw(&text);
            }
            // BTF_INT_CHAR.
            2 => {
                let c = get(1)?[0];
                if (0x20..0x7f).contains(&c) {
                    self.w.raw(&format!("\"{}\"", c as char));
                } else if self.plain {
                    self.w.raw(&format!("{c:#x}"));
                } else {
                    self.w.raw(&format!("\"\\u00{c:02x}\""));
                }
            }
            // BTF_INT_BOOL.
            4 => self.w.raw(if get(1)?[0] != 0 { "true" } else { "false" }),
            _ => return Err(Stop),
        }
        Ok(())
    }

    fn int_bits(&mut self, info: bpfbox_btf::types::IntInfo, bit_offset: u32, data: &[u8]) {
        let total = bit_offset + info.bits_offset();
        let at = data.get((total / 8) as usize..).unwrap_or(&[]);
        self.bitfield(info.nr_bits(), total % 8, at);
    }

    /// `nr_bits` bits from `bit_offset` of `data` (little-endian), in hex.
    fn bitfield(&mut self, nr_bits: u32, bit_offset: u32, data: &[u8]) {
        let bits = (bit_offset + nr_bits).min(128);
        let n = (bits as usize).div_ceil(8);
        let mut buf = [0u8; 16];
        let avail = n.min(data.len());
        buf[..avail].copy_from_slice(&data[..avail]);
        let v = u128::from_le_bytes(buf);
        let v = if bits == 0 {
            0
        } else {
            (v << (128 - bits)) >> (128 - nr_bits.clamp(1, 128))
        };
        self.int128(v);
    }

    fn int128(&mut self, v: u128) {
        if self.plain {
            self.w.raw(&format!("{v:#x}"));
        } else {
            self.w.raw(&format!("\"{v:#x}\""));
        }
    }
}

/// The key and value (or per-CPU values) of one element, decoded with BTF (`do_dump_btf`).
fn dump_btf_elem(
    w: &mut JsonWriter,
    btf: &Btf,
    plain: bool,
    map: &Map,
    key: &[u8],
    values: &[Vec<u8>],
) {
    let spec = map.spec();
    let mut d = Dumper { btf, w, plain };
    d.w.start_object();
    let mut ok = true;
    if let Some(k) = spec.btf_key_type_id.filter(|&k| k != 0) {
        d.w.name("key");
        ok = d.do_type(k, 0, key).is_ok();
    }
    let value_id = spec.btf_value_type_id.unwrap_or(0);
    if ok {
        if map.map_type().is_percpu() {
            d.w.name("values");
            d.w.start_array();
            for (cpu, v) in values.iter().enumerate() {
                d.w.start_object();
                d.w.name("cpu");
                d.w.raw(&cpu.to_string());
                d.w.name("value");
                let res = d.do_type(value_id, 0, v);
                d.w.end_object();
                if res.is_err() {
                    break;
                }
            }
            d.w.end_array();
        } else {
            d.w.name("value");
            let _ = d.do_type(value_id, 0, values.first().map_or(&[][..], |v| v));
        }
    }
    d.w.end_object();
}

fn hex_json(w: &mut JsonWriter, bytes: &[u8]) {
    w.start_array();
    for b in bytes {
        w.raw(&format!("\"0x{b:02x}\""));
    }
    w.end_array();
}

/// bpftool's `fprint_hex` with a space between bytes, two every 8 and a new line every 16.
fn hex_plain(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i == 0 {
        } else if i % 16 == 0 {
            s.push('\n');
        } else if i % 8 == 0 {
            s.push_str("  ");
        } else {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Every element of `map`: key and its value, or one value per CPU.
fn elements(map: &Map) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let percpu = map.map_type().is_percpu();
    map.keys()
        .into_iter()
        .filter_map(|k| {
            let v = if percpu {
                map.lookup_percpu(&k).ok()?
            } else {
                vec![map.lookup(&k).ok()?]
            };
            Some((k, v))
        })
        .collect()
}

fn has_btf<'b>(map: &Map, btf: Option<&'b Btf>) -> Option<&'b Btf> {
    btf.filter(|_| map.spec().btf_value_type_id.is_some_and(|v| v != 0))
}

/// `bpftool map dump` of one map, in its plain form.
pub fn plain(map: &Map, btf: Option<&Btf>) -> String {
    let elems = elements(map);
    if let Some(btf) = has_btf(map, btf) {
        let mut w = JsonWriter::new(true);
        w.start_array();
        for (k, v) in &elems {
            dump_btf_elem(&mut w, btf, true, map, k, v);
        }
        w.end_array();
        return w.finish();
    }
    let (ks, vs) = (map.key_size() as usize, map.value_size() as usize);
    let mut s = String::new();
    for (k, v) in &elems {
        if !map.map_type().is_percpu() {
            let break_names = ks > 16 || vs > 16;
            let single_line = ks + vs <= 24 && !break_names;
            let sep = if break_names { '\n' } else { ' ' };
            if ks != 0 {
                s.push_str(&format!("key:{sep}{}", hex_plain(k)));
                s.push_str(if single_line { "  " } else { "\n" });
            }
            if vs != 0 {
                let v = &v[0];
                if matches!(map.map_type(), MapType::ArrayOfMaps | MapType::HashOfMaps) {
                    let id = le_bytes::<4>(v).map_or(0, u32::from_ne_bytes);
                    s.push_str(&format!("inner_map_id:{sep}{id} "));
                } else {
                    s.push_str(&format!("value:{sep}{}", hex_plain(v)));
                }
            }
            s.push('\n');
        } else {
            if ks != 0 {
                s.push_str(&format!("key:\n{}\n", hex_plain(k)));
            }
            if vs != 0 {
                for (cpu, v) in v.iter().enumerate() {
                    let sep = if vs > 16 { '\n' } else { ' ' };
                    s.push_str(&format!("value (CPU {cpu:02}):{sep}{}\n", hex_plain(v)));
                }
            }
        }
    }
    let n = elems.len();
    s.push_str(&format!(
        "Found {n} element{}\n",
        if n != 1 { "s" } else { "" }
    ));
    s
}

/// `bpftool -j map dump` of one map: raw bytes, and `"formatted"` with BTF.
pub fn json(map: &Map, btf: Option<&Btf>) -> String {
    let btf = has_btf(map, btf);
    let mut w = JsonWriter::new(false);
    w.start_array();
    for (k, v) in &elements(map) {
        w.start_object();
        w.name("key");
        hex_json(&mut w, k);
        if map.map_type().is_percpu() {
            w.name("values");
            w.start_array();
            for (cpu, v) in v.iter().enumerate() {
                w.start_object();
                w.name("cpu");
                w.raw(&cpu.to_string());
                w.name("value");
                hex_json(&mut w, v);
                w.end_object();
            }
            w.end_array();
        } else {
            w.name("value");
            hex_json(&mut w, &v[0]);
            if matches!(map.map_type(), MapType::ArrayOfMaps | MapType::HashOfMaps) {
                let id = le_bytes::<4>(&v[0]).map_or(0, u32::from_ne_bytes);
                w.name("inner_map_id");
                w.raw(&id.to_string());
            }
        }
        if let Some(btf) = btf {
            w.name("formatted");
            dump_btf_elem(&mut w, btf, false, map, k, v);
        }
        w.end_object();
    }
    w.end_array();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::{json, plain};
    use bpfbox_vm::maps::spec::{MapConfig, MapSpec, MapType};
    use bpfbox_vm::maps::{Map, MapRef};

    fn map(t: MapType, key: u32, value: u32, entries: u32, ncpus: u32) -> MapRef {
        Map::create(
            &MapSpec::new("m", t, key, value, entries),
            &MapConfig { ncpus },
        )
        .unwrap()
    }

    /// Maps without BTF print as bpftool's hex lines. The expected texts are bpftool v7.1's
    /// output for maps created and filled with `bpftool map create` / `map update`.
    #[test]
    fn maps_without_btf_print_as_bpftool_hex_lines() {
        let h = map(MapType::Hash, 4, 8, 4, 1);
        h.update(&[1, 0, 0, 0], &[1, 2, 3, 4, 5, 6, 7, 8], 0)
            .unwrap();
        assert_eq!(
            plain(&h, None),
            "key: 01 00 00 00  value: 01 02 03 04 05 06 07 08\nFound 1 element\n"
        );
        assert_eq!(
            json(&h, None),
            "[{\"key\":[\"0x01\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x01\",\"0x02\",\"0x03\",\"0x04\",\"0x05\",\"0x06\",\"0x07\",\"0x08\"]}]\n"
        );
        let a = map(MapType::Array, 4, 20, 2, 1);
        let v: Vec<u8> = (1..=20).collect();
        a.update(&[1, 0, 0, 0], &v, 0).unwrap();
        assert_eq!(
            plain(&a, None),
            "key:\n00 00 00 00\nvalue:\n00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00\n00 00 00 00\n\
             key:\n01 00 00 00\nvalue:\n01 02 03 04 05 06 07 08  09 0a 0b 0c 0d 0e 0f 10\n11 12 13 14\n\
             Found 2 elements\n"
        );
        let p = map(MapType::PercpuArray, 4, 4, 1, 2);
        assert_eq!(
            plain(&p, None),
            "key:\n00 00 00 00\nvalue (CPU 00): 00 00 00 00\nvalue (CPU 01): 00 00 00 00\nFound 1 element\n"
        );
        let e = map(MapType::Hash, 4, 8, 4, 1);
        assert_eq!(plain(&e, None), "Found 0 elements\n");
    }
}
