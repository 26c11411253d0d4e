//! Program-level checks before the walk, in the kernel's order so that a program with several
//! faults gets the same first complaint: function-info records, subprogram discovery, jump
//! ranges and fall-through per subprogram, function-info and line-info layout, `ld_imm64`
//! pseudo sources and the opcode table, then the control-flow walk (back-edges, unreachable
//! instructions, jumps into `ld_imm64`) that also marks prune points, jump points and forced
//! checkpoints.

use bpfbox_vm::isa::{in_insn_table, op, pseudo, RawInsn};
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::program::{FuncInfo, LineInfo};

use crate::error::{Reject, Result};

/// The kernel's limit on subprograms (`BPF_MAX_SUBPROGS`).
pub const MAX_SUBPROGS: usize = 256;
/// Largest offset of a direct map-value reference (`BPF_MAX_VAR_OFF`).
const MAX_VAR_OFF: u32 = 1 << 29;
/// `bpf_loop`, `bpf_for_each_map_elem`, `bpf_find_vma`, `bpf_user_ringbuf_drain`: helpers
/// that call a BPF function synchronously.
const SYNC_CALLBACK_HELPERS: [i32; 4] = [181, 164, 180, 209];
/// `bpf_timer_set_callback`: calls a BPF function later.
const ASYNC_CALLBACK_HELPER: i32 = 170;

/// What the program-level checks learn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cfg {
    /// Slot indices where subprograms start (the first is 0), sorted.
    pub subprogs: Vec<usize>,
    /// Instructions where the walk compares against and saves states.
    pub prune_point: Vec<bool>,
    /// Instructions that end a jump (the kernel records jump history there).
    pub jmp_point: Vec<bool>,
    /// Instructions where the walk must save a checkpoint.
    pub force_checkpoint: Vec<bool>,
    /// Lines the log prints before the walk (`func#0 @0` at level 2).
    pub log: Vec<String>,
}

impl Cfg {
    /// The index of the subprogram containing `pc`.
    pub fn subprog_of(&self, pc: usize) -> usize {
        self.subprogs
            .partition_point(|&s| s <= pc)
            .saturating_sub(1)
    }

    /// The end (exclusive) of subprogram `i`.
    pub fn subprog_end(&self, i: usize, len: usize) -> usize {
        self.subprogs.get(i + 1).copied().unwrap_or(len)
    }
}

/// Inputs of the program-level checks.
pub struct CfgInput<'a> {
    /// The instruction slots.
    pub insns: &'a [RawInsn],
    /// Function records (empty without BTF).
    pub func_info: &'a [FuncInfo],
    /// Line records (empty without BTF).
    pub line_info: &'a [LineInfo],
    /// The maps `ld_imm64` map-index references index.
    pub maps: &'a [MapSpec],
    /// Whether the load has CAP_BPF (`bpf_capable`): back-edges and calls need it.
    pub bpf_capable: bool,
    /// Whether level-2 lines are wanted.
    pub verbose: bool,
    /// The program type (which maps it may use).
    pub prog_type: bpfbox_vm::ProgType,
    /// The object's BTF, which describes the maps' values.
    pub btf: Option<&'a bpfbox_btf::Btf>,
}

fn is_ldimm64(i: &RawInsn) -> bool {
    i.code == op::LD | op::IMM | op::DW
}

fn is_pseudo_call(i: &RawInsn) -> bool {
    i.code == op::JMP | op::CALL && i.src == pseudo::CALL
}

fn is_pseudo_func(i: &RawInsn) -> bool {
    is_ldimm64(i) && i.src == pseudo::FUNC
}

fn is_kfunc_call(i: &RawInsn) -> bool {
    i.code == op::JMP | op::CALL && i.src == pseudo::KFUNC_CALL
}

/// Runs every program-level check.
pub fn check(inp: &CfgInput<'_>) -> Result<Cfg> {
    check_logged(inp, &mut Vec::new())
}

