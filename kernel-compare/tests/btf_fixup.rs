//! Objects with `.ksyms` and `.kconfig` externs: their BTF, finalized as libbpf finalizes
//! it, is accepted by the kernel (which refuses the raw `.BTF`: extern functions, a
//! `.ksyms` DATASEC of size 0), so programs load with their BTF.

mod common;

use bpfbox_btf::{Btf, Kind, TypeData};
use bpfbox_kernel_compare::btf_fixup;
use bpfbox_kernel_compare::{KernelObject, LoadOptions, Verdict};
use bpfbox_loader::elf::ElfFile;
use bpfbox_loader::Object;

const SRC: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern void *bpf_cast_to_kern_ctx(void *) __ksym;
extern const int bpf_prog_active __ksym;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;
int counter = 1;
__attribute__((visibility("hidden"))) int hidden_var = 2;
__u64 zeroed;
__attribute__((noinline, visibility("hidden"))) int hidden_sub(int x) { return x + counter; }
__attribute__((noinline)) int global_sub(int x) { return x + 1; }
SEC("xdp") int kfunc_user(struct xdp_md *ctx) {
	void *k = bpf_cast_to_kern_ctx(ctx);
	zeroed += LINUX_KERNEL_VERSION + CONFIG_HZ;
	return k ? hidden_sub(2) + global_sub(counter) + hidden_var : 1;
}
SEC("tp_btf/sys_enter") int ksym_user(void *ctx) { return *(&bpf_prog_active) != 0; }
char _license[] SEC("license") = "GPL";
"#;

#[test]
fn finalized_btf_has_libbpf_shape() {
    let Some(path) = common::compile_bpf("externs", SRC) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let elf = ElfFile::parse(&bytes).unwrap();
    let obj = Object::parse(&bytes).unwrap();
    let (kconfig, size) = obj.kconfig_layout();
    let raw = btf_fixup::finalize(&elf, kconfig, size).unwrap().unwrap();
    let btf = Btf::parse(&raw).unwrap();
    let ksyms = btf.find_by_name_kind(".ksyms", Kind::Datasec).unwrap();
    let TypeData::Datasec(vars) = &btf.type_by_id(ksyms).unwrap().data else {
        panic!("not a DATASEC");
    };
    // The function and the variable, a 4-byte slot each.
    assert_eq!(btf.type_by_id(ksyms).unwrap().size(), Some(8));
    let offsets: Vec<(u32, u32)> = vars.iter().map(|v| (v.offset, v.size)).collect();
    assert_eq!(offsets, vec![(0, 4), (4, 4)]);
    let dummy = btf.find_by_name_kind("dummy_ksym", Kind::Var).unwrap();
    for v in vars {
        let t = btf.type_by_id(v.type_id).unwrap();
        assert_eq!(t.kind(), Kind::Var);
        assert_eq!(t.data, TypeData::Var { linkage: 1 }, "allocated");
    }
    assert_eq!(
        vars.iter().filter(|v| v.type_id == dummy).count(),
        1,
        "the function points at dummy_ksym"
    );
    // The extern functions are global, with every parameter named.
    let id = btf
        .find_by_name_kind("bpf_cast_to_kern_ctx", Kind::Func)
        .unwrap();
    let t = btf.type_by_id(id).unwrap();
    assert_eq!(t.vlen(), 1, "global linkage");
    let proto = btf.type_by_id(t.size_or_type).unwrap();
    assert!(proto.params().iter().all(|p| p.name_off != 0));
    // A hidden global subprogram is static to the verifier; a global one stays global.
    let linkage = |name: &str| {
        let id = btf.find_by_name_kind(name, Kind::Func).unwrap();
        btf.type_by_id(id).unwrap().vlen()
    };
    assert_eq!(linkage("hidden_sub"), 0);
    assert_eq!(linkage("global_sub"), 1);
    // .kconfig: the kconfig map's size and offsets.
    let kc = btf.find_by_name_kind(".kconfig", Kind::Datasec).unwrap();
    assert_eq!(btf.type_by_id(kc).unwrap().size(), Some(size));
    // The hidden variable became static; the others keep their linkage.
    let hidden = btf.find_by_name_kind("hidden_var", Kind::Var).unwrap();
    assert_eq!(
        btf.type_by_id(hidden).unwrap().data,
        TypeData::Var { linkage: 0 }
    );
    let counter = btf.find_by_name_kind("counter", Kind::Var).unwrap();
    assert_eq!(
        btf.type_by_id(counter).unwrap().data,
        TypeData::Var { linkage: 1 }
    );
}

#[test]
fn the_kernel_accepts_the_finalized_btf() {
    if common::kernel().is_none() {
        return;
    }
    let Some(path) = common::compile_bpf("externs_kernel", SRC) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let obj = Object::from_file_relocated(&path, None).unwrap();
    let k = KernelObject::load(&bytes, &obj, &LoadOptions::default()).unwrap();
    assert_eq!(k.btf_error, None);
    assert!(k.btf.is_some());
    let p = k.program("kfunc_user").unwrap();
    assert_eq!(p.verdict, Verdict::Accepted, "{}", p.log);
}
