//! The raw syscall layer against the running kernel.

mod common;

use bpfbox_kernel_compare::sys::{self, MapCreate, ProgLoad, TestRunIn};
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, RawInsn};

#[test]
fn maps_round_trip() {
    if common::kernel().is_none() {
        return;
    }
    let spec = MapSpec::new("kc_hash", MapType::Hash, 4, 8, 16);
    let fd = sys::map_create(&MapCreate::from(&spec)).unwrap();
    for k in 0u32..3 {
        sys::map_update(&fd, &k.to_ne_bytes(), &u64::from(k * 10).to_ne_bytes(), 0).unwrap();
    }
    assert_eq!(
        sys::map_lookup(&fd, &1u32.to_ne_bytes()).unwrap(),
        Some(10u64.to_ne_bytes().to_vec())
    );
    assert_eq!(sys::map_lookup(&fd, &9u32.to_ne_bytes()).unwrap(), None);
    let mut keys = sys::map_keys(&fd, 100).unwrap();
    keys.sort();
    assert_eq!(keys.len(), 3);
    sys::map_delete(&fd, &1u32.to_ne_bytes()).unwrap();
    assert_eq!(
        sys::map_delete(&fd, &1u32.to_ne_bytes()).unwrap_err().errno,
        libc::ENOENT
    );
    let info = sys::map_info(&fd).unwrap();
    assert_eq!(
        (info.key_size, info.value_size, info.max_entries),
        (4, 8, 16)
    );

    // A frozen array refuses syscall writes with EPERM.
    let arr = sys::map_create(&MapCreate::from(&MapSpec::new(
        "kc_arr",
        MapType::Array,
        4,
        4,
        1,
    )))
    .unwrap();
    sys::map_freeze(&arr).unwrap();
    let e = sys::map_update(&arr, &0u32.to_ne_bytes(), &1u32.to_ne_bytes(), 0).unwrap_err();
    assert_eq!(e.errno, libc::EPERM);
}

/// Issue 11: the wrappers once took the value length from the caller, and a per-CPU map
/// looked up with a buffer sized for one CPU let the kernel write every possible CPU's copy
/// past it (`malloc(): invalid size`). Buffers now come from the map's own info; a short
/// key or value is refused before the kernel sees it.
#[test]
fn per_cpu_buffers_are_sized_from_the_maps_info() {
    if common::kernel().is_none() {
        return;
    }
    let ncpus = bpfbox_kernel_compare::probe::possible_cpus().expect("possible CPUs") as usize;
    let spec = MapSpec::new("kc_pcpu", MapType::PercpuArray, 4, 12, 2);
    let fd = sys::map_create(&MapCreate::from(&spec)).unwrap();
    let sizes = sys::elem_sizes(&fd).unwrap();
    assert_eq!((sizes.key, sizes.value), (4, 16 * ncpus));
    let v = sys::map_lookup(&fd, &0u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(v.len(), 16 * ncpus);
    // One CPU's value is too short for the kernel's read: refused here.
    let e = sys::map_update(&fd, &0u32.to_ne_bytes(), &[1u8; 16], 0).unwrap_err();
    assert_eq!(e.errno, libc::EINVAL);
    let mut all = vec![0u8; 16 * ncpus];
    all[0] = 7;
    sys::map_update(&fd, &1u32.to_ne_bytes(), &all, 0).unwrap();
    assert_eq!(
        sys::map_lookup(&fd, &1u32.to_ne_bytes()).unwrap().unwrap(),
        all
    );
    // A key shorter than the map's is refused too.
    assert_eq!(
        sys::map_lookup(&fd, &[0u8; 2]).unwrap_err().errno,
        libc::EINVAL
    );
    let batch = sys::map_lookup_batch(&fd, 8).unwrap();
    assert_eq!(batch.len(), 2);
    assert!(batch
        .iter()
        .all(|(k, v)| k.len() == 4 && v.len() == 16 * ncpus));
}

#[test]
fn load_test_run_and_info() {
    if common::kernel().is_none() {
        return;
    }
    // r0 = 2 (XDP_PASS); exit
    let insns = [
        RawInsn::new(0xb7, 0, 0, 0, 2),
        RawInsn::new(0x95, 0, 0, 0, 0),
    ];
    let p = ProgLoad {
        prog_type: ProgType::Xdp.id(),
        insns: &insns,
        license: "GPL",
        name: "kc_pass",
        log_level: sys::BPF_LOG_LEVEL1 | sys::BPF_LOG_STATS,
        ..ProgLoad::default()
    };
    let prog = sys::prog_load(&p).unwrap();
    assert!(prog.log.contains("processed 2 insns"), "{}", prog.log);
    let pkt = [0u8; 64];
    let out = sys::prog_test_run(
        &prog.fd,
        &TestRunIn {
            data_in: &pkt,
            data_out_cap: Some(4096),
            ctx_out_cap: Some(24),
            repeat: 1,
            ..TestRunIn::default()
        },
    )
    .unwrap();
    assert_eq!(out.retval, 2);
    assert_eq!(out.data_out, pkt);
    assert_eq!(out.ctx_out.len(), 24);
    let info = sys::prog_info(&prog.fd).unwrap();
    assert_eq!(info.verified_insns, 2);
    assert_eq!(info.xlated.len(), 16);

    // A rejected program reports errno and log.
    let bad = [RawInsn::new(0x95, 0, 0, 0, 0)];
    let e = sys::prog_load(&ProgLoad {
        insns: &bad,
        log_level: 1,
        ..p.clone()
    })
    .unwrap_err();
    assert_eq!(e.errno, libc::EACCES);
    assert!(e.log.contains("R0 !read_ok"), "{}", e.log);
}

/// A log larger than the first buffer is fetched whole.
#[test]
fn log_grows_until_it_fits() {
    if common::kernel().is_none() {
        return;
    }
    // 20,000 `r0 = 0` then exit: the level-2 log is far above the initial 64 KiB.
    let mut insns = vec![RawInsn::new(0xb7, 0, 0, 0, 0); 20_000];
    insns.push(RawInsn::new(0x95, 0, 0, 0, 0));
    let prog = sys::prog_load(&ProgLoad {
        prog_type: ProgType::SocketFilter.id(),
        insns: &insns,
        license: "GPL",
        log_level: 2,
        ..ProgLoad::default()
    })
    .unwrap();
    assert!(prog.log.len() > 64 << 10);
    assert!(prog.log.contains("processed 20001 insns"));
}