/// [`check`], with the lines the kernel logs on the way in `log` whatever the outcome
/// (the subprograms found are listed before a later check fails).
pub fn check_logged(inp: &CfgInput<'_>, log: &mut Vec<String>) -> Result<Cfg> {
    let n = inp.insns.len();
    let mut cfg = Cfg {
        prune_point: vec![false; n],
        jmp_point: vec![false; n],
        force_checkpoint: vec![false; n],
        ..Cfg::default()
    };
    check_func_info_early(inp.func_info)?;
    add_subprogs(inp, &mut cfg)?;
    log.clone_from(&cfg.log);
    check_subprogs(inp.insns, &cfg.subprogs)?;
    check_btf_info(inp, &cfg.subprogs)?;
    resolve_ldimm64(inp)?;
    walk_cfg(inp, &mut cfg)?;
    log.clone_from(&cfg.log);
    Ok(cfg)
}

fn check_func_info_early(fi: &[FuncInfo]) -> Result<()> {
    for (i, f) in fi.iter().enumerate() {
        if i == 0 && f.insn_off != 0 {
            return Err(Reject::program(format!(
                "nonzero insn_off {} for the first func info record",
                f.insn_off
            )));
        }
        if i > 0 && f.insn_off <= fi[i - 1].insn_off {
            return Err(Reject::program(format!(
                "same or smaller insn offset ({}) than previous func info record ({})",
                f.insn_off,
                fi[i - 1].insn_off
            )));
        }
    }
    Ok(())
}

fn add_subprogs(inp: &CfgInput<'_>, cfg: &mut Cfg) -> Result<()> {
    let n = inp.insns.len() as i64;
    cfg.subprogs.push(0);
    for (pc, i) in inp.insns.iter().enumerate() {
        if !is_pseudo_func(i) && !is_pseudo_call(i) && !is_kfunc_call(i) {
            continue;
        }
        if !inp.bpf_capable {
            return Err(Reject::at(
                pc,
                "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN",
            ));
        }
        if is_kfunc_call(i) {
            return Err(Reject::unsupported(pc, "calling kernel functions (kfuncs)"));
        }
        let t = pc as i64 + i.imm as i64 + 1;
        if t < 0 || t >= n {
            return Err(Reject::at(pc, "call to invalid destination"));
        }
        if let Err(at) = cfg.subprogs.binary_search(&(t as usize)) {
            if cfg.subprogs.len() >= MAX_SUBPROGS {
                return Err(Reject::at(pc, "too many subprograms"));
            }
            cfg.subprogs.insert(at, t as usize);
        }
    }
    if inp.verbose {
        for (i, s) in cfg.subprogs.iter().enumerate() {
            cfg.log.push(format!("func#{i} @{s}"));
        }
    }
    Ok(())
}

fn check_subprogs(insns: &[RawInsn], subprogs: &[usize]) -> Result<()> {
    for (k, &start) in subprogs.iter().enumerate() {
        let end = subprogs.get(k + 1).copied().unwrap_or(insns.len());
        for (pc, i) in insns.iter().enumerate().take(end).skip(start) {
            let class = op::class(i.code);
            let opv = i.code & 0xf0;
            if (class == op::JMP || class == op::JMP32) && opv != op::EXIT && opv != op::CALL {
                let off = if i.code == op::JMP32 | op::JA {
                    i.imm as i64
                } else {
                    i.off as i64
                };
                let to = pc as i64 + off + 1;
                if to < start as i64 || to >= end as i64 {
                    return Err(Reject::at(
                        pc,
                        format!("jump out of range from insn {pc} to {to}"),
                    ));
                }
            }
        }
        let last = insns[end - 1].code;
        if last != op::JMP | op::EXIT && last != op::JMP32 | op::JA && last != op::JMP | op::JA {
            return Err(Reject::at(end - 1, "last insn is not an exit or jmp"));
        }
    }
    Ok(())
}

