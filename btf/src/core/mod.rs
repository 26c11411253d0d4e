//! CO-RE (compile once, run everywhere): relocating a program's field
//! offsets, sizes, type ids and enumerator values from the BTF it was
//! compiled against (local) to the BTF of the kernel it will run on
//! (target), deciding exactly as libbpf's `relo_core.c` does.
//!
//! * [`CoreRelocator::resolve`] computes one relocation's result: it parses
//!   the access string into a [`Spec`], finds candidate target types by
//!   essential name (through a hash index, cached per local root type and
//!   pruned as libbpf prunes it), matches the spec against each candidate and
//!   checks that all matching candidates agree.
//! * [`patch_insn`] writes the result into the instruction, validating its
//!   original value, adjusting load/store sizes, or poisoning it with
//!   `call 0xbad2310` as libbpf does.
//!
//! Errors carry libbpf's reason and errno ([`CoreError::errno`]).

mod calc;
mod matching;
mod patch;
mod spec;

use std::collections::HashMap;

pub use calc::CoreRes;
pub use patch::{is_ld_imm64, patch_insn, CoreInsn, PatchStep, POISON_HELPER};
pub use spec::{format_spec, Accessor, Spec, SPEC_MAX_LEN};

use crate::btf::Btf;
use crate::ext::{CoreReloc, CoreRelocKind};
use crate::types::{Type, TypeId};

/// The name CO-RE matches on: everything up to the last `___` flavour
/// separator (`task_struct___v1` -> `task_struct`). A separator must sit
/// between two non-underscore characters, as libbpf requires.
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    let n = b.len();
    // Most names have no separator: one substring search rules it out.
    if n >= 5 && name.contains("___") {
        for i in (0..=n - 5).rev() {
            if b[i] != b'_'
                && b[i + 1] == b'_'
                && b[i + 2] == b'_'
                && b[i + 3] == b'_'
                && b[i + 4] != b'_'
            {
                // The separator starts after byte i, which is ASCII, so this
                // is a char boundary.
                return name.get(..=i).unwrap_or(name);
            }
        }
    }
    name
}

/// libbpf's errno values for CO-RE failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// `-EINVAL` (22).
    Inval,
    /// `-E2BIG` (7).
    TooBig,
    /// `-EOPNOTSUPP` (95).
    NotSupp,
    /// `-EINVAL` after libbpf's warning that an access string step lands
    /// in a type of unexpected kind.
    UnexpectedKind {
        /// Position in the access string.
        at: usize,
        /// The offending type.
        type_id: TypeId,
    },
}

impl Errno {
    /// The negative errno libbpf returns.
    pub fn code(self) -> i32 {
        match self {
            Errno::Inval | Errno::UnexpectedKind { .. } => -22,
            Errno::TooBig => -7,
            Errno::NotSupp => -95,
        }
    }
}

