//! Global functions (`func_info` linkage global): each is verified once, on its own, from its
//! BTF prototype (`btf_prepare_func_args`), and every call site is checked against that
//! prototype (`btf_check_func_arg_match`) and then assumed to return any scalar.

use bpfbox_btf::types::func_linkage;
use bpfbox_btf::{Btf, Kind, TypeData, TypeId};
use bpfbox_vm::isa::{op, pseudo};
use bpfbox_vm::ProgType;

use crate::check::jmp::for_each_reg;
use crate::check::mem::stack_bounds_in;
use crate::domain::ScalarDomain;
use crate::error::{Reject, Result};
use crate::explore::Env;
use crate::state::{Byte, Frame, Reg, RegType, Stack, State};

/// Most arguments a BPF function takes in registers (`MAX_BPF_FUNC_REG_ARGS`).
const MAX_ARGS: usize = 5;

/// Helpers that may move or resize packet data (`bpf_helper_changes_pkt_data`), with
/// `bpf_tail_call`, whose target could call any of them.
const CHANGES_PKT_DATA: [i32; 24] = [
    13, 10, 11, 73, 76, 75, 74, 183, 63, 182, 50, 43, 31, 38, 39, 9, 19, 18, 145, 44, 54, 65, 12,
    117,
];

/// What an argument of a global function is (`struct bpf_subprog_arg_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Any scalar (`ARG_ANYTHING`).
    Scalar,
    /// The program's context (`ARG_PTR_TO_CTX`).
    Ctx,
    /// `size` bytes of memory, maybe NULL unless tagged `nonnull` (`ARG_PTR_TO_MEM`).
    Mem {
        /// Bytes the function may read and write.
        size: u32,
        /// Whether NULL may be passed.
        nullable: bool,
    },
}

/// Why a prototype cannot be used: the kernel's words, or a form not supported yet.
enum ProtoError {
    Kernel(String),
    Unsupported(String),
}

/// The FUNC record of subprogram `k`.
fn func<'a>(env: &'a Env<'_>, k: usize) -> Option<(&'a Btf, TypeId)> {
    let fi = env.prog.func_info.get(k)?;
    let btf = env.opts.btf.as_deref()?;
    let t = btf.type_by_id(fi.type_id)?;
    (t.kind() == Kind::Func).then_some((btf, fi.type_id))
}

/// Whether subprogram `k` is global (`BTF_FUNC_GLOBAL` in its `func_info` record).
pub fn is_global(env: &Env<'_>, k: usize) -> bool {
    k != 0
        && func(env, k)
            .and_then(|(btf, id)| btf.type_by_id(id))
            .is_some_and(|t| t.vlen() == func_linkage::GLOBAL)
}

/// The function's name in BTF.
pub fn name(env: &Env<'_>, k: usize) -> String {
    func(env, k)
        .and_then(|(btf, id)| btf.name(id))
        .unwrap_or("")
        .to_string()
}

/// Skips modifiers and typedefs (`btf_type_is_modifier` counts typedefs).
fn skip_mods(btf: &Btf, id: TypeId) -> TypeId {
    btf.skip_mods_and_typedefs(id).unwrap_or(0)
}

fn is_scalar_type(btf: &Btf, id: TypeId) -> bool {
    btf.type_by_id(id)
        .is_some_and(|t| matches!(t.kind(), Kind::Int | Kind::Enum | Kind::Enum64))
}

/// The context struct each program type's programs name (`bpf_types.h`), and the
/// kernel structs they project (`btf_is_projection_of`).
fn ctx_struct_names(t: ProgType) -> &'static [&'static str] {
    use ProgType::*;
    match t {
        SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit
        | LwtSeg6local | SkSkb => &["__sk_buff", "sk_buff"],
        Xdp => &["xdp_md", "xdp_buff"],
        PerfEvent => &["bpf_perf_event_data"],
        RawTracepoint | RawTracepointWritable => &["bpf_raw_tracepoint_args"],
        SockOps => &["bpf_sock_ops"],
        CgroupSock => &["bpf_sock"],
        CgroupSockAddr => &["bpf_sock_addr"],
        SkMsg => &["sk_msg_md"],
        CgroupSysctl => &["bpf_sysctl"],
        CgroupSockopt => &["bpf_sockopt"],
        SkLookup => &["bpf_sk_lookup"],
        SkReuseport => &["sk_reuseport_md"],
        CgroupDevice => &["bpf_cgroup_dev_ctx"],
        Netfilter => &["bpf_nf_ctx"],
        FlowDissector => &["__sk_buff", "sk_buff"],
        _ => &[],
    }
}

