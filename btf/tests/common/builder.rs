//! Hand-assembly of little-endian BTF blobs for tests.
#![allow(dead_code)]

/// Kind numbers.
pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FWD: u32 = 7;
pub const TYPEDEF: u32 = 8;
pub const VOLATILE: u32 = 9;
pub const CONST: u32 = 10;
pub const RESTRICT: u32 = 11;
pub const FUNC: u32 = 12;
pub const FUNC_PROTO: u32 = 13;
pub const VAR: u32 = 14;
pub const DATASEC: u32 = 15;
pub const FLOAT: u32 = 16;
pub const DECL_TAG: u32 = 17;
pub const TYPE_TAG: u32 = 18;
pub const ENUM64: u32 = 19;

/// Builds a BTF blob type by type.
pub struct Builder {
    pub words: Vec<u32>,
    pub strings: Vec<u8>,
    pub next_id: u32,
    pub flags: u8,
    pub version: u8,
    pub str_base: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            words: Vec::new(),
            strings: vec![0],
            next_id: 1,
            flags: 0,
            version: 1,
            str_base: 0,
        }
    }

    /// Start split BTF on top of a base with `base_types` types and
    /// `base_str_len` bytes of strings.
    pub fn split(base_types: u32, base_str_len: u32) -> Self {
        let mut b = Self::new();
        b.strings.clear();
        b.next_id = base_types + 1;
        b.str_base = base_str_len;
        b
    }

    /// Offset of `s` in the string section (added if new; "" is 0).
    pub fn s(&mut self, s: &str) -> u32 {
        if s.is_empty() && self.str_base == 0 {
            return 0;
        }
        let off = self.strings.len() as u32 + self.str_base;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Append a raw type record; returns its id.
    pub fn raw(
        &mut self,
        name_off: u32,
        kind: u32,
        kflag: bool,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
        self.words
            .extend_from_slice(&[name_off, info, size_or_type]);
        self.words.extend_from_slice(extra);
        self.next_id += 1;
        self.next_id - 1
    }

    pub fn int(&mut self, name: &str, size: u32, enc: u32, bits: u32) -> u32 {
        let n = self.s(name);
        self.raw(n, INT, false, 0, size, &[(enc << 24) | bits])
    }

    pub fn ptr(&mut self, to: u32) -> u32 {
        self.raw(0, PTR, false, 0, to, &[])
    }

    pub fn typedef(&mut self, name: &str, to: u32) -> u32 {
        let n = self.s(name);
        self.raw(n, TYPEDEF, false, 0, to, &[])
    }

    pub fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.raw(0, ARRAY, false, 0, 0, &[elem, index, n])
    }

    /// Struct/union with `(name, type, raw offset word)` members.
    pub fn composite(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        kflag: bool,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let n = self.s(name);
        let mut extra = Vec::new();
        for (mn, ty, off) in members {
            let mo = self.s(mn);
            extra.extend_from_slice(&[mo, *ty, *off]);
        }
        self.raw(n, kind, kflag, members.len() as u32, size, &extra)
    }

    pub fn enum32(&mut self, name: &str, size: u32, signed: bool, vals: &[(&str, i32)]) -> u32 {
        let n = self.s(name);
        let mut extra = Vec::new();
        for (vn, v) in vals {
            let o = self.s(vn);
            extra.extend_from_slice(&[o, *v as u32]);
        }
        self.raw(n, ENUM, signed, vals.len() as u32, size, &extra)
    }

    pub fn func_proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::new();
        for (pn, ty) in params {
            let o = self.s(pn);
            extra.extend_from_slice(&[o, *ty]);
        }
        self.raw(0, FUNC_PROTO, false, params.len() as u32, ret, &extra)
    }

    pub fn func(&mut self, name: &str, proto: u32, linkage: u32) -> u32 {
        let n = self.s(name);
        self.raw(n, FUNC, false, linkage, proto, &[])
    }

    pub fn var(&mut self, name: &str, ty: u32, linkage: u32) -> u32 {
        let n = self.s(name);
        self.raw(n, VAR, false, 0, ty, &[linkage])
    }

    /// The complete blob.
    pub fn build(&self) -> Vec<u8> {
        let type_len = (self.words.len() * 4) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(self.version);
        out.push(self.flags);
        for w in [24, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.strings);
        out
    }

    /// The same blob in big-endian byte order.
    pub fn build_be(&self) -> Vec<u8> {
        let type_len = (self.words.len() * 4) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_be_bytes());
        out.push(self.version);
        out.push(self.flags);
        for w in [24, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for w in &self.words {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.extend_from_slice(&self.strings);
        out
    }
}
