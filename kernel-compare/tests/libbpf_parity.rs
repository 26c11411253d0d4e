//! Loading fidelity against libbpf: on the kernel's `progs/verifier_*.c` selftests, every
//! program loaded through `KernelObject::load` alone (with the programs its object's
//! program-array initialisers name) gets the kernel verdict libbpf gets loading the same
//! program the same way (Debian's libbpf-dev, through `tests/libbpf/verdict.c`).
//!
//! The corpus is `BPFBOX_SELFTEST_OBJ` (a directory of objects), or else the objects
//! `tests/selftests/build.sh target/selftests` builds. Needs root, the corpus, gcc and
//! libbpf-dev; skips with a reason otherwise.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bpfbox_kernel_compare::{KernelObject, LoadOptions, Verdict};
use bpfbox_loader::Object;

/// Programs libbpf loads and we may not, each with the reason. The test fails when one of
/// them agrees again (the list is stale).
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The corpus directory, or `None` after reporting a skip.
fn corpus() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("BPFBOX_SELFTEST_OBJ") {
        return Some(PathBuf::from(dir));
    }
    let root = workspace();
    let script = root.join("tests/selftests/build.sh");
    if !script.exists() {
        common::skip("no selftest corpus: set BPFBOX_SELFTEST_OBJ or add tests/selftests/build.sh");
        return None;
    }
    let out = root.join("target/selftests");
    let status = Command::new("sh").arg(&script).arg(&out).status();
    if !status.is_ok_and(|s| s.success()) {
        common::skip(
            "tests/selftests/build.sh failed (needs clang-19, bpftool, linux-source-6.12)",
        );
        return None;
    }
    Some(out)
}

/// Builds the libbpf oracle, or `None` after reporting a skip.
fn oracle() -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libbpf/verdict.c");
    let bin = std::env::temp_dir().join(format!("bpfbox-libbpf-verdict-{}", std::process::id()));
    let out = Command::new("gcc")
        .arg("-O1")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lbpf")
        .output();
    match out {
        Ok(o) if o.status.success() => Some(bin),
        Ok(o) => {
            common::skip(&format!(
                "cannot build the libbpf oracle (apt install gcc libbpf-dev): {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
            None
        }
        Err(e) => {
            common::skip(&format!("cannot run gcc: {e}"));
            None
        }
    }
}

/// libbpf's verdict per (object, program): `success`, `failure` or `open-failed`, with
/// the error `bpf_object__load` returned.
fn libbpf_verdicts(
    bin: &Path,
    jobs: &[(PathBuf, String, Vec<String>)],
) -> BTreeMap<(String, String), (String, i32)> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the libbpf oracle");
    let mut input = String::new();
    for (path, prog, extras) in jobs {
        input.push_str(&format!(
            "{}\t{prog}\t{}\n",
            path.display(),
            extras.join(",")
        ));
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("libbpf oracle output");
    writer.join().expect("writer").expect("write to the oracle");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [path, prog, verdict, err] = f[..] else {
                return None;
            };
            let err = err.parse().unwrap_or(0);
            Some((
                (file_name(Path::new(path)), prog.to_string()),
                (verdict.to_string(), err),
            ))
        })
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

