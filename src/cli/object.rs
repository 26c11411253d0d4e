//! What the commands share about ELF objects: opening, choosing a program, and naming things
//! (helpers, maps, functions, source lines) the way bpftool does.

use std::collections::HashMap;
use std::path::Path;

use bpfbox_btf::types::{Kind, TypeData};
use bpfbox_btf::Btf;
use bpfbox_loader::Object;
use bpfbox_vm::disasm::Symbolizer;
use bpfbox_vm::isa::LdImm64Kind;
use bpfbox_vm::Program;

use super::CliError;

/// Parses the object at `path` with libbpf's defaults for the object name, relocating
/// CO-RE records and resolving `.ksyms` against `btf` — or, when the object needs it and no
/// file is given, against the running kernel's BTF, as libbpf does by default.
pub fn open(path: &Path, btf: Option<&Path>) -> Result<Object, CliError> {
    super::input::check_object(path)?;
    let target = btf
        .map(|b| {
            bpfbox_loader::load_btf_file(b)
                .map_err(|e| CliError::usage(format!("--btf {}: {e}", b.display())))
        })
        .transpose()?;
    // A malformed or foreign object is a wrong input file.
    Object::from_file_relocated(path, target)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

/// The program `--prog NAME` or `--section SEC` selects; with neither, the object's only
/// program. A program that failed to load reports why.
pub fn select<'o>(
    obj: &'o Object,
    path: &Path,
    prog: Option<&str>,
    section: Option<&str>,
) -> Result<&'o Program, CliError> {
    let names = || {
        obj.programs()
            .iter()
            .map(|p| format!("{} ({})", p.name, p.section))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match (prog, section) {
        (Some(n), _) => obj.programs().iter().find(|p| p.name == n),
        (None, Some(s)) => obj.programs().iter().find(|p| p.section == s),
        (None, None) => match obj.programs() {
            [only] => Some(only),
            _ => {
                return Err(CliError::usage(format!(
                    "{}: several programs; choose one with --prog: {}",
                    path.display(),
                    names()
                )))
            }
        },
    };
    if let Some(p) = found {
        return Ok(p);
    }
    let wanted = prog.or(section).unwrap_or_default();
    if let Some(e) = obj.program_errors().iter().find(|e| e.program() == wanted) {
        return Err(CliError::internal(format!("{}: {e}", path.display())));
    }
    Err(CliError::usage(format!(
        "{}: no program {} '{wanted}'; programs: {}",
        path.display(),
        if prog.is_some() {
            "named"
        } else {
            "in section"
        },
        names()
    )))
}

/// A C-like rendering of type `id`, with `decl` as the declarator (`int x`, `struct s *p`).
pub fn c_type(btf: &Btf, id: u32, decl: &str) -> String {
    c_type_depth(btf, id, decl, 0)
}

fn c_type_depth(btf: &Btf, id: u32, decl: &str, depth: usize) -> String {
    let join = |base: &str| {
        if decl.is_empty() {
            base.to_string()
        } else {
            format!("{base} {decl}")
        }
    };
    if id == 0 {
        return join("void");
    }
    let Some(t) = btf.type_by_id(id) else {
        return join("?");
    };
    if depth > 32 {
        return join("...");
    }
    let name = btf.type_name(t);
    let inner = t.size_or_type;
    match t.kind() {
        Kind::Ptr => c_type_depth(btf, inner, &format!("*{decl}"), depth + 1),
        Kind::Const => format!("const {}", c_type_depth(btf, inner, decl, depth + 1)),
        Kind::Volatile => format!("volatile {}", c_type_depth(btf, inner, decl, depth + 1)),
        Kind::Restrict | Kind::TypeTag => c_type_depth(btf, inner, decl, depth + 1),
        Kind::Struct if name.is_empty() => join("struct {...}"),
        Kind::Union if name.is_empty() => join("union {...}"),
        Kind::Struct => join(&format!("struct {name}")),
        Kind::Union => join(&format!("union {name}")),
        Kind::Enum | Kind::Enum64 => join(&format!("enum {name}")),
        Kind::Fwd => {
            let tag = if t.info >> 31 == 1 { "union" } else { "struct" };
            join(&format!("{tag} {name}"))
        }
        Kind::Array => match &t.data {
            TypeData::Array(a) => c_type_depth(
                btf,
                a.elem_type,
                &format!("{decl}[{}]", a.nelems),
                depth + 1,
            ),
            _ => join("?"),
        },
        Kind::FuncProto => match &t.data {
            TypeData::FuncProto(params) => {
                let args: Vec<String> = params
                    .iter()
                    .map(|p| {
                        if p.type_id == 0 {
                            "...".to_string()
                        } else {
                            let n = btf.string_at(p.name_off).unwrap_or("");
                            c_type_depth(btf, p.type_id, n, depth + 1)
                        }
                    })
                    .collect();
                let args = if args.is_empty() {
                    "void".to_string()
                } else {
                    args.join(", ")
                };
                c_type_depth(btf, inner, &format!("{decl}({args})"), depth + 1)
            }
            _ => join("?"),
        },
        Kind::Func => c_type_depth(btf, inner, name, depth + 1),
        _ => join(name),
    }
}

/// Names for the disassembler: helpers by the kernel's names, maps by libbpf's names,
/// subprograms by their BTF function names.
pub struct ObjectSymbols<'o> {
    obj: &'o Object,
    funcs: HashMap<i64, String>,
}

impl<'o> ObjectSymbols<'o> {
    /// Symbols for `prog` of `obj`.
    pub fn new(obj: &'o Object, prog: &Program) -> Self {
        let mut funcs = HashMap::new();
        if let Some(btf) = obj.btf() {
            for f in &prog.func_info {
                if let Some(name) = btf.name(f.type_id) {
                    funcs.insert(i64::from(f.insn_off), name.to_string());
                }
            }
        }
        ObjectSymbols { obj, funcs }
    }

    /// The C signature of the function starting at `insn_off`, from BTF.
    pub fn signature(&self, prog: &Program, insn_off: u32) -> Option<String> {
        let btf = self.obj.btf()?;
        let f = prog.func_info.iter().find(|f| f.insn_off == insn_off)?;
        Some(c_type(btf, f.type_id, ""))
    }
}

impl Symbolizer for ObjectSymbols<'_> {
    fn map_name(&self, kind: LdImm64Kind, imm: i32) -> Option<String> {
        match kind {
            LdImm64Kind::MapIdx | LdImm64Kind::MapIdxValue => {
                let info = self.obj.map_info(usize::try_from(imm).ok()?)?;
                Some(format!("map[{}]", info.name))
            }
            _ => None,
        }
    }

    fn call_target(&self, _pc: usize, target: i64) -> Option<String> {
        self.funcs.get(&target).cloned()
    }
}
