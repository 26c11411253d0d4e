//! The network a run sees: the sockets `bpf_sk_lookup_*` find and the devices, routes and
//! neighbours `bpf_fib_lookup` consults. Tests fill them through [`crate::env::Env::net`];
//! the default is an empty namespace with the loopback device only.

use crate::memory::{Region, RegionKind};

/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;
/// `BPF_TCP_ESTABLISHED`.
pub const TCP_ESTABLISHED: u32 = 1;
/// `BPF_TCP_TIME_WAIT`.
pub const TCP_TIME_WAIT: u32 = 6;
/// `BPF_TCP_CLOSE` (also the state of unconnected UDP sockets).
pub const TCP_CLOSE: u32 = 7;
/// `BPF_TCP_LISTEN`.
pub const TCP_LISTEN: u32 = 10;
/// `BPF_TCP_NEW_SYN_RECV` (request sockets).
pub const TCP_NEW_SYN_RECV: u32 = 12;
/// `sizeof(struct bpf_sock)`.
pub const BPF_SOCK_SIZE: usize = 80;
/// Bytes kept for each socket: `struct bpf_sock` then a zeroed `struct bpf_tcp_sock`.
const SOCK_BUF_SIZE: usize = 192;
/// Offset of the `bpf_tcp_sock` view in a socket's buffer.
pub const TCP_SOCK_OFF: u64 = 80;

/// An IPv4 address as a 16-byte value (IPv4 in the first four bytes).
pub fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..4].copy_from_slice(&a);
    o
}

/// A socket of the run's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    /// `AF_INET` or `AF_INET6`.
    pub family: u32,
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub protocol: u8,
    /// TCP state (`TCP_LISTEN`, `TCP_ESTABLISHED`, ...; `TCP_CLOSE` for unconnected UDP).
    pub state: u32,
    /// Local address (IPv4 in the first four bytes; all zero for a wildcard bind).
    pub local_ip: [u8; 16],
    /// Local port, host order.
    pub local_port: u16,
    /// Remote address (zero when not connected).
    pub remote_ip: [u8; 16],
    /// Remote port, host order (zero when not connected).
    pub remote_port: u16,
    /// `SO_MARK`.
    pub mark: u32,
    /// `SO_PRIORITY`.
    pub priority: u32,
    /// The socket's cookie (`bpf_get_socket_cookie`).
    pub cookie: u64,
}

impl Socket {
    /// A listening TCP socket on `ip:port` (IPv4).
    pub fn tcp_listen_v4(ip: [u8; 4], port: u16) -> Socket {
        Socket {
            family: AF_INET,
            protocol: IPPROTO_TCP,
            state: TCP_LISTEN,
            local_ip: v4(ip),
            local_port: port,
            remote_ip: [0; 16],
            remote_port: 0,
            mark: 0,
            priority: 0,
            cookie: 0,
        }
    }

    /// A UDP socket bound to `ip:port` (IPv4), not connected.
    pub fn udp_v4(ip: [u8; 4], port: u16) -> Socket {
        Socket {
            protocol: IPPROTO_UDP,
            state: TCP_CLOSE,
            ..Socket::tcp_listen_v4(ip, port)
        }
    }

    /// Whether the kernel counts it a full socket (not a request or time-wait socket).
    pub fn is_full(&self) -> bool {
        !matches!(self.state, TCP_TIME_WAIT | TCP_NEW_SYN_RECV)
    }

    fn addr_len(&self) -> usize {
        if self.family == AF_INET {
            4
        } else {
            16
        }
    }

    /// The `struct bpf_sock` a program reads.
    fn bpf_sock(&self) -> [u8; BPF_SOCK_SIZE] {
        let mut b = [0u8; BPF_SOCK_SIZE];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(4, &self.family.to_ne_bytes());
        let ty: u32 = if self.protocol == IPPROTO_TCP { 1 } else { 2 };
        put(8, &ty.to_ne_bytes());
        put(12, &u32::from(self.protocol).to_ne_bytes());
        put(16, &self.mark.to_ne_bytes());
        put(20, &self.priority.to_ne_bytes());
        if self.family == AF_INET {
            put(24, &self.local_ip[..4]);
            put(52, &self.remote_ip[..4]);
        } else {
            put(28, &self.local_ip);
            put(56, &self.remote_ip);
        }
        put(44, &u32::from(self.local_port).to_ne_bytes());
        put(48, &self.remote_port.to_be_bytes());
        put(72, &self.state.to_ne_bytes());
        put(76, &(-1i32).to_ne_bytes());
        b
    }
}