/// Whether `id`, after modifiers other than typedefs, is the typedef `bpf_user_pt_regs_t`
/// (kprobe and perf-event contexts).
fn is_user_pt_regs(btf: &Btf, id: TypeId) -> bool {
    let id = btf.skip_mods(id).unwrap_or(0);
    btf.type_by_id(id)
        .is_some_and(|t| t.kind() == Kind::Typedef && btf.type_name(t) == "bpf_user_pt_regs_t")
}

/// `btf_is_prog_ctx_type` for a pointer to `target`.
fn is_prog_ctx_type(
    env: &Env<'_>,
    btf: &Btf,
    target: TypeId,
) -> std::result::Result<bool, ProtoError> {
    let t = env.prog.prog_type;
    if t == ProgType::Ext {
        return Err(ProtoError::Unsupported(
            "global functions of extension programs".into(),
        ));
    }
    if t == ProgType::Kprobe && is_user_pt_regs(btf, target) {
        return Ok(true);
    }
    let id = skip_mods(btf, target);
    let Some(ty) = btf.type_by_id(id) else {
        return Ok(false);
    };
    if ty.kind() != Kind::Struct {
        return Ok(false);
    }
    let name = btf.type_name(ty);
    if t == ProgType::Kprobe {
        return Ok(name == "pt_regs");
    }
    Ok(ctx_struct_names(t).contains(&name))
}

/// `btf_validate_prog_ctx_type` for an argument tagged `arg:ctx` pointing to `target`.
fn validate_ctx_tag(
    env: &Env<'_>,
    btf: &Btf,
    target: TypeId,
    i: usize,
) -> std::result::Result<(), ProtoError> {
    use ProgType::*;
    let t = env.prog.prog_type;
    if matches!(t, Kprobe | PerfEvent) && is_user_pt_regs(btf, target) {
        return Ok(());
    }
    let id = skip_mods(btf, target);
    let Some(ty) = btf.type_by_id(id) else {
        // `void *ctx __arg_ctx` is valid for every program type.
        return Ok(());
    };
    let name = btf.type_name(ty);
    if name.is_empty() {
        return Err(ProtoError::Kernel(format!(
            "arg#{i} type doesn't have a name"
        )));
    }
    let is_struct = ty.kind() == Kind::Struct;
    let is_u64 = ty.kind() == Kind::Int && ty.size_or_type == 8;
    match t {
        Kprobe | PerfEvent if is_struct && name == "pt_regs" => return Ok(()),
        RawTracepoint | RawTracepointWritable | Lsm | StructOps if is_u64 => return Ok(()),
        Tracepoint | Syscall => return Ok(()),
        Tracing | Ext => {
            return Err(ProtoError::Unsupported(format!(
                "arg:ctx in {} programs",
                t.name()
            )))
        }
        _ => {}
    }
    let canonical = match t {
        Kprobe | PerfEvent if t == Kprobe => "pt_regs",
        _ => ctx_struct_names(t).first().copied().unwrap_or(""),
    };
    if canonical.is_empty() {
        return Err(ProtoError::Kernel(format!(
            "arg#{i} should be void pointer"
        )));
    }
    if !is_struct || name != canonical {
        return Err(ProtoError::Kernel(format!(
            "arg#{i} should be `struct {canonical} *`"
        )));
    }
    Ok(())
}

/// What `btf_prepare_func_args` says about the main program's BTF prototype before its
/// walk (`do_check_common`): a main program failing it is still verified, its BTF only
/// marked unreliable, but the message stays in the log.
pub fn main_message(env: &Env<'_>) -> Option<String> {
    let global = func(env, 0)
        .and_then(|(btf, id)| btf.type_by_id(id))
        .is_some_and(|t| t.kind() == Kind::Func && t.vlen() == func_linkage::GLOBAL);
    if !global {
        return None;
    }
    match prepare(env, 0) {
        Err(ProtoError::Kernel(m)) => Some(m),
        _ => None,
    }
}

