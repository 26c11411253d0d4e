//! `bpfbox run`: run a program in the interpreter, reporting as `bpftool prog run` does.

use std::path::{Path, PathBuf};

use bpfbox_vm::maps::MapType;
use bpfbox_vm::testrun::TestRun;
use bpfbox_vm::{FaultKind, Vm};

use super::input::{self, load_program, parse_hex, Content};
use super::map_dump;
use super::object;
use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox run`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "An ELF object's program runs as BPF_PROG_TEST_RUN would run it: --data is the \
packet (XDP, TC, socket filters), --ctx the context bytes (xdp_md, __sk_buff, pt_regs, \
tracepoint or syscall arguments), with the kernel's input rules. Maps start as the object \
defines them; --map NAME KEY=VALUE sets an element first (KEY and VALUE are integers in the \
map's key and value sizes, or hex:BYTES; a program array takes a program name as VALUE; \
--map NAME =hex:BYTES produces a sample into a user ring buffer).\n\n\
Raw bytecode, assembly text and conformance files get r1 = a pointer to the memory and \
r2 = its length.\n\n\
Examples:\n  bpfbox run tests/fixtures/obj/example_xdp.o --data tests/fixtures/inputs/dns_query.bin\n  \
bpfbox run filter.o --prog xdp_main --data pkt.bin --map ports 53=1 --repeat 1000 --json\n  \
bpfbox run prog.asm --mem '01 02 03 04'\n  bpfbox run test.data --json"
)]
pub struct RunArgs {
    /// A BPF ELF object, raw bytecode, assembly text or a conformance `.data` file.
    file: PathBuf,
    /// Object: the program with this function name.
    #[arg(long, conflicts_with = "section")]
    prog: Option<String>,
    /// Object: the program in this ELF section.
    #[arg(long)]
    section: Option<String>,
    /// Object: packet data (`data_in`) from a file.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Object: packet data as hex bytes.
    #[arg(long, conflicts_with = "data")]
    data_hex: Option<String>,
    /// Object: context bytes (`ctx_in`) from a file.
    #[arg(long)]
    ctx: Option<PathBuf>,
    /// Object: write the packet after the run (`data_out`) to this file instead of printing it.
    #[arg(long)]
    data_out: Option<PathBuf>,
    /// Object: write the context after the run (`ctx_out`) to this file.
    #[arg(long)]
    ctx_out: Option<PathBuf>,
    /// Object: set a map element before the run (repeatable).
    #[arg(long, num_args = 2, value_names = ["NAME", "KEY=VALUE"], action = clap::ArgAction::Append)]
    map: Vec<String>,
    /// Object: set global variable NAME (`.rodata`, `.data`, `.bss`) before load, as a
    /// skeleton does (repeatable). VALUE: an integer in the variable's size, hex:BYTES, or
    /// str:TEXT (zero-padded to the variable's size).
    #[arg(long, value_name = "NAME=VALUE", action = clap::ArgAction::Append)]
    global: Vec<String>,
    /// Object: the current task's process id (`bpf_get_current_pid_tgid`, both halves).
    #[arg(long)]
    pid: Option<u32>,
    /// Object: the current task's user id (`bpf_get_current_uid_gid`).
    #[arg(long)]
    uid: Option<u32>,
    /// Object: the current task's group id.
    #[arg(long)]
    gid: Option<u32>,
    /// Object: the number of possible CPUs (per-CPU maps keep one value each; default 1).
    #[arg(long)]
    ncpus: Option<u32>,
    /// Object: the CPU the program runs on (`bpf_get_smp_processor_id`).
    #[arg(long)]
    cpu: Option<u32>,
    /// Object: the current task's name (`bpf_get_current_comm`), cut to 15 bytes.
    #[arg(long)]
    comm: Option<String>,
    /// Object: seed of `bpf_get_prandom_u32`.
    #[arg(long)]
    seed: Option<u64>,
    /// Object: the clock, `bpf_ktime_get_ns` and friends: START nanoseconds, advancing STEP
    /// nanoseconds per read (default 0).
    #[arg(long, value_name = "START[:STEP]")]
    time: Option<String>,
    /// Object: CO-RE target BTF (raw BTF or an ELF file with .BTF); default: the running
    /// kernel's, when the object needs one.
    #[arg(long)]
    btf: Option<PathBuf>,
    /// Run this many times (the duration is the mean).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// The engine: the interpreter or the JIT.
    #[arg(long, value_enum, default_value_t)]
    engine: super::engine::RunEngine,
    /// Object: print every map after the run as `bpftool map dump` does (decoded with the
    /// map's BTF; with --json as `bpftool -j map dump`, raw bytes and "formatted").
    #[arg(long)]
    dump_maps: bool,
    /// Input memory as hex bytes (default: the file's `-- mem`, or none).
    #[arg(long, conflicts_with = "mem_file")]
    mem: Option<String>,
    /// Input memory from a file.
    #[arg(long)]
    mem_file: Option<PathBuf>,
    /// Instruction budget.
    #[arg(long, default_value_t = bpfbox_vm::interp::DEFAULT_BUDGET)]
    budget: u64,
    /// Skip memory checks (only for programs known to stay in bounds).
    #[arg(long)]
    unchecked: bool,
    /// Object: run the program even if bpfbox's verifier refuses it (by default a program
    /// the kernel's verifier would refuse is refused, with the kernel's message).
    #[arg(long)]
    no_verify: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox run`.
