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
    assert_eq!(objs.len(), 18);
    assert_eq!(loaded_objects, 17);
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
    eprintln!("kernel retvals per object: {verdicts:?}");
    assert_eq!(mismatches, 0);
    // All 19 programs run, the two xsk_def_prog ones redirecting into an empty XSKMAP.
    assert_eq!(not_run, 0);
    assert_eq!(runs, 19 * packets.len());
    // The filters take both ways: some packets pass and some drop in the same program.
    for obj in ["xdpfilt_dny_ip.o", "xdpfilt_alw_ip.o"] {
        let seen: Vec<u32> = verdicts
            .keys()
            .filter(|(o, _)| o == obj)
            .map(|(_, r)| *r)
            .collect();
        assert!(seen.contains(&1) && seen.contains(&2), "{obj}: {seen:?}");
    }
}

/// A mismatch report writes a reproducer that holds everything needed to replay it.
#[test]
fn reproducers_are_self_contained() {
    use bpfbox_kernel_compare::run::{Difference, Outcome, RunComparison};
    let Some(objs) = common::real_objects() else {
        return;
    };
    let obj = objs.iter().find(|p| p.ends_with("xdp_pass.o")).unwrap();
    let dir = std::env::temp_dir().join(format!("kc-repro-{}", std::process::id()));
    let input = RunInput {
        name: "ipv4/tcp 80".into(),
        data: vec![1, 2, 3],
        ctx: Some(vec![4; 24]),
    };
    let c = RunComparison {
        program: "xdp_pass".into(),
        input: input.name.clone(),
        kernel: Outcome::Ran {
            retval: 2,
            data_out: vec![1, 2, 3],
            ctx_out: Vec::new(),
        },
        bpfbox: Outcome::Ran {
            retval: 1,
            data_out: vec![1, 2, 3],
            ctx_out: Vec::new(),
        },
        differences: vec![Difference {
            what: "retval".into(),
            kernel: "2".into(),
            bpfbox: "1".into(),
        }],
    };
    let prefill = vec!["m:01000000:02000000".parse().unwrap()];
    let out = bpfbox_kernel_compare::repro::write(&dir, obj, &c, &input, &prefill).unwrap();
    assert_eq!(out, dir.join("xdp_pass.o-xdp_pass-ipv4_tcp_80"));
    assert_eq!(
        std::fs::read(out.join("xdp_pass.o")).unwrap(),
        std::fs::read(obj).unwrap()
    );
    assert_eq!(std::fs::read(out.join("data.bin")).unwrap(), vec![1, 2, 3]);
    assert_eq!(std::fs::read(out.join("ctx.bin")).unwrap(), vec![4; 24]);
    let readme = std::fs::read_to_string(out.join("README")).unwrap();
    assert!(readme.contains(
        "bpfbox compare xdp_pass.o --prog xdp_pass --run --data data.bin --ctx ctx.bin --prefill m:01000000:02000000"
    ));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("mismatch.json")).unwrap()).unwrap();
    assert_eq!(json["comparison"]["differences"][0]["what"], "retval");
    std::fs::remove_dir_all(&dir).unwrap();
}