fn check_btf_info(inp: &CfgInput<'_>, subprogs: &[usize]) -> Result<()> {
    if !inp.func_info.is_empty() {
        if inp.func_info.len() != subprogs.len() {
            return Err(Reject::program(
                "number of funcs in func_info doesn't match number of subprogs",
            ));
        }
        if inp
            .func_info
            .iter()
            .zip(subprogs)
            .any(|(f, &s)| f.insn_off as usize != s)
        {
            return Err(Reject::program(
                "func_info BTF section doesn't match subprog layout in BPF program",
            ));
        }
    }
    if inp.line_info.is_empty() {
        return Ok(());
    }
    let len = inp.insns.len();
    let mut s = 0;
    let mut prev = 0u32;
    for (i, l) in inp.line_info.iter().enumerate() {
        if (i > 0 && l.insn_off <= prev) || l.insn_off as usize >= len {
            return Err(Reject::program(format!(
                "Invalid line_info[{i}].insn_off:{} (prev_offset:{prev} prog->len:{len})",
                l.insn_off
            )));
        }
        if inp.insns[l.insn_off as usize].code == 0 {
            return Err(Reject::program(format!(
                "Invalid insn code at line_info[{i}].insn_off"
            )));
        }
        if s < subprogs.len() {
            if l.insn_off as usize == subprogs[s] {
                s += 1;
            } else if subprogs[s] < l.insn_off as usize {
                return Err(Reject::program(format!(
                    "missing bpf_line_info for func#{s}"
                )));
            }
        }
        prev = l.insn_off;
    }
    if s != subprogs.len() {
        return Err(Reject::program(format!(
            "missing bpf_line_info for {} funcs starting from func#{s}",
            subprogs.len() - s
        )));
    }
    Ok(())
}

/// Whether a map type supports direct value access (`map_direct_value_addr`).
fn direct_value_access(t: MapType) -> bool {
    matches!(t, MapType::Array)
}

fn resolve_ldimm64(inp: &CfgInput<'_>) -> Result<()> {
    let insns = inp.insns;
    let mut pc = 0;
    while pc < insns.len() {
        let i = insns[pc];
        if op::class(i.code) == op::LDX {
            let mode = i.code & 0xe0;
            if (mode != op::MEM && mode != op::MEMSX) || i.imm != 0 {
                return Err(Reject::at(pc, "BPF_LDX uses reserved fields"));
            }
        }
        if !is_ldimm64(&i) {
            if !in_insn_table(i.code) || i.code == op::JMP | op::CALL | op::X {
                return Err(Reject::at(pc, format!("unknown opcode {:02x}", i.code)));
            }
            pc += 1;
            continue;
        }
        let next = match insns.get(pc + 1) {
            Some(n) if n.code == 0 && n.dst == 0 && n.src == 0 && n.off == 0 => *n,
            _ => return Err(Reject::at(pc, "invalid bpf_ld_imm64 insn")),
        };
        match i.src {
            0 | pseudo::FUNC => {}
            pseudo::BTF_ID => {
                return Err(Reject::unsupported(
                    pc,
                    "ld_imm64 of a kernel variable (BTF id)",
                ))
            }
            pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE | pseudo::MAP_FD | pseudo::MAP_IDX => {
                let is_value = matches!(i.src, pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE);
                if !is_value && next.imm != 0 {
                    return Err(Reject::at(pc, "unrecognized bpf_ld_imm64 insn"));
                }
                if matches!(i.src, pseudo::MAP_FD | pseudo::MAP_VALUE) {
                    // Programs refer to maps by index; a raw descriptor means nothing here.
                    return Err(Reject::at(
                        pc,
                        format!("fd {} is not pointing to valid bpf_map", i.imm),
                    ));
                }
                let Some(map) = usize::try_from(i.imm).ok().and_then(|k| inp.maps.get(k)) else {
                    return Err(Reject::at(
                        pc,
                        format!("fd {} is not pointing to valid bpf_map", i.imm),
                    ));
                };
                map_prog_compatible(inp, map).map_err(|m| Reject::at(pc, m))?;
                if is_value {
                    let off = next.imm as u32;
                    if off >= MAX_VAR_OFF {
                        return Err(Reject::at(
                            pc,
                            format!("direct value offset of {off} is not allowed"),
                        ));
                    }
                    if !direct_value_access(map.map_type) && map.map_type != MapType::Array {
                        return Err(Reject::at(
                            pc,
                            "no direct value access support for this map type",
                        ));
                    }
                    // Only single-element arrays have one value to point at.
                    if off >= map.value_size || map.max_entries != 1 {
                        return Err(Reject::at(
                            pc,
                            format!(
                                "invalid access to map value pointer, value_size={} off={off}",
                                map.value_size
                            ),
                        ));
                    }
                }
            }
            _ => return Err(Reject::at(pc, "unrecognized bpf_ld_imm64 insn")),
        }
        pc += 2;
    }
    Ok(())
}

