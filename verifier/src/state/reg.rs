//! One register's abstract value: its type, the offsets of a pointer, the scalar value or the
//! pointer's variable offset, and the ids that tie copies together.

use crate::domain::{Scalar, ScalarDomain};

/// What a register holds, after the kernel's `enum bpf_reg_type` (the part-1 subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegType {
    /// Never written (`NOT_INIT`).
    NotInit,
    /// A number.
    Scalar,
    /// The program's context.
    Ctx,
    /// A pointer into the stack of frame `frameno`.
    Stack,
    /// A map (`CONST_PTR_TO_MAP`).
    MapPtr,
    /// A pointer into a map value.
    MapValue,
    /// A pointer into a map key (callbacks).
    MapKey,
    /// A pointer into packet data.
    Packet,
    /// A pointer into packet metadata.
    PacketMeta,
    /// The end of packet data.
    PacketEnd,
    /// The flow dissector's `struct bpf_flow_keys` (`PTR_TO_FLOW_KEYS`).
    FlowKeys,
    /// Memory of a known size.
    Mem,
    /// Read-only memory of a known size.
    RdonlyMem,
    /// A socket (`PTR_TO_SOCKET`, a full `struct bpf_sock`).
    Socket,
    /// Any socket (`PTR_TO_SOCK_COMMON`).
    SockCommon,
    /// A TCP socket (`PTR_TO_TCP_SOCK`).
    TcpSock,
    /// An AF_XDP socket (`PTR_TO_XDP_SOCK`).
    XdpSock,
    /// A BPF function, the callback a helper takes (`PTR_TO_FUNC`).
    Func,
    /// A dynptr a callback is given (`CONST_PTR_TO_DYNPTR`).
    ConstDynptr,
}

impl RegType {
    /// The kernel's name of the type (`reg_type_str`), without the `_or_null` suffix.
    pub fn name(self) -> &'static str {
        match self {
            RegType::NotInit => "?",
            RegType::Scalar => "scalar",
            RegType::Ctx => "ctx",
            RegType::Stack => "fp",
            RegType::MapPtr => "map_ptr",
            RegType::MapValue => "map_value",
            RegType::MapKey => "map_key",
            RegType::Packet => "pkt",
            RegType::PacketMeta => "pkt_meta",
            RegType::PacketEnd => "pkt_end",
            RegType::FlowKeys => "flow_keys",
            RegType::Mem => "mem",
            RegType::RdonlyMem => "rdonly_mem",
            RegType::Socket => "sock",
            RegType::SockCommon => "sock_common",
            RegType::TcpSock => "tcp_sock",
            RegType::XdpSock => "xdp_sock",
            RegType::Func => "func",
            RegType::ConstDynptr => "dynptr_ptr",
        }
    }

    /// Whether registers of this type are pointers.
    pub fn is_pointer(self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }

    /// Whether the type points into packet data or metadata.
    pub fn is_packet(self) -> bool {
        matches!(self, RegType::Packet | RegType::PacketMeta)
    }
}

/// A register's state (`struct bpf_reg_state`, part-1 subset).
#[derive(Clone, Debug, PartialEq)]
pub struct Reg {
    /// Type.
    pub ty: RegType,
    /// The pointer may be NULL (`PTR_MAYBE_NULL`).
    pub maybe_null: bool,
    /// Fixed offset of a pointer.
    pub off: i32,
    /// The value of a scalar, or the variable offset of a pointer.
    pub val: Scalar,
    /// Copies and NULL-checkable pointers share a non-zero id.
    pub id: u32,
    /// Index of the map (map pointers and map values).
    pub map: usize,
    /// Frame of a stack pointer.
    pub frameno: u32,
    /// Bytes known to be in bounds past a packet pointer.
    pub range: i32,
    /// Size of `Mem`/`RdonlyMem`.
    pub mem_size: u32,
    /// `Mem` reserved in a ring buffer (`MEM_RINGBUF`).
    pub ringbuf: bool,
    /// The acquired reference this pointer holds or derives from (`ref_obj_id`), 0 if none.
    pub ref_obj_id: u32,
    /// A scalar whose exact range some later check relied on (`precise`): pruning then
    /// compares it by range inclusion instead of ignoring it.
    pub precise: bool,
    /// The subprogram a `Func` pointer names (`subprogno`).
    pub subprog: usize,
    /// The constant a linked scalar differs from its id's value by (see
    /// [`super::link`]).
    pub delta: super::Delta,
}

impl Reg {
    /// A register never written.
    pub fn not_init() -> Reg {
        Reg {
            ty: RegType::NotInit,
            maybe_null: false,
            off: 0,
            val: Scalar::unknown(),
            id: 0,
            map: 0,
            frameno: 0,
            range: 0,
            mem_size: 0,
            ringbuf: false,
            ref_obj_id: 0,
            precise: false,
            subprog: 0,
            delta: super::Delta::None,
        }
    }

    /// A scalar with value `val`.
    pub fn scalar(val: Scalar) -> Reg {
        Reg {
            ty: RegType::Scalar,
            val,
            ..Reg::not_init()
        }
    }

    /// Any scalar.
    pub fn unknown() -> Reg {
        Reg::scalar(Scalar::unknown())
    }

    /// The constant `v`.
    pub fn constant(v: u64) -> Reg {
        Reg::scalar(Scalar::constant(v))
    }

    /// A pointer of type `ty` with a zero offset.
    pub fn pointer(ty: RegType) -> Reg {
        Reg {
            ty,
            val: Scalar::constant(0),
            ..Reg::not_init()
        }
    }

    /// Whether this is a scalar.
    pub fn is_scalar(&self) -> bool {
        self.ty == RegType::Scalar
    }

    /// Whether this is a pointer.
    pub fn is_pointer(&self) -> bool {
        self.ty.is_pointer()
    }

    /// The constant value of a scalar, if it is one.
    pub fn const_value(&self) -> Option<u64> {
        if self.is_scalar() {
            self.val.as_const()
        } else {
            None
        }
    }

    /// The kernel's name of the type, with `_or_null` when it may be NULL.
    pub fn type_name(&self) -> String {
        let base = if self.ringbuf && self.ty == RegType::Mem {
            "ringbuf_mem"
        } else {
            self.ty.name()
        };
        if self.maybe_null {
            format!("{base}_or_null")
        } else {
            base.to_string()
        }
    }
}
