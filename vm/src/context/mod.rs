//! Program contexts laid out as the kernel lays out what programs see (`include/uapi/linux/bpf.h`,
//! Linux 6.12), and the load-time rewrite of context pointer loads.
//!
//! `struct xdp_md` and `struct __sk_buff` hold packet pointers as 32-bit fields; the kernel's
//! verifier rewrites loads of them into loads of the real 64-bit pointers
//! (`convert_ctx_access`). We do the same: each context buffer is the uapi struct followed by
//! a private tail holding the 64-bit pointers, and [`rewrite_ctx_access`] turns `LDX W` of a
//! pointer field into `LDX DW` of its private copy.

pub mod access;
mod rewrite;

pub use rewrite::rewrite_ctx_access;

use crate::memory::{Region, RegionKind, StoreShape};

/// `XDP_PACKET_HEADROOM`.
pub const XDP_PACKET_HEADROOM: usize = 256;
/// `sizeof(struct xdp_frame)` on x86-64 (kept free at the start of the headroom).
pub const XDP_FRAME_SIZE: u64 = 40;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64 (tailroom of a frame).
pub const SKB_SHINFO_SIZE: u64 = 320;
/// `PAGE_SIZE`, the XDP test-run frame size.
pub const PAGE_SIZE: usize = 4096;
/// `NET_SKB_PAD + NET_IP_ALIGN` on x86-64: headroom of a test-run socket buffer.
pub const SKB_HEADROOM: usize = 64;
/// `BPF_SKB_MAX_LEN` (`SKB_MAX_ALLOC` on x86-64): the longest socket buffer
/// `bpf_skb_change_head` may grow.
pub const BPF_SKB_MAX_LEN: u64 = 16064;
/// Room kept before a socket buffer's headroom, where `bpf_skb_change_head` grows the head
/// as the kernel's `skb_cow` would after reallocating it: a buffer never grows past
/// `BPF_SKB_MAX_LEN`, so the headroom never runs out.
const SKB_HEAD_RESERVE: usize = BPF_SKB_MAX_LEN as usize;
/// `ETH_HLEN`.
pub const ETH_HLEN: usize = 14;
/// The loopback device's interface index, the device XDP test runs receive on.
pub const LOOPBACK_IFINDEX: u32 = 1;

/// Offsets in the XDP context buffer (`struct xdp_md` then the private tail).
pub mod xdp_off {
    /// Size of `struct xdp_md`.
    pub const UAPI_SIZE: u64 = 24;
    /// 64-bit `data`.
    pub const DATA: u64 = 24;
    /// 64-bit `data_end`.
    pub const DATA_END: u64 = 32;
    /// 64-bit `data_meta`.
    pub const DATA_META: u64 = 40;
    /// Start of the frame (`data_hard_start`).
    pub const HARD_START: u64 = 48;
    /// Frame size (`frame_sz`).
    pub const FRAME_SZ: u64 = 56;
    /// The receive queue's device index, which loads of `ingress_ifindex` read (the kernel
    /// reads `rxq->dev->ifindex`, not the `xdp_md` given as input).
    pub const RXQ_IFINDEX: u64 = 64;
    /// The receive queue's index, which loads of `rx_queue_index` read.
    pub const RXQ_INDEX: u64 = 68;
    /// Size of the whole buffer.
    pub const SIZE: u64 = 72;
    /// `ingress_ifindex` in `struct xdp_md`.
    pub const INGRESS_IFINDEX: u64 = 12;
    /// `rx_queue_index` in `struct xdp_md`.
    pub const RX_QUEUE_INDEX: u64 = 16;
}

