//! The real xdp-tools / libxdp objects through the kernel and through bpfbox.

mod common;

use bpfbox_kernel_compare::{KernelObject, LoadOptions, RunInput, Session, Verdict};

/// Every program gets a kernel verdict; all but xdpdump_bpf.o's (CO-RE, attach target) load.
#[test]
fn every_program_gets_a_kernel_verdict() {
    if common::kernel().is_none() {
        return;
    }
    let Some(objs) = common::real_objects() else {
        return;
    };
    let mut loaded_objects = 0;
    for path in &objs {
        let (_, k) = KernelObject::load_file(path, &LoadOptions::default()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for p in &k.programs {
            eprintln!(
                "{name:28} {:24} {:10} errno={:?} insns={:?} states={:?} {}",
                p.name,
                p.verdict.label(),
                p.errno,
                p.stats.processed_insns,
                p.stats.total_states,
                p.reason.as_deref().unwrap_or("")
            );
            if name != "xdpdump_bpf.o" {
                assert_eq!(p.verdict, Verdict::Accepted, "{name} {}: {}", p.name, p.log);
                assert!(p.stats.processed_insns.is_some());
            }
        }
        if k.programs.iter().all(|p| p.verdict == Verdict::Accepted) {
            loaded_objects += 1;
        }
        if let Some(e) = &k.btf_error {
            eprintln!("{name}: BTF: {e}");
        }
    }
    eprintln!("{loaded_objects}/{} objects load", objs.len());
}

/// The same entries go into both sides so that xdp-filter takes its interesting paths.
fn prefill(s: &mut Session<'_>, obj: &bpfbox_loader::Object) {
    use bpfbox_kernel_compare::packet::{DST_V6, SRC_MAC, SRC_V4};
    // xdp-filter: MAP_FLAG_SRC 1, MAP_FLAG_DST 2, MAP_FLAG_TCP 4, MAP_FLAG_UDP 8.
    let val = |name: &str, v: u64| {
        let size = obj
            .maps()
            .iter()
            .find(|m| m.name == name)
            .map_or(8, |m| m.value_size as usize);
        v.to_ne_bytes()[..size.min(8)].to_vec()
    };
    let entries: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "filter_ports",
            80u32.to_ne_bytes().to_vec(),
            val("filter_ports", 2 | 4),
        ),
        (
            "filter_ports",
            53u32.to_ne_bytes().to_vec(),
            val("filter_ports", 2 | 8),
        ),
        (
            "filter_ports",
            40000u32.to_ne_bytes().to_vec(),
            val("filter_ports", 1 | 4),
        ),
        ("filter_ipv4", SRC_V4.to_vec(), val("filter_ipv4", 1)),
        ("filter_ipv6", DST_V6.to_vec(), val("filter_ipv6", 2)),
        (
            "filter_ethernet",
            SRC_MAC.to_vec(),
            val("filter_ethernet", 1),
        ),
    ];
    for (map, k, v) in entries {
        if obj.maps().iter().any(|m| m.name == map) {
            s.prefill(map, &k, &v).unwrap();
        }
    }
}

/// Every loadable XDP program runs on the crafted packets in the kernel and in bpfbox.
#[test]
fn xdp_programs_agree_on_crafted_packets() {
    let Some(probe) = common::kernel() else {
        return;
    };
    let Some(objs) = common::real_objects() else {
        return;
    };
    let packets = bpfbox_kernel_compare::packet::crafted();
    let (mut runs, mut mismatches, mut not_run) = (0, 0, 0);
    let mut verdicts = std::collections::BTreeMap::new();
    for path in &objs {
        let (obj, k) = KernelObject::load_file(path, &LoadOptions { log_level: 0 }).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut s = Session::new(&obj, &k, probe.possible_cpus);
        prefill(&mut s, &obj);
        for p in obj.programs() {
            for (pname, pkt) in &packets {
                let input = RunInput {
                    name: pname.clone(),
                    data: pkt.clone(),
                    ctx: None,
                };
                match s.run(&p.name, &input) {
                    Ok(c) => {
                        runs += 1;
                        if let bpfbox_kernel_compare::Outcome::Ran { retval, .. } = c.kernel {
                            *verdicts.entry((name.clone(), retval)).or_insert(0) += 1;
                        }
                        if !c.matches() {
                            mismatches += 1;
                            eprintln!("MISMATCH {name} {} {pname}", p.name);
                            for d in &c.differences {
                                eprintln!(
                                    "   {}: kernel {} | bpfbox {}",
                                    d.what, d.kernel, d.bpfbox
                                );
                            }
                        }
                    }
                    Err(e) => {
                        not_run += 1;
                        eprintln!("not run: {name} {}: {}", p.name, e.reason);
                        break;
                    }
                }
            }
        }
    }
    eprintln!("{runs} runs compared, {mismatches} mismatches, {not_run} programs not run");
    eprintln!("{verdicts:?}");
}
