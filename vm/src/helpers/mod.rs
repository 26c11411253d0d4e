//! The helper registry: every helper keyed by id and by name, with the prototype the
//! verifier reads and the implementation the interpreter and JITs call.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::interp::HelperCtx;

pub mod availability;
pub mod catalogue;
pub mod csum;
pub mod dynptr;
pub mod fib;
pub mod loops;
pub mod maps;
mod mtu;
pub mod packet;
pub mod printk;
mod probe;
mod ringbuf;
mod seq;
mod socket;
mod sockopt;
mod stack;
pub mod storage;
pub mod strings;
mod sync;
mod task;
mod time;
pub mod timer;

pub use maps::MapTable;
pub use packet::Redirect;

/// Registers one helper from its parts.
pub(crate) fn reg(
    r: &mut HelperRegistry,
    id: u32,
    name: &'static str,
    ret: RetKind,
    args: &[ArgKind],
    f: impl Fn(&mut HelperCtx<'_, '_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
) {
    r.register(Helper {
        id,
        name: Cow::Borrowed(name),
        proto: Proto::new(ret, args),
        func: Arc::new(f),
    });
}

/// Argument kinds, after the kernel's `enum bpf_arg_type` (the subset helpers use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ArgKind {
    /// Any value.
    Anything,
    /// A map (`CONST_PTR_TO_MAP`).
    ConstMapPtr,
    /// Pointer to a map key.
    PtrToMapKey,
    /// Pointer to a map value.
    PtrToMapValue,
    /// Pointer to readable memory whose size is the next argument.
    PtrToMem,
    /// Pointer to writable memory (may be uninitialised) whose size is the next argument.
    PtrToUninitMem,
    /// Size of the previous memory argument, non-zero.
    ConstSize,
    /// Size of the previous memory argument, may be zero.
    ConstSizeOrZero,
    /// The program's context.
    PtrToCtx,
    /// A BPF function (callback).
    PtrToFunc,
    /// Pointer to a NUL-terminated read-only string.
    PtrToConstStr,
    /// A ring buffer record from `bpf_ringbuf_reserve`.
    PtrToRingbufMem,
    /// Pointer to a `u64`/`long` the helper writes.
    PtrToLong,
    /// Pointer to stack memory, or NULL.
    PtrToStackOrNull,
    /// Pointer to readable memory, or NULL, whose size is the next argument.
    PtrToMemOrNull,
    /// Pointer to memory of a size the prototype fixes (other than a `u64`).
    PtrToFixedMem,
    /// The program's context, or NULL.
    PtrToCtxOrNull,
    /// Size of memory the helper allocates (`ARG_CONST_ALLOC_SIZE_OR_ZERO`).
    ConstAllocSizeOrZero,
    /// A `bpf_spin_lock` in a map value.
    PtrToSpinLock,
    /// Any socket pointer (`ARG_PTR_TO_SOCK_COMMON`).
    PtrToSockCommon,
    /// A full socket (`ARG_PTR_TO_SOCKET`), possibly NULL when the prototype allows it.
    PtrToSocket,
    /// A kernel object typed by BTF (`ARG_PTR_TO_BTF_ID`, `ARG_PTR_TO_BTF_ID_SOCK_COMMON`).
    PtrToBtfId,
    /// A per-CPU kernel object (`ARG_PTR_TO_PERCPU_BTF_ID`).
    PtrToPercpuBtfId,
    /// A `bpf_timer` in a map value.
    PtrToTimer,
    /// A kptr slot in a map value (`ARG_KPTR_XCHG_DEST`).
    KptrXchgDest,
    /// A `bpf_dynptr`.
    PtrToDynptr,
    /// A pointer into an arena.
    PtrToArena,
}

