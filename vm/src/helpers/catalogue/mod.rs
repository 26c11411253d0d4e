//! The catalogue of helper prototypes: every `struct bpf_func_proto` the kernel declares
//! (Linux 6.12 sources, the helper set of 6.18), with its argument and return kinds, and
//! which prototype each program type gets for each helper id ([`for_prog`]).
//!
//! One table serves everyone: the verifier checks calls against it, and the registry's
//! [`super::Proto`] of every implemented helper is derived from it, so the verifier and the
//! engines cannot disagree about a helper.

mod avail;
mod protos;

pub use avail::{for_prog, Caller};
pub use protos::ALL;

/// The base kinds of the kernel's `enum bpf_arg_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ArgBase {
    /// `ARG_DONTCARE`: the argument is not used.
    DontCare,
    /// `ARG_CONST_MAP_PTR`.
    ConstMapPtr,
    /// `ARG_PTR_TO_MAP_KEY`.
    PtrToMapKey,
    /// `ARG_PTR_TO_MAP_VALUE`.
    PtrToMapValue,
    /// `ARG_PTR_TO_MEM`: memory whose size is the next argument or fixed.
    PtrToMem,
    /// `ARG_PTR_TO_ARENA`.
    PtrToArena,
    /// `ARG_CONST_SIZE`.
    ConstSize,
    /// `ARG_CONST_SIZE_OR_ZERO`.
    ConstSizeOrZero,
    /// `ARG_PTR_TO_CTX`.
    PtrToCtx,
    /// `ARG_ANYTHING`.
    Anything,
    /// `ARG_SCALAR`.
    Scalar,
    /// `ARG_PTR_TO_SPIN_LOCK`.
    PtrToSpinLock,
    /// `ARG_PTR_TO_SOCK_COMMON`.
    PtrToSockCommon,
    /// `ARG_PTR_TO_SOCKET`.
    PtrToSocket,
    /// `ARG_PTR_TO_BTF_ID`.
    PtrToBtfId,
    /// `ARG_PTR_TO_RINGBUF_MEM`.
    PtrToRingbufMem,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`.
    ConstAllocSizeOrZero,
    /// `ARG_PTR_TO_BTF_ID_SOCK_COMMON`.
    PtrToBtfIdSockCommon,
    /// `ARG_PTR_TO_PERCPU_BTF_ID`.
    PtrToPercpuBtfId,
    /// `ARG_PTR_TO_FUNC`.
    PtrToFunc,
    /// `ARG_PTR_TO_STACK`.
    PtrToStack,
    /// `ARG_PTR_TO_CONST_STR`.
    PtrToConstStr,
    /// `ARG_PTR_TO_TIMER`.
    PtrToTimer,
    /// `ARG_KPTR_XCHG_DEST`.
    KptrXchgDest,
    /// `ARG_PTR_TO_DYNPTR`.
    PtrToDynptr,
}

/// The kernel's `enum bpf_type_flag` bits an argument or return kind may carry.
pub mod flag {
    /// `PTR_MAYBE_NULL`.
    pub const MAYBE_NULL: u32 = 1 << 0;
    /// `MEM_RDONLY`.
    pub const RDONLY: u32 = 1 << 1;
    /// `MEM_RINGBUF`.
    pub const RINGBUF: u32 = 1 << 2;
    /// `MEM_UNINIT`: the helper writes the memory without reading it.
    pub const UNINIT: u32 = 1 << 3;
    /// `MEM_WRITE`: the helper writes the memory.
    pub const WRITE: u32 = 1 << 4;
    /// `MEM_FIXED_SIZE`: the size is [`super::Arg::size`], not the next argument.
    pub const FIXED_SIZE: u32 = 1 << 5;
    /// `MEM_ALIGNED`.
    pub const ALIGNED: u32 = 1 << 6;
    /// `OBJ_RELEASE`: the helper releases the reference passed here.
    pub const RELEASE: u32 = 1 << 7;
    /// `DYNPTR_TYPE_LOCAL`.
    pub const DYNPTR_LOCAL: u32 = 1 << 8;
    /// `DYNPTR_TYPE_RINGBUF`.
    pub const DYNPTR_RINGBUF: u32 = 1 << 9;
    /// `PTR_TRUSTED`.
    pub const TRUSTED: u32 = 1 << 10;
}

/// One argument kind: the base kind, its flags, the fixed size of `MEM_FIXED_SIZE` memory,
/// and the kernel struct a `PTR_TO_BTF_ID` argument must point to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Arg {
    /// Base kind.
    pub base: ArgBase,
    /// [`flag`] bits.
    pub flags: u32,
    /// Size in bytes of fixed-size memory (`arg_size`), else 0.
    pub size: u32,
    /// The struct a BTF-id argument points to (`arg_btf_id`), when the prototype names one.
    pub btf: Option<&'static str>,
}

impl Arg {
    /// An unused argument.
    pub const NONE: Arg = Arg::new(ArgBase::DontCare, 0);

    /// A kind with flags.
    pub const fn new(base: ArgBase, flags: u32) -> Arg {
        Arg {
            base,
            flags,
            size: 0,
            btf: None,
        }
    }

    /// Whether flag bits `f` are all set.
    pub const fn has(&self, f: u32) -> bool {
        self.flags & f == f
    }

    /// Whether the argument may be NULL.
    pub const fn maybe_null(&self) -> bool {
        self.has(flag::MAYBE_NULL)
    }

    /// Whether the helper releases the reference passed here (`OBJ_RELEASE`).
    pub const fn is_release(&self) -> bool {
        self.has(flag::RELEASE)
    }

    /// The kernel's spelling (`ARG_PTR_TO_MEM | MEM_RDONLY`).
    pub fn c_name(&self) -> String {
        let mut s = String::from(match self.base {
            ArgBase::DontCare => "ARG_DONTCARE",
            ArgBase::ConstMapPtr => "ARG_CONST_MAP_PTR",
            ArgBase::PtrToMapKey => "ARG_PTR_TO_MAP_KEY",
            ArgBase::PtrToMapValue => "ARG_PTR_TO_MAP_VALUE",
            ArgBase::PtrToMem => "ARG_PTR_TO_MEM",
            ArgBase::PtrToArena => "ARG_PTR_TO_ARENA",
            ArgBase::ConstSize => "ARG_CONST_SIZE",
            ArgBase::ConstSizeOrZero => "ARG_CONST_SIZE_OR_ZERO",
            ArgBase::PtrToCtx => "ARG_PTR_TO_CTX",
            ArgBase::Anything => "ARG_ANYTHING",
            ArgBase::Scalar => "ARG_SCALAR",
            ArgBase::PtrToSpinLock => "ARG_PTR_TO_SPIN_LOCK",
            ArgBase::PtrToSockCommon => "ARG_PTR_TO_SOCK_COMMON",
            ArgBase::PtrToSocket => "ARG_PTR_TO_SOCKET",
            ArgBase::PtrToBtfId => "ARG_PTR_TO_BTF_ID",
            ArgBase::PtrToRingbufMem => "ARG_PTR_TO_RINGBUF_MEM",
            ArgBase::ConstAllocSizeOrZero => "ARG_CONST_ALLOC_SIZE_OR_ZERO",
            ArgBase::PtrToBtfIdSockCommon => "ARG_PTR_TO_BTF_ID_SOCK_COMMON",
            ArgBase::PtrToPercpuBtfId => "ARG_PTR_TO_PERCPU_BTF_ID",
            ArgBase::PtrToFunc => "ARG_PTR_TO_FUNC",
            ArgBase::PtrToStack => "ARG_PTR_TO_STACK",
            ArgBase::PtrToConstStr => "ARG_PTR_TO_CONST_STR",
            ArgBase::PtrToTimer => "ARG_PTR_TO_TIMER",
            ArgBase::KptrXchgDest => "ARG_KPTR_XCHG_DEST",
            ArgBase::PtrToDynptr => "ARG_PTR_TO_DYNPTR",
        });
        for (f, n) in FLAG_NAMES {
            if self.has(*f) {
                s.push_str(" | ");
                s.push_str(n);
            }
        }
        s
    }
}

const FLAG_NAMES: &[(u32, &str)] = &[
    (flag::MAYBE_NULL, "PTR_MAYBE_NULL"),
    (flag::RDONLY, "MEM_RDONLY"),
    (flag::RINGBUF, "MEM_RINGBUF"),
    (flag::UNINIT, "MEM_UNINIT"),
    (flag::WRITE, "MEM_WRITE"),
    (flag::FIXED_SIZE, "MEM_FIXED_SIZE"),
    (flag::ALIGNED, "MEM_ALIGNED"),
    (flag::RELEASE, "OBJ_RELEASE"),
    (flag::DYNPTR_LOCAL, "DYNPTR_TYPE_LOCAL"),
    (flag::DYNPTR_RINGBUF, "DYNPTR_TYPE_RINGBUF"),
    (flag::TRUSTED, "PTR_TRUSTED"),
];

/// The base kinds of the kernel's `enum bpf_return_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum RetBase {
    /// `RET_INTEGER`.
    Integer,
    /// `RET_VOID`.
    Void,
    /// `RET_PTR_TO_MAP_VALUE`.
    PtrToMapValue,
    /// `RET_PTR_TO_SOCKET`.
    PtrToSocket,
    /// `RET_PTR_TO_TCP_SOCK`.
    PtrToTcpSock,
    /// `RET_PTR_TO_SOCK_COMMON`.
    PtrToSockCommon,
    /// `RET_PTR_TO_MEM`.
    PtrToMem,
    /// `RET_PTR_TO_MEM_OR_BTF_ID`.
    PtrToMemOrBtfId,
    /// `RET_PTR_TO_BTF_ID`.
    PtrToBtfId,
}