/// Why a relocation cannot be applied. The messages are libbpf's (the part
/// after `prog 'NAME': relo #N: `); [`CoreError::errno`] is libbpf's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A failure libbpf reports with its errno only.
    #[error("failed with error {}", .0.code())]
    Errno(Errno),
    /// Internal: the instruction must be poisoned (never returned).
    #[error("instruction must be poisoned")]
    Poison,
    /// The access string does not parse against the local type.
    #[error("parsing [{type_id}] {kind} {name} + {spec} failed: {}", errno.code())]
    Parse {
        /// Local root type.
        type_id: TypeId,
        /// Its kind (libbpf's lower-case name).
        kind: &'static str,
        /// Its name (`<anon>` when anonymous).
        name: String,
        /// The access string (`<?>` when unreadable).
        spec: String,
        /// The parser's error.
        errno: Errno,
    },
    /// The local type cannot be looked for in the target (no such local
    /// type, or it is anonymous).
    #[error("target candidate search failed for [{type_id}] {kind} {name}: -22")]
    CandidateSearch {
        /// Local root type.
        type_id: TypeId,
        /// Its kind.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The relocation's local type id is not in the local BTF.
    #[error("local type [{type_id}] does not exist: -22")]
    NoLocalType {
        /// The id.
        type_id: TypeId,
    },
    /// Matching a candidate failed with an error (not a mismatch).
    #[error("error matching candidate #{index} {spec}: {}", errno.code())]
    CandidateMatch {
        /// Candidate index.
        index: usize,
        /// The candidate's spec so far.
        spec: String,
        /// The error.
        errno: Errno,
    },
    /// Two matching candidates put the field at different offsets.
    #[error("field offset ambiguity: {a} != {b}")]
    OffsetAmbiguity {
        /// This candidate's bit offset.
        a: u32,
        /// The first candidate's bit offset.
        b: u32,
    },
    /// Two matching candidates decide differently.
    #[error("relocation decision ambiguity: {} {a_val} != {} {b_val}", if *.a_poison { "failure" } else { "success" }, if *.b_poison { "failure" } else { "success" })]
    DecisionAmbiguity {
        /// This candidate poisons.
        a_poison: bool,
        /// This candidate's value.
        a_val: u64,
        /// The first candidate poisons.
        b_poison: bool,
        /// The first candidate's value.
        b_val: u64,
    },
    /// A field relocation other than offset/size on an array element.
    #[error("relo {kind} at insn #{insn} can't be applied to array access")]
    ArrayAccess {
        /// Raw kind.
        kind: u32,
        /// Instruction index in the section.
        insn: u32,
    },
    /// A bitfield that no 8-byte load covers.
    #[error("relo {kind} at insn #{insn} can't be satisfied for bitfield")]
    Bitfield {
        /// Raw kind.
        kind: u32,
        /// Instruction index in the section.
        insn: u32,
    },
    /// An unknown relocation kind.
    #[error("unrecognized CO-RE relocation {} ({kind}) at insn #{insn}", CoreRelocKind::from_u32(*.kind).map_or("unknown", CoreRelocKind::name))]
    Unrecognized {
        /// Raw kind.
        kind: u32,
        /// Instruction index in the section.
        insn: u32,
    },
    /// The instruction does not hold the value the local BTF implies.
    #[error("unexpected insn #{insn} ({class}) value: got {got}, exp {exp} -> {new}")]
    UnexpectedValue {
        /// `ALU/ALU64`, `LDX/ST/STX` or `LDIMM64`.
        class: &'static str,
        /// Instruction index.
        insn: usize,
        /// The value found.
        got: u64,
        /// The value expected.
        exp: u64,
        /// The value that would have been patched in.
        new: u64,
    },
    /// A load/store offset that does not fit `off`.
    #[error("insn #{insn} (LDX/ST/STX) value too big: {val}")]
    OffsetTooBig {
        /// Instruction index.
        insn: usize,
        /// The new offset.
        val: u64,
    },
    /// The access size of the instruction is not the local field's size.
    #[error("insn #{insn} (LDX/ST/STX) unexpected mem size: got {got}, exp {exp}")]
    UnexpectedMemSize {
        /// Instruction index.
        insn: usize,
        /// The instruction's size in bytes.
        got: i32,
        /// The local field's size.
        exp: u32,
    },
    /// The target field's size is not a load/store size.
    #[error("insn #{insn} (LDX/ST/STX) invalid new mem size: {size}")]
    InvalidMemSize {
        /// Instruction index.
        insn: usize,
        /// The size.
        size: u32,
    },
    /// An `ld_imm64` with unexpected fields.
    #[error("insn #{insn} (LDIMM64) has unexpected form")]
    LdImm64Form {
        /// Instruction index.
        insn: usize,
    },
    /// An `ld_imm64` on the last slot of its function.
    #[error("insn #{insn} (LDIMM64) is truncated")]
    LdImm64Truncated {
        /// Instruction index.
        insn: usize,
    },
    /// An instruction CO-RE cannot patch.
    #[error("trying to relocate unrecognized insn #{insn}, code:{code:#x}, src:{src:#x}, dst:{dst:#x}, off:{:#x}, imm:{:#x}", *.off as i32, .imm)]
    UnrecognizedInsn {
        /// Instruction index.
        insn: usize,
        /// Opcode.
        code: u8,
        /// Source register.
        src: u8,
        /// Destination register.
        dst: u8,
        /// Offset.
        off: i16,
        /// Immediate.
        imm: i32,
    },
    /// The relocation points past the end of its function.
    #[error("insn #{insn} is outside the program: -22")]
    InsnOutOfRange {
        /// Instruction index.
        insn: usize,
    },
}

