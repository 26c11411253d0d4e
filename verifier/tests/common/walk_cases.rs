//! The walk tests' programs, one per feature, shared by the verdict test (`walk_kernel.rs`)
//! and the log test (`log_kernel.rs`).

use bpfbox_vm::maps::spec::{MapSpec, MapType, BPF_F_RDONLY_PROG};
use bpfbox_vm::{ProgType, Program};

use super::{asm, program};

/// A socket filter.
pub fn sf(text: &str) -> Program {
    program(ProgType::SocketFilter, asm(text))
}

/// An XDP program.
pub fn xdp(text: &str) -> Program {
    program(ProgType::Xdp, asm(text))
}

/// The maps the programs index.
pub fn maps() -> Vec<MapSpec> {
    vec![
        MapSpec::new("arr", MapType::Array, 4, 16, 4),
        MapSpec::new("hash", MapType::Hash, 8, 8, 16),
        MapSpec::new("ro", MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY_PROG),
    ]
}

/// Map lookup of key 0 in map `m`, leaving the value pointer (or NULL) in r0.
pub fn lookup(m: u32) -> String {
    format!("stw [%r10-8], 0\nstw [%r10-4], 0\nlddw %r1, map_idx {m}\nmov %r2, %r10\nadd %r2, -8\ncall 1\n")
}