/// Offsets in the socket-buffer context buffer (`struct __sk_buff` then the private tail).
pub mod skb_off {
    /// Size of `struct __sk_buff`.
    pub const UAPI_SIZE: u64 = 192;
    /// `len`.
    pub const LEN: u64 = 0;
    /// `pkt_type`.
    pub const PKT_TYPE: u64 = 4;
    /// `mark`.
    pub const MARK: u64 = 8;
    /// `protocol`.
    pub const PROTOCOL: u64 = 16;
    /// `priority`.
    pub const PRIORITY: u64 = 32;
    /// `ingress_ifindex`.
    pub const INGRESS_IFINDEX: u64 = 36;
    /// `ifindex`.
    pub const IFINDEX: u64 = 40;
    /// `cb[5]`.
    pub const CB: u64 = 48;
    /// uapi `data`.
    pub const UAPI_DATA: u64 = 76;
    /// uapi `data_end`.
    pub const UAPI_DATA_END: u64 = 80;
    /// uapi `data_meta`.
    pub const UAPI_DATA_META: u64 = 140;
    /// `tstamp`.
    pub const TSTAMP: u64 = 152;
    /// `wire_len`.
    pub const WIRE_LEN: u64 = 160;
    /// `gso_segs`.
    pub const GSO_SEGS: u64 = 164;
    /// `gso_size`.
    pub const GSO_SIZE: u64 = 176;
    /// `hwtstamp`.
    pub const HWTSTAMP: u64 = 184;
    /// 64-bit `data`.
    pub const DATA: u64 = 192;
    /// 64-bit `data_end`.
    pub const DATA_END: u64 = 200;
    /// 64-bit `data_meta`.
    pub const DATA_META: u64 = 208;
    /// Size of the whole buffer.
    pub const SIZE: u64 = 216;
}

/// x86-64 `struct pt_regs` as kprobe programs see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct PtRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub bp: u64,
    pub bx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub ax: u64,
    pub cx: u64,
    pub dx: u64,
    pub si: u64,
    pub di: u64,
    pub orig_ax: u64,
    pub ip: u64,
    pub cs: u64,
    pub flags: u64,
    pub sp: u64,
    pub ss: u64,
}

impl PtRegs {
    /// The 21 fields in the kernel's order.
    pub fn to_array(&self) -> [u64; 21] {
        [
            self.r15,
            self.r14,
            self.r13,
            self.r12,
            self.bp,
            self.bx,
            self.r11,
            self.r10,
            self.r9,
            self.r8,
            self.ax,
            self.cx,
            self.dx,
            self.si,
            self.di,
            self.orig_ax,
            self.ip,
            self.cs,
            self.flags,
            self.sp,
            self.ss,
        ]
    }
}

/// What kind of context a [`Context`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextKind {
    /// `struct xdp_md`.
    Xdp,
    /// `struct __sk_buff`.
    Skb,
    /// `struct pt_regs`.
    Kprobe,
    /// Raw tracepoint arguments (`u64[]`).
    RawTracepoint,
    /// A tracepoint record.
    Tracepoint,
    /// `BPF_PROG_TYPE_SYSCALL` user context.
    Syscall,
    /// The uapi context struct of a program type without a kind of its own (`bpf_sock_ops`,
    /// `bpf_sock_addr`, `bpf_sockopt`, `bpf_sysctl`, `sk_msg_md`, ...), from the caller's
    /// bytes.
    Struct,
}

/// A context ready to pass in r1: the context bytes and, for packet programs, the frame.
///
/// Both buffers are heap allocations that never move while the `Context` lives, so the
/// pointers stored in the context stay valid.
#[derive(Debug)]
pub struct Context {
    kind: ContextKind,
    ctx: Vec<u64>,
    ctx_len: usize,
    frame: Vec<u8>,
}

fn u64_buf(len: usize) -> Vec<u64> {
    vec![0u64; len.div_ceil(8).max(1)]
}

impl Context {
    fn raw(kind: ContextKind, bytes: &[u8]) -> Context {
        let mut c = Context {
            kind,
            ctx: u64_buf(bytes.len()),
            ctx_len: bytes.len(),
            frame: Vec::new(),
        };
        c.ctx_bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        c
    }