/// `btf_prepare_func_args` for global function `k`.
fn prepare(env: &Env<'_>, k: usize) -> std::result::Result<Vec<Arg>, ProtoError> {
    let Some((btf, id)) = func(env, k) else {
        return Err(ProtoError::Kernel("Global functions need valid BTF".into()));
    };
    let fname = btf.name(id).unwrap_or("").to_string();
    let proto_id = btf.type_by_id(id).map_or(0, |t| t.size_or_type);
    let proto = btf
        .type_by_id(proto_id)
        .filter(|t| t.kind() == Kind::FuncProto)
        .ok_or_else(|| ProtoError::Kernel(format!("Invalid type of function {fname}()")))?;
    let params = proto.params();
    if params.len() > MAX_ARGS {
        return Err(ProtoError::Kernel(format!(
            "Global function {fname}() with {} > {MAX_ARGS} args. Buggy compiler.",
            params.len()
        )));
    }
    if !is_scalar_type(btf, skip_mods(btf, proto.size_or_type)) {
        return Err(ProtoError::Kernel(format!(
            "Global function {fname}() doesn't return scalar. Only those are supported."
        )));
    }
    let mut args = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let mut tags: Vec<String> = Vec::new();
        for (_, t) in btf.types() {
            if let TypeData::DeclTag { component_idx } = t.data {
                if t.size_or_type == id && component_idx == i as i32 {
                    if let Some(tag) = btf.type_name(t).strip_prefix("arg:") {
                        tags.push(tag.to_string());
                    }
                }
            }
        }
        let (mut ctx, mut nonnull, mut nullable) = (false, false, false);
        for tag in &tags {
            match tag.as_str() {
                "ctx" => ctx = true,
                "nonnull" => nonnull = true,
                "nullable" => nullable = true,
                "trusted" | "arena" => {
                    return Err(ProtoError::Unsupported(format!("arg:{tag} arguments")))
                }
                _ => {
                    return Err(ProtoError::Kernel(format!(
                        "arg#{i} has unsupported set of tags"
                    )))
                }
            }
        }
        let ty = skip_mods(btf, p.type_id);
        let is_ptr = btf.type_by_id(ty).is_some_and(|t| t.kind() == Kind::Ptr);
        if !is_ptr {
            if !tags.is_empty() {
                return Err(ProtoError::Kernel(format!(
                    "arg#{i} has pointer tag, but is not a pointer type"
                )));
            }
            if is_scalar_type(btf, ty) {
                args.push(Arg::Scalar);
                continue;
            }
            let kind = btf.type_by_id(ty).map_or("UNKNOWN", |t| t.kind().name());
            return Err(ProtoError::Kernel(format!(
                "Arg#{i} type {kind} in {fname}() is not supported yet."
            )));
        }
        let target = btf.type_by_id(ty).map_or(0, |t| t.size_or_type);
        if ctx {
            if nonnull || nullable {
                return Err(ProtoError::Kernel(format!(
                    "arg#{i} has invalid combination of tags"
                )));
            }
            validate_ctx_tag(env, btf, target, i)?;
            args.push(Arg::Ctx);
            continue;
        }
        if is_prog_ctx_type(env, btf, target)? {
            if !tags.is_empty() {
                return Err(ProtoError::Kernel(format!(
                    "arg#{i} has invalid combination of tags"
                )));
            }
            args.push(Arg::Ctx);
            continue;
        }
        let tid = skip_mods(btf, target);
        if btf.name(tid) == Some("bpf_dynptr") {
            return Err(ProtoError::Unsupported("dynptr arguments".into()));
        }
        if nullable {
            return Err(ProtoError::Kernel(format!(
                "arg#{i} has invalid combination of tags"
            )));
        }
        let size = btf
            .resolve_size(btf.skip_mods(target).unwrap_or(0))
            .map_err(|_| {
                let t = btf.type_by_id(tid);
                ProtoError::Kernel(format!(
                    "arg#{i} reference type('{} {}') size cannot be determined: -22",
                    t.map_or("UNKNOWN", |t| t.kind().name()),
                    t.map_or("", |t| btf.type_name(t))
                ))
            })?;
        args.push(Arg::Mem {
            size,
            nullable: !nonnull,
        });
    }
    Ok(args)
}

/// The prototype of global function `k`, or the rejection a call of it gets.
fn args(env: &Env<'_>, pc: usize, k: usize) -> Result<std::result::Result<Vec<Arg>, String>> {
    match prepare(env, k) {
        Ok(a) => Ok(Ok(a)),
        Err(ProtoError::Kernel(m)) => Ok(Err(m)),
        Err(ProtoError::Unsupported(what)) => Err(Reject::unsupported(pc, what)),
    }
}

