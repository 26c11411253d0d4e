//! `bpfbox run` does what the library does: `--global` sets variables before load as a
//! skeleton does (checked against the kernel running the object with the same value), the
//! task, clock and random-seed options reach the helpers, and `.rodata`-style section names
//! name global data maps.

mod common;

use std::process::Command;

use bpfbox::kernel_compare::load::{KernelObject, LoadOptions};
use bpfbox::kernel_compare::probe::Probe;
use bpfbox::kernel_compare::run::{Outcome, RunInput, Session};
use bpfbox::{Context, Object, Vm};

fn bpfbox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bpfbox"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = bpfbox(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn scratch(name: &str, bytes: &[u8]) -> String {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_run_options");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// `struct acc_arg { u32 x; u32 name_idx; char name_out[8]; }`.
fn acc_arg(x: u32, idx: u32) -> Vec<u8> {
    let mut v = x.to_ne_bytes().to_vec();
    v.extend_from_slice(&idx.to_ne_bytes());
    v.extend_from_slice(&[0; 8]);
    v
}

/// `globals_acc` returns `total + x * multiplier`; `.data`'s total starts at 100.
#[test]
fn global_sets_rodata_before_load() {
    let obj = common::fixture("globals");
    let obj = obj.to_str().unwrap();
    let ctx = scratch("acc.bin", &acc_arg(2, 1));
    let r = json(&["run", obj, "--ctx", &ctx, "--json"]);
    assert_eq!(r["retval"], 100 + 2 * 3);
    let r = json(&[
        "run",
        obj,
        "--ctx",
        &ctx,
        "--global",
        "multiplier=7",
        "--json",
    ]);
    assert_eq!(r["retval"], 100 + 2 * 7);
    let r = json(&[
        "run",
        obj,
        "--ctx",
        &ctx,
        "--global",
        "multiplier=hex:05000000",
        "--global",
        "total=1000",
        "--json",
    ]);
    assert_eq!(r["retval"], 1000 + 2 * 5);
    // A string into a char array, zero-padded.
    let r = json(&[
        "run",
        obj,
        "--ctx",
        &ctx,
        "--global",
        "names=str:ab",
        "--dump-maps",
        "--json",
    ]);
    let rodata = &r["maps"][0]["elements"][0]["formatted"]["value"][".rodata"];
    assert_eq!(
        rodata[1]["names"],
        serde_json::json!(["ab", "", ""]),
        "{rodata}"
    );
    // Errors name the variable.
    let out = bpfbox(&["run", obj, "--ctx", &ctx, "--global", "nope=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--global nope"));
    let out = bpfbox(&[
        "run",
        obj,
        "--ctx",
        &ctx,
        "--global",
        "multiplier=0x100000000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit in 4 bytes"));
}

/// The kernel, given the same `.rodata` as a skeleton would set it, returns what we return.
#[test]
fn global_agrees_with_the_kernel() {
    let probe = Probe::run();
    if let Some(r) = probe.reason() {
        return common::skip(&r);
    }
    let path = common::fixture("globals");
    let mut obj = Object::from_file(&path).unwrap();
    obj.set_global("multiplier", &11u32.to_ne_bytes()).unwrap();
    obj.set_global("last_x", &99u32.to_ne_bytes()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let kernel = KernelObject::load(&bytes, &obj, &LoadOptions::default()).unwrap();
    let mut session = Session::new(&obj, &kernel, probe.possible_cpus);
    let input = RunInput {
        name: "acc".into(),
        data: Vec::new(),
        ctx: Some(acc_arg(3, 0)),
    };
    let c = session.run("globals_acc", &input).unwrap();
    let Outcome::Ran { retval, .. } = c.kernel else {
        panic!("{:?}", c.kernel);
    };
    assert!(c.matches(), "{:?}", c.differences);
    let ctx = scratch("acc3.bin", &acc_arg(3, 0));
    let path = path.to_str().unwrap();
    let r = json(&[
        "run",
        path,
        "--ctx",
        &ctx,
        "--global",
        "multiplier=11",
        "--global",
        "last_x=99",
        "--dump-maps",
        "--json",
    ]);
    assert_eq!(r["retval"], retval);
    // `last_x` (offset 8 of .bss, where clang's DATASEC says 0) ends as the run set it.
    let bss = &r["maps"][2]["elements"][0]["formatted"]["value"][".bss"];
    assert_eq!(bss[1]["last_x"], 3, "{bss}");
    assert_eq!(bss[0]["runs"], 1, "{bss}");
}

/// `env_probe` stores what the task, clock and random helpers return in `env_result[0]`.
#[test]
fn task_clock_and_seed_options_reach_the_helpers() {
    let obj = common::fixture("helpers_misc");
    let obj = obj.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", obj, "--prog", "env_probe", "--dump-maps", "--json"];
        args.extend_from_slice(extra);
        let r = json(&args);
        r["maps"][0]["elements"][0]["formatted"]["value"].clone()
    };
    let v = run(&[
        "--pid", "77", "--uid", "1000", "--gid", "100", "--comm", "hello", "--time", "5000:10",
        "--seed", "9",
    ]);
    assert_eq!(v["pid_tgid"], (77u64 << 32) | 77);
    assert_eq!(v["uid_gid"], (100u64 << 32) | 1000);
    assert_eq!(v["comm"], "hello");
    assert_eq!(v["ktime"], serde_json::json!([5000, 5010]));
    // The seed: the library with the same seed draws the same numbers.
    let object = Object::from_file(common::fixture("helpers_misc")).unwrap();
    let mut vm = Vm::builder().seed(9).build(&object).unwrap();
    vm.run("env_probe", Context::raw_tracepoint(&[])).unwrap();
    let raw = vm
        .map("env_result")
        .unwrap()
        .lookup(&0u32.to_ne_bytes())
        .unwrap();
    let rnd = |i: usize| u32::from_ne_bytes(raw[32 + 4 * i..36 + 4 * i].try_into().unwrap());
    assert_eq!(v["rnd"], serde_json::json!([rnd(0), rnd(1)]));
    let other = run(&["--seed", "10"]);
    assert_ne!(other["rnd"], v["rnd"]);
    // Options for objects given to a raw program are refused.
    let asm = scratch("ok.asm", b"mov %r0, 1\nexit\n");
    let out = bpfbox(&["run", &asm, "--pid", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A global data map is named by its section wherever a map is named.
#[test]
fn section_names_name_global_data_maps() {
    let object = Object::from_file(common::fixture("globals")).unwrap();
    let vm = Vm::builder().build(&object).unwrap();
    assert_eq!(
        vm.map(".data")
            .unwrap()
            .lookup(&0u32.to_ne_bytes())
            .unwrap(),
        100u64.to_ne_bytes()
    );
    assert_eq!(vm.map_index(".bss"), vm.map_index("globals.bss"));
    assert!(vm.map(".maps").is_err());
    // In the CLI: --map .data sets `total` before the run.
    let obj = common::fixture("globals");
    let ctx = scratch("acc1.bin", &acc_arg(1, 0));
    let r = json(&[
        "run",
        obj.to_str().unwrap(),
        "--ctx",
        &ctx,
        "--map",
        ".data",
        "0=500",
        "--json",
    ]);
    assert_eq!(r["retval"], 500 + 3);
}
