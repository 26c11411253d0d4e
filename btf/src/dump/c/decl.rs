//! Declarators: a type chain (pointers, arrays, functions, modifiers) written around a
//! name, as C spells `int (*f[4])(void)`.

use super::*;

impl<'a, 'w, W: Write + ?Sized> CDump<'a, 'w, W> {
    /// Emit a declaration of `fname` with type `id` in C syntax (e.g.
    /// `int (*fname)(void)`, `char fname[16]`).
    pub(super) fn emit_type_decl(&mut self, id: TypeId, fname: Name<'_>, lvl: usize, depth: usize) {
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

    pub(super) fn emit_mods(&mut self, stack: &mut Vec<TypeId>) {
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

    pub(super) fn drop_mods(&self, stack: &mut Vec<TypeId>) {
        while let Some(&top) = stack.last() {
            if !self.ty(top).is_some_and(|t| t.kind().is_modifier()) {
                return;
            }
            stack.pop();
        }
    }

    pub(super) fn emit_decl_name(&mut self, fname: Name<'_>, last_was_ptr: bool) {
        if !fname.base.is_empty() && !last_was_ptr {
            self.out.b(b' ');
        }
        self.put_name(fname);
    }

    /// Emit the chain of types on `stack` (innermost type on top) around
    /// `fname`.
    pub(super) fn emit_type_chain(
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

    pub(super) fn array_dim(&mut self, n: u32) {
        self.out.b(b'[');
        self.out.u(n);
        self.out.b(b']');
    }
}
