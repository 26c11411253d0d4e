//! Entry programs: each one linked with its own copies of the subprograms it calls, or
//! refused with the reason libbpf would give (a relocation, CO-RE or `.ksyms` failure, or a
//! need for a kernel's BTF that was not given). One refused program never stops the others.

use std::collections::HashMap;

use bpfbox_btf::{Btf, BtfExt};
use bpfbox_vm::Program;

use super::{ProgramMeta, MAX_TOTAL_INSNS};
use crate::error::ProgramError;
use crate::ksyms::Ksym;
use crate::link::{Function, Linked, RelocRecord};
use crate::section::classify;
use bpfbox_btf::core::CoreError;

/// What linking needs from the earlier stages.
pub(super) struct LinkInputs<'a> {
    pub funcs: &'a [Function],
    pub sec_names: &'a [String],
    pub map_names: &'a [String],
    pub ksym_res: &'a HashMap<String, Ksym>,
    /// Per function, the first CO-RE relocation that failed (section, record, error).
    pub core_failures: &'a [Option<(String, usize, CoreError)>],
    pub btf: Option<&'a Btf>,
    pub btf_ext: Option<&'a BtfExt>,
    /// Whether a target BTF was given (CO-RE and `.ksyms` could be resolved).
    pub relocating: bool,
    pub license: &'a str,
    pub kern_version: u32,
}

/// The linked programs, their loader-side facts, the programs refused, and every
/// relocation applied.
pub(super) struct Entries {
    pub programs: Vec<Program>,
    pub metas: Vec<ProgramMeta>,
    pub program_errors: Vec<ProgramError>,
    pub relocations: Vec<RelocRecord>,
}

/// Links every entry program.
pub(super) fn link_entries(cx: &LinkInputs<'_>) -> Entries {
    let mut out = Entries {
        programs: Vec::new(),
        metas: Vec::new(),
        program_errors: Vec::new(),
        relocations: Vec::new(),
    };
    let index = crate::link::index_functions(cx.funcs);
    // Every entry program gets its own copies of its subprograms; bound the total so a
    // hostile object cannot make us build millions of copies.
    let mut budget = MAX_TOTAL_INSNS;
    for (i, f) in cx.funcs.iter().enumerate().filter(|(_, f)| f.is_entry) {
        let linked = match crate::link::link(cx.funcs, &index, i, cx.map_names, cx.ksym_res, budget)
        {
            Ok(l) => l,
            Err(e) => {
                out.program_errors.push(e);
                continue;
            }
        };
        if let Err(e) = check_linked(cx, f, &linked, budget) {
            out.program_errors.push(e);
            continue;
        }
        budget -= linked.insns.len();
        let (func_info, line_info) = match (cx.btf, cx.btf_ext) {
            (Some(b), Some(x)) => crate::ext::rebase(b, x, cx.funcs, &linked.placed, cx.sec_names),
            _ => (Vec::new(), Vec::new()),
        };
        let spec = classify(&cx.sec_names[f.sec]);
        out.relocations.extend(linked.records);
        out.metas.push(ProgramMeta {
            name: f.name.clone(),
            section_index: f.sec,
            autoload: spec.autoload,
            recognized: spec.recognized,
            entry_insns: f.insns.len(),
        });
        out.programs.push(Program {
            name: f.name.clone(),
            section: spec.name,
            prog_type: spec.prog_type,
            expected_attach_type: spec.expected_attach_type,
            attach_target: spec.attach_target,
            prog_flags: spec.prog_flags,
            insns: linked.insns,
            license: cx.license.to_string(),
            kern_version: cx.kern_version,
            func_info,
            line_info,
        });
    }
    out
}

/// Why the linked program `f` cannot load, in the order libbpf finds it: a relocation that
/// failed in one of its functions, a failed CO-RE relocation, CO-RE needed without a target,
/// a `.ksyms` extern that did not resolve or could not be, the object's instruction budget.
fn check_linked(
    cx: &LinkInputs<'_>,
    f: &Function,
    linked: &Linked,
    budget: usize,
) -> Result<(), ProgramError> {
    let program = || f.name.clone();
    if let Some((function, msg)) = linked.placed.iter().find_map(|p| {
        let func = &cx.funcs[p.func];
        func.reloc_error
            .as_ref()
            .map(|e| (func.name.clone(), e.clone()))
    }) {
        return Err(ProgramError::Relocation {
            program: program(),
            function,
            msg,
        });
    }
    let failed = linked.placed.iter().find_map(|p| {
        cx.core_failures
            .get(p.func)
            .and_then(|x| x.as_ref())
            .map(|(sec, relo, e)| (&cx.funcs[p.func].name, sec, *relo, e))
    });
    if let Some((function, section, relo, e)) = failed {
        return Err(ProgramError::Core {
            program: program(),
            function: function.clone(),
            section: section.clone(),
            relo,
            errno: e.errno(),
            error: Box::new(e.clone()),
        });
    }
    if let (Some(ext), false) = (cx.btf_ext, cx.relocating) {
        let count = crate::ext::core_relo_count(ext, cx.funcs, &linked.placed, cx.sec_names);
        if count > 0 {
            return Err(ProgramError::NeedsCore {
                program: program(),
                count,
            });
        }
    }
    if let Some((symbol, reason)) = linked.ksyms.iter().find_map(|n| match cx.ksym_res.get(n) {
        Some(Ksym::Error(e)) => Some((n.clone(), e.clone())),
        _ => None,
    }) {
        return Err(ProgramError::Ksym {
            program: program(),
            symbol,
            reason,
        });
    }
    if !linked.ksyms.is_empty() {
        return Err(ProgramError::NeedsKsyms {
            program: program(),
            symbols: linked.ksyms.clone(),
        });
    }
    if linked.insns.len() > budget {
        return Err(ProgramError::Link {
            program: program(),
            insn: 0,
            msg: format!(
                "the object's linked programs exceed {MAX_TOTAL_INSNS} instructions in total"
            ),
        });
    }
    Ok(())
}
