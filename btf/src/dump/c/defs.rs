//! Definitions: structs and unions (with bitfield padding), enums, typedefs and the
//! forward declarations C needs before them.

use super::*;

impl<'a, 'w, W: Write + ?Sized> CDump<'a, 'w, W> {
    /// Emit what `id` needs and, at top level (`cont_id` 0), its definition.
    /// `cont_id` is the named struct/union being defined around this
    /// reference, if any.
    pub(super) fn emit_type(&mut self, id: TypeId, cont_id: TypeId, depth: usize) {
        if self.deep(depth, id) {
            return;
        }
        let state = *self.st(id);
        if state.emit == Emit::Emitted {
            return;
        }
        let Some(t) = self.ty(id) else {
            return;
        };
        let top_level = cont_id == 0;
        if state.emit == Emit::Emitting {
            if state.fwd_emitted {
                return;
            }
            match t.kind() {
                Kind::Struct | Kind::Union => {
                    if id == cont_id || t.name_off == 0 {
                        return;
                    }
                    self.emit_struct_fwd(id, t);
                    self.out.s(";\n\n");
                    self.st(id).fwd_emitted = true;
                }
                Kind::Typedef => {
                    if !self.is_blacklisted(id) {
                        self.emit_typedef_def(id, t, 0, depth);
                        self.out.s(";\n\n");
                    }
                    self.st(id).fwd_emitted = true;
                }
                _ => {}
            }
            return;
        }
        match &t.data {
            TypeData::Int(_) => {
                self.emit_missing_alias(id);
                self.st(id).emit = Emit::Emitted;
            }
            TypeData::Enum(_) | TypeData::Enum64(_) => {
                if top_level {
                    self.emit_enum_def(id, t, 0);
                    self.out.s(";\n\n");
                }
                self.st(id).emit = Emit::Emitted;
            }
            TypeData::Ptr
            | TypeData::Volatile
            | TypeData::Const
            | TypeData::Restrict
            | TypeData::TypeTag => self.emit_type(t.size_or_type, cont_id, depth + 1),
            TypeData::Array(a) => self.emit_type(a.elem_type, cont_id, depth + 1),
            TypeData::Fwd => {
                self.emit_fwd_def(id, t);
                self.out.s(";\n\n");
                self.st(id).emit = Emit::Emitted;
            }
            TypeData::Typedef => {
                self.st(id).emit = Emit::Emitting;
                self.emit_type(t.size_or_type, id, depth + 1);
                if !self.st(id).fwd_emitted && !self.is_blacklisted(id) {
                    self.emit_typedef_def(id, t, 0, depth);
                    self.out.s(";\n\n");
                }
                self.st(id).emit = Emit::Emitted;
            }
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                self.st(id).emit = Emit::Emitting;
                if top_level || t.name_off == 0 {
                    let inner = if t.name_off == 0 { cont_id } else { id };
                    for m in ms {
                        self.emit_type(m.type_id, inner, depth + 1);
                    }
                } else if !self.st(id).fwd_emitted && id != cont_id {
                    self.emit_struct_fwd(id, t);
                    self.out.s(";\n\n");
                    self.st(id).fwd_emitted = true;
                }
                if top_level {
                    self.emit_struct_def(id, t, 0, depth);
                    self.out.s(";\n\n");
                    self.st(id).emit = Emit::Emitted;
                } else {
                    self.st(id).emit = Emit::NotEmitted;
                }
            }
            TypeData::FuncProto(ps) => {
                self.emit_type(t.size_or_type, cont_id, depth + 1);
                for p in ps {
                    self.emit_type(p.type_id, cont_id, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// GCC's internal `__PolyN_t` types (Arm SIMD) are given typedefs.
    pub(super) fn emit_missing_alias(&mut self, id: TypeId) {
        const ALIASES: [(&str, &str); 4] = [
            ("__Poly8_t", "unsigned char"),
            ("__Poly16_t", "unsigned short"),
            ("__Poly64_t", "unsigned long long"),
            ("__Poly128_t", "unsigned __int128"),
        ];
        let name = self.type_name(id);
        if let Some((_, target)) = ALIASES.iter().find(|(n, _)| *n == name.base) {
            self.out.s("typedef ");
            self.out.s(target);
            self.out.b(b' ');
            self.put_name(name);
            self.out.s(";\n\n");
        }
    }

    pub(super) fn emit_struct_fwd(&mut self, id: TypeId, t: &Type) {
        self.out.s(if t.kind() == Kind::Struct {
            "struct"
        } else {
            "union"
        });
        if t.name_off != 0 {
            self.out.b(b' ');
        }
        let n = self.type_name(id);
        self.put_name(n);
    }

    pub(super) fn emit_fwd_def(&mut self, id: TypeId, t: &Type) {
        let n = self.type_name(id);
        self.out.s(if t.kind_flag() { "union " } else { "struct " });
        self.put_name(n);
    }

    pub(super) fn emit_enum_fwd(&mut self, id: TypeId) {
        let n = self.type_name(id);
        self.out.s("enum ");
        self.put_name(n);
    }

    pub(super) fn emit_typedef_def(&mut self, id: TypeId, t: &Type, lvl: usize, depth: usize) {
        let name = self.ident_name(id);
        if t.size_or_type == 0 && name.base == "__gnuc_va_list" {
            self.out.s("typedef __builtin_va_list __gnuc_va_list");
            return;
        }
        self.out.s("typedef ");
        self.emit_type_decl(t.size_or_type, name, lvl, depth + 1);
    }

    pub(super) fn align_of(&self, id: TypeId) -> i64 {
        self.btf.alignment(id).map(i64::from).unwrap_or(0)
    }

    /// A struct is packed when a non-bitfield member is misaligned or its
    /// size is not a multiple of its alignment.
    pub(super) fn is_packed(&self, t: &Type) -> bool {
        let mut max_align = 1;
        for m in t.members() {
            let align = self.align_of(m.type_id);
            if align != 0 && m.bitfield_size == 0 && i64::from(m.raw_offset) % (8 * align) != 0 {
                return true;
            }
            max_align = max_align.max(align);
        }
        i64::from(t.size_or_type) % max_align != 0
    }

    pub(super) fn emit_struct_def(&mut self, id: TypeId, t: &'a Type, lvl: usize, depth: usize) {
        let is_struct = t.kind() == Kind::Struct;
        let align = self.align_of(id);
        let packed = is_struct && self.is_packed(t);
        self.out.s(if is_struct { "struct" } else { "union" });
        if t.name_off != 0 {
            self.out.b(b' ');
        }
        let n = self.type_name(id);
        self.put_name(n);
        self.out.s(" {");
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        let members: &'a [Member] = t.members();
        for m in members {
            let fname = self.raw_name(m.name_off);
            let m_off = i64::from(m.bit_offset);
            let bits = i64::from(m.bitfield_size);
            let m_align = if packed { 1 } else { self.align_of(m.type_id) };
            let in_bitfield = prev_bitfield && bits != 0;
            self.emit_bit_padding(off, m_off, m_align, in_bitfield, lvl + 1);
            self.out.b(b'\n');
            self.pfx(lvl + 1);
            self.emit_type_decl(
                m.type_id,
                Name {
                    base: fname,
                    dup: 1,
                },
                lvl + 1,
                depth + 1,
            );
            if bits != 0 {
                self.out.s(": ");
                self.out.u(bits);
                off = m_off + bits;
                prev_bitfield = true;
            } else {
                let size = self.btf.resolve_size(m.type_id).map(i64::from).unwrap_or(0);
                off = m_off + size * 8;
                prev_bitfield = false;
            }
            self.out.b(b';');
        }
        if is_struct {
            self.emit_bit_padding(off, i64::from(t.size_or_type) * 8, align, false, lvl + 1);
        }
        if !members.is_empty() || t.size_or_type != 0 {
            self.out.b(b'\n');
            self.pfx(lvl);
        }
        self.out.b(b'}');
        if packed {
            self.out.s(" __attribute__((packed))");
        }
    }

    pub(super) fn pad_line(&mut self, lvl: usize, ty: &str, bits: i64) {
        self.out.b(b'\n');
        self.pfx(lvl);
        self.out.s(ty);
        self.out.s(": ");
        self.out.u(bits);
        self.out.b(b';');
    }

    /// Fill the gap between bit offsets `cur` and `next` with anonymous
    /// bitfields so the compiler reproduces the original layout.
    pub(super) fn emit_bit_padding(
        &mut self,
        cur: i64,
        next: i64,
        next_align: i64,
        in_bitfield: bool,
        lvl: usize,
    ) {
        if cur >= next {
            return;
        }
        let pads: [(&str, i64); 4] = [
            ("long", self.ptr_bits),
            ("int", 32),
            ("short", 16),
            ("char", 8),
        ];
        let roundup = |x: i64, y: i64| if y <= 0 { x } else { (x + y - 1) / y * y };
        let mut cur = cur;
        let (mut pad_type, mut pad_bits, mut new_off) = ("char", 8, cur);
        for &(name, bits) in &pads {
            pad_type = name;
            pad_bits = bits;
            new_off = roundup(cur, bits);
            if new_off <= next {
                break;
            }
        }
        if new_off > cur && new_off <= next {
            let needs_mark = in_bitfield
                || (new_off == next && roundup(cur, next_align * 8) != new_off)
                || (new_off != next && next - new_off <= new_off - cur);
            if needs_mark {
                self.pad_line(lvl, pad_type, if in_bitfield { new_off - cur } else { 0 });
            }
            cur = new_off;
        }
        while cur != next {
            if self.deep(0, 0) {
                return;
            }
            let bits = (next - cur).min(pad_bits);
            if bits == pad_bits {
                self.pad_line(lvl, pad_type, pad_bits);
                cur += bits;
                continue;
            }
            // Smallest type that covers the remainder.
            match pads.iter().rev().find(|(_, b)| *b >= bits) {
                Some(&(name, b)) => {
                    pad_type = name;
                    pad_bits = b;
                    self.pad_line(lvl, name, bits);
                    cur += bits;
                }
                None => break,
            }
        }
    }

    pub(super) fn emit_enum_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
        self.out.s("enum");
        if t.name_off != 0 {
            self.out.b(b' ');
        }
        let n = self.type_name(id);
        self.put_name(n);
        if t.vlen() == 0 {
            return;
        }
        self.out.s(" {");
        let signed = t.kind_flag();
        match &t.data {
            TypeData::Enum(vs) => {
                for v in vs {
                    self.enumerator_name(v.name_off, lvl);
                    if signed {
                        self.out.u(v.val as i32);
                    } else {
                        self.out.u(v.val);
                    }
                    self.out.b(b',');
                }
            }
            TypeData::Enum64(vs) => {
                for v in vs {
                    self.enumerator_name(v.name_off, lvl);
                    if signed {
                        self.out.u(v.val as i64);
                        self.out.s("LL,");
                    } else {
                        self.out.u(v.val);
                        self.out.s("ULL,");
                    }
                }
            }
            _ => {}
        }
        self.out.b(b'\n');
        self.pfx(lvl);
        self.out.b(b'}');
        if !self.enum_modes {
            return;
        }
        if t.size_or_type == 1 {
            self.out.s(" __attribute__((mode(byte)))");
        } else if t.size_or_type == 8 && self.ptr_bits == 64 {
            let needs_word = match &t.data {
                TypeData::Enum64(vs) => vs.iter().all(|v| v.val >> 32 == 0),
                _ => true,
            };
            if needs_word {
                self.out.s(" __attribute__((mode(word)))");
            }
        }
    }

    /// `\n<indent>NAME = ` for an enumerator; enumerators share the
    /// identifier namespace with typedefs.
    pub(super) fn enumerator_name(&mut self, name_off: u32, lvl: usize) {
        let name = self.raw_name(name_off);
        let c = self.ident_names.entry(name).or_insert(0);
        *c += 1;
        let dup = *c;
        self.out.b(b'\n');
        self.pfx(lvl + 1);
        self.put_name(Name { base: name, dup });
        self.out.s(" = ");
    }

    // ---- declarations -----------------------------------------------------
}
