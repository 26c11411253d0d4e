//! CO-RE in the loader: choosing the target BTF (the host's vmlinux or a
//! file), and applying an object's CO-RE records to its functions before
//! linking, in libbpf's order and with libbpf's decisions
//! (`bpf_object__relocate_core`).

use std::path::Path;
use std::sync::Arc;

use bpfbox_btf::core::{is_ld_imm64, CoreDecision, CoreError, CoreInsn, PatchStep};
use bpfbox_btf::{Btf, BtfExt, CoreRelocator};
use bpfbox_vm::isa::RawInsn;

use crate::error::{LoadError, Result};
use crate::link::Function;

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Loads a CO-RE target BTF from `path`: raw BTF (like
/// `/sys/kernel/btf/vmlinux`) or an ELF file with a `.BTF` section (a
/// `vmlinux` image, a BPF object).
pub fn load_btf_file(path: impl AsRef<Path>) -> Result<Arc<Btf>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_target_btf(&bytes, &path.display().to_string()).map(Arc::new)
}

/// Loads the running kernel's BTF from [`VMLINUX_BTF_PATH`].
pub fn load_host_btf() -> Result<Arc<Btf>> {
    load_btf_file(VMLINUX_BTF_PATH)
}

/// Parses raw BTF or an ELF file's `.BTF` section; `what` names the input
/// in errors.
pub fn parse_target_btf(bytes: &[u8], what: &str) -> Result<Btf> {
    let err = |msg: String| LoadError::Btf {
        section: what.to_string(),
        msg,
    };
    if bytes.starts_with(b"\x7fELF") {
        let elf = goblin::elf::Elf::parse(bytes).map_err(|e| err(format!("bad ELF: {e}")))?;
        let sec = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".BTF"))
            .ok_or_else(|| err("ELF file has no .BTF section".into()))?;
        let start = usize::try_from(sec.sh_offset).ok();
        let end = start.and_then(|s| s.checked_add(usize::try_from(sec.sh_size).ok()?));
        let data = start
            .zip(end)
            .and_then(|(s, e)| bytes.get(s..e))
            .ok_or_else(|| err(".BTF section lies outside the file".into()))?;
        Btf::parse(data).map_err(|e| err(format!(".BTF: {e}")))
    } else {
        Btf::parse(bytes).map_err(|e| err(e.to_string()))
    }
}

/// What happened to one CO-RE relocation record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CoreOutcome {
    /// The instruction was patched (`steps` say how).
    Patched,
    /// The instruction was poisoned (`call 0xbad2310`); a later verifier or
    /// run error at this instruction points back here.
    Poisoned {
        /// Why: no target matched, or the access size could not change.
        reason: String,
    },
    /// The relocation failed: the program (and every program calling this
    /// function) cannot be loaded, as libbpf fails the load.
    Failed {
        /// libbpf's reason.
        reason: String,
        /// libbpf's errno (negative).
        errno: i32,
        /// `relocate` or `patch`: which libbpf stage failed.
        stage: &'static str,
    },
    /// The record was not applied: its function is not loaded (`?`
    /// section) or was eliminated (overridden weak function).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One CO-RE relocation record and its decision, in libbpf's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CoreRelocation {
    /// The function the instruction belongs to (libbpf's program name, which
    /// for a `.text` subprogram is the subprogram's name).
    pub program: String,
    /// The ELF section of the record.
    pub section: String,
    /// Record index within its section (libbpf's `relo #N`).
    pub index: usize,
    /// Instruction index within the function.
    pub insn: usize,
    /// The relocation kind (libbpf's name, or `unknown(N)`).
    pub kind: String,
    /// Local root type id.
    pub type_id: u32,
    /// The access string.
    pub access: String,
    /// The decision (local spec, candidates, values), when resolution got
    /// that far.
    pub decision: Option<CoreDecision>,
    /// The instruction slots before patching (two for `ld_imm64`).
    pub old_insns: Vec<RawInsn>,
    /// The instruction slots after patching.
    pub new_insns: Vec<RawInsn>,
    /// Patch steps, as libbpf's debug lines.
    pub steps: Vec<PatchStep>,
    /// The result.
    pub outcome: CoreOutcome,
}

impl CoreRelocation {
    /// libbpf-style debug lines for this record.
    pub fn log_lines(&self) -> Vec<String> {
        let p = format!("prog '{}': relo #{}: ", self.program, self.index);
        let mut out = Vec::new();
        if let Some(d) = &self.decision {
            out.push(format!("{p}{}", d.local_spec));
            for c in &d.candidates {
                out.push(format!(
                    "{p}{} candidate #{} {}",
                    if c.matching {
                        "matching"
                    } else {
                        "non-matching"
                    },
                    c.index,
                    c.spec
                ));
            }
            if d.no_match {
                out.push(format!("{p}no matching targets found"));
            }
        }
        let memsz_poison = matches!(self.outcome, CoreOutcome::Poisoned { .. })
            && self.decision.as_ref().is_some_and(|d| !d.res.poison);
        if memsz_poison {
            out.push(format!(
                "{p}insn #{} (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing pointers, unsigned integers, or fields of matching type and size.",
                self.insn
            ));
        }
        for s in &self.steps {
            out.push(format!("{p}{}", s.libbpf_line()));
        }
        match &self.outcome {
            CoreOutcome::Failed {
                reason,
                errno,
                stage,
            } => {
                // libbpf words some failures without the relocation prefix and reports
                // others by errno alone.
                if reason.starts_with("relo ") {
                    out.push(format!("prog '{}': {reason}", self.program));
                } else if !reason.starts_with("failed with error")
                    && !reason.starts_with("local type")
                    && !reason.contains("outside the program")
                {
                    out.push(format!("{p}{reason}"));
                }
                if *stage == "patch" {
                    out.push(format!("{p}failed to patch insn #{}: {errno}", self.insn));
                } else {
                    out.push(format!("{p}failed to relocate: {errno}"));
                }
            }
            CoreOutcome::Skipped { reason } => out.push(format!(
                "sec '{}': skipping CO-RE relocation #{}: {reason}",
                self.section, self.index
            )),
            _ => {}
        }
        out
    }
}

