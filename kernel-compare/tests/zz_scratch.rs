use bpfbox_kernel_compare::selftest::{Environment, SelftestObject};
use bpfbox_verifier::Privilege;
#[test]
fn scratch() {
    let name = std::env::var("T").unwrap();
    let obj = std::env::var("O").unwrap();
    let mut env = Environment::probe();
    env.privilege = Privilege::BpfOnly;
    let o = SelftestObject::open(std::path::Path::new(&obj), &env).unwrap();
    for (spec, unpriv) in o.tests() {
        if unpriv || spec.program != name {
            continue;
        }
        let mut s2 = spec.clone();
        s2.log_level = 2 | 4;
        let out = o.run(&s2, unpriv, &env);
        eprintln!("KERNEL\n{}\nOURS\n{}", out.log, out.bpfbox_log);
    }
}
