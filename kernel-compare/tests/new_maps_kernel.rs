//! The map types added for redirects, local storage and user ring buffers, held against
//! the running kernel: which specs `BPF_MAP_CREATE` accepts and with which errno, what the
//! user-side operations return, what `bpf_redirect_map` returns for each target map, and
//! what `bpf_get_local_storage` gives a test run.

mod common;

use common::insn::*;

use bpfbox_kernel_compare::sys::{self, MapCreate};
use bpfbox_kernel_compare::{KernelObject, LoadOptions, Outcome, RunInput, Session, Verdict};
use bpfbox_vm::maps::spec::*;
use bpfbox_vm::maps::{Map, MapConfig};
use bpfbox_vm::{ProgType, Program};

fn spec(t: MapType, k: u32, v: u32, n: u32, flags: u32) -> MapSpec {
    MapSpec::new("m", t, k, v, n).with_flags(flags)
}

/// Every spec is created in both; the errno (0 for success) must agree.
#[test]
fn create_time_rules() {
    let Some(probe) = common::kernel() else {
        return;
    };
    use MapType::*;
    let mut specs = Vec::new();
    for t in [Devmap, DevmapHash] {
        specs.extend([
            spec(t, 4, 4, 1, 0),
            spec(t, 4, 8, 16, 0),
            spec(t, 4, 6, 1, 0),
            spec(t, 8, 4, 1, 0),
            spec(t, 4, 4, 0, 0),
            spec(t, 4, 4, 1, BPF_F_NO_PREALLOC),
            spec(t, 4, 4, 1, BPF_F_RDONLY),
            spec(t, 4, 4, 1, BPF_F_WRONLY),
            spec(t, 4, 4, 1, BPF_F_RDONLY_PROG),
            spec(t, 4, 4, 1, BPF_F_NUMA_NODE),
        ]);
    }
    specs.push(spec(DevmapHash, 4, 4, (1 << 31) + 1, 0));
    specs.extend([
        spec(Cpumap, 4, 4, 1, 0),
        spec(Cpumap, 4, 8, 4, 0),
        spec(Cpumap, 4, 12, 4, 0),
        spec(Cpumap, 2, 4, 4, 0),
        spec(Cpumap, 4, 4, 0, 0),
        spec(Cpumap, 4, 4, 1, BPF_F_RDONLY),
        spec(Cpumap, 4, 4, 1, BPF_F_NUMA_NODE),
        spec(Xskmap, 4, 4, 1, 0),
        spec(Xskmap, 4, 8, 1, 0),
        spec(Xskmap, 8, 4, 1, 0),
        spec(Xskmap, 4, 4, 0, 0),
        spec(Xskmap, 4, 4, 1, BPF_F_WRONLY),
        spec(Xskmap, 4, 4, 1, BPF_F_NO_PREALLOC),
    ]);
    for t in [CgroupStorage, PercpuCgroupStorage] {
        specs.extend([
            spec(t, 8, 8, 0, 0),
            spec(t, 16, 8, 0, 0),
            spec(t, 4, 8, 0, 0),
            spec(t, 16, 0, 0, 0),
            spec(t, 16, 8, 1, 0),
            spec(t, 16, 8, 0, BPF_F_NO_PREALLOC),
            spec(t, 16, 8, 0, BPF_F_RDONLY_PROG),
            spec(t, 16, 8, 0, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
            spec(t, 16, 32768, 0, 0),
            spec(t, 16, 32769, 0, 0),
            spec(t, 16, 65407, 0, 0),
            spec(t, 16, 65408, 0, 0),
            spec(t, 16, 65408, 0, BPF_F_NO_PREALLOC),
        ]);
    }
    specs.extend([
        spec(UserRingbuf, 0, 0, 4096, 0),
        spec(UserRingbuf, 0, 0, 8192, BPF_F_NUMA_NODE),
        spec(UserRingbuf, 0, 0, 4097, 0),
        spec(UserRingbuf, 0, 0, 12288, 0),
        spec(UserRingbuf, 4, 0, 4096, 0),
        spec(UserRingbuf, 0, 0, 4096, BPF_F_RDONLY),
        // Socket storage without BTF is refused by both.
        spec(SkStorage, 4, 8, 0, BPF_F_NO_PREALLOC),
        spec(SkStorage, 4, 8, 0, 0),
    ]);
    let cfg = MapConfig {
        ncpus: probe.possible_cpus,
    };
    let mut bad = Vec::new();
    for s in &specs {
        let kernel = sys::map_create(&MapCreate::from(s)).map_or_else(|e| e.errno, |_| 0);
        let ours = Map::create(s, &cfg).map_or_else(|e| e.code(), |_| 0);
        if kernel != ours {
            bad.push(format!(
                "{} k{} v{} n{} flags {:#x}: kernel {kernel}, bpfbox {ours}",
                s.map_type, s.key_size, s.value_size, s.max_entries, s.map_flags
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A user-side operation.
#[derive(Debug)]
enum Op {
    Update(u32, Vec<u8>, u64),
    Lookup(u32),
    Delete(u32),
    Next(Option<u32>),
}

fn run_ops(s: &MapSpec, ops: &[Op], ncpus: u32) -> Vec<String> {
    let Ok(fd) = sys::map_create(&MapCreate::from(s)) else {
        return vec![format!("kernel refused {s:?}")];
    };
    let ours = Map::create(s, &MapConfig { ncpus }).unwrap();
    let show = |r: Result<Option<Vec<u8>>, i32>| format!("{r:?}");
    let mut bad = Vec::new();
    for op in ops {
        let (k, o) = match op {
            Op::Update(key, v, f) => (
                show(
                    sys::map_update(&fd, &key.to_ne_bytes(), v, *f)
                        .map(|_| None)
                        .map_err(|e| e.errno),
                ),
                show(
                    ours.update(&key.to_ne_bytes(), v, *f)
                        .map(|_| None)
                        .map_err(|e| e.code()),
                ),
            ),
            Op::Lookup(key) => (
                show(
                    sys::map_lookup(&fd, &key.to_ne_bytes())
                        .map_err(|e| e.errno)
                        .and_then(|v| v.ok_or(2).map(Some)),
                ),
                show(
                    ours.lookup(&key.to_ne_bytes())
                        .map(Some)
                        .map_err(|e| e.code()),
                ),
            ),
            Op::Delete(key) => (
                show(
                    sys::map_delete(&fd, &key.to_ne_bytes())
                        .map(|_| None)
                        .map_err(|e| e.errno),
                ),
                show(
                    ours.delete(&key.to_ne_bytes())
                        .map(|_| None)
                        .map_err(|e| e.code()),
                ),
            ),
            Op::Next(key) => {
                let kb = key.map(|k| k.to_ne_bytes());
                (
                    show(
                        sys::map_get_next_key(&fd, kb.as_ref().map(|k| &k[..]))
                            .map_err(|e| e.errno)
                            .and_then(|v| v.ok_or(2).map(Some)),
                    ),
                    show(
                        ours.get_next_key(kb.as_ref().map(|k| &k[..]))
                            .map(Some)
                            .map_err(|e| e.code()),
                    ),
                )
            }
        };
        if k != o {
            bad.push(format!("{} {op:?}: kernel {k}, bpfbox {o}", s.map_type));
        }
    }
    bad
}

fn w(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// Updates, lookups, deletes and key walks on devmaps (targets: the loopback device),
/// cpumaps (CPU 0), xskmaps (no AF_XDP socket: lookups and deletes only) and cgroup
/// storage (nothing attached).
#[test]
fn user_side_operations() {
    let Some(probe) = common::kernel() else {
        return;
    };
    use MapType::*;
    use Op::*;
    let mut bad = Vec::new();
    for vs in [4u32, 8] {
        let lo = if vs == 4 { w(&[1]) } else { w(&[1, 0]) };
        let zero = vec![0u8; vs as usize];
        let dev_ops = vec![
            Lookup(0),
            Next(None),
            Update(0, lo.clone(), BPF_ANY),
            Lookup(0),
            Update(0, lo.clone(), BPF_NOEXIST),
            Update(1, lo.clone(), BPF_EXIST),
            Update(3, lo.clone(), 0),
            Update(4, lo.clone(), 0),
            Update(2, lo.clone(), 7),
            Next(None),
            Next(Some(0)),
            Next(Some(3)),
            Next(Some(9)),
            Update(0, zero.clone(), 0),
            Lookup(0),
            Delete(3),
            Delete(3),
            Delete(4),
            Lookup(3),
        ];
        bad.extend(run_ops(
            &spec(Devmap, 4, vs, 4, 0),
            &dev_ops,
            probe.possible_cpus,
        ));
        bad.extend(run_ops(
            &spec(DevmapHash, 4, vs, 4, 0),
            &dev_ops,
            probe.possible_cpus,
        ));
        let q = if vs == 4 { w(&[192]) } else { w(&[192, 0]) };
        let big = if vs == 4 { w(&[16385]) } else { w(&[16385, 0]) };
        let cpu_ops = vec![
            Lookup(0),
            Update(0, q.clone(), 0),
            Lookup(0),
            Update(0, q.clone(), BPF_NOEXIST),
            Update(0, big, 0),
            Update(5, q.clone(), 0),
            Update(probe.possible_cpus, q.clone(), 0),
            Next(None),
            Next(Some(0)),
            Update(0, zero, 0),
            Lookup(0),
            Delete(0),
            Delete(9),
        ];
        bad.extend(run_ops(
            &spec(Cpumap, 4, vs, 8, 0),
            &cpu_ops,
            probe.possible_cpus,
        ));
    }
    let xsk_ops = vec![Lookup(0), Delete(0), Delete(4), Next(None), Next(Some(3))];
    bad.extend(run_ops(
        &spec(Xskmap, 4, 4, 4, 0),
        &xsk_ops,
        probe.possible_cpus,
    ));
    assert!(bad.is_empty(), "{bad:#?}");
}

/// `return bpf_redirect_map(map[0], key, flags)`.
fn redirect(name: &str, key: i32, flags: i32) -> Program {
    program(
        name,
        ProgType::Xdp,
        vec![
            i(LD_IMM64, 1, 5, 0, 0),
            i(0, 0, 0, 0, 0),
            i(MOV64_IMM, 2, 0, 0, key),
            i(MOV64_IMM, 3, 0, 0, flags),
            i(CALL, 0, 0, 0, 51),
            i(EXIT, 0, 0, 0, 0),
        ],
    )
}

/// `bpf_redirect_map` on each target map type: a present entry is XDP_REDIRECT, an absent or
/// out-of-range one the action in the flags' low bits, unknown flags XDP_ABORTED, and a
/// devmap broadcast redirects whatever the key.
#[test]
fn redirect_map_return_values() {
    let Some(probe) = common::kernel() else {
        return;
    };
    use MapType::*;
    let frame = {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    };
    let inputs = [RunInput {
        name: "frame".into(),
        data: frame,
        ctx: None,
    }];
    // (map type, value at key 0 if any, flags to try)
    type Case = (MapType, Option<Vec<u8>>, &'static [i32]);
    let cases: &[Case] = &[
        (
            Devmap,
            Some(w(&[1])),
            &[0, 1, 2, 3, 4, 8, 8 | 16, 16, 32, 0x1_0000],
        ),
        (DevmapHash, Some(w(&[1])), &[0, 1, 3, 8, 16, 32]),
        (Cpumap, Some(w(&[192])), &[0, 1, 2, 3, 8, 16]),
        (Xskmap, None, &[0, 1, 2, 3, 8]),
    ];
    let mut bad = Vec::new();
    for (t, fill, flag_list) in cases {
        let mut progs = Vec::new();
        for &key in &[0, 1, 7, -1] {
            for &flags in flag_list.iter() {
                progs.push(redirect(&format!("r{}_{flags}", key & 0xff), key, flags));
            }
        }
        let maps = [MapSpec::new("targets", *t, 4, 4, 4)];
        let k = KernelObject::from_programs(&progs, &maps, &LoadOptions::default());
        for p in &k.programs {
            assert_eq!(p.verdict, Verdict::Accepted, "{t} {}: {}", p.name, p.log);
        }
        let mut s = Session::from_programs(&progs, &k, probe.possible_cpus);
        if let Some(v) = fill {
            s.prefill("targets", &0u32.to_ne_bytes(), v).unwrap();
        }
        for p in &progs {
            let c = s.run(&p.name, &inputs[0]).unwrap();
            if !c.matches() {
                bad.push(format!("{t} {}: {:?}", p.name, c.differences));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A cgroup-skb program counting in its cgroup storage: each test run starts from fresh
/// storage in the kernel, so every run sees a count of one.
#[test]
fn local_storage_is_fresh_per_test_run() {
    let Some(probe) = common::kernel() else {
        return;
    };
    let mut progs = Vec::new();
    let mut maps = Vec::new();
    for (n, t) in [MapType::CgroupStorage, MapType::PercpuCgroupStorage]
        .into_iter()
        .enumerate()
    {
        maps.push(MapSpec::new(&format!("st{n}"), t, 16, 16, 0));
        progs.push(program(
            &format!("count{n}"),
            ProgType::CgroupSkb,
            vec![
                i(LD_IMM64, 1, 5, 0, n as i32),
                i(0, 0, 0, 0, 0),
                i(MOV64_IMM, 2, 0, 0, 0),
                i(CALL, 0, 0, 0, 81),
                i(0x79, 1, 0, 0, 0), // r1 = *(u64 *)(r0 + 0)
                i(0x07, 1, 0, 0, 1), // r1 += 1
                i(0x7b, 0, 1, 0, 0), // *(u64 *)(r0 + 0) = r1
                i(MOV64_IMM, 0, 0, 0, 0),
                i(0x55, 1, 0, 1, 1), // if r1 != 1 goto +1
                i(MOV64_IMM, 0, 0, 0, 1),
                i(EXIT, 0, 0, 0, 0),
            ],
        ));
    }
    let k = KernelObject::from_programs(&progs, &maps, &LoadOptions::default());
    for p in &k.programs {
        assert_eq!(p.verdict, Verdict::Accepted, "{}: {}", p.name, p.log);
    }
    let mut s = Session::from_programs(&progs, &k, probe.possible_cpus);
    let mut frame = vec![0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    let input = RunInput {
        name: "ipv4".into(),
        data: frame,
        ctx: None,
    };
    for p in &progs {
        for _ in 0..3 {
            let c = s.run(&p.name, &input).unwrap();
            assert!(
                matches!(c.kernel, Outcome::Ran { retval: 1, .. }),
                "{:?}",
                c.kernel
            );
            assert!(c.matches(), "{}: {:?}", p.name, c.differences);
        }
    }
}