impl CoreError {
    /// libbpf's (negative) errno for this failure.
    pub fn errno(&self) -> i32 {
        match self {
            CoreError::Errno(e) => e.code(),
            CoreError::Parse { .. } => -22,
            CoreError::CandidateMatch { errno, .. } => errno.code(),
            CoreError::Bitfield { .. } => -7,
            CoreError::Unrecognized { .. } => -95,
            CoreError::OffsetTooBig { .. } => -34,
            _ => -22,
        }
    }

    /// True when libbpf reports it as `failed to patch insn` rather than
    /// `failed to relocate`.
    pub fn is_patch_error(&self) -> bool {
        matches!(
            self,
            CoreError::UnexpectedValue { .. }
                | CoreError::OffsetTooBig { .. }
                | CoreError::UnexpectedMemSize { .. }
                | CoreError::InvalidMemSize { .. }
                | CoreError::LdImm64Form { .. }
                | CoreError::UnrecognizedInsn { .. }
        )
    }
}

/// libbpf's `bpf_core_types_are_compat`: whether local type `local_id`
/// may stand for target type `target_id` (used for typed ksyms and kfunc
/// prototypes as well as type-based relocations).
pub fn types_are_compat(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    target_id: TypeId,
) -> Result<bool, CoreError> {
    matching::types_are_compat(local, local_id, target, target_id, 32).map_err(CoreError::Errno)
}

/// libbpf's `bpf_core_types_match`: the stricter relation behind
/// `bpf_core_type_matches()`.
pub fn types_match(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    target_id: TypeId,
) -> Result<bool, CoreError> {
    matching::types_match(local, local_id, target, target_id, false, 32).map_err(CoreError::Errno)
}

/// libbpf's view of a type: `Some(None)` is void (id 0), `None` an id that
/// does not exist.
pub(crate) fn get(btf: &Btf, id: TypeId) -> Option<Option<&Type>> {
    if id == 0 {
        Some(None)
    } else {
        btf.type_by_id(id).map(Some)
    }
}

/// Skips modifiers and typedefs; `None` on a bad id or a loop.
pub(crate) fn skip(btf: &Btf, id: TypeId) -> Option<(TypeId, Option<&Type>)> {
    let id = btf.skip_mods_and_typedefs(id).ok()?;
    Some((id, get(btf, id)?))
}

/// BTF kind number (0 for void).
pub(crate) fn kind_num(t: Option<&Type>) -> u32 {
    t.map_or(0, |t| t.kind() as u32)
}

/// libbpf's `btf_kind_str`.
pub(crate) fn kind_str(kind: u32) -> &'static str {
    match kind {
        0 => "void",
        1 => "int",
        2 => "ptr",
        3 => "array",
        4 => "struct",
        5 => "union",
        6 => "enum",
        7 => "fwd",
        8 => "typedef",
        9 => "volatile",
        10 => "const",
        11 => "restrict",
        12 => "func",
        13 => "func_proto",
        14 => "var",
        15 => "datasec",
        16 => "float",
        17 => "decl_tag",
        18 => "type_tag",
        19 => "enum64",
        _ => "unknown",
    }
}

/// libbpf's `btf_kind_core_compat`: same kind, or both enums.
pub(crate) fn core_compat(a: Option<&Type>, b: Option<&Type>) -> bool {
    let enumish = |k: u32| k == 6 || k == 19;
    let (ka, kb) = (kind_num(a), kind_num(b));
    ka == kb || (enumish(ka) && enumish(kb))
}

