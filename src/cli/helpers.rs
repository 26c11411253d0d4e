//! `bpfbox helpers`: what the interpreter supports — every helper with its id, prototype
//! and the program types that may call it, every map type, and every program type with the
//! context a run gives it — so nobody has to guess.

use bpfbox_vm::helpers::availability::{program_types, Availability};
use bpfbox_vm::helpers::{ArgKind, HelperRegistry, RetKind};
use bpfbox_vm::maps::MapType;
use bpfbox_vm::testrun::context_of;
use bpfbox_vm::ProgType;

use super::{print_json, CliResult};

/// Arguments of `bpfbox helpers`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  bpfbox helpers\n  bpfbox helpers --json | jq '.helpers[] | select(.name == \"bpf_fib_lookup\")'"
)]
pub struct HelpersArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct HelperRow {
    id: u32,
    name: String,
    prototype: String,
    ret: RetKind,
    args: Vec<ArgKind>,
    /// `["all"]` for the base helpers every program type may call.
    program_types: Vec<&'static str>,
}

#[derive(serde::Serialize)]
struct ProgTypeRow {
    name: &'static str,
    id: u32,
    context: &'static str,
}

#[derive(serde::Serialize)]
struct Report {
    helpers: Vec<HelperRow>,
    map_types: Vec<&'static str>,
    program_types: Vec<ProgTypeRow>,
}

/// The C spelling of a return kind.
fn ret_c(r: RetKind) -> &'static str {
    match r {
        RetKind::Integer => "long",
        RetKind::Void => "void",
        RetKind::PtrToMapValueOrNull => "void *",
        RetKind::PtrToRingbufMemOrNull | RetKind::PtrToMemOrNull | RetKind::PtrToMem => "void *",
        RetKind::PtrToMapValue => "void *",
        RetKind::PtrToSocketOrNull => "struct bpf_sock *",
        RetKind::PtrToTcpSockOrNull => "struct bpf_tcp_sock *",
        RetKind::PtrToSockCommonOrNull => "struct bpf_sock *",
        RetKind::PtrToMemOrBtfId | RetKind::PtrToBtfId | RetKind::PtrToBtfIdOrNull => "void *",
    }
}

/// The kernel's `ARG_*` spelling of an argument kind.
fn arg_c(a: ArgKind) -> &'static str {
    match a {
        ArgKind::Anything => "ARG_ANYTHING",
        ArgKind::ConstMapPtr => "ARG_CONST_MAP_PTR",
        ArgKind::PtrToMapKey => "ARG_PTR_TO_MAP_KEY",
        ArgKind::PtrToMapValue => "ARG_PTR_TO_MAP_VALUE",
        ArgKind::PtrToMem => "ARG_PTR_TO_MEM",
        ArgKind::PtrToUninitMem => "ARG_PTR_TO_UNINIT_MEM",
        ArgKind::ConstSize => "ARG_CONST_SIZE",
        ArgKind::ConstSizeOrZero => "ARG_CONST_SIZE_OR_ZERO",
        ArgKind::PtrToCtx => "ARG_PTR_TO_CTX",
        ArgKind::PtrToFunc => "ARG_PTR_TO_FUNC",
        ArgKind::PtrToConstStr => "ARG_PTR_TO_CONST_STR",
        ArgKind::PtrToRingbufMem => "ARG_PTR_TO_RINGBUF_MEM",
        ArgKind::PtrToLong => "ARG_PTR_TO_LONG",
        ArgKind::PtrToStackOrNull => "ARG_PTR_TO_STACK_OR_NULL",
        ArgKind::PtrToMemOrNull => "ARG_PTR_TO_MEM_OR_NULL",
        ArgKind::PtrToFixedMem => "ARG_PTR_TO_FIXED_SIZE_MEM",
        ArgKind::PtrToCtxOrNull => "ARG_PTR_TO_CTX_OR_NULL",
        ArgKind::ConstAllocSizeOrZero => "ARG_CONST_ALLOC_SIZE_OR_ZERO",
        ArgKind::PtrToSpinLock => "ARG_PTR_TO_SPIN_LOCK",
        ArgKind::PtrToSockCommon => "ARG_PTR_TO_SOCK_COMMON",
        ArgKind::PtrToSocket => "ARG_PTR_TO_SOCKET",
        ArgKind::PtrToBtfId => "ARG_PTR_TO_BTF_ID",
        ArgKind::PtrToPercpuBtfId => "ARG_PTR_TO_PERCPU_BTF_ID",
        ArgKind::PtrToTimer => "ARG_PTR_TO_TIMER",
        ArgKind::KptrXchgDest => "ARG_KPTR_XCHG_DEST",
        ArgKind::PtrToDynptr => "ARG_PTR_TO_DYNPTR",
        ArgKind::PtrToArena => "ARG_PTR_TO_ARENA",
    }
}

