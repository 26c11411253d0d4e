//! `; source @ file:line` lines from the program's BTF line info (`verbose_linfo`).

use bpfbox_vm::program::LineInfo;

/// The record covering `pc`: the last one starting at or before it.
pub fn find(line_info: &[LineInfo], pc: usize) -> Option<usize> {
    let n = line_info.partition_point(|l| l.insn_off as usize <= pc);
    n.checked_sub(1)
}

/// The line to print before instruction `pc`, if its record differs from the last one
/// printed (`prev`) and does not repeat the same file and line; updates `prev`.
pub fn line(line_info: &[LineInfo], pc: usize, prev: &mut Option<usize>) -> Option<String> {
    let i = find(line_info, pc)?;
    if *prev == Some(i) {
        return None;
    }
    let l = &line_info[i];
    if let Some(p) = prev.map(|p| &line_info[p]) {
        if p.file == l.file && p.line_num == l.line_num {
            return None;
        }
    }
    *prev = Some(i);
    let src = l
        .line
        .trim_start_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let file = l.file.rsplit('/').next().unwrap_or(&l.file);
    Some(format!("{src} @ {file}:{}\n", l.line_num))
}