pub fn run(a: RunArgs) -> CliResult {
    let content = input::classify(&a.file)?;
    if let Content::Elf = content {
        return run_object(&a);
    }
    if a.prog.is_some()
        || a.section.is_some()
        || a.data.is_some()
        || a.data_hex.is_some()
        || a.ctx.is_some()
        || !a.map.is_empty()
        || !a.global.is_empty()
        || a.pid.is_some()
        || a.uid.is_some()
        || a.gid.is_some()
        || a.comm.is_some()
        || a.seed.is_some()
        || a.time.is_some()
        || a.ncpus.is_some()
        || a.cpu.is_some()
        || a.dump_maps
    {
        return Err(CliError::usage(
            "--prog, --section, --data, --data-hex, --ctx, --map, --global, --pid, --uid, \
             --gid, --comm, --ncpus, --cpu, --seed, --time and --dump-maps apply to ELF objects; give raw \
             programs their memory with --mem or --mem-file",
        ));
    }
    let prog = load_program(&a.file, content)?;
    let mut mem = match (&a.mem, &a.mem_file) {
        (Some(h), _) => parse_hex(h)?,
        (None, Some(f)) => std::fs::read(f).map_err(|e| input::cannot_read(f, &e))?,
        (None, None) => prog.mem.clone().unwrap_or_default(),
    };
    let mut vm = Vm::new(&prog.slots)
        .map_err(|e| CliError::rejected(format!("{}: {e}", a.file.display())))?;
    vm.set_budget(a.budget);
    if a.unchecked {
        // SAFETY: the user asked for unchecked execution with --unchecked, whose help says it
        // is only for programs that stay in bounds.
        unsafe { vm.set_unchecked() };
    }
    match super::engine::run_raw(vm, a.engine, &mut mem, a.repeat)? {
        Ok((out, ns)) => {
            if a.json {
                print_json(&serde_json::json!({
                    "retval": out.r0,
                    "insns": out.insns,
                    "duration": ns,
                    "mem": hex(&mem),
                }))
            } else {
                crate::outln!("Return value: {} ({:#x})", out.r0, out.r0)?;
                crate::outln!("Instructions: {}", out.insns)?;
                if a.repeat > 1 {
                    crate::outln!("duration: {ns}ns")?;
                }
                Ok(())
            }
        }
        Err(fault) => {
            let code = match fault.kind {
                FaultKind::Unsupported(_) => 3,
                _ => 1,
            };
            if a.json {
                print_json(&serde_json::json!({ "fault": fault }))?;
            }
            Err(CliError {
                code,
                message: format!("{}: {fault}", a.file.display()),
            })
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_file(p: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(p).map_err(|e| input::cannot_read(p, &e))
}

/// `KEY` or `VALUE` of `--map`: an integer in `size` bytes (native order, as the kernel
/// stores it) or `hex:BYTES`.
fn map_bytes(text: &str, size: usize, what: &str, map: &str) -> Result<Vec<u8>, CliError> {
    if let Some(h) = text.strip_prefix("hex:") {
        let b = parse_hex(h)?;
        if b.len() != size {
            return Err(CliError::usage(format!(
                "--map {map}: {what} has {} bytes, the map's {what} size is {size}",
                b.len()
            )));
        }
        return Ok(b);
    }
    let t = text.trim();
    let v = if let Some(x) = t.strip_prefix("0x") {
        u128::from_str_radix(x, 16).ok()
    } else if let Some(n) = t.strip_prefix('-') {
        n.parse::<u128>().ok().map(|n| n.wrapping_neg())
    } else {
        t.parse::<u128>().ok()
    };
    let Some(v) = v else {
        return Err(CliError::usage(format!(
            "--map {map}: {what} `{text}` is neither an integer nor hex:BYTES"
        )));
    };
    let bytes = v.to_le_bytes();
    // Checked first: the shifts below need 1..16 bytes.
    let fits = size != 0
        && (size >= 16
            || (v >> (size * 8)) == 0
            || (t.starts_with('-') && (v as i128) >> (size * 8 - 1) == -1));
    if !fits {
        return Err(CliError::usage(format!(
            "--map {map}: {what} `{text}` does not fit in {size} bytes"
        )));
    }
    let mut out = vec![0u8; size];
    let n = size.min(16);
    out[..n].copy_from_slice(&bytes[..n]);
    if !cfg!(target_endian = "little") {
        out.reverse();
    }
    Ok(out)
}

fn prefill(vm: &crate::Vm, pairs: &[String]) -> Result<(), CliError> {
    for pair in pairs.chunks(2) {
        let [name, kv] = pair else {
            return Err(CliError::usage("--map takes NAME KEY=VALUE"));
        };
        let map = vm.map(name).map_err(|e| CliError::usage(e.to_string()))?;
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            CliError::usage(format!("--map {name}: expected KEY=VALUE, got `{kv}`"))
        })?;
        let fail =
            |e: bpfbox_vm::maps::MapError| CliError::usage(format!("--map {name} {kv}: {e}"));
        match map.map_type() {
            MapType::ProgArray => {
                let key = map_bytes(k, 4, "key", name)?;
                let key = u32::from_ne_bytes([key[0], key[1], key[2], key[3]]);
                vm.set_tail_call(name, key, v)
                    .map_err(|e| CliError::usage(format!("--map {name} {kv}: {e}")))?;
            }
            // A user ring buffer takes `=hex:BYTES` samples, produced in order.
            MapType::UserRingbuf if k.is_empty() => {
                let hex = v.strip_prefix("hex:").ok_or_else(|| {
                    CliError::usage(format!("--map {name}: a sample is =hex:BYTES"))
                })?;
                map.user_ringbuf_submit(&parse_hex(hex)?).map_err(fail)?;
            }
            MapType::Queue | MapType::Stack | MapType::BloomFilter if k.is_empty() => {
                let value = map_bytes(v, map.value_size() as usize, "value", name)?;
                map.push(&value, 0).map_err(fail)?;
            }
            _ => {
                let key = map_bytes(k, map.key_size() as usize, "key", name)?;
                let value = map_bytes(v, map.value_size() as usize, "value", name)?;
                let user = map.user_value_size();
                if user > value.len() {
                    // Per-CPU: every CPU gets the value.
                    let copies = vec![value; map.ncpus() as usize];
                    map.update_percpu(&key, &copies, 0).map_err(fail)?;
                } else {
                    map.update(&key, &value, 0).map_err(fail)?;
                }
            }
        }
    }
    Ok(())
}

/// The object's BTF as libbpf hands it to the kernel (DATASEC sizes and offsets from the ELF
/// symbols), or `None` if that cannot be made.
fn kernel_btf(path: &Path, obj: &crate::Object) -> Option<bpfbox_btf::Btf> {
    let bytes = std::fs::read(path).ok()?;
    let elf = bpfbox_loader::elf::ElfFile::parse(&bytes).ok()?;
    let (kconfig, kconfig_size) = obj.kconfig_layout();
    let raw = crate::kernel_compare::btf_fixup::finalize(&elf, kconfig, kconfig_size).ok()??;
    bpfbox_btf::Btf::parse(&raw).ok()
}

/// `--global NAME=VALUE`: sets each variable before the maps are created.
fn set_globals(obj: &mut crate::Object, globals: &[String]) -> CliResult {
    for g in globals {
        let (name, value) = g
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--global: expected NAME=VALUE, got `{g}`")))?;
        let var = obj.global_var(name).ok_or_else(|| {
            CliError::usage(format!(
                "--global {name}: no global variable of that name in the object's BTF"
            ))
        })?;
        let bytes = match value.strip_prefix("str:") {
            Some(text) => {
                if text.len() > var.size {
                    return Err(CliError::usage(format!(
                        "--global {name}: `{text}` has {} bytes, the variable {}",
                        text.len(),
                        var.size
                    )));
                }
                let mut b = text.as_bytes().to_vec();
                b.resize(var.size, 0);
                b
            }
            None => map_bytes(value, var.size, "value", name)
                .map_err(|e| CliError::usage(e.message.replacen("--map", "--global", 1)))?,
        };
        obj.set_global(name, &bytes)
            .map_err(|e| CliError::usage(format!("--global {name}: {e}")))?;
    }
    Ok(())
}

/// `--pid`, `--uid`, `--gid`, `--comm`, `--seed` and `--time` on the VM's environment.
fn env_options(mut b: crate::VmBuilder, a: &RunArgs) -> Result<crate::VmBuilder, CliError> {
    let env = bpfbox_vm::Env::default();
    if let Some(pid) = a.pid {
        b = b.pid_tgid(pid, pid);
    }
    if a.uid.is_some() || a.gid.is_some() {
        b = b.uid_gid(a.uid.unwrap_or(env.uid), a.gid.unwrap_or(env.gid));
    }
    if let Some(n) = a.ncpus {
        b = b.ncpus(n);
    }
    if let Some(c) = a.cpu {
        b = b.cpu(c);
    }
    if let Some(comm) = &a.comm {
        b = b.comm(comm);
    }
    if let Some(seed) = a.seed {
        b = b.seed(seed);
    }
    if let Some(t) = &a.time {
        let (start, step) = t.split_once(':').unwrap_or((t, "0"));
        let parse = |s: &str| {
            s.trim().parse::<u64>().map_err(|_| {
                CliError::usage(format!(
                    "--time: expected START[:STEP] in nanoseconds, got `{t}`"
                ))
            })
        };
        b = b.clock(parse(start)?, parse(step)?);
    }
    Ok(b)
}

/// bpftool's hexdump: offset, 16 bytes in pairs, and their printable characters.
pub fn hexdump(data: &[u8]) -> String {
    let mut s = String::new();
    for (row, chunk) in data.chunks(16).enumerate() {
        s.push_str(&format!("{:07x}\t", row * 16));
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => s.push_str(&format!("{b:02x}")),
                None => s.push_str("  "),
            }
            if j % 2 == 1 {
                s.push(' ');
            }
        }
        s.push_str("| ");
        for (j, &b) in chunk.iter().enumerate() {
            s.push(if (b' '..=b'~').contains(&b) {
                b as char
            } else {
                '.'
            });
            if j == 7 {
                s.push(' ');
            }
        }
        s.push('\n');
    }
    s
}

