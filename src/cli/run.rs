//! `bpfbox run`: run a program in the interpreter, reporting as `bpftool prog run` does.

use std::path::{Path, PathBuf};

use bpfbox_vm::maps::MapType;
use bpfbox_vm::testrun::TestRun;
use bpfbox_vm::{FaultKind, Vm};

use super::input::{load_program, parse_hex};
use super::object;
use super::{print_json, CliError, CliResult};

/// Arguments of `bpfbox run`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "An ELF object's program runs as BPF_PROG_TEST_RUN would run it: --data is the \
packet (XDP, TC, socket filters), --ctx the context bytes (xdp_md, __sk_buff, pt_regs, \
tracepoint or syscall arguments), with the kernel's input rules. Maps start as the object \
defines them; --map NAME KEY=VALUE sets an element first (KEY and VALUE are integers in the \
map's key and value sizes, or hex:BYTES; a program array takes a program name as VALUE).\n\n\
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
    /// Object: print every map's contents after the run.
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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `bpfbox run`.
pub fn run(a: RunArgs) -> CliResult {
    if object::is_elf(&a.file) {
        return run_object(&a);
    }
    if a.prog.is_some()
        || a.section.is_some()
        || a.data.is_some()
        || a.data_hex.is_some()
        || a.ctx.is_some()
        || !a.map.is_empty()
    {
        return Err(CliError::usage(
            "--prog, --section, --data, --data-hex, --ctx and --map apply to ELF objects; \
             give raw programs their memory with --mem or --mem-file",
        ));
    }
    let prog = load_program(&a.file)?;
    let mut mem = match (&a.mem, &a.mem_file) {
        (Some(h), _) => parse_hex(h)?,
        (None, Some(f)) => std::fs::read(f)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", f.display())))?,
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
                println!("Return value: {} ({:#x})", out.r0, out.r0);
                println!("Instructions: {}", out.insns);
                if a.repeat > 1 {
                    println!("duration: {ns}ns");
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
    std::fs::read(p).map_err(|e| CliError::usage(format!("cannot read {}: {e}", p.display())))
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
    let obj = object::open(&a.file, a.btf.as_deref())?;
    let prog = object::select(&obj, &a.file, a.prog.as_deref(), a.section.as_deref())?;
    let mut builder = crate::Vm::builder()
        .budget(a.budget)
        .engine(a.engine.into());
    if a.unchecked {
        // SAFETY: the user asked for unchecked execution with --unchecked, whose help says it
        // is only for programs that stay in bounds.
        builder = unsafe { builder.unchecked() };
    }
    let mut vm = builder
        .build(&obj)
        .map_err(|e| CliError::rejected(format!("{}: {e}", a.file.display())))?;
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
            return Err(CliError {
                code,
                message: format!("{}: {e}", a.file.display()),
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
    let maps: Vec<_> = if a.dump_maps {
        vm.maps()
            .map(|(name, m)| {
                let entries: Vec<_> = m
                    .iter()
                    .into_iter()
                    .map(|(k, v)| serde_json::json!({ "key": hex(&k), "value": hex(&v) }))
                    .collect();
                (name.to_string(), m.map_type(), entries)
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
            "maps": maps.iter().map(|(n, t, e)| serde_json::json!({"name": n, "type": t.name(), "entries": e})).collect::<Vec<_>>(),
        }));
    }
    let action = res.action.map(|n| format!(" ({n})")).unwrap_or_default();
    println!(
        "Program: {} (section {}, type {})",
        prog.name,
        prog.section,
        prog.prog_type.name()
    );
    println!(
        "Return value: {}{action}, duration{}: {}ns",
        res.retval,
        if a.repeat > 1 { " (average)" } else { "" },
        res.duration_ns
    );
    println!("Instructions: {}", res.insns);
    if a.data_out.is_none() && !res.data_out.is_empty() {
        println!("data_out:");
        print!("{}", hexdump(&res.data_out));
    }
    if a.ctx.is_some() && a.ctx_out.is_none() && !res.ctx_out.is_empty() {
        println!("ctx_out:");
        print!("{}", hexdump(&res.ctx_out));
    }
    for line in &res.printk {
        println!("trace_printk: {}", line.trim_end_matches('\n'));
    }
    for (m, d) in &res.ringbuf {
        println!("ringbuf {m}: {} bytes", d.len());
        print!("{}", hexdump(d));
    }
    for (m, i, d) in &res.perf {
        println!("perf {m}[{i}]: {} bytes", d.len());
        print!("{}", hexdump(d));
    }
    for r in &res.redirects {
        println!("redirect: {r:?}");
    }
    for (name, t, entries) in &maps {
        println!("map {name} ({}): {} entries", t.name(), entries.len());
        for e in entries {
            println!(
                "  key {} value {}",
                e["key"].as_str().unwrap_or(""),
                e["value"].as_str().unwrap_or("")
            );
        }
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
