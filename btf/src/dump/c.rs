//! `bpftool btf dump ... format c` output: BTF turned back into a C header.
//!
//! Types are emitted in an order that satisfies C's rules: a type embedded
//! by value must be fully defined first, while one only reached through a
//! pointer can be forward-declared. The ordering is a depth-first
//! topological sort that tells "strong" links (embedding) from "weak" ones
//! (through a named type behind a pointer); anonymous types are inlined
//! where they are used. Duplicate names get a `___N` suffix.

use std::collections::HashMap;
use std::io::Write;

use super::out::Out;
use crate::btf::Btf;
use crate::error::BtfError;
use crate::types::{Kind, Member, Type, TypeData, TypeId};

/// Options for [`dump_c_with`].
#[derive(Debug, Clone)]
pub struct CDumpOptions {
    /// Wrap the output in the `#ifndef __VMLINUX_H__` guard and the
    /// `preserve_access_index` pragma, as bpftool does.
    pub header_guard: bool,
    /// Give enums of 1 byte `__attribute__((mode(byte)))` and 8-byte enums
    /// that need it `__attribute__((mode(word)))`, so that they keep their
    /// size when compiled (what libbpf 1.2 and later do). bpftool built on
    /// older libbpf omits them; set to `false` to match its output.
    pub enum_mode_attributes: bool,
}

impl Default for CDumpOptions {
    fn default() -> Self {
        CDumpOptions {
            header_guard: true,
            enum_mode_attributes: true,
        }
    }
}

/// Write `btf` as a C header, like `bpftool btf dump file F format c`.
pub fn dump_c<W: Write + ?Sized>(btf: &Btf, w: &mut W) -> Result<(), BtfError> {
    dump_c_with(btf, w, &CDumpOptions::default())
}

/// [`dump_c`] with options.
///
/// Fails (after writing what it could) on type ids that point nowhere and
/// on type graphs too deep, cyclic or expansive to be expressed in C.
pub fn dump_c_with<W: Write + ?Sized>(
    btf: &Btf,
    w: &mut W,
    opts: &CDumpOptions,
) -> Result<(), BtfError> {
    check_refs(btf)?;
    let mut d = CDump::new(btf, Out::new(w));
    d.enum_modes = opts.enum_mode_attributes;
    if opts.header_guard {
        d.out.s(concat!(
            "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n",
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n",
            "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n",
            "#endif\n\n"
        ));
    }
    for (id, _) in btf.types() {
        d.dump_type(id);
        d.out.maybe_flush()?;
        if d.too_deep {
            break;
        }
    }
    if opts.header_guard {
        d.out.s(concat!(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n",
            "#endif /* __VMLINUX_H__ */\n"
        ));
    }
    let too_deep = d.too_deep.then_some(d.deep_id);
    d.out.finish()?;
    match too_deep {
        Some(type_id) => Err(BtfError::Loop { type_id }),
        None => Ok(()),
    }
}

/// Every type id referenced by this blob's types must exist.
fn check_refs(btf: &Btf) -> Result<(), BtfError> {
    let ok = |id: TypeId| id == 0 || btf.type_by_id(id).is_some();
    for (_, t) in btf.types() {
        let bad = match &t.data {
            TypeData::Array(a) => [a.elem_type, a.index_type].into_iter().find(|&i| !ok(i)),
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                ms.iter().map(|m| m.type_id).find(|&i| !ok(i))
            }
            TypeData::FuncProto(ps) => std::iter::once(t.size_or_type)
                .chain(ps.iter().map(|p| p.type_id))
                .find(|&i| !ok(i)),
            TypeData::Datasec(vs) => vs.iter().map(|v| v.type_id).find(|&i| !ok(i)),
            _ => t.ref_type().filter(|&i| !ok(i)),
        };
        if let Some(id) = bad {
            return Err(BtfError::InvalidTypeId(id));
        }
    }
    Ok(())
}

/// Deepest recursion allowed while ordering or emitting (guards against
/// pointer cycles and absurd nesting in hostile input).
const MAX_DEPTH: usize = 512;
/// Work budget: a fixed allowance plus this much per type.
const WORK_BASE: u64 = 1 << 20;
const WORK_PER_TYPE: u64 = 256;
/// Output budget: a fixed allowance plus this much per byte of input BTF
/// (real headers are smaller than their BTF).
const OUT_BASE: u64 = 1 << 20;
const OUT_PER_INPUT_BYTE: u64 = 32;
/// Most indentation tabs ever printed.
const MAX_INDENT: usize = 13;
const TABS: &str = "\t\t\t\t\t\t\t\t\t\t\t\t\t";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    NotOrdered,
    Ordering,
    Ordered,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Emit {
    NotEmitted,
    Emitting,
    Emitted,
}