/// A return kind: base, [`flag`] bits, and the struct a BTF-id return points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ret {
    /// Base kind.
    pub base: RetBase,
    /// [`flag`] bits (`MAYBE_NULL`, `RINGBUF`, `RDONLY`, `TRUSTED`).
    pub flags: u32,
    /// `ret_btf_id`'s struct, when named.
    pub btf: Option<&'static str>,
}

impl Ret {
    /// Whether the returned pointer may be NULL.
    pub const fn maybe_null(&self) -> bool {
        self.flags & flag::MAYBE_NULL != 0
    }
}

/// One `struct bpf_func_proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FuncProto {
    /// The kernel's name of the prototype (`bpf_map_lookup_elem_proto`).
    pub name: &'static str,
    /// The helper id it implements.
    pub id: u32,
    /// Only GPL-compatible programs may call it.
    pub gpl_only: bool,
    /// It may be passed packet pointers (`pkt_access`).
    pub pkt_access: bool,
    /// Only sleepable programs may call it.
    pub might_sleep: bool,
    /// The prototype has an `allowed` callback that restricts its callers further.
    pub restricted: bool,
    /// The return kind.
    pub ret: Ret,
    /// r1..r5.
    pub args: [Arg; 5],
}

impl FuncProto {
    /// The arguments actually used.
    pub fn used_args(&self) -> &[Arg] {
        let n = self
            .args
            .iter()
            .position(|a| a.base == ArgBase::DontCare)
            .unwrap_or(5);
        &self.args[..n]
    }
}