#[test]
fn verdicts_match_libbpf_on_the_verifier_selftests() {
    if common::kernel().is_none() {
        return;
    }
    let Some(dir) = corpus() else {
        return;
    };
    let Some(bin) = oracle() else {
        return;
    };
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "o") && file_name(p).starts_with("verifier_")
        })
        .collect();
    objects.sort();
    assert!(!objects.is_empty(), "no verifier_*.o in {}", dir.display());

    // Ours, one program at a time.
    let mut ours: BTreeMap<(String, String), (Verdict, Option<i32>, String)> = BTreeMap::new();
    let mut jobs = Vec::new();
    let mut refused = Vec::new();
    for path in &objects {
        let file = file_name(path);
        let bytes = std::fs::read(path).expect("read object");
        let obj = match Object::from_file_relocated(path, None) {
            Ok(o) => o,
            Err(e) => {
                // Acceptable only where libbpf cannot open the object either (checked below).
                refused.push((path.clone(), e.to_string()));
                jobs.push((path.clone(), "-".to_string(), Vec::new()));
                continue;
            }
        };
        let names: BTreeSet<String> = obj
            .programs()
            .iter()
            .map(|p| p.name.clone())
            .chain(obj.program_errors().iter().map(|e| e.program().to_string()))
            .collect();
        let extras: Vec<String> = obj.program_slots().into_iter().map(|s| s.program).collect();
        for name in names {
            let k = KernelObject::load(&bytes, &obj, &LoadOptions::only([name.clone()]))
                .unwrap_or_else(|e| panic!("{file} {name}: {e}"));
            let p = k.program(&name).expect("the program asked for is reported");
            let why = p.reason.clone().or(k.btf_error.clone()).unwrap_or_default();
            ours.insert(
                (file.clone(), name.clone()),
                (p.verdict.clone(), p.errno, why),
            );
            jobs.push((path.clone(), name, extras.clone()));
        }
    }
    let libbpf = libbpf_verdicts(&bin, &jobs);
    let _ = std::fs::remove_file(&bin);
    for (path, e) in &refused {
        let v = libbpf.get(&(file_name(path), "-".to_string()));
        assert_eq!(
            v.map(|v| v.0.as_str()),
            Some("open-failed"),
            "our loader refuses {} ({e}), libbpf opens it",
            path.display()
        );
        eprintln!("neither libbpf nor we open {}: {e}", file_name(path));
    }

    let exceptions: BTreeMap<(String, String), &str> = EXCEPTIONS
        .iter()
        .map(|(f, p, why)| ((f.to_string(), p.to_string()), *why))
        .collect();
    let (mut libbpf_loads, mut agree, mut we_do_better) = (0, 0, 0);
    let (mut both_refuse, mut same_errno) = (0, 0);
    let mut other: BTreeMap<String, usize> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut stale = Vec::new();
    for (key, (verdict, err)) in &libbpf {
        let Some((ours_v, errno, why)) = ours.get(key) else {
            continue;
        };
        let ours_label = match ours_v {
            Verdict::Accepted => "success",
            Verdict::Rejected => "failure",
            Verdict::CannotSay => "cannot say",
            Verdict::NotLoaded => "not loaded",
        };
        if verdict == "success" {
            libbpf_loads += 1;
            let same = *ours_v == Verdict::Accepted;
            match (same, exceptions.get(key)) {
                (true, None) => agree += 1,
                (true, Some(_)) => stale.push(format!("{} {}", key.0, key.1)),
                (false, Some(_)) => {}
                (false, None) => differences.push(format!(
                    "{} {}: libbpf success, ours {ours_label}: {why}",
                    key.0, key.1
                )),
            }
        } else if verdict == "failure" && *ours_v == Verdict::Rejected {
            // The kernel refused both loads: with the same errno (libbpf returns it
            // negated; its own errors are 4000 and up and never reach the kernel).
            both_refuse += 1;
            if Some(-*err) == *errno {
                same_errno += 1;
            } else {
                differences.push(format!(
                    "{} {}: the kernel refuses both, libbpf error {err}, ours errno {errno:?}: {why}",
                    key.0, key.1
                ));
            }
        } else if verdict == "failure" && *ours_v == Verdict::Accepted {
            we_do_better += 1;
            eprintln!(
                "libbpf fails, the kernel accepts through us: {} {}",
                key.0, key.1
            );
        } else {
            // Debian's libbpf 1.1 does not know every section name (`no-type`) or the
            // arena map (`open-failed`) of 6.12; trampolines are refused here either way.
            *other
                .entry(format!("libbpf {verdict}, ours {ours_label}"))
                .or_default() += 1;
        }
    }
    eprintln!(
        "{} programs; libbpf loads {libbpf_loads}, we agree on {agree}, {} listed exceptions; \
         the kernel refuses {both_refuse} both ways, {same_errno} with the same errno; \
         {we_do_better} programs libbpf fails that the kernel accepts through us",
        libbpf.len(),
        exceptions.len()
    );
    for (what, n) in &other {
        eprintln!("  {n:4} {what}");
    }
    assert!(
        differences.is_empty(),
        "{} verdict differences with libbpf:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(
        stale.is_empty(),
        "stale exceptions (they agree now):\n{}",
        stale.join("\n")
    );
}