/// Runs one program of an object as `BPF_PROG_TEST_RUN` would.
fn run_object(a: &RunArgs) -> CliResult {
    if a.mem.is_some() || a.mem_file.is_some() {
        return Err(CliError::usage(
            "--mem and --mem-file apply to raw programs; give an object's packet with --data",
        ));
    }
    let mut obj = object::open(&a.file, a.btf.as_deref())?;
    set_globals(&mut obj, &a.global)?;
    let prog = object::select(&obj, &a.file, a.prog.as_deref(), a.section.as_deref())?;
    let mut builder = env_options(
        crate::Vm::builder()
            .budget(a.budget)
            .engine(a.engine.into())
            .verify(!a.no_verify),
        a,
    )?;
    if a.unchecked {
        // SAFETY: the user asked for unchecked execution with --unchecked, whose help says it
        // is only for programs that stay in bounds.
        builder = unsafe { builder.unchecked() };
    }
    let mut vm = builder
        .build(&obj)
        .map_err(|e| CliError::rejected(format!("{}: {e}", a.file.display())))?;
    if let Ok(Some(v)) = vm.verdict(&prog.name) {
        if v.unsupported {
            crate::errln!(
                "bpfbox: warning: {}: program '{}' not verified: {}; running it {}",
                a.file.display(),
                prog.name,
                v.error.as_deref().unwrap_or_default(),
                if a.unchecked {
                    "unchecked as asked"
                } else {
                    "in checked mode"
                }
            );
        }
    }
    prefill(&vm, &a.map)?;
    let data_in = match (&a.data, &a.data_hex) {
        (Some(f), _) => read_file(f)?,
        (None, Some(h)) => parse_hex(h)?,
        (None, None) => Vec::new(),
    };
    let input = TestRun {
        data_in,
        ctx_in: a.ctx.as_deref().map(read_file).transpose()?,
        repeat: a.repeat,
        kernel_compat: true,
        regions: Vec::new(),
    };
    let res = match vm.test_run(&prog.name, &input) {
        Ok(r) => r,
        Err(e) => {
            let code = match &e {
                crate::Error::Run {
                    source: bpfbox_vm::testrun::TestRunError::Invalid { .. },
                    ..
                } => 2,
                crate::Error::Run {
                    source: bpfbox_vm::testrun::TestRunError::Fault(f),
                    ..
                } if matches!(f.kind, FaultKind::Unsupported(_)) => 3,
                _ => 1,
            };
            let hint = if matches!(e, crate::Error::Rejected { .. }) {
                " (--no-verify runs it anyway)"
            } else {
                ""
            };
            return Err(CliError {
                code,
                message: format!("{}: {e}{hint}", a.file.display()),
            });
        }
    };
    if let Some(p) = &a.data_out {
        std::fs::write(p, &res.data_out)
            .map_err(|e| CliError::internal(format!("cannot write {}: {e}", p.display())))?;
    }
    if let Some(p) = &a.ctx_out {
        std::fs::write(p, &res.ctx_out)
            .map_err(|e| CliError::internal(format!("cannot write {}: {e}", p.display())))?;
    }
    // Every map as `bpftool map dump` (or `bpftool -j map dump`) prints it, decoded with the
    // BTF the kernel would hold: the object's, with DATASEC sizes and offsets filled in.
    let loaded_btf = a.dump_maps.then(|| kernel_btf(&a.file, &obj)).flatten();
    let btf = loaded_btf.as_ref().or(obj.btf());
    let maps: Vec<(String, &'static str, String)> = if a.dump_maps {
        vm.maps()
            .map(|(name, m)| {
                let text = if a.json {
                    map_dump::json(m, btf)
                } else {
                    map_dump::plain(m, btf)
                };
                (name.to_string(), m.map_type().name(), text)
            })
            .collect()
    } else {
        Vec::new()
    };
    if a.json {
        return print_json(&serde_json::json!({
            "program": prog.name,
            "section": prog.section,
            "type": prog.prog_type.name(),
            "retval": res.retval,
            "r0": res.r0,
            "action": res.action,
            "duration": res.duration_ns,
            "insns": res.insns,
            "data_out": hex(&res.data_out),
            "ctx_out": hex(&res.ctx_out),
            "printk": res.printk,
            "ringbuf": res.ringbuf.iter().map(|(m, d)| serde_json::json!({"map": m, "data": hex(d)})).collect::<Vec<_>>(),
            "perf": res.perf.iter().map(|(m, i, d)| serde_json::json!({"map": m, "index": i, "data": hex(d)})).collect::<Vec<_>>(),
            "redirects": res.redirects,
            "maps": maps.iter().map(|(n, t, e)| serde_json::json!({
                "name": n,
                "type": t,
                "elements": serde_json::from_str::<serde_json::Value>(e).unwrap_or_default(),
            })).collect::<Vec<_>>(),
        }));
    }
    let action = res.action.map(|n| format!(" ({n})")).unwrap_or_default();
    crate::outln!(
        "Program: {} (section {}, type {})",
        prog.name,
        prog.section,
        prog.prog_type.name()
    )?;
    crate::outln!(
        "Return value: {}{action}, duration{}: {}ns",
        res.retval,
        if a.repeat > 1 { " (average)" } else { "" },
        res.duration_ns
    )?;
    crate::outln!("Instructions: {}", res.insns)?;
    if a.data_out.is_none() && !res.data_out.is_empty() {
        crate::outln!("data_out:")?;
        crate::out!("{}", hexdump(&res.data_out))?;
    }
    if a.ctx.is_some() && a.ctx_out.is_none() && !res.ctx_out.is_empty() {
        crate::outln!("ctx_out:")?;
        crate::out!("{}", hexdump(&res.ctx_out))?;
    }
    for line in &res.printk {
        crate::outln!("trace_printk: {}", line.trim_end_matches('\n'))?;
    }
    for (m, d) in &res.ringbuf {
        crate::outln!("ringbuf {m}: {} bytes", d.len())?;
        crate::out!("{}", hexdump(d))?;
    }
    for (m, i, d) in &res.perf {
        crate::outln!("perf {m}[{i}]: {} bytes", d.len())?;
        crate::out!("{}", hexdump(d))?;
    }
    for r in &res.redirects {
        crate::outln!("redirect: {r:?}")?;
    }
    for (name, t, text) in &maps {
        crate::outln!("map {name} ({t}):")?;
        crate::out!("{text}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::map_bytes;

    #[test]
    fn map_values_are_sized_and_checked() {
        assert_eq!(map_bytes("17", 4, "key", "m").unwrap(), 17u32.to_ne_bytes());
        assert_eq!(
            map_bytes("0x1ff", 2, "key", "m").unwrap(),
            0x1ffu16.to_ne_bytes()
        );
        assert_eq!(map_bytes("-1", 2, "value", "m").unwrap(), [0xff, 0xff]);
        assert_eq!(map_bytes("hex:0a0b", 2, "key", "m").unwrap(), [0x0a, 0x0b]);
        assert!(map_bytes("256", 1, "key", "m").is_err());
        assert!(map_bytes("-129", 1, "key", "m").is_err());
        assert!(map_bytes("hex:0a", 2, "key", "m").is_err());
        // A zero-sized key (queues, stacks) takes no integer, and must not panic.
        assert!(map_bytes("-1", 0, "key", "m").is_err());
        assert!(map_bytes("0", 0, "key", "m").is_err());
        assert!(map_bytes("nope", 4, "key", "m").is_err());
    }
}