/// The prototype the registry uses for helper `id`: the one named after the helper
/// (`bpf_<name>_proto`) when there is one, else the first the kernel declares.
pub fn default_proto(id: u32) -> Option<&'static FuncProto> {
    let name = crate::helper_names::HELPER_NAMES.get(id as usize)?;
    let want = format!("{name}_proto");
    let mut first = None;
    for p in ALL {
        if p.id == id {
            if p.name == want {
                return Some(p);
            }
            first = first.or(Some(*p));
        }
    }
    first
}

/// The prototype called `name` (`bpf_get_socket_cookie_sock_addr_proto`).
pub fn by_name(name: &str) -> Option<&'static FuncProto> {
    ALL.iter().copied().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every helper id but 0 has a prototype, and each prototype's id names a helper.
    #[test]
    fn every_helper_id_has_a_prototype() {
        let n = crate::helper_names::HELPER_NAMES.len() as u32;
        for id in 1..n {
            assert!(default_proto(id).is_some(), "helper {id}");
        }
        for p in ALL {
            assert!(p.id > 0 && p.id < n, "{}", p.name);
        }
    }

    /// The registry's prototypes are the catalogue's, whatever an implementation declared.
    #[test]
    fn registry_prototypes_come_from_the_catalogue() {
        let r = crate::helpers::HelperRegistry::kernel();
        assert!(r.iter().count() > 50);
        for h in r.iter() {
            let p = default_proto(h.id).expect("an implemented helper is in the catalogue");
            assert_eq!(h.proto, crate::helpers::Proto::of(p), "{}", h.name);
        }
    }

    /// Program types per helper, as the kernel's switches give them.
    #[test]
    fn program_types_of_known_helpers() {
        use crate::helpers::availability::{program_types, Availability};
        use crate::program::ProgType;
        assert_eq!(program_types("bpf_map_lookup_elem"), Availability::Base);
        assert_eq!(
            program_types("bpf_xdp_adjust_head"),
            Availability::Types(&[ProgType::Xdp])
        );
        let Availability::Types(t) = program_types("bpf_sk_lookup_tcp") else {
            panic!("not every program type may look sockets up");
        };
        assert!(t.contains(&ProgType::SchedCls) && !t.contains(&ProgType::Kprobe));
        assert_eq!(
            program_types("bpf_no_such_helper"),
            Availability::Types(&[])
        );
    }

    /// Facts checked against the kernel's declarations.
    #[test]
    fn known_prototypes() {
        let p = default_proto(1).unwrap();
        assert_eq!(p.name, "bpf_map_lookup_elem_proto");
        assert_eq!(p.ret.base, RetBase::PtrToMapValue);
        assert!(p.ret.maybe_null() && p.pkt_access && !p.gpl_only);
        assert_eq!(
            p.used_args().iter().map(|a| a.base).collect::<Vec<_>>(),
            [ArgBase::ConstMapPtr, ArgBase::PtrToMapKey]
        );
        let p = default_proto(6).unwrap();
        assert!(p.gpl_only);
        assert_eq!(p.args[0].c_name(), "ARG_PTR_TO_MEM | MEM_RDONLY");
        let p = by_name("bpf_sk_release_proto").unwrap();
        assert!(p.args[0].is_release());
        let p = by_name("bpf_ringbuf_reserve_proto").unwrap();
        assert_eq!(p.ret.flags, flag::MAYBE_NULL | flag::RINGBUF);
        assert_eq!(p.args[1].base, ArgBase::ConstAllocSizeOrZero);
    }
}