/// Per-type bookkeeping.
#[derive(Clone, Copy)]
struct State {
    order: Order,
    emit: Emit,
    fwd_emitted: bool,
    referenced: bool,
    /// 0: not resolved yet; otherwise the duplicate number (1: unique).
    name_dup: u32,
}

/// A possibly de-duplicated C identifier.
#[derive(Clone, Copy)]
struct Name<'a> {
    base: &'a str,
    dup: u32,
}

struct CDump<'a, 'w, W: Write + ?Sized> {
    btf: &'a Btf,
    out: Out<'w, W>,
    ptr_bits: i64,
    states: Vec<State>,
    /// Struct, union, enum (and base type) names seen so far.
    type_names: HashMap<&'a str, u32>,
    /// Typedef and enumerator names seen so far.
    ident_names: HashMap<&'a str, u32>,
    queue: Vec<TypeId>,
    too_deep: bool,
    deep_id: TypeId,
    enum_modes: bool,
    /// Steps taken so far, and the most allowed: anonymous types are
    /// inlined wherever used, so hostile BTF could otherwise make the output
    /// exponentially large.
    work: u64,
    budget: u64,
    /// Most bytes of output allowed (padding for huge gaps and repeated
    /// inlining can blow up otherwise).
    max_out: u64,
}

impl<'a, 'w, W: Write + ?Sized> CDump<'a, 'w, W> {
    fn new(btf: &'a Btf, out: Out<'w, W>) -> Self {
        let n = btf.last_id() as usize + 1;
        let mut d = CDump {
            btf,
            out,
            ptr_bits: i64::from(btf.pointer_size()) * 8,
            states: vec![
                State {
                    order: Order::NotOrdered,
                    emit: Emit::NotEmitted,
                    fwd_emitted: false,
                    referenced: false,
                    name_dup: 0,
                };
                n
            ],
            type_names: HashMap::new(),
            ident_names: HashMap::new(),
            queue: Vec::new(),
            too_deep: false,
            deep_id: 0,
            enum_modes: true,
            work: 0,
            budget: WORK_BASE + WORK_PER_TYPE * n as u64,
            max_out: OUT_BASE + OUT_PER_INPUT_BYTE * btf.data_len() as u64,
        };
        // void and int-like base types never need a definition.
        if let Some(s) = d.states.first_mut() {
            s.order = Order::Ordered;
            s.emit = Emit::Emitted;
        }
        d.mark_referenced();
        d
    }

