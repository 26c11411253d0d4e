//! `.BTF.ext` records rebased onto linked programs: func_info and line_info move with each
//! placed function (byte offsets become slots, shifted by where the function landed), and
//! CO-RE records are counted per program so that programs needing CO-RE can be refused.

use bpfbox_btf::{Btf, BtfExt, ExtSection};
use bpfbox_vm::program::{FuncInfo, LineInfo};

use crate::link::{Function, Placement};

/// The records of `secs` for section `name` whose instruction lies in `[start, end)` slots.
fn in_range<'a, T>(
    secs: &'a [ExtSection<T>],
    name: &'a str,
    start: usize,
    end: usize,
    insn_off: impl Fn(&T) -> u32 + 'a,
) -> impl Iterator<Item = (usize, &'a T)> + 'a {
    secs.iter()
        .filter(move |s| s.name == name)
        .flat_map(|s| s.records.iter())
        .filter_map(move |r| {
            let slot = (insn_off(r) / 8) as usize;
            (slot >= start && slot < end).then(|| (slot - start, r))
        })
}

/// func_info and line_info of a linked program, in placement order (libbpf's
/// `reloc_prog_func_and_line_info`): subprogram func_info is only kept when the entry
/// function has some.
pub(crate) fn rebase(
    btf: &Btf,
    ext: &BtfExt,
    funcs: &[Function],
    placed: &[Placement],
    sec_names: &[String],
) -> (Vec<FuncInfo>, Vec<LineInfo>) {
    let mut func_info = Vec::new();
    let mut line_info = Vec::new();
    for (n, p) in placed.iter().enumerate() {
        let f = &funcs[p.func];
        let name = sec_names.get(f.sec).map_or("", |s| s.as_str());
        let end = f.start + f.insns.len();
        if n == 0 || !func_info.is_empty() {
            func_info.extend(
                in_range(&ext.func_info, name, f.start, end, |r| r.insn_off).map(|(rel, r)| {
                    FuncInfo {
                        insn_off: (p.base + rel) as u32,
                        type_id: r.type_id,
                    }
                }),
            );
        }
        line_info.extend(
            in_range(&ext.line_info, name, f.start, end, |r| r.insn_off).map(|(rel, r)| LineInfo {
                insn_off: (p.base + rel) as u32,
                file: r.file_name(btf).unwrap_or("").to_string(),
                line: r.source_line(btf).unwrap_or("").to_string(),
                line_num: r.line(),
                col: r.col(),
            }),
        );
    }
    (func_info, line_info)
}

/// Number of CO-RE relocation records in the placed functions.
pub(crate) fn core_relo_count(
    ext: &BtfExt,
    funcs: &[Function],
    placed: &[Placement],
    sec_names: &[String],
) -> usize {
    placed
        .iter()
        .map(|p| {
            let f = &funcs[p.func];
            let name = sec_names.get(f.sec).map_or("", |s| s.as_str());
            in_range(
                &ext.core_relos,
                name,
                f.start,
                f.start + f.insns.len(),
                |r| r.insn_off,
            )
            .count()
        })
        .sum()
}