/// `sizeof` as libbpf's `btf__resolve_size` computes it.
pub(crate) fn resolve_size(btf: &Btf, id: TypeId) -> Result<u32, Errno> {
    btf.resolve_size(id).map_err(|_| Errno::Inval)
}

/// One candidate tried for a relocation, as libbpf's debug log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CandidateTrace {
    /// Position in the candidate list.
    pub index: usize,
    /// Candidate type id in the target BTF.
    pub type_id: TypeId,
    /// The candidate's spec (complete when matching).
    pub spec: String,
    /// Whether it matched.
    pub matching: bool,
}

/// The decision for one relocation, before patching.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CoreDecision {
    /// The relocation kind.
    pub kind: CoreRelocKind,
    /// The local spec in libbpf's format.
    pub local_spec: String,
    /// Every candidate tried, in order.
    pub candidates: Vec<CandidateTrace>,
    /// The first matching candidate's spec, when one matched.
    pub target_spec: Option<String>,
    /// The first matching candidate's type id.
    pub target_type_id: Option<TypeId>,
    /// Every candidate was tried and none matched (libbpf logs `no matching targets found`).
    pub no_match: bool,
    /// The values to patch (or the poison request).
    pub res: CoreRes,
}

/// Relocates CO-RE records of one object (local BTF) against one target
/// BTF, keeping libbpf's per-root-type candidate cache across relocations.
///
/// The cache matters for results, not just speed: libbpf narrows a root
/// type's candidates to those that matched a relocation, and later
/// relocations of the same root type only see those.
#[derive(Debug)]
pub struct CoreRelocator<'l, 't> {
    local: &'l Btf,
    target: &'t Btf,
    cache: HashMap<TypeId, Vec<TypeId>>,
}

impl<'l, 't> CoreRelocator<'l, 't> {
    /// A relocator for objects with BTF `local` against `target`.
    pub fn new(local: &'l Btf, target: &'t Btf) -> Self {
        CoreRelocator {
            local,
            target,
            cache: HashMap::new(),
        }
    }