/// `check_map_prog_compatibility`: special fields of a map's value that some program types
/// cannot use yet.
fn map_prog_compatible(inp: &CfgInput<'_>, map: &MapSpec) -> std::result::Result<(), String> {
    use bpfbox_vm::ProgType::*;
    let tracing = matches!(
        inp.prog_type,
        Kprobe | Tracepoint | PerfEvent | RawTracepoint | RawTracepointWritable
    );
    if map.spin_lock_off.is_some() {
        if inp.prog_type == SocketFilter {
            return Err("socket filter progs cannot use bpf_spin_lock yet".into());
        }
        if tracing {
            return Err("tracing progs cannot use bpf_spin_lock yet".into());
        }
    }
    if tracing && value_has_struct(inp.btf, map, "bpf_timer") {
        return Err("tracing progs cannot use bpf_timer yet".into());
    }
    Ok(())
}

/// Whether the map's value (by its BTF) has a member of type `struct name`.
fn value_has_struct(btf: Option<&bpfbox_btf::Btf>, map: &MapSpec, name: &str) -> bool {
    let (Some(btf), Some(v)) = (btf, map.btf_value_type_id.filter(|&v| v != 0)) else {
        return false;
    };
    let Some(t) = btf
        .skip_mods_and_typedefs(v)
        .ok()
        .and_then(|id| btf.type_by_id(id))
    else {
        return false;
    };
    t.members().iter().any(|m| {
        btf.skip_mods_and_typedefs(m.type_id)
            .ok()
            .and_then(|id| btf.type_by_id(id))
            .is_some_and(|mt| mt.kind() == bpfbox_btf::Kind::Struct && btf.type_name(mt) == name)
    })
}

const DISCOVERED: u8 = 0x10;
const EXPLORED: u8 = 0x20;
const FALLTHROUGH: u8 = 1;
const BRANCH: u8 = 2;

enum Step {
    Done,
    Keep,
}

struct Walk<'a> {
    insns: &'a [RawInsn],
    state: Vec<u8>,
    stack: Vec<usize>,
    bpf_capable: bool,
}