fn report() -> Report {
    let registry = HelperRegistry::kernel();
    let helpers = registry
        .iter()
        .map(|h| {
            let args: Vec<&str> = h.proto.args.iter().map(|&a| arg_c(a)).collect();
            let program_types = match program_types(&h.name) {
                Availability::Base => vec!["all"],
                Availability::Types(ts) => ts.iter().map(|t| t.name()).collect(),
            };
            HelperRow {
                id: h.id,
                name: h.name.to_string(),
                prototype: format!("{} {}({})", ret_c(h.proto.ret), h.name, args.join(", ")),
                ret: h.proto.ret,
                args: h.proto.args.clone(),
                program_types,
            }
        })
        .collect();
    let map_types = MapType::ALL
        .iter()
        .filter(|t| t.is_supported())
        .map(|t| t.name())
        .collect();
    let program_types = ProgType::ALL
        .iter()
        .filter(|&&t| t != ProgType::Unspec)
        .map(|&t| ProgTypeRow {
            name: t.name(),
            id: t as u32,
            context: context_of(t),
        })
        .collect();
    Report {
        helpers,
        map_types,
        program_types,
    }
}

/// Runs `bpfbox helpers`.
pub fn run(a: HelpersArgs) -> CliResult {
    let r = report();
    if a.json {
        return print_json(&r);
    }
    crate::outln!("helpers ({}):", r.helpers.len())?;
    for h in &r.helpers {
        crate::outln!("  {:>3}  {}", h.id, h.prototype)?;
        crate::outln!("       program types: {}", h.program_types.join(", "))?;
    }
    crate::outln!(
        "map types ({}): {}",
        r.map_types.len(),
        r.map_types.join(", ")
    )?;
    crate::outln!("program types ({}):", r.program_types.len())?;
    for p in &r.program_types {
        crate::outln!("  {:>2}  {:<24} {}", p.id, p.name, p.context)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every helper is listed once, in id order, under the kernel's name for its id.
    #[test]
    fn lists_every_helper_under_its_kernel_name() {
        let r = report();
        let n = HelperRegistry::kernel().iter().count();
        assert_eq!(r.helpers.len(), n);
        assert!(r.helpers.windows(2).all(|w| w[0].id < w[1].id));
        for h in &r.helpers {
            assert_eq!(
                bpfbox_vm::helper_names::HELPER_NAMES
                    .get(h.id as usize)
                    .copied(),
                Some(h.name.as_str())
            );
        }
        let fib = r
            .helpers
            .iter()
            .find(|h| h.name == "bpf_fib_lookup")
            .unwrap();
        assert_eq!(
            fib.prototype,
            "long bpf_fib_lookup(ARG_PTR_TO_CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_ANYTHING)"
        );
        assert_eq!(fib.program_types, vec!["sched_cls", "sched_act", "xdp"]);
        for t in [
            "devmap",
            "cpumap",
            "xskmap",
            "user_ringbuf",
            "cgroup_storage",
        ] {
            assert!(r.map_types.contains(&t), "{t}");
        }
        assert!(!r.map_types.contains(&"arena"));
        assert_eq!(r.program_types.len(), 32);
    }
}