/// Whether subprogram `k`, or one it calls, may change packet data.
fn changes_pkt_data(env: &Env<'_>, k: usize) -> bool {
    let insns = &env.prog.insns;
    let subs = &env.cfg.subprogs;
    let mut seen = vec![false; subs.len()];
    let mut todo = vec![k];
    while let Some(s) = todo.pop() {
        if std::mem::replace(&mut seen[s], true) {
            continue;
        }
        let end = env.cfg.subprog_end(s, insns.len());
        for (pc, i) in insns.iter().enumerate().take(end).skip(subs[s]) {
            if i.code != op::JMP | op::CALL {
                continue;
            }
            if i.src == 0 && CHANGES_PKT_DATA.contains(&i.imm) {
                return true;
            }
            if i.src == pseudo::CALL {
                let t = (pc as i64 + 1 + i.imm as i64) as usize;
                if let Ok(c) = subs.binary_search(&t) {
                    todo.push(c);
                }
            }
        }
    }
    false
}

/// A call of global function `k` from `pc` (`check_func_call` for a global callee).
pub fn call(env: &mut Env<'_>, st: &mut State, pc: usize, k: usize) -> Result<()> {
    let fname = name(env, k);
    let invalid = |detail: String| {
        Reject::at(
            pc,
            format!("{detail}\nCaller passes invalid args into func#{k} ('{fname}')"),
        )
    };
    let args = match args(env, pc, k)? {
        Ok(a) => a,
        Err(m) => return Err(invalid(m)),
    };
    for (i, arg) in args.iter().enumerate() {
        let regno = i as u8 + 1;
        check_arg(env, st, pc, regno, i, *arg).map_err(|e| match e {
            ArgError::Kernel(m) => invalid(m),
            ArgError::Reject(r) => r,
        })?;
    }
    if env.opts.log_level >= 1 {
        env.log.line(&format!(
            "Func#{k} ('{fname}') is global and assumed valid."
        ));
    }
    if changes_pkt_data(env, k) {
        for_each_reg(st, |r| {
            if matches!(
                r.ty,
                RegType::Packet | RegType::PacketMeta | RegType::PacketEnd
            ) {
                *r = Reg::unknown();
            }
        });
    }
    if !env.globals_called.contains(&k) {
        env.globals_called.push(k);
    }
    for r in 0..=5 {
        *st.reg_mut(r) = Reg::not_init();
    }
    *st.reg_mut(0) = Reg::unknown();
    Ok(())
}

enum ArgError {
    Kernel(String),
    Reject(Reject),
}

/// `btf_check_func_arg_match` for one argument.
fn check_arg(
    env: &Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    i: usize,
    arg: Arg,
) -> std::result::Result<(), ArgError> {
    let reg = st.reg(regno).clone();
    match arg {
        Arg::Scalar => {
            if !reg.is_scalar() {
                return Err(ArgError::Kernel(format!("R{regno} is not a scalar")));
            }
        }
        Arg::Ctx => {
            ptr_off_ok(&reg, regno)?;
            if reg.ty != RegType::Ctx || reg.maybe_null {
                return Err(ArgError::Kernel(format!("arg#{i} expects pointer to ctx")));
            }
        }
        Arg::Mem { size, nullable } => {
            ptr_off_ok(&reg, regno)?;
            if reg.const_value() == Some(0) {
                return Ok(());
            }
            mem_ok(env, st, pc, regno, &reg, size)?;
            if !nullable && reg.maybe_null {
                return Err(ArgError::Kernel(format!(
                    "arg#{i} is expected to be non-NULL"
                )));
            }
        }
    }
    Ok(())
}

/// `check_func_arg_reg_off` for an argument of any type: pointers other than stack, map
/// value and packet must point at their start.
fn ptr_off_ok(reg: &Reg, regno: u8) -> std::result::Result<(), ArgError> {
    if !reg.is_pointer()
        || matches!(
            reg.ty,
            RegType::Stack | RegType::MapValue | RegType::Packet | RegType::PacketMeta
        )
    {
        return Ok(());
    }
    if reg.off != 0 {
        return Err(ArgError::Kernel(format!(
            "dereference of modified {} ptr R{regno} off={} disallowed",
            reg.type_name(),
            reg.off
        )));
    }
    if reg.val.as_const() != Some(0) {
        return Err(ArgError::Kernel(format!(
            "variable {} access disallowed",
            reg.type_name()
        )));
    }
    Ok(())
}