    /// An XDP context over `packet`, with 256 bytes of headroom and a page-sized frame.
    pub fn xdp(packet: &[u8]) -> Context {
        Self::xdp_with_meta(packet, 0)
    }

    /// An XDP context whose first `meta_len` bytes of `data` are metadata (`data_meta`).
    pub fn xdp_with_meta(data: &[u8], meta_len: usize) -> Context {
        let meta_len = meta_len.min(data.len());
        let frame_sz = PAGE_SIZE.max(XDP_PACKET_HEADROOM + data.len() + SKB_SHINFO_SIZE as usize);
        let mut frame = vec![0u8; frame_sz];
        let headroom = XDP_PACKET_HEADROOM.saturating_sub(meta_len);
        frame[headroom..headroom + data.len()].copy_from_slice(data);
        let mut c = Context {
            kind: ContextKind::Xdp,
            ctx: u64_buf(xdp_off::SIZE as usize),
            ctx_len: xdp_off::SIZE as usize,
            frame,
        };
        let base = c.frame.as_ptr() as u64;
        let meta = base + headroom as u64;
        let d = meta + meta_len as u64;
        let end = base + (headroom + data.len()) as u64;
        c.set_ptr(0, xdp_off::DATA, d);
        c.set_ptr(4, xdp_off::DATA_END, end);
        c.set_ptr(8, xdp_off::DATA_META, meta);
        c.put(xdp_off::HARD_START, &base.to_ne_bytes());
        c.put(xdp_off::FRAME_SZ, &(frame_sz as u64).to_ne_bytes());
        // A test run receives on the loopback device's queue 0.
        c.set_xdp_rxq(LOOPBACK_IFINDEX, 0);
        c
    }

    /// Sets the receive queue an XDP program sees (`ingress_ifindex`, `rx_queue_index`)
    /// without changing the `xdp_md` bytes reported as context out.
    pub(crate) fn set_xdp_rxq(&mut self, ifindex: u32, queue: u32) {
        self.put(xdp_off::RXQ_IFINDEX, &ifindex.to_ne_bytes());
        self.put(xdp_off::RXQ_INDEX, &queue.to_ne_bytes());
    }

    /// A socket-buffer context over an Ethernet frame, data at the MAC header (as for TC).
    pub fn skb(packet: &[u8]) -> Context {
        Self::skb_at(packet, true)
    }

    /// A socket-buffer context; with `l2` false data starts at the network header, as for
    /// socket filters (the kernel's test run pulls the Ethernet header for them).
    pub fn skb_at(packet: &[u8], l2: bool) -> Context {
        let head = SKB_HEAD_RESERVE + SKB_HEADROOM;
        let mut frame = vec![0u8; head + packet.len() + SKB_SHINFO_SIZE as usize];
        frame[head..head + packet.len()].copy_from_slice(packet);
        let mut c = Context {
            kind: ContextKind::Skb,
            ctx: u64_buf(skb_off::SIZE as usize),
            ctx_len: skb_off::SIZE as usize,
            frame,
        };
        let pull = if l2 || packet.len() < ETH_HLEN {
            0
        } else {
            ETH_HLEN
        };
        let base = c.frame.as_ptr() as u64;
        let data = base + (head + pull) as u64;
        let end = base + (head + packet.len()) as u64;
        c.set_ptr(skb_off::UAPI_DATA, skb_off::DATA, data);
        c.set_ptr(skb_off::UAPI_DATA_END, skb_off::DATA_END, end);
        c.set_ptr(skb_off::UAPI_DATA_META, skb_off::DATA_META, data);
        c.put(skb_off::LEN, &((packet.len() - pull) as u32).to_ne_bytes());
        if packet.len() >= ETH_HLEN {
            let dst = &packet[..6];
            let pkt_type: u32 = if dst.iter().all(|&b| b == 0xff) {
                1
            } else if dst[0] & 1 != 0 {
                2
            } else if dst.iter().all(|&b| b == 0) {
                0
            } else {
                3
            };
            c.put(skb_off::PKT_TYPE, &pkt_type.to_ne_bytes());
            c.put(
                skb_off::PROTOCOL,
                &u32::from(u16::from_ne_bytes([packet[12], packet[13]])).to_ne_bytes(),
            );
        }
        c.put(skb_off::IFINDEX, &1u32.to_ne_bytes());
        c
    }