impl ArgKind {
    /// The coarse kind of a catalogue argument.
    pub fn of(a: &catalogue::Arg) -> ArgKind {
        use catalogue::{flag, ArgBase as B};
        match a.base {
            B::DontCare | B::Anything | B::Scalar => ArgKind::Anything,
            B::ConstMapPtr => ArgKind::ConstMapPtr,
            B::PtrToMapKey => ArgKind::PtrToMapKey,
            B::PtrToMapValue => ArgKind::PtrToMapValue,
            B::PtrToMem if a.has(flag::FIXED_SIZE) && a.size == 8 => ArgKind::PtrToLong,
            B::PtrToMem if a.has(flag::FIXED_SIZE) => ArgKind::PtrToFixedMem,
            B::PtrToMem if a.has(flag::UNINIT) => ArgKind::PtrToUninitMem,
            B::PtrToMem if a.maybe_null() => ArgKind::PtrToMemOrNull,
            B::PtrToMem => ArgKind::PtrToMem,
            B::PtrToArena => ArgKind::PtrToArena,
            B::ConstSize => ArgKind::ConstSize,
            B::ConstSizeOrZero => ArgKind::ConstSizeOrZero,
            B::PtrToCtx if a.maybe_null() => ArgKind::PtrToCtxOrNull,
            B::PtrToCtx => ArgKind::PtrToCtx,
            B::PtrToSpinLock => ArgKind::PtrToSpinLock,
            B::PtrToSockCommon => ArgKind::PtrToSockCommon,
            B::PtrToSocket => ArgKind::PtrToSocket,
            B::PtrToBtfId | B::PtrToBtfIdSockCommon => ArgKind::PtrToBtfId,
            B::PtrToRingbufMem => ArgKind::PtrToRingbufMem,
            B::ConstAllocSizeOrZero => ArgKind::ConstAllocSizeOrZero,
            B::PtrToPercpuBtfId => ArgKind::PtrToPercpuBtfId,
            B::PtrToFunc => ArgKind::PtrToFunc,
            B::PtrToStack => ArgKind::PtrToStackOrNull,
            B::PtrToConstStr => ArgKind::PtrToConstStr,
            B::PtrToTimer => ArgKind::PtrToTimer,
            B::KptrXchgDest => ArgKind::KptrXchgDest,
            B::PtrToDynptr => ArgKind::PtrToDynptr,
        }
    }
}

/// Return kinds, after the kernel's `enum bpf_return_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RetKind {
    /// A scalar.
    Integer,
    /// Nothing (r0 is undefined).
    Void,
    /// Pointer to a map value, or NULL.
    PtrToMapValueOrNull,
    /// Pointer to ring buffer memory of the requested size, or NULL.
    PtrToRingbufMemOrNull,
    /// Pointer to memory, or NULL.
    PtrToMemOrNull,
    /// Pointer to a map value (never NULL).
    PtrToMapValue,
    /// Pointer to a full socket, or NULL.
    PtrToSocketOrNull,
    /// Pointer to a TCP socket, or NULL.
    PtrToTcpSockOrNull,
    /// Pointer to any socket, or NULL.
    PtrToSockCommonOrNull,
    /// Pointer to memory (never NULL).
    PtrToMem,
    /// Pointer to memory or a BTF-typed kernel object, possibly NULL.
    PtrToMemOrBtfId,
    /// Pointer to a BTF-typed kernel object.
    PtrToBtfId,
    /// Pointer to a BTF-typed kernel object, or NULL.
    PtrToBtfIdOrNull,
}

impl RetKind {
    /// The coarse kind of a catalogue return kind.
    pub fn of(r: &catalogue::Ret) -> RetKind {
        use catalogue::{flag, RetBase as B};
        let null = r.maybe_null();
        match r.base {
            B::Integer => RetKind::Integer,
            B::Void => RetKind::Void,
            B::PtrToMapValue if null => RetKind::PtrToMapValueOrNull,
            B::PtrToMapValue => RetKind::PtrToMapValue,
            B::PtrToSocket => RetKind::PtrToSocketOrNull,
            B::PtrToTcpSock => RetKind::PtrToTcpSockOrNull,
            B::PtrToSockCommon => RetKind::PtrToSockCommonOrNull,
            B::PtrToMem if r.flags & flag::RINGBUF != 0 => RetKind::PtrToRingbufMemOrNull,
            B::PtrToMem if null => RetKind::PtrToMemOrNull,
            B::PtrToMem => RetKind::PtrToMem,
            B::PtrToMemOrBtfId => RetKind::PtrToMemOrBtfId,
            B::PtrToBtfId if null => RetKind::PtrToBtfIdOrNull,
            B::PtrToBtfId => RetKind::PtrToBtfId,
        }
    }
}

/// A helper's signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Proto {
    /// What r0 holds afterwards.
    pub ret: RetKind,
    /// The kinds of r1..r5 actually used.
    pub args: Vec<ArgKind>,
}

impl Proto {
    /// The coarse view of a catalogue prototype.
    pub fn of(p: &catalogue::FuncProto) -> Self {
        Proto {
            ret: RetKind::of(&p.ret),
            args: p.used_args().iter().map(ArgKind::of).collect(),
        }
    }

    /// A prototype from its parts.
    pub fn new(ret: RetKind, args: &[ArgKind]) -> Self {
        Proto {
            ret,
            args: args.to_vec(),
        }
    }
}

/// Why a helper failed in a way the program cannot observe as a return value.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// A fault inside a callback the helper ran, or a bad memory access on its behalf.
    #[error(transparent)]
    Fault(#[from] Box<crate::interp::Fault>),
    /// Any other failure, in words.
    #[error("{0}")]
    Message(String),
}