/// The sockets of the namespace, each with the `struct bpf_sock` programs see at a stable
/// address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketTable {
    socks: Vec<(Socket, Box<[u64]>)>,
}

impl SocketTable {
    /// Adds a socket and returns its handle (its index; also the key socket storage maps
    /// use for it from user space). A zero cookie is replaced by `handle + 1`.
    pub fn add(&mut self, mut s: Socket) -> u32 {
        let handle = self.socks.len() as u32;
        if s.cookie == 0 {
            s.cookie = u64::from(handle) + 1;
        }
        let mut buf = vec![0u64; SOCK_BUF_SIZE / 8].into_boxed_slice();
        let bytes = s.bpf_sock();
        for (w, c) in buf.iter_mut().zip(bytes.chunks(8)) {
            let mut a = [0u8; 8];
            a[..c.len()].copy_from_slice(c);
            *w = u64::from_ne_bytes(a);
        }
        self.socks.push((s, buf));
        handle
    }

    /// The socket with this handle.
    pub fn get(&self, handle: u32) -> Option<&Socket> {
        self.socks.get(handle as usize).map(|(s, _)| s)
    }

    /// Number of sockets.
    pub fn len(&self) -> usize {
        self.socks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.socks.is_empty()
    }

    /// The address programs see for socket `handle` (its `struct bpf_sock`).
    pub fn addr(&self, handle: u32) -> Option<u64> {
        self.socks
            .get(handle as usize)
            .map(|(_, b)| b.as_ptr() as u64)
    }

    /// The handle of the socket a program pointer (to its `bpf_sock` or `bpf_tcp_sock`)
    /// names.
    pub fn handle_of(&self, addr: u64) -> Option<u32> {
        self.socks
            .iter()
            .position(|(_, b)| {
                let start = b.as_ptr() as u64;
                addr == start || addr == start + TCP_SOCK_OFF
            })
            .map(|i| i as u32)
    }

    /// Read-only regions over every socket's view.
    pub fn regions(&self) -> Vec<Region> {
        self.socks
            .iter()
            .map(|(_, b)| {
                // SAFETY: each view is a boxed buffer the table owns and never resizes; runs
                // borrow the environment holding the table for as long as they use it.
                unsafe {
                    Region::new(
                        b.as_ptr() as *const u8,
                        SOCK_BUF_SIZE,
                        false,
                        RegionKind::User,
                    )
                }
            })
            .collect()
    }

    /// The kernel's socket lookup for a packet from `saddr:sport` to `daddr:dport` (ports
    /// in host order): an established (connected) socket matching all four, else a
    /// listening (TCP) or bound (UDP) socket on `daddr:dport` or the wildcard address.
    pub fn lookup(
        &self,
        family: u32,
        protocol: u8,
        saddr: &[u8],
        sport: u16,
        daddr: &[u8],
        dport: u16,
    ) -> Option<u32> {
        let same = |s: &Socket| s.family == family && s.protocol == protocol;
        let n = if family == AF_INET { 4 } else { 16 };
        let exact = self.socks.iter().position(|(s, _)| {
            same(s)
                && s.remote_port != 0
                && s.state != TCP_LISTEN
                && s.remote_ip[..n] == saddr[..n]
                && s.remote_port == sport
                && s.local_ip[..n] == daddr[..n]
                && s.local_port == dport
        });
        if let Some(i) = exact {
            return Some(i as u32);
        }
        let bound = |wild: bool| {
            self.socks.iter().position(|(s, _)| {
                let listening = if protocol == IPPROTO_TCP {
                    s.state == TCP_LISTEN
                } else {
                    s.remote_port == 0
                };
                let ip = &s.local_ip[..s.addr_len()];
                same(s)
                    && listening
                    && s.local_port == dport
                    && if wild {
                        ip.iter().all(|&b| b == 0)
                    } else {
                        ip == &daddr[..n]
                    }
            })
        };
        bound(false).or_else(|| bound(true)).map(|i| i as u32)
    }
}

/// A network device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Interface index.
    pub ifindex: u32,
    /// Hardware address.
    pub mac: [u8; 6],
    /// MTU.
    pub mtu: u32,
    /// Whether IP forwarding is enabled on it.
    pub forwarding: bool,
}

