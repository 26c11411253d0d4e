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

mod decl;
mod defs;

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
}
