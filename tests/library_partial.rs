//! A map bpfbox cannot create fails only the programs that use it; the object's other
//! programs build and run, as the kernel loads each program on its own.

mod common;

use bpfbox::{Context, Error, Object, Vm};

#[test]
fn a_map_bpfbox_lacks_fails_only_its_programs() {
    let obj = Object::from_file(common::fixture("partial_maps")).unwrap();
    let mut vm = Vm::builder().build(&obj).expect("the object builds");
    let frame = [0u8; 64];
    let r = vm.run("counts", Context::xdp(&frame)).unwrap();
    assert_eq!(r.action, Some("XDP_PASS"));
    assert_eq!(vm.array::<u64>("hits").unwrap().get(0), Some(1));
    match vm.run("uses_sockmap", Context::xdp(&frame)) {
        Err(e @ Error::MapUnavailable { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("uses_sockmap"), "{msg}");
            assert!(msg.contains("socks") && msg.contains("sockmap"), "{msg}");
        }
        other => panic!("expected MapUnavailable, got {other:?}"),
    }
}