    /// A kprobe context.
    pub fn kprobe(regs: PtRegs) -> Context {
        let bytes: Vec<u8> = regs
            .to_array()
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        Self::raw(ContextKind::Kprobe, &bytes)
    }

    /// A kprobe context from raw `pt_regs` bytes (zero-padded to 168 bytes).
    pub fn raw_like_kprobe(bytes: &[u8]) -> Context {
        let mut b = bytes.to_vec();
        if b.len() < 21 * 8 {
            b.resize(21 * 8, 0);
        }
        Self::raw(ContextKind::Kprobe, &b)
    }

    /// A raw tracepoint context: the `u64` arguments.
    pub fn raw_tracepoint(args: &[u64]) -> Context {
        let bytes: Vec<u8> = args.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::raw(ContextKind::RawTracepoint, &bytes)
    }

    /// A tracepoint context: the raw record (common header included).
    pub fn tracepoint(record: &[u8]) -> Context {
        Self::raw(ContextKind::Tracepoint, record)
    }

    /// A `BPF_PROG_TYPE_SYSCALL` context: the user's bytes.
    pub fn syscall(bytes: &[u8]) -> Context {
        Self::raw(ContextKind::Syscall, bytes)
    }

    /// The context of a program type without a kind of its own: `bytes` laid out as its
    /// uapi struct (`struct bpf_sock_ops`, `struct bpf_sock_addr`, ...). A run makes only
    /// the fields the type may store into writable.
    pub fn uapi_struct(bytes: &[u8]) -> Context {
        Self::raw(ContextKind::Struct, bytes)
    }

    /// The kind of context.
    pub fn kind(&self) -> ContextKind {
        self.kind
    }

    fn set_ptr(&mut self, uapi: u64, private: u64, v: u64) {
        self.put(uapi, &(v as u32).to_ne_bytes());
        self.put(private, &v.to_ne_bytes());
    }