/// A helper implementation: arguments r1..r5 in, r0 out.
pub type HelperFn =
    Arc<dyn Fn(&mut HelperCtx<'_, '_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync>;

/// One registered helper.
#[derive(Clone)]
pub struct Helper {
    /// Kernel helper id (`enum bpf_func_id`).
    pub id: u32,
    /// The kernel's name, with its `bpf_` prefix (`bpf_map_lookup_elem`).
    pub name: Cow<'static, str>,
    /// Signature, read by the verifier.
    pub proto: Proto,
    /// Implementation.
    pub func: HelperFn,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helper")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("proto", &self.proto)
            .finish_non_exhaustive()
    }
}

/// Helpers by id and by name.
#[derive(Clone, Debug, Default)]
pub struct HelperRegistry {
    by_id: Vec<Option<Helper>>,
    by_name: HashMap<String, u32>,
}

impl HelperRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The helpers a plain run needs: those the conformance suite calls. The loader's
    /// catalogue adds the rest.
    pub fn with_defaults() -> Self {
        let mut r = Self::new();
        r.register(Helper {
            id: 5,
            name: Cow::Borrowed("bpf_ktime_get_ns"),
            proto: Proto::new(RetKind::Integer, &[]),
            func: Arc::new(|ctx, _| Ok(ctx.env().read_clock())),
        });
        r
    }

    /// The full catalogue: map, time, task, printk, probe-read, ring buffer, perf, packet,
    /// checksum, redirect, `bpf_loop` and `bpf_snprintf` helpers with the kernel's ids, names
    /// and prototypes. Maps are resolved through [`crate::env::Env::maps`].
    pub fn kernel() -> Self {
        let mut r = Self::new();
        maps::register(&mut r);
        time::register(&mut r);
        printk::register(&mut r);
        probe::register(&mut r);
        ringbuf::register(&mut r);
        packet::register(&mut r);
        csum::register(&mut r);
        loops::register(&mut r);
        storage::register(&mut r);
        dynptr::register(&mut r);
        sync::register(&mut r);
        timer::register(&mut r);
        socket::register(&mut r);
        fib::register(&mut r);
        strings::register(&mut r);
        mtu::register(&mut r);
        stack::register(&mut r);
        task::register(&mut r);
        seq::register(&mut r);
        sockopt::register(&mut r);
        r
    }

    /// Adds or replaces a helper. A helper the kernel has takes its prototype from the
    /// [`catalogue`], whatever the caller passed, so engines and verifier agree.
    pub fn register(&mut self, mut h: Helper) {
        if let Some(p) = catalogue::default_proto(h.id) {
            h.proto = Proto::of(p);
        }
        let id = h.id as usize;
        if self.by_id.len() <= id {
            self.by_id.resize(id + 1, None);
        }
        if let Some(old) = &self.by_id[id] {
            self.by_name.remove(old.name.as_ref());
        }
        self.by_name.insert(h.name.to_string(), h.id);
        self.by_id[id] = Some(h);
    }

    /// Replaces the implementation of helper `id`, keeping its name and prototype (or
    /// registering it under a generic name if it was unknown).
    pub fn override_fn(
        &mut self,
        id: u32,
        f: impl Fn(&mut HelperCtx<'_, '_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    ) {
        let func: HelperFn = Arc::new(f);
        match self.get(id as u64).cloned() {
            Some(mut h) => {
                h.func = func;
                self.register(h);
            }
            None => self.register(Helper {
                id,
                name: Cow::Owned(
                    crate::helper_names::HELPER_NAMES
                        .get(id as usize)
                        .map_or_else(|| format!("helper_{id}"), |n| n.to_string()),
                ),
                proto: Proto::new(RetKind::Integer, &[ArgKind::Anything; 5]),
                func,
            }),
        }
    }

    /// Looks a helper up by id.
    #[inline]
    pub fn get(&self, id: u64) -> Option<&Helper> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.by_id.get(i))
            .and_then(Option::as_ref)
    }

    /// Looks a helper up by name (with or without the `bpf_` prefix).
    pub fn by_name(&self, name: &str) -> Option<&Helper> {
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => *self.by_name.get(&format!("bpf_{name}"))?,
        };
        self.get(id as u64)
    }

    /// The first helper call in `insns` that this registry cannot serve: `(slot, id)`.
    /// `bpf_tail_call`, which the interpreter performs itself, always counts as present.
    pub fn first_missing(&self, insns: &[crate::isa::RawInsn]) -> Option<(usize, u32)> {
        let mut skip = false;
        for (pc, i) in insns.iter().enumerate() {
            if std::mem::take(&mut skip) {
                continue;
            }
            if i.code == 0x18 {
                skip = true;
            }
            let id = i.imm as u32;
            if i.code == 0x85
                && i.src == 0
                && u64::from(id) != crate::interp::BPF_FUNC_TAIL_CALL
                && self.get(u64::from(id)).is_none()
            {
                return Some((pc, id));
            }
        }
        None
    }

    /// All registered helpers in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Helper> {
        self.by_id.iter().flatten()
    }
}
