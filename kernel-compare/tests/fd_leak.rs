//! Loading and dropping programs and maps 1,000 times leaves no descriptor behind.

mod common;

use bpfbox_kernel_compare::sys::{self, MapCreate, ProgLoad, TestRunIn};
use bpfbox_kernel_compare::{KernelObject, LoadOptions, RunInput, Session};
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, RawInsn};

/// The tests of this file count the process's descriptors: they must not overlap.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn a_thousand_loads_leave_no_descriptor_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if common::kernel().is_none() {
        return;
    }
    // r0 = 2 (XDP_PASS); exit
    let insns = [
        RawInsn::new(0xb7, 0, 0, 0, 2),
        RawInsn::new(0x95, 0, 0, 0, 0),
    ];
    // Warm up (lazily opened descriptors of the test harness or libc are not ours).
    let _ = sys::map_create(&MapCreate::from(&MapSpec::new(
        "w",
        MapType::Array,
        4,
        4,
        1,
    )));
    let before = open_fds();
    for i in 0..1000u32 {
        let map = sys::map_create(&MapCreate::from(&MapSpec::new(
            "leak",
            MapType::Hash,
            4,
            4,
            8,
        )))
        .unwrap();
        sys::map_update(&map, &i.to_ne_bytes(), &i.to_ne_bytes(), 0).unwrap();
        let prog = sys::prog_load(&ProgLoad {
            prog_type: ProgType::Xdp.id(),
            insns: &insns,
            license: "GPL",
            log_level: if i % 10 == 0 { 1 } else { 0 },
            ..ProgLoad::default()
        })
        .unwrap();
        let out = sys::prog_test_run(
            &prog.fd,
            &TestRunIn {
                data_in: &[0u8; 14],
                data_out_cap: Some(64),
                repeat: 1,
                ..TestRunIn::default()
            },
        )
        .unwrap();
        assert_eq!(out.retval, 2);
        // Refused loads must not leak either.
        assert!(sys::prog_load(&ProgLoad {
            insns: &insns[1..],
            ..ProgLoad::default()
        })
        .is_err());
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
}

/// Whole objects (BTF, maps, programs, map-in-map templates) are closed on drop.
#[test]
fn whole_objects_are_closed_on_drop() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(probe) = common::kernel() else {
        return;
    };
    let Some(objs) = common::real_objects() else {
        return;
    };
    let before = open_fds();
    for _ in 0..5 {
        for path in &objs {
            let (obj, k) = KernelObject::load_file(path, &LoadOptions::default()).unwrap();
            let mut s = Session::new(&obj, &k, probe.possible_cpus);
            for p in obj.programs() {
                let _ = s.run(
                    &p.name,
                    &RunInput {
                        name: "eth".into(),
                        data: vec![0xff; 60],
                        ctx: None,
                    },
                );
            }
        }
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
}