/// `check_mem_reg`: `size` bytes at the pointer may be read and written.
fn mem_ok(
    env: &Env<'_>,
    st: &mut State,
    pc: usize,
    regno: u8,
    reg: &Reg,
    size: u32,
) -> std::result::Result<(), ArgError> {
    let kernel = |r: Reject| ArgError::Kernel(r.message);
    let fixed = reg.val.as_const().map(|v| v as i64 + reg.off as i64);
    match reg.ty {
        RegType::Stack => {
            let Some(off) = fixed else {
                return Err(ArgError::Reject(Reject::unsupported(
                    pc,
                    "variable-offset stack arguments of global functions",
                )));
            };
            let fi = reg.frameno as usize;
            let off = off as i32;
            stack_bounds_in(env, st, pc, regno, off, size as i32, true, fi).map_err(kernel)?;
            // The callee may write anything there.
            let stack = &mut st.frames[fi].stack;
            for b in 0..size as i32 {
                let (s, _) = Stack::locate(off + b);
                let slot = &mut stack.slots[s];
                if slot.is_spill() {
                    for x in slot.bytes.iter_mut() {
                        if *x == Byte::Spill {
                            *x = Byte::Misc;
                        }
                    }
                    slot.spilled = Reg::not_init();
                }
            }
            for b in 0..size as i32 {
                let (s, j) = Stack::locate(off + b);
                stack.slots[s].bytes[j] = Byte::Misc;
            }
            Ok(())
        }
        RegType::MapValue | RegType::Mem => {
            let (limit, what) = if reg.ty == RegType::Mem {
                (reg.mem_size, "memory, mem_size")
            } else {
                let Some(m) = env.opts.maps.get(reg.map) else {
                    return Err(ArgError::Kernel("invalid map index".into()));
                };
                if m.map_flags & bpfbox_vm::maps::spec::BPF_F_RDONLY_PROG != 0 {
                    return Err(ArgError::Kernel(format!(
                        "write into map forbidden, value_size={} off={} size={size}",
                        m.value_size, reg.off
                    )));
                }
                (m.value_size, "map value, value_size")
            };
            let b = reg.val.bounds();
            let lo = b.smin.saturating_add(reg.off as i64);
            let hi = (b.umax as i64).saturating_add(reg.off as i64);
            if b.smin < 0 || lo < 0 || b.umax >= 1 << 29 || hi + size as i64 > limit as i64 {
                return Err(ArgError::Kernel(format!(
                    "invalid access to {what}={limit} off={lo} size={size}"
                )));
            }
            Ok(())
        }
        RegType::Scalar
        | RegType::Ctx
        | RegType::MapPtr
        | RegType::PacketEnd
        | RegType::NotInit => Err(ArgError::Kernel(format!(
            "R{regno} type={} expected=fp",
            reg.type_name()
        ))),
        _ => Err(ArgError::Reject(Reject::unsupported(
            pc,
            format!("{} arguments of global functions", reg.type_name()),
        ))),
    }
}

/// The state global function `k` is verified from: its arguments as the prototype says
/// (`do_check_common` for a subprogram).
pub fn entry_state(env: &mut Env<'_>, pc: usize, k: usize) -> Result<State> {
    let fname = name(env, k);
    if env.opts.log_level >= 1 {
        env.log.line(&format!("Validating {fname}() func#{k}..."));
    }
    let args = match args(env, pc, k)? {
        Ok(a) => a,
        Err(m) => return Err(Reject::at(pc, m)),
    };
    let mut f = Frame::new(0, 0, k);
    for (i, arg) in args.iter().enumerate() {
        f.regs[i + 1] = match *arg {
            Arg::Scalar => Reg::unknown(),
            Arg::Ctx => Reg::pointer(RegType::Ctx),
            Arg::Mem { size, nullable } => {
                let mut r = Reg::pointer(RegType::Mem);
                r.mem_size = size;
                r.maybe_null = nullable;
                r.id = env.new_id();
                r
            }
        };
    }
    Ok(State {
        frames: vec![f],
        refs: Default::default(),
        may_goto_depth: 0,
        callback_unroll_depth: 0,
    })
}

/// `exit` at the top frame of a global function: R0 must be a scalar.
pub fn check_exit(st: &State, pc: usize) -> Result<()> {
    let r0 = st.reg(0);
    if !r0.is_scalar() {
        return Err(Reject::at(
            pc,
            format!(
                "At subprogram exit the register R0 is not a scalar value ({})",
                r0.type_name()
            ),
        ));
    }
    Ok(())
}