fn to_core(i: &RawInsn) -> CoreInsn {
    CoreInsn {
        code: i.code,
        dst: i.dst,
        src: i.src,
        off: i.off,
        imm: i.imm,
    }
}

fn from_core(i: &CoreInsn) -> RawInsn {
    RawInsn::new(i.code, i.dst, i.src, i.off, i.imm)
}

/// The result of the CO-RE pass over an object.
pub(crate) struct CorePass {
    /// Every record, in libbpf's order.
    pub log: Vec<CoreRelocation>,
    /// For each function, the first relocation that failed hard.
    pub failures: Vec<Option<(String, usize, CoreError)>>,
}

/// Applies every CO-RE record of `ext` to `funcs` against `target`
/// (libbpf's `bpf_object__relocate_core`, but a failure only marks its
/// function instead of aborting the object). `autoload(f)` tells whether
/// libbpf would load function `f`.
pub(crate) fn relocate(
    local: &Btf,
    ext: &BtfExt,
    target: &Btf,
    funcs: &mut [Function],
    sec_names: &[String],
    autoload: impl Fn(&Function) -> bool,
) -> CorePass {
    let mut relocator = CoreRelocator::new(local, target);
    let mut log = Vec::new();
    let mut failures: Vec<Option<(String, usize, CoreError)>> = vec![None; funcs.len()];
    for sec in &ext.core_relos {
        let sec_idx = sec_names.iter().position(|n| *n == sec.name);
        for (i, rec) in sec.records.iter().enumerate() {
            let kind = rec
                .kind()
                .map_or_else(|| format!("unknown({})", rec.kind_raw), |k| k.name().into());
            let access = rec.access_str(local).unwrap_or("<?>").to_string();
            let insn_idx = (rec.insn_off / 8) as usize;
            let fi = sec_idx.and_then(|s| {
                funcs.iter().position(|f| {
                    f.sec == s && insn_idx >= f.start && insn_idx < f.start + f.insns.len()
                })
            });
            let mut entry = CoreRelocation {
                program: String::new(),
                section: sec.name.clone(),
                index: i,
                insn: insn_idx,
                kind,
                type_id: rec.type_id,
                access,
                decision: None,
                old_insns: Vec::new(),
                new_insns: Vec::new(),
                steps: Vec::new(),
                outcome: CoreOutcome::Patched,
            };
            let Some(fi) = fi.filter(|_| rec.insn_off % 8 == 0) else {
                entry.outcome = CoreOutcome::Skipped {
                    reason: format!(
                        "insn #{insn_idx} belongs to no function (eliminated weak subprogram)"
                    ),
                };
                log.push(entry);
                continue;
            };
            let f = &mut funcs[fi];
            entry.program = f.name.clone();
            if !autoload(f) {
                entry.outcome = CoreOutcome::Skipped {
                    reason: "program is not loaded (autoload off)".into(),
                };
                log.push(entry);
                continue;
            }
            let idx = insn_idx - f.start;
            entry.insn = idx;
            let width = if is_ld_imm64(f.insns[idx].code) { 2 } else { 1 };
            entry.old_insns = f.insns[idx..(idx + width).min(f.insns.len())].to_vec();
            let result = if width == 2 && idx + 1 >= f.insns.len() {
                Err(CoreError::LdImm64Truncated { insn: idx })
            } else {
                let (d, r) = relocator.resolve_traced(rec);
                entry.decision = d;
                r.and_then(|res| {
                    let end = (idx + 2).min(f.insns.len());
                    let mut slots: Vec<CoreInsn> = f.insns[idx..end].iter().map(to_core).collect();
                    let steps = bpfbox_btf::patch_insn(&mut slots, idx, &res)?;
                    for (k, s) in slots.iter().enumerate().take(width) {
                        f.insns[idx + k] = from_core(s);
                    }
                    Ok((steps, res))
                })
            };
            match result {
                Ok((steps, res)) => {
                    if steps.iter().any(|s| matches!(s, PatchStep::Poison { .. })) {
                        let reason = if res.poison {
                            "no matching target: the relocated access does not exist in the target"
                        } else {
                            "insn accesses field incorrectly: the field's size changed and it is neither a pointer nor an unsigned integer"
                        };
                        entry.outcome = CoreOutcome::Poisoned {
                            reason: reason.into(),
                        };
                    }
                    entry.steps = steps;
                }
                Err(e) => {
                    entry.outcome = CoreOutcome::Failed {
                        reason: e.to_string(),
                        errno: e.errno(),
                        stage: if e.is_patch_error() {
                            "patch"
                        } else {
                            "relocate"
                        },
                    };
                    if failures[fi].is_none() {
                        failures[fi] = Some((sec.name.clone(), i, e));
                    }
                }
            }
            entry.new_insns = f.insns[idx..(idx + width).min(f.insns.len())].to_vec();
            log.push(entry);
        }
    }
    CorePass { log, failures }
}