/// The programs, by name.
#[rustfmt::skip]
pub fn cases() -> Vec<(&'static str, Program)> {
    vec![
        // Registers and exit.
        ("r0 uninit at exit", sf("exit")),
        ("r0 set", sf("mov %r0, 0\nexit")),
        ("read uninit r2", sf("mov %r0, %r2\nexit")),
        ("add uninit", sf("mov %r0, 0\nadd %r0, %r3\nexit")),
        ("return ctx pointer", sf("mov %r0, %r1\nexit")),
        // One load through the context on one path and the stack on another.
        ("ctx or stack through one load", sf("stdw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -8\nldxw %r3, [%r1+0]\njeq %r3, 0, +1\nmov %r2, %r1\nldxw %r0, [%r2+0]\nexit")),
        ("map value or stack through one load", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +6\nldxw %r3, [%r0+0]\nmov %r2, %r10\nadd %r2, -8\njeq %r3, 0, +1\nmov %r2, %r0\nldxw %r0, [%r2+0]\nmov %r0, 0\nexit")))),
        // ALU.
        ("div by zero imm", sf("mov %r0, 1\ndiv %r0, 0\nexit")),
        ("mod32 by zero imm", sf("mov %r0, 1\nmod32 %r0, 0\nexit")),
        ("div by register", sf("mov %r0, 1\nmov %r1, 0\ndiv %r0, %r1\nexit")),
        ("shift 64", sf("mov %r0, 1\nlsh %r0, 64\nexit")),
        ("shift32 32", sf("mov %r0, 1\nrsh32 %r0, 32\nexit")),
        ("shift63 ok", sf("mov %r0, 1\narsh %r0, 63\nexit")),
        ("32-bit ptr arith", sf("mov %r0, %r10\nadd32 %r0, 8\nmov %r0, 0\nexit")),
        ("ptr or", sf("mov %r2, %r10\nor %r2, 1\nmov %r0, 0\nexit")),
        ("ptr mul", sf("mov %r2, %r10\nmul %r2, 2\nmov %r0, 0\nexit")),
        ("ptr minus ptr", sf("mov %r2, %r10\nsub %r2, %r1\nmov %r0, %r2\nexit")),
        ("ptr plus ptr", sf("mov %r2, %r10\nadd %r2, %r1\nmov %r0, 0\nexit")),
        ("sub from fp", sf("mov %r2, %r10\nsub %r2, 8\nmov %r0, 0\nexit")),
        ("scalar minus ptr", sf("mov %r2, 5\nsub %r2, %r10\nmov %r0, 0\nexit")),
        ("neg ptr", sf("mov %r2, %r10\nneg %r2\nmov %r0, 0\nexit")),
        ("mov32 ptr", sf("mov32 %r2, %r10\nmov %r0, 0\nexit")),
        ("movsx ptr", sf("movsx3264 %r2, %r10\nmov %r0, 0\nexit")),
        ("pkt_end arith", xdp("ldxw %r2, [%r1+4]\nadd %r2, 1\nmov %r0, 0\nexit")),
        // Stack.
        ("stack spill fill", sf("stxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]\nmov %r0, 0\nexit")),
        ("stack out of frame", sf("stdw [%r10-520], 0\nmov %r0, 0\nexit")),
        ("stack above fp", sf("stdw [%r10+0], 0\nmov %r0, 0\nexit")),
        ("stack misaligned", sf("stdw [%r10-6], 0\nmov %r0, 0\nexit")),
        ("stack uninit read priv", sf("ldxdw %r0, [%r10-8]\nexit")),
        ("stack narrow spill ptr", sf("stxw [%r10-8], %r1\nmov %r0, 0\nexit")),
        ("stack partial fill ptr", sf("stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit")),
        ("stack fill ptr returns ptr", sf("stxdw [%r10-8], %r10\nldxdw %r0, [%r10-8]\nexit")),
        ("stack const fill", sf("stdw [%r10-8], 7\nldxdw %r0, [%r10-8]\njeq %r0, 7, +1\nldxdw %r0, [%r10-16]\nexit")),
        ("stack zero bytes", sf("stb [%r10-1], 0\nstb [%r10-2], 0\nldxh %r0, [%r10-2]\njeq %r0, 0, +1\nexit\nmov %r0, 0\nexit")),
        ("stack fp plus var", sf("ldxw %r2, [%r1+0]\nmov %r0, 0\nexit")),
        // Branches.
        ("dead branch pruned", sf("mov %r0, 1\njeq %r0, 1, +1\nexit\nmov %r0, 0\nexit")),
        ("both branches", sf("mov %r0, 0\njeq %r1, 0, +1\nmov %r2, 1\nexit")),
        ("uninit on one path", sf("mov %r3, %r1\njne %r3, 0, +1\nmov %r0, 0\nexit")),
        ("bounded loop", sf("mov %r0, 0\nmov %r1, 10\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit")),
        ("infinite loop", sf("mov %r0, 0\nja -1\nexit")),
        ("infinite loop body", sf("mov %r0, 0\nmov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\njeq %r0, 0, -6\nexit")),
        ("ptr compare priv", sf("mov %r0, 0\njgt %r10, %r1, +1\nmov %r0, 1\nexit")),
        // Maps.
        ("lookup unchecked", program(ProgType::SocketFilter, asm(&(lookup(0) + "ldxw %r0, [%r0+0]\nexit")))),
        ("lookup checked", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +1\nldxw %r0, [%r0+0]\nmov %r0, 0\nexit")))),
        ("lookup checked jne", program(ProgType::SocketFilter, asm(&(lookup(0) + "jne %r0, 0, +2\nmov %r0, 0\nexit\nldxw %r0, [%r0+12]\nmov %r0, 0\nexit")))),
        ("map value past end", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +1\nldxw %r0, [%r0+13]\nmov %r0, 0\nexit")))),
        ("map value negative", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +1\nldxb %r0, [%r0-1]\nmov %r0, 0\nexit")))),
        ("map value var off", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +4\nldxb %r1, [%r0+0]\nand %r1, 15\nadd %r0, %r1\nldxb %r0, [%r0+0]\nmov %r0, 0\nexit")))),
        ("map value var off too far", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +4\nldxb %r1, [%r0+0]\nand %r1, 31\nadd %r0, %r1\nldxb %r0, [%r0+0]\nmov %r0, 0\nexit")))),
        ("map value unbounded", program(ProgType::SocketFilter, asm(&(lookup(0) + "jeq %r0, 0, +3\nldxdw %r1, [%r0+0]\nadd %r0, %r1\nldxb %r0, [%r0+0]\nmov %r0, 0\nexit")))),
        ("arith on or_null", program(ProgType::SocketFilter, asm(&(lookup(0) + "add %r0, 4\nmov %r0, 0\nexit")))),
        ("readonly map write", program(ProgType::SocketFilter, asm(&(lookup(2) + "jeq %r0, 0, +1\nstw [%r0+0], 1\nmov %r0, 0\nexit")))),
        ("readonly map read", program(ProgType::SocketFilter, asm(&(lookup(2) + "jeq %r0, 0, +1\nldxw %r0, [%r0+0]\nmov %r0, 0\nexit")))),
        ("lookup key uninit", sf("lddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -8\ncall 1\nmov %r0, 0\nexit")),
        ("lookup key scalar", sf("lddw %r1, map_idx 1\nmov %r2, 0\ncall 1\nmov %r0, 0\nexit")),
        ("lookup map not map", sf("mov %r1, 0\nmov %r2, %r10\ncall 1\nmov %r0, 0\nexit")),
        ("lookup key out of stack", sf("lddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit")),
        ("args clobbered", sf("call 5\nmov %r0, %r1\nexit")),
        ("helper unknown id", sf("call 100000\nmov %r0, 0\nexit")),
        ("direct map value", sf("lddw %r1, map_idx_value 0 8\nldxdw %r0, [%r1+0]\nexit")),
        ("direct map value past", sf("lddw %r1, map_idx_value 0 12\nldxdw %r0, [%r1+0]\nexit")),
        ("direct value of hash", sf("lddw %r1, map_idx_value 1 0\nmov %r0, 0\nexit")),
        ("map ptr deref", sf("lddw %r1, map_idx 0\nldxw %r0, [%r1+0]\nexit")),
        ("atomic on stack", sf("stdw [%r10-8], 1\nmov %r1, 2\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit")),
        ("atomic fetch on stack", sf("stdw [%r10-8], 1\nmov %r1, 2\nlock fetch add [%r10-8], %r1\nmov %r0, %r1\nexit")),
        ("atomic on ctx", sf("mov %r2, 1\nlock add32 [%r1+0], %r2\nmov %r0, 0\nexit")),
        ("cmpxchg uninit r0", sf("stdw [%r10-8], 1\nmov %r1, 2\nlock cmpxchg [%r10-8], %r1\nexit")),
        // XDP context and packets.
        ("xdp ctx read", xdp("ldxw %r0, [%r1+16]\nexit")),
        ("xdp ctx narrow", xdp("ldxb %r0, [%r1+16]\nexit")),
        ("xdp ctx past end", xdp("ldxw %r0, [%r1+24]\nexit")),
        ("xdp ctx write", xdp("stxw [%r1+16], %r1\nmov %r0, 0\nexit")),
        ("xdp ctx st", xdp("stw [%r1+16], 1\nmov %r0, 0\nexit")),
        ("xdp egress", xdp("ldxw %r0, [%r1+20]\nexit")),
        ("xdp modified ctx", xdp("add %r1, 4\nldxw %r0, [%r1+0]\nexit")),
        ("pkt unchecked", xdp("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit")),
        ("pkt checked", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 1\njgt %r4, %r3, +1\nldxb %r0, [%r2+13]\nexit")),
        ("pkt checked too far", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 1\njgt %r4, %r3, +1\nldxb %r0, [%r2+14]\nexit")),
        ("pkt checked reversed", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 1\njlt %r3, %r4, +1\nldxh %r0, [%r2+12]\nexit")),
        ("pkt checked jge", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\nmov %r0, 1\njge %r4, %r3, +1\nldxdw %r0, [%r2+0]\nexit")),
        ("pkt write", xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\nmov %r0, 1\njgt %r4, %r3, +1\nstdw [%r2+0], 0\nexit")),
        ("pkt_end deref", xdp("ldxw %r3, [%r1+4]\nldxb %r0, [%r3+0]\nexit")),
        ("scalar deref", sf("mov %r1, 0\nldxb %r0, [%r1+0]\nexit")),
        // __sk_buff.
        ("skb len", sf("ldxw %r0, [%r1+0]\nexit")),
        ("skb narrow len", sf("ldxb %r0, [%r1+1]\nexit")),
        ("skb cb write", sf("stw [%r1+48], 1\nmov %r0, 0\nexit")),
        ("skb cb dw write", sf("stdw [%r1+64], 1\nmov %r0, 0\nexit")),
        ("skb mark write sf", sf("stw [%r1+8], 1\nmov %r0, 0\nexit")),
        ("skb data sf", sf("ldxw %r0, [%r1+76]\nexit")),
        ("skb past end", sf("ldxw %r0, [%r1+192]\nexit")),
        ("skb tstamp_type", sf("ldxb %r0, [%r1+180]\nexit")),
        ("skb padding", sf("ldxb %r0, [%r1+182]\nexit")),
        ("skb ip6 narrow", program(ProgType::SchedCls, asm("ldxh %r0, [%r1+100]\nexit"))),
        ("tc mark write", program(ProgType::SchedCls, asm("stw [%r1+8], 1\nmov %r0, 0\nexit"))),
        ("tc len write", program(ProgType::SchedCls, asm("stw [%r1+0], 1\nmov %r0, 0\nexit"))),
        ("tc tstamp_type", program(ProgType::SchedCls, asm("ldxb %r0, [%r1+180]\nexit"))),
        ("tc family", program(ProgType::SchedCls, asm("ldxw %r0, [%r1+88]\nexit"))),
        ("tc pkt", program(ProgType::SchedCls, asm("ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 4\nmov %r0, 0\njgt %r4, %r3, +1\nldxw %r0, [%r2+0]\nexit"))),
        ("tc hwtstamp write", program(ProgType::SchedCls, asm("stdw [%r1+184], 1\nmov %r0, 0\nexit"))),
        ("ctx negative off", sf("add %r1, -4\nldxw %r0, [%r1+4]\nexit")),
        ("ctx var off", sf("ldxw %r2, [%r1+0]\nand %r2, 4\nadd %r1, %r2\nldxw %r0, [%r1+0]\nexit")),
        // Return ranges.
        ("cgroup skb return 2", program(ProgType::CgroupSkb, asm("mov %r0, 2\nexit"))),
        ("cgroup skb return 1", program(ProgType::CgroupSkb, asm("mov %r0, 1\nexit"))),
        ("cgroup skb unknown", program(ProgType::CgroupSkb, asm("call 7\nexit"))),
        ("cgroup skb masked", program(ProgType::CgroupSkb, asm("call 7\nand %r0, 1\nexit"))),
        ("cgroup skb negative", program(ProgType::CgroupSkb, asm("mov %r0, -1\nexit"))),
    ]
}