impl Walk<'_> {
    fn push(&mut self, cfg: &mut Cfg, t: usize, w: i64, e: u8) -> Result<Step> {
        if e == FALLTHROUGH && self.state[t] >= DISCOVERED | FALLTHROUGH {
            return Ok(Step::Done);
        }
        if e == BRANCH && self.state[t] >= DISCOVERED | BRANCH {
            return Ok(Step::Done);
        }
        if w < 0 || w >= self.insns.len() as i64 {
            return Err(Reject::at(
                t,
                format!("jump out of range from insn {t} to {w}"),
            ));
        }
        let w = w as usize;
        if e == BRANCH {
            cfg.prune_point[w] = true;
            cfg.jmp_point[w] = true;
        }
        if self.state[w] == 0 {
            self.state[t] = DISCOVERED | e;
            self.state[w] = DISCOVERED;
            self.stack.push(w);
            return Ok(Step::Keep);
        }
        if self.state[w] & 0xf0 == DISCOVERED {
            if self.bpf_capable {
                return Ok(Step::Done);
            }
            return Err(Reject::at(t, format!("back-edge from insn {t} to {w}")));
        }
        self.state[t] = DISCOVERED | e;
        Ok(Step::Done)
    }

    fn call(&mut self, cfg: &mut Cfg, t: usize, callee: bool) -> Result<Step> {
        let sz = if is_ldimm64(&self.insns[t]) { 2 } else { 1 };
        if let Step::Keep = self.push(cfg, t, (t + sz) as i64, FALLTHROUGH)? {
            return Ok(Step::Keep);
        }
        if t + sz < self.insns.len() {
            cfg.prune_point[t + sz] = true;
            cfg.jmp_point[t + sz] = true;
        }
        if callee {
            cfg.prune_point[t] = true;
            let w = t as i64 + self.insns[t].imm as i64 + 1;
            return self.push(cfg, t, w, BRANCH);
        }
        Ok(Step::Done)
    }

    fn visit(&mut self, cfg: &mut Cfg, t: usize) -> Result<Step> {
        let i = self.insns[t];
        if is_pseudo_func(&i) {
            return self.call(cfg, t, true);
        }
        let class = op::class(i.code);
        if class != op::JMP && class != op::JMP32 {
            let sz = if is_ldimm64(&i) { 2 } else { 1 };
            return self.push(cfg, t, (t + sz) as i64, FALLTHROUGH);
        }
        match i.code & 0xf0 {
            op::EXIT => Ok(Step::Done),
            op::CALL => {
                if i.src == 0 && i.imm == ASYNC_CALLBACK_HELPER {
                    cfg.prune_point[t] = true;
                }
                if i.src == 0 && SYNC_CALLBACK_HELPERS.contains(&i.imm) {
                    cfg.force_checkpoint[t] = true;
                    cfg.prune_point[t] = true;
                    cfg.jmp_point[t] = true;
                }
                self.call(cfg, t, i.src == pseudo::CALL)
            }
            op::JA => {
                let off = if class == op::JMP {
                    i.off as i64
                } else {
                    i.imm as i64
                };
                let w = t as i64 + off + 1;
                let step = self.push(cfg, t, w, FALLTHROUGH)?;
                // In range: push checked it.
                cfg.prune_point[w as usize] = true;
                cfg.jmp_point[w as usize] = true;
                Ok(step)
            }
            _ => {
                cfg.prune_point[t] = true;
                if i.code == op::JMP | op::JCOND {
                    cfg.force_checkpoint[t] = true;
                }
                if let Step::Keep = self.push(cfg, t, t as i64 + 1, FALLTHROUGH)? {
                    return Ok(Step::Keep);
                }
                self.push(cfg, t, t as i64 + i.off as i64 + 1, BRANCH)
            }
        }
    }
}

fn walk_cfg(inp: &CfgInput<'_>, cfg: &mut Cfg) -> Result<()> {
    let n = inp.insns.len();
    let mut w = Walk {
        insns: inp.insns,
        state: vec![0; n],
        stack: vec![0],
        bpf_capable: inp.bpf_capable,
    };
    w.state[0] = DISCOVERED;
    while let Some(&t) = w.stack.last() {
        match w.visit(cfg, t)? {
            Step::Done => {
                w.state[t] = EXPLORED;
                w.stack.pop();
            }
            Step::Keep => {}
        }
    }
    let mut i = 0;
    while i < n {
        if w.state[i] != EXPLORED {
            return Err(Reject::program(format!("unreachable insn {i}")));
        }
        if is_ldimm64(&inp.insns[i]) {
            if w.state.get(i + 1).is_some_and(|&s| s != 0) {
                return Err(Reject::program(format!(
                    "jump into the middle of ldimm64 insn {i}"
                )));
            }
            i += 1;
        }
        i += 1;
    }
    Ok(())
}
