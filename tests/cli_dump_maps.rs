//! `bpfbox run --dump-maps` against `bpftool map dump`: each fixture program runs once in the
//! kernel (`BPF_PROG_TEST_RUN`) and once in bpfbox on the same input; bpftool's dump of every
//! kernel map, plain and `-j`, must equal ours (plain byte for byte, JSON as values). Needs
//! root and bpftool; skips with a reason elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfbox::kernel_compare::load::{KernelObject, LoadOptions};
use bpfbox::kernel_compare::probe::Probe;
use bpfbox::kernel_compare::run::{RunInput, Session};
use bpfbox::kernel_compare::sys;

fn bpftool() -> Option<PathBuf> {
    ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Our `--dump-maps` blocks: `map NAME (TYPE):` then the dump, in map index order.
fn our_plain_dumps(stdout: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut in_maps = false;
    for line in stdout.split_inclusive('\n') {
        if line.starts_with("map ") && line.trim_end().ends_with("):") {
            in_maps = true;
            let name = line[4..].split(' ').next().unwrap_or("").to_string();
            out.push((name, String::new()));
        } else if in_maps {
            out.last_mut().unwrap().1.push_str(line);
        }
    }
    out
}

struct Case {
    object: &'static str,
    program: &'static str,
    data: Vec<u8>,
    ctx: Option<Vec<u8>>,
}

fn cases() -> Vec<Case> {
    let mut acc = Vec::new();
    acc.extend_from_slice(&5u32.to_ne_bytes());
    acc.extend_from_slice(&1u32.to_ne_bytes());
    acc.extend_from_slice(&[0; 8]);
    let frame = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inputs/dns_query.bin"),
    )
    .unwrap();
    vec![
        Case {
            object: "globals",
            program: "globals_acc",
            data: Vec::new(),
            ctx: Some(acc),
        },
        Case {
            object: "maps_percpu",
            program: "percpu_count",
            data: frame.clone(),
            ctx: None,
        },
        Case {
            object: "maps_basic",
            program: "count_packets",
            data: frame.clone(),
            ctx: None,
        },
        Case {
            object: "btf_values",
            program: "store_shapes",
            data: Vec::new(),
            ctx: None,
        },
        Case {
            object: "example_xdp",
            program: "xdp_filter_dns",
            data: frame,
            ctx: None,
        },
    ]
}

#[test]
fn dump_maps_matches_bpftool_map_dump() {
    let probe = Probe::run();
    if let Some(r) = probe.reason() {
        return common::skip(&r);
    }
    let Some(bpftool) = bpftool() else {
        return common::skip("bpftool is not installed");
    };
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_dump_maps");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut compared = 0;
    for case in cases() {
        let path = common::fixture(case.object);
        let (obj, kernel) = KernelObject::load_file(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.object));
        let mut session = Session::new(&obj, &kernel, probe.possible_cpus);
        let input = RunInput {
            name: "case".into(),
            data: case.data.clone(),
            ctx: case.ctx.clone(),
        };
        let cmp = session.run(case.program, &input).unwrap();
        assert!(cmp.matches(), "{}: {:?}", case.object, cmp.differences);

        let mut args = vec![
            "run".to_string(),
            path.display().to_string(),
            "--prog".into(),
            case.program.into(),
            "--ncpus".into(),
            probe.possible_cpus.to_string(),
            "--dump-maps".into(),
        ];
        if !case.data.is_empty() {
            let data = scratch.join(format!("{}.data", case.object));
            std::fs::write(&data, &case.data).unwrap();
            args.extend(["--data".into(), data.display().to_string()]);
        }
        if let Some(ctx) = &case.ctx {
            let p = scratch.join(format!("{}.ctx", case.object));
            std::fs::write(&p, ctx).unwrap();
            args.extend(["--ctx".into(), p.display().to_string()]);
        }
        let plain = Command::new(env!("CARGO_BIN_EXE_bpfbox"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            plain.status.success(),
            "{}",
            String::from_utf8_lossy(&plain.stderr)
        );
        let ours = our_plain_dumps(&String::from_utf8(plain.stdout).unwrap());
        args.push("--json".into());
        let json = Command::new(env!("CARGO_BIN_EXE_bpfbox"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            json.status.success(),
            "{}",
            String::from_utf8_lossy(&json.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let our_json = json["maps"].as_array().unwrap();
        assert_eq!(ours.len(), kernel.maps.len(), "{}", case.object);

        for (i, km) in kernel.maps.iter().enumerate() {
            let Some(fd) = &km.fd else { continue };
            let id = sys::map_info(fd).unwrap().id.to_string();
            let dump = |json: bool| {
                let mut c = Command::new(&bpftool);
                if json {
                    c.arg("-j");
                }
                let out = c.args(["map", "dump", "id", &id]).output().unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            };
            let (name, text) = &ours[i];
            assert_eq!(text, &dump(false), "{}: map {name}, plain", case.object);
            let theirs: serde_json::Value = serde_json::from_str(&dump(true)).unwrap();
            assert_eq!(
                our_json[i]["elements"], theirs,
                "{}: map {name}, JSON",
                case.object
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "{compared} maps compared");
}