    fn ty(&self, id: TypeId) -> Option<&'a Type> {
        self.btf.type_by_id(id)
    }

    fn st(&mut self, id: TypeId) -> &mut State {
        let i = id as usize;
        if i >= self.states.len() {
            // Unreachable after check_refs; keep a scratch slot anyway.
            self.states.resize(
                i + 1,
                State {
                    order: Order::NotOrdered,
                    emit: Emit::NotEmitted,
                    fwd_emitted: false,
                    referenced: false,
                    name_dup: 0,
                },
            );
        }
        &mut self.states[i]
    }

    fn raw_name(&self, off: u32) -> &'a str {
        self.btf.string_at(off).unwrap_or("")
    }

    /// Mark every type some other type refers to: an anonymous enum that
    /// nobody refers to is a block of global constants and gets emitted on
    /// its own.
    fn mark_referenced(&mut self) {
        let btf = self.btf;
        for (_, t) in btf.types() {
            let mut mark = |id: TypeId| {
                if let Some(s) = self.states.get_mut(id as usize) {
                    s.referenced = true;
                }
            };
            match &t.data {
                TypeData::Int(_)
                | TypeData::Enum(_)
                | TypeData::Enum64(_)
                | TypeData::Fwd
                | TypeData::Float => {}
                TypeData::Array(a) => {
                    mark(a.index_type);
                    mark(a.elem_type);
                }
                TypeData::Struct(ms) | TypeData::Union(ms) => {
                    ms.iter().for_each(|m| mark(m.type_id))
                }
                TypeData::FuncProto(ps) => ps.iter().for_each(|p| mark(p.type_id)),
                TypeData::Datasec(vs) => vs.iter().for_each(|v| mark(v.type_id)),
                _ => mark(t.size_or_type),
            }
        }
    }

    fn deep(&mut self, depth: usize, id: TypeId) -> bool {
        self.work = self.work.saturating_add(1);
        if depth > MAX_DEPTH || self.work > self.budget || self.out.written() > self.max_out {
            if !self.too_deep {
                self.too_deep = true;
                self.deep_id = id;
            }
            return true;
        }
        self.too_deep
    }

    fn dump_type(&mut self, id: TypeId) {
        self.queue.clear();
        if self.order_type(id, false, 0).is_err() {
            return;
        }
        let queue = std::mem::take(&mut self.queue);
        for &qid in &queue {
            self.emit_type(qid, 0, 0);
        }
        self.queue = queue;
    }

    // ---- ordering ---------------------------------------------------------

    /// Topologically order `id` and what it needs. Returns whether the link
    /// to `id` is strong (it must be fully defined first) or weak (a forward
    /// declaration suffices); `Err` on an unsatisfiable cycle.
    fn order_type(&mut self, id: TypeId, through_ptr: bool, depth: usize) -> Result<bool, ()> {
        if self.deep(depth, id) {
            return Err(());
        }
        let state = self.st(id).order;
        if state == Order::Ordered {
            return Ok(true);
        }
        let Some(t) = self.ty(id) else {
            return Ok(false);
        };
        if state == Order::Ordering {
            if t.is_composite() && through_ptr && t.name_off != 0 {
                return Ok(false);
            }
            return Err(());
        }
        match &t.data {
            TypeData::Int(_) | TypeData::Float => {
                self.st(id).order = Order::Ordered;
                Ok(false)
            }
            TypeData::Ptr => {
                let r = self.order_type(t.size_or_type, true, depth + 1);
                self.st(id).order = Order::Ordered;
                r
            }
            TypeData::Array(a) => self.order_type(a.elem_type, false, depth + 1),
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                if through_ptr && t.name_off != 0 {
                    return Ok(false);
                }
                self.st(id).order = Order::Ordering;
                for m in ms {
                    self.order_type(m.type_id, false, depth + 1)?;
                }
                if t.name_off != 0 {
                    self.queue.push(id);
                }
                self.st(id).order = Order::Ordered;
                Ok(true)
            }
            TypeData::Enum(_) | TypeData::Enum64(_) | TypeData::Fwd => {
                if t.name_off != 0 || !self.st(id).referenced {
                    self.queue.push(id);
                }
                self.st(id).order = Order::Ordered;
                Ok(true)
            }
            TypeData::Typedef => {
                let strong = self.order_type(t.size_or_type, through_ptr, depth + 1)?;
                if through_ptr && !strong {
                    return Ok(false);
                }
                self.queue.push(id);
                self.st(id).order = Order::Ordered;
                Ok(true)
            }
            TypeData::Volatile | TypeData::Const | TypeData::Restrict | TypeData::TypeTag => {
                self.order_type(t.size_or_type, through_ptr, depth + 1)
            }
            TypeData::FuncProto(ps) => {
                let mut strong = self.order_type(t.size_or_type, through_ptr, depth + 1)?;
                for p in ps {
                    strong |= self.order_type(p.type_id, through_ptr, depth + 1)?;
                }
                Ok(strong)
            }
            TypeData::Func
            | TypeData::Var { .. }
            | TypeData::Datasec(_)
            | TypeData::DeclTag { .. } => {
                self.st(id).order = Order::Ordered;
                Ok(false)
            }
        }
    }

    // ---- names ------------------------------------------------------------

    fn resolve_name(&mut self, id: TypeId, ident: bool) -> Name<'a> {
        let Some(t) = self.ty(id) else {
            return Name { base: "", dup: 1 };
        };
        if t.name_off == 0 {
            return Name { base: "", dup: 1 };
        }
        let base = self.raw_name(t.name_off);
        let known = self.st(id).name_dup;
        if known != 0 {
            return Name { base, dup: known };
        }
        let dup = if matches!(t.data, TypeData::Fwd)
            || (matches!(t.data, TypeData::Enum(_)) && t.vlen() == 0)
        {
            1
        } else {
            let map = if ident {
                &mut self.ident_names
            } else {
                &mut self.type_names
            };
            let c = map.entry(base).or_insert(0);
            *c += 1;
            *c
        };
        self.st(id).name_dup = dup;
        Name { base, dup }
    }

    fn type_name(&mut self, id: TypeId) -> Name<'a> {
        self.resolve_name(id, false)
    }

    fn ident_name(&mut self, id: TypeId) -> Name<'a> {
        self.resolve_name(id, true)
    }

    fn put_name(&mut self, n: Name<'_>) {
        self.out.s(n.base);
        if n.dup > 1 {
            self.out.s("___");
            self.out.u(n.dup);
        }
    }

    fn pfx(&mut self, lvl: usize) {
        let n = lvl.min(MAX_INDENT);
        self.out.s(&TABS[..n]);
    }

    fn is_blacklisted(&self, id: TypeId) -> bool {
        self.ty(id)
            .is_some_and(|t| t.name_off != 0 && self.raw_name(t.name_off) == "__builtin_va_list")
    }

    // ---- emission ---------------------------------------------------------

    /// Emit what `id` needs and, at top level (`cont_id` 0), its definition.
    /// `cont_id` is the named struct/union being defined around this
    /// reference, if any.
    fn emit_type(&mut self, id: TypeId, cont_id: TypeId, depth: usize) {
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
    fn emit_missing_alias(&mut self, id: TypeId) {
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

    fn emit_struct_fwd(&mut self, id: TypeId, t: &Type) {
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

    fn emit_fwd_def(&mut self, id: TypeId, t: &Type) {
        let n = self.type_name(id);
        self.out.s(if t.kind_flag() { "union " } else { "struct " });
        self.put_name(n);
    }

    fn emit_enum_fwd(&mut self, id: TypeId) {
        let n = self.type_name(id);
        self.out.s("enum ");
        self.put_name(n);
    }

    fn emit_typedef_def(&mut self, id: TypeId, t: &Type, lvl: usize, depth: usize) {
        let name = self.ident_name(id);
        if t.size_or_type == 0 && name.base == "__gnuc_va_list" {
            self.out.s("typedef __builtin_va_list __gnuc_va_list");
            return;
        }
        self.out.s("typedef ");
        self.emit_type_decl(t.size_or_type, name, lvl, depth + 1);
    }

    fn align_of(&self, id: TypeId) -> i64 {
        self.btf.alignment(id).map(i64::from).unwrap_or(0)
    }

    /// A struct is packed when a non-bitfield member is misaligned or its
    /// size is not a multiple of its alignment.
    fn is_packed(&self, t: &Type) -> bool {
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

    fn emit_struct_def(&mut self, id: TypeId, t: &'a Type, lvl: usize, depth: usize) {
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

    fn pad_line(&mut self, lvl: usize, ty: &str, bits: i64) {
        self.out.b(b'\n');
        self.pfx(lvl);
        self.out.s(ty);
        self.out.s(": ");
        self.out.u(bits);
        self.out.b(b';');
    }

    /// Fill the gap between bit offsets `cur` and `next` with anonymous
    /// bitfields so the compiler reproduces the original layout.
    fn emit_bit_padding(
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

    fn emit_enum_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
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
    fn enumerator_name(&mut self, name_off: u32, lvl: usize) {
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

    /// Emit a declaration of `fname` with type `id` in C syntax (e.g.
    /// `int (*fname)(void)`, `char fname[16]`).
    fn emit_type_decl(&mut self, id: TypeId, fname: Name<'_>, lvl: usize, depth: usize) {
        if self.deep(depth, id) {
            return;
        }
        let mut stack: Vec<TypeId> = Vec::with_capacity(8);
        let mut id = id;
        loop {
            if stack.len() > MAX_DEPTH {
                self.deep(MAX_DEPTH + 1, id);
                return;
            }
            stack.push(id);
            if id == 0 {
                break;
            }
            let Some(t) = self.ty(id) else {
                break;
            };
            match &t.data {
                TypeData::Ptr
                | TypeData::Volatile
                | TypeData::Const
                | TypeData::Restrict
                | TypeData::FuncProto(_)
                | TypeData::TypeTag => id = t.size_or_type,
                TypeData::Array(a) => id = a.elem_type,
                _ => break,
            }
        }
        self.emit_type_chain(&mut stack, fname, lvl, depth);
    }

    fn emit_mods(&mut self, stack: &mut Vec<TypeId>) {
        while let Some(&top) = stack.last() {
            let word = match self.ty(top).map(Type::kind) {
                Some(Kind::Volatile) => "volatile ",
                Some(Kind::Const) => "const ",
                Some(Kind::Restrict) => "restrict ",
                _ => return,
            };
            self.out.s(word);
            stack.pop();
        }
    }

    fn drop_mods(&self, stack: &mut Vec<TypeId>) {
        while let Some(&top) = stack.last() {
            if !self.ty(top).is_some_and(|t| t.kind().is_modifier()) {
                return;
            }
            stack.pop();
        }
    }

    fn emit_decl_name(&mut self, fname: Name<'_>, last_was_ptr: bool) {
        if !fname.base.is_empty() && !last_was_ptr {
            self.out.b(b' ');
        }
        self.put_name(fname);
    }

    /// Emit the chain of types on `stack` (innermost type on top) around
    /// `fname`.
    fn emit_type_chain(
        &mut self,
        stack: &mut Vec<TypeId>,
        fname: Name<'_>,
        lvl: usize,
        depth: usize,
    ) {
        let mut last_was_ptr = true;
        while let Some(id) = stack.pop() {
            if id == 0 {
                self.emit_mods(stack);
                self.out.s("void");
                last_was_ptr = false;
                continue;
            }
            let Some(t) = self.ty(id) else {
                return;
            };
            match &t.data {
                TypeData::Int(_) | TypeData::Float => {
                    self.emit_mods(stack);
                    let n = self.raw_name(t.name_off);
                    self.out.s(n);
                }
                TypeData::Struct(_) | TypeData::Union(_) => {
                    self.emit_mods(stack);
                    if t.name_off == 0 {
                        self.emit_struct_def(id, t, lvl, depth + 1);
                    } else {
                        self.emit_struct_fwd(id, t);
                    }
                }
                TypeData::Enum(_) | TypeData::Enum64(_) => {
                    self.emit_mods(stack);
                    if t.name_off == 0 {
                        self.emit_enum_def(id, t, lvl);
                    } else {
                        self.emit_enum_fwd(id);
                    }
                }
                TypeData::Fwd => {
                    self.emit_mods(stack);
                    self.emit_fwd_def(id, t);
                }
                TypeData::Typedef => {
                    self.emit_mods(stack);
                    let n = self.ident_name(id);
                    self.put_name(n);
                }
                TypeData::Ptr => self.out.s(if last_was_ptr { "*" } else { " *" }),
                TypeData::Volatile => self.out.s(" volatile"),
                TypeData::Const => self.out.s(" const"),
                TypeData::Restrict => self.out.s(" restrict"),
                TypeData::TypeTag => {
                    self.emit_mods(stack);
                    let n = self.raw_name(t.name_off);
                    self.out.s(" __attribute__((btf_type_tag(\"");
                    self.out.s(n);
                    self.out.s("\")))");
                }
                TypeData::Array(a) => {
                    // Qualifiers on arrays (a GCC quirk) are dropped.
                    self.drop_mods(stack);
                    let Some(&next) = stack.last() else {
                        self.emit_decl_name(fname, last_was_ptr);
                        self.array_dim(a.nelems);
                        return;
                    };
                    let multidim = self.ty(next).is_some_and(|n| n.kind() == Kind::Array);
                    if !fname.base.is_empty() && !last_was_ptr {
                        self.out.b(b' ');
                    }
                    if !multidim {
                        self.out.b(b'(');
                    }
                    self.emit_type_chain(stack, fname, lvl, depth + 1);
                    if !multidim {
                        self.out.b(b')');
                    }
                    self.array_dim(a.nelems);
                    return;
                }
                TypeData::FuncProto(ps) => {
                    // GCC marks noreturn function pointers volatile; drop it.
                    self.drop_mods(stack);
                    if stack.is_empty() {
                        self.emit_decl_name(fname, last_was_ptr);
                    } else {
                        self.out.s(" (");
                        self.emit_type_chain(stack, fname, lvl, depth + 1);
                        self.out.b(b')');
                    }
                    self.out.b(b'(');
                    if ps.is_empty()
                        || (ps.len() == 1 && ps.first().is_some_and(|p| p.type_id == 0))
                    {
                        self.out.s("void)");
                        return;
                    }
                    for (i, p) in ps.iter().enumerate() {
                        if i > 0 {
                            self.out.s(", ");
                        }
                        if i == ps.len() - 1 && p.type_id == 0 {
                            self.out.s("...");
                            break;
                        }
                        let pname = self.raw_name(p.name_off);
                        self.emit_type_decl(
                            p.type_id,
                            Name {
                                base: pname,
                                dup: 1,
                            },
                            lvl,
                            depth + 1,
                        );
                    }
                    self.out.b(b')');
                    return;
                }
                _ => return,
            }
            last_was_ptr = t.kind() == Kind::Ptr;
        }
        self.emit_decl_name(fname, last_was_ptr);
    }

    fn array_dim(&mut self, n: u32) {
        self.out.b(b'[');
        self.out.u(n);
        self.out.b(b']');
    }
}