    fn put(&mut self, off: u64, bytes: &[u8]) {
        let off = off as usize;
        if let Some(dst) = self.ctx_bytes_mut().get_mut(off..off + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    /// A `u64` of the context buffer at `off` (0 when outside).
    pub fn get_u64(&self, off: u64) -> u64 {
        let off = off as usize;
        self.ctx_bytes()
            .get(off..off + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    }

    /// A `u32` of the context buffer at `off` (0 when outside).
    pub fn get_u32(&self, off: u64) -> u32 {
        let off = off as usize;
        self.ctx_bytes()
            .get(off..off + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    }

    /// Sets a `u32` field of the context buffer (ignored when outside). Setting an XDP
    /// context's `ingress_ifindex` or `rx_queue_index` also sets what the program reads.
    pub fn set_u32(&mut self, off: u64, v: u32) {
        self.put(off, &v.to_ne_bytes());
        if self.kind == ContextKind::Xdp {
            match off {
                xdp_off::INGRESS_IFINDEX => self.put(xdp_off::RXQ_IFINDEX, &v.to_ne_bytes()),
                xdp_off::RX_QUEUE_INDEX => self.put(xdp_off::RXQ_INDEX, &v.to_ne_bytes()),
                _ => {}
            }
        }
    }

    /// Sets a `u32` of the context buffer only (no private copy).
    pub(crate) fn put_u32_raw(&mut self, off: u64, v: u32) {
        self.put(off, &v.to_ne_bytes());
    }

    /// The context bytes (uapi struct and private tail).
    pub fn ctx_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.ctx)[..self.ctx_len]
    }

    /// The context bytes, mutable.
    pub fn ctx_bytes_mut(&mut self) -> &mut [u8] {
        let len = self.ctx_len;
        &mut bytemuck::cast_slice_mut(&mut self.ctx)[..len]
    }

    /// The bytes of the uapi struct (what `ctx_out` reports), pointer fields as the program
    /// sees them in 32 bits.
    pub fn uapi_bytes(&self) -> &[u8] {
        let n = match self.kind {
            ContextKind::Xdp => xdp_off::UAPI_SIZE as usize,
            ContextKind::Skb => skb_off::UAPI_SIZE as usize,
            _ => self.ctx_len,
        };
        &self.ctx_bytes()[..n]
    }

    /// The value for r1.
    pub fn ptr(&self) -> u64 {
        self.ctx.as_ptr() as u64
    }

    /// Packet bytes between `data_meta` and `data_end` (XDP) or `data` and `data_end`
    /// (socket buffers); empty for other contexts.
    pub fn packet(&self) -> &[u8] {
        let (start, end) = match self.kind {
            ContextKind::Xdp => (
                self.get_u64(xdp_off::DATA_META),
                self.get_u64(xdp_off::DATA_END),
            ),
            ContextKind::Skb => (self.get_u64(skb_off::DATA), self.get_u64(skb_off::DATA_END)),
            _ => return &[],
        };
        let base = self.frame.as_ptr() as u64;
        let s = start.wrapping_sub(base) as usize;
        let e = end.wrapping_sub(base) as usize;
        self.frame.get(s..e).unwrap_or(&[])
    }

    /// The socket buffer legacy `LD_ABS`/`LD_IND` loads read (socket buffers only): the MAC
    /// header at the frame's start, the network header after the Ethernet header, as
    /// `bpf_prog_test_run_skb` sets them whether or not the program sees layer 2.
    pub fn skb_bounds(&self) -> Option<crate::interp::SkbBounds> {
        (self.kind == ContextKind::Skb).then(|| {
            let d = self.get_u64(skb_off::DATA);
            let mac = self.frame.as_ptr() as u64 + (SKB_HEAD_RESERVE + SKB_HEADROOM) as u64;
            crate::interp::SkbBounds {
                data: d,
                len: self.get_u64(skb_off::DATA_END).saturating_sub(d),
                mac,
                network: mac + ETH_HLEN as u64,
            }
        })
    }

    /// The memory a run of a program of type `t`, loaded with `expected_attach_type`
    /// `attach`, over this context registers: the whole context read-only (the first
    /// region), a writable region over each field the program may store into, shaped as it
    /// may store ([`access::writable_ranges`]), and the whole frame (headroom and tailroom
    /// included).
    pub fn regions_for(&self, t: crate::program::ProgType, attach: Option<u32>) -> Vec<Region> {
        let base = self.ctx.as_ptr() as *const u8;
        let fields = access::writable_ranges(self.kind, t, attach);
        // SAFETY: `ctx` and `frame` are heap buffers owned by this context, never resized
        // after construction; the caller keeps the context alive for every run given
        // these regions (a `Context` is borrowed for the whole run).
        let whole =
            unsafe { Region::new(base, self.ctx_len, fields.is_none(), RegionKind::Context) };
        // A context writable throughout (a syscall program's) still takes only aligned
        // stores, as `syscall_prog_is_valid_access` demands.
        let mut v = vec![whole.with_store_shape(StoreShape::Aligned)];
        for f in fields.unwrap_or(&[]) {
            if f.off + f.len <= self.ctx_len as u64 {
                // SAFETY: a sub-range of the context buffer, as above.
                let r = unsafe {
                    Region::new(
                        base.add(f.off as usize),
                        f.len as usize,
                        true,
                        RegionKind::Context,
                    )
                };
                v.push(r.with_store_shape(f.shape));
            }
        }
        if !self.frame.is_empty() {
            // SAFETY: as above, for the frame.
            v.push(unsafe {
                Region::new(
                    self.frame.as_ptr(),
                    self.frame.len(),
                    true,
                    RegionKind::Packet,
                )
            });
        }
        v
    }
}
