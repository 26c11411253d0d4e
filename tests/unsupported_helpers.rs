//! A program calling a helper bpfbox does not implement is refused by name, with its call
//! instruction, while the object's other programs still build and run. The object is
//! compiled here with clang (skipped without it).

mod common;

use std::process::Command;

use bpfbox::{Context, Error, Object, Vm};
use common::skip;

const SOURCE: &str = r#"
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc") int grows_head(struct __sk_buff *skb)
{
    return bpf_skb_change_tail(skb, 14, 0) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc") int passes(struct __sk_buff *skb)
{
    return skb->len > 10 ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn only_the_program_calling_it_is_refused() {
    if Command::new("clang-19").arg("--version").output().is_err() {
        skip("clang-19 not found: cannot build the test object");
        return;
    }
    let dir = std::env::temp_dir().join(format!("bpfbox-unsupported-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, obj) = (dir.join("p.bpf.c"), dir.join("p.o"));
    std::fs::write(&src, SOURCE).unwrap();
    let arch_inc = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let st = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-I", &arch_inc, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap();
    assert!(st.success(), "clang failed");
    let object = Object::from_file(&obj).unwrap();
    let mut vm = Vm::builder().build(&object).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let frame = [0u8; 60];
    match vm.run("grows_head", Context::skb(&frame)) {
        Err(Error::UnsupportedHelper {
            program, id, name, ..
        }) => {
            assert_eq!(
                (program.as_str(), id, name.as_str()),
                ("grows_head", 38, "bpf_skb_change_tail")
            );
        }
        other => panic!("expected an unsupported helper error, got {other:?}"),
    }
    let e = vm.run("grows_head", Context::skb(&frame)).unwrap_err();
    assert!(e.to_string().contains("bpf_skb_change_tail"), "{e}");
    let r = vm.run("passes", Context::skb(&frame)).unwrap();
    assert_eq!(r.action, Some("TC_ACT_OK"));
}
