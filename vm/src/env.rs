//! The deterministic world a run sees: clock, task identity, CPU, random seed, and what the
//! program leaves behind (printk lines).

/// Printk lines a run keeps by default.
pub const DEFAULT_PRINTK_LIMIT: usize = 65536;

/// The size of the `seq_file` buffer an iterator program writes into (`PAGE_SIZE << 3`, as
/// `bpf_seq_read` allocates it); a write that does not fit fails with `-EOVERFLOW`.
pub const SEQ_BUF_SIZE: usize = 32768;

/// Per-run environment. Every default is fixed so that a run is reproducible; tests change
/// the fields they care about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// Value returned by `bpf_ktime_get_ns` (and the boot/coarse variants, with offsets).
    pub clock_ns: u64,
    /// How much the clock advances on each read, so loops measuring time see progress.
    pub clock_step_ns: u64,
    /// Thread id (the kernel's pid).
    pub pid: u32,
    /// Process id (the kernel's tgid).
    pub tgid: u32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Task name, NUL-padded.
    pub comm: [u8; 16],
    /// The CPU the program runs on.
    pub cpu: u32,
    /// Number of possible CPUs (per-CPU maps are sized by it).
    pub ncpus: u32,
    /// State of the `bpf_get_prandom_u32` generator.
    pub prandom_state: u64,
    /// Lines written by `bpf_trace_printk` and friends.
    pub printk: Vec<String>,
    /// The maps the program is bound to; helpers resolve map handles through it.
    pub maps: crate::helpers::MapTable,
    /// Redirects requested with `bpf_redirect` / `bpf_redirect_map`.
    pub redirects: Vec<crate::helpers::Redirect>,
    /// The running program's type (helpers such as `bpf_redirect` answer per type).
    pub prog_type: crate::program::ProgType,
    /// Memory helpers hand to callbacks (e.g. keys for `bpf_for_each_map_elem`); kept for
    /// the rest of the run so the regions pointing into it stay valid.
    pub scratch: Vec<Box<[u8]>>,
    /// Sockets, devices, routes and neighbours (`bpf_sk_lookup_*`, `bpf_fib_lookup`).
    pub net: crate::net::Net,
    /// Timers programs initialised with `bpf_timer_init`; they fire only when the embedder
    /// fires them.
    pub timers: Vec<crate::helpers::timer::Timer>,
    /// The cgroup the program runs in (`bpf_get_current_cgroup_id`, and the cgroup whose
    /// storage `bpf_get_local_storage` returns).
    pub cgroup_id: u64,
    /// The attach type keyed into 16-byte cgroup storage keys.
    pub cgroup_attach_type: u32,
    /// Which of the embedder's programs runs now (recorded by timers to fire later).
    pub current_prog: Option<u32>,
    /// The most printk lines kept; later lines are dropped and flagged.
    pub printk_limit: usize,
    /// Set when output was dropped: printk lines past `printk_limit`, perf samples past a
    /// full buffer. Test runs report and clear it.
    pub output_limit_reached: bool,
    /// The task the program runs in (`bpf_get_current_task_btf`, `bpf_find_vma`,
    /// `bpf_d_path`, ...).
    pub task: crate::task::Task,
    /// What an iterator program wrote with `bpf_seq_write`, at most [`SEQ_BUF_SIZE`] bytes.
    pub seq: Vec<u8>,
}

impl Default for Env {
    fn default() -> Self {
        let mut comm = [0u8; 16];
        comm[..6].copy_from_slice(b"bpfbox");
        Env {
            clock_ns: 1_000_000_000,
            clock_step_ns: 0,
            pid: 4242,
            tgid: 4242,
            uid: 0,
            gid: 0,
            comm,
            cpu: 0,
            ncpus: 1,
            prandom_state: 0x2545_f491_4f6c_dd1d,
            printk: Vec::new(),
            maps: crate::helpers::MapTable::default(),
            redirects: Vec::new(),
            prog_type: crate::program::ProgType::Unspec,
            scratch: Vec::new(),
            // The initial namespace's cookie, which is what a test run in it reports.
            net: crate::net::Net {
                netns_cookie: 1,
                ctx_socket_cookie: 1,
                ..crate::net::Net::default()
            },
            timers: Vec::new(),
            cgroup_id: 1,
            cgroup_attach_type: 0,
            current_prog: None,
            printk_limit: DEFAULT_PRINTK_LIMIT,
            output_limit_reached: false,
            task: crate::task::Task::default(),
            seq: Vec::new(),
        }
    }
}

impl Env {
    /// Reads the clock, advancing it by `clock_step_ns`.
    pub fn read_clock(&mut self) -> u64 {
        let now = self.clock_ns;
        self.clock_ns = self.clock_ns.wrapping_add(self.clock_step_ns);
        now
    }

    /// Next value of the seeded generator (xorshift64*, deterministic across platforms).
    pub fn next_prandom(&mut self) -> u32 {
        let mut x = self.prandom_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.prandom_state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}