/// What a route does (`RTN_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Forward (`RTN_UNICAST`).
    Unicast,
    /// Drop silently (`RTN_BLACKHOLE`).
    Blackhole,
    /// Unreachable (`RTN_UNREACHABLE`).
    Unreachable,
    /// Administratively prohibited (`RTN_PROHIBIT`).
    Prohibit,
    /// Local delivery (`RTN_LOCAL`): not forwarded.
    Local,
}

/// A route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `AF_INET` or `AF_INET6`.
    pub family: u32,
    /// Destination prefix (IPv4 in the first four bytes).
    pub prefix: [u8; 16],
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// What the route does.
    pub kind: RouteKind,
    /// Output device.
    pub ifindex: u32,
    /// Next hop, if not directly connected.
    pub gateway: Option<[u8; 16]>,
    /// Route metric (priority).
    pub metric: u32,
    /// Route MTU (0: the device's).
    pub mtu: u32,
}

/// A neighbour (ARP/NDP) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// Device.
    pub ifindex: u32,
    /// `AF_INET` or `AF_INET6`.
    pub family: u32,
    /// Address (IPv4 in the first four bytes).
    pub addr: [u8; 16],
    /// Hardware address.
    pub mac: [u8; 6],
}

/// Devices, routes and neighbours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fib {
    /// Devices (the loopback device, ifindex 1, is there by default, forwarding off).
    pub devices: Vec<Device>,
    /// Routes (longest prefix wins, then the lowest metric); 127.0.0.0/8 is local by
    /// default.
    pub routes: Vec<Route>,
    /// Neighbours.
    pub neighbours: Vec<Neighbour>,
}

impl Default for Fib {
    fn default() -> Self {
        Fib {
            devices: vec![Device {
                ifindex: 1,
                mac: [0; 6],
                mtu: 65536,
                forwarding: false,
            }],
            // The local table's loopback route: addresses of 127.0.0.0/8 are delivered
            // locally, never forwarded.
            routes: vec![Route {
                family: AF_INET,
                prefix: v4([127, 0, 0, 0]),
                prefix_len: 8,
                kind: RouteKind::Local,
                ifindex: 1,
                gateway: None,
                metric: 0,
                mtu: 0,
            }],
            neighbours: Vec::new(),
        }
    }
}

fn prefix_match(prefix: &[u8], addr: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if prefix.len() < full || addr.len() < full || prefix[..full] != addr[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (prefix.get(full), addr.get(full)) {
        (Some(p), Some(a)) => p & mask == a & mask,
        _ => false,
    }
}

impl Fib {
    /// The device with `ifindex`.
    pub fn device(&self, ifindex: u32) -> Option<&Device> {
        self.devices.iter().find(|d| d.ifindex == ifindex)
    }

    /// The best route to `dst`.
    pub fn route(&self, family: u32, dst: &[u8]) -> Option<&Route> {
        let n = if family == AF_INET { 4 } else { 16 };
        self.routes
            .iter()
            .filter(|r| {
                r.family == family
                    && r.prefix_len as usize <= n * 8
                    && prefix_match(&r.prefix[..n], &dst[..n], r.prefix_len)
            })
            .min_by_key(|r| (std::cmp::Reverse(r.prefix_len), r.metric))
    }

    /// The neighbour entry for `addr` on `ifindex`.
    pub fn neighbour(&self, ifindex: u32, family: u32, addr: &[u8]) -> Option<&Neighbour> {
        let n = if family == AF_INET { 4 } else { 16 };
        self.neighbours
            .iter()
            .find(|x| x.ifindex == ifindex && x.family == family && x.addr[..n] == addr[..n])
    }
}

/// The network of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Net {
    /// Sockets.
    pub sockets: SocketTable,
    /// Devices, routes and neighbours.
    pub fib: Fib,
    /// The namespace's cookie (`bpf_get_netns_cookie`).
    pub netns_cookie: u64,
    /// The cookie of the socket a program's context belongs to (`bpf_get_socket_cookie`):
    /// the kernel's test run attaches a socket whose cookie comes from a global counter at
    /// run time, so no fixed value matches it; 0 stands for no socket.
    pub ctx_socket_cookie: u64,
    /// Options of the context's socket that `bpf_getsockopt` reads and `bpf_setsockopt`
    /// sets, as `(level, optname, value)`; an option absent here reads as `-EINVAL`.
    pub sockopts: Vec<(i32, i32, Vec<u8>)>,
}