    /// The target BTF.
    pub fn target(&self) -> &'t Btf {
        self.target
    }

    /// Candidates for local type `id`: target types of a compatible kind
    /// with the same essential name, in id order (libbpf's
    /// `bpf_core_add_cands` over the target).
    fn find_cands(&self, local_t: &Type) -> Vec<TypeId> {
        let name = self.local.type_name(local_t);
        let essential = essential_name(name);
        self.target
            .ids_by_essential_name(essential)
            .filter(|&id| {
                self.target
                    .type_by_id(id)
                    .is_some_and(|t| core_compat(Some(t), Some(local_t)))
            })
            .collect()
    }

    /// Computes the result of `relo` (libbpf's `bpf_core_resolve_relo` and
    /// `bpf_core_calc_relo_insn`).
    pub fn resolve(&mut self, relo: &CoreReloc) -> Result<CoreDecision, CoreError> {
        let (d, r) = self.resolve_traced(relo);
        r?;
        d.ok_or(CoreError::Errno(Errno::Inval))
    }

    /// Like [`CoreRelocator::resolve`], but on failure also returns what was
    /// decided before it (the local spec and the candidates tried), as
    /// libbpf's log shows it.
    pub fn resolve_traced(
        &mut self,
        relo: &CoreReloc,
    ) -> (Option<CoreDecision>, Result<CoreRes, CoreError>) {
        let mut trace = None;
        let r = self.resolve_inner(relo, &mut trace);
        (trace, r)
    }

    fn resolve_inner(
        &mut self,
        relo: &CoreReloc,
        trace: &mut Option<CoreDecision>,
    ) -> Result<CoreRes, CoreError> {
        let local = self.local;
        let local_id = relo.type_id;
        let local_t = get(local, local_id).ok_or(CoreError::NoLocalType { type_id: local_id })?;
        let local_name = local_t.map_or(Some(""), |t| local.string_at(t.name_off));
        let Some(local_name) = local_name else {
            return Err(CoreError::NoLocalType { type_id: local_id });
        };
        let kind_s = kind_str(kind_num(local_t));
        let shown_name = || {
            if local_name.is_empty() {
                "<anon>".to_string()
            } else {
                local_name.to_string()
            }
        };
        let is_local_id = relo.kind_raw == CoreRelocKind::TypeIdLocal as u32;
        if !is_local_id && !self.cache.contains_key(&local_id) {
            let Some(t) = local_t.filter(|_| !local_name.is_empty()) else {
                return Err(CoreError::CandidateSearch {
                    type_id: local_id,
                    kind: kind_s,
                    name: local_name.to_string(),
                });
            };
            let cands = self.find_cands(t);
            self.cache.insert(local_id, cands);
        }

        let insn = relo.insn_off / 8;
        let access = local.string_at(relo.access_str_off);
        let local_spec = spec::parse_spec(local, local_id, access, relo.kind_raw).map_err(|e| {
            CoreError::Parse {
                type_id: local_id,
                kind: kind_s,
                name: shown_name(),
                spec: access.unwrap_or("<?>").to_string(),
                errno: e,
            }
        })?;
        let local_fmt = format_spec(&local_spec);
        // Type-based and enumerator kinds parse only when known.
        let kind = local_spec.kind().ok_or(CoreError::Unrecognized {
            kind: relo.kind_raw,
            insn,
        })?;
        let decision = trace.insert(CoreDecision {
            kind,
            local_spec: local_fmt,
            candidates: Vec::new(),
            target_spec: None,
            target_type_id: None,
            no_match: false,
            res: CoreRes::default(),
        });
        if kind == CoreRelocKind::TypeIdLocal {
            decision.res = CoreRes {
                orig_val: u64::from(local_id),
                new_val: u64::from(local_id),
                ..CoreRes::default()
            };
            return Ok(decision.res);
        }
        if local_name.is_empty() {
            return Err(CoreError::Errno(Errno::NotSupp));
        }

        let cands = self.cache.get(&local_id).cloned().unwrap_or_default();
        let target = self.target;
        let mut kept = Vec::with_capacity(cands.len());
        let mut chosen: Option<(Spec<'t>, CoreRes)> = None;
        let mut cand_spec = Spec::empty(target, 0, relo.kind_raw);
        for (i, &cid) in cands.iter().enumerate() {
            let matched =
                matching::spec_match(&local_spec, target, cid, &mut cand_spec).map_err(|e| {
                    CoreError::CandidateMatch {
                        index: i,
                        spec: format_spec(&cand_spec),
                        errno: e,
                    }
                })?;
            decision.candidates.push(CandidateTrace {
                index: i,
                type_id: cid,
                spec: format_spec(&cand_spec),
                matching: matched,
            });
            if !matched {
                continue;
            }
            let res = calc::calc_relo(kind, insn, &local_spec, Some(&cand_spec))?;
            match &chosen {
                None => chosen = Some((cand_spec.clone(), res)),
                Some((spec, first)) => {
                    if cand_spec.bit_offset != spec.bit_offset {
                        return Err(CoreError::OffsetAmbiguity {
                            a: cand_spec.bit_offset,
                            b: spec.bit_offset,
                        });
                    }
                    if res.poison != first.poison || res.new_val != first.new_val {
                        return Err(CoreError::DecisionAmbiguity {
                            a_poison: res.poison,
                            a_val: res.new_val,
                            b_poison: first.poison,
                            b_val: first.new_val,
                        });
                    }
                }
            }
            kept.push(cid);
        }
        match chosen {
            Some((spec, res)) => {
                // Later relocations of this root type only see what matched.
                self.cache.insert(local_id, kept);
                decision.target_spec = Some(format_spec(&spec));
                decision.target_type_id = Some(spec.root_type_id);
                decision.res = res;
            }
            None => {
                decision.no_match = true;
                decision.res = calc::calc_relo(kind, insn, &local_spec, None)?;
            }
        }
        Ok(decision.res)
    }
}
