//! CO-RE relocation checked against libbpf: every CO-RE decision libbpf's debug log records
//! (local spec, candidates, patched values, poisons, failures) must be ours, line for line.
//!
//! Corpora: the kernel's CO-RE selftests (program/target pairs listed in
//! `prog_tests/core_reloc.c`, compiled at test time from Debian's `linux-source-6.12`, never
//! committed), our own `core_*` fixtures, and libxdp's `xdpdump_bpf.o` against the host kernel.
//! libbpf only records its decisions while loading, so the oracle needs root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use bpfbox_btf::Btf;
use bpfbox_loader::{load_btf_file, load_host_btf, LoadOptions, Object, ProgramError};
use common::{have, scratch, skip};

const LINUX_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
const XDPDUMP: &str = "/usr/lib/x86_64-linux-gnu/bpf/xdpdump_bpf.o";

/// Builds the libbpf oracle; `None` after a skip (no libbpf-dev, no cc, not root).
fn core_oracle() -> Option<PathBuf> {
    static ORACLE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = ORACLE.get_or_init(|| {
        if !Path::new("/usr/include/bpf/libbpf.h").exists() {
            return Err("libbpf-dev not installed".into());
        }
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("libbpf records CO-RE decisions only while loading: needs root".into());
        }
        let dir = scratch("core-oracle");
        let exe = dir.join("core_oracle");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/core_oracle.c");
        let out = Command::new("cc")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .arg("-lbpf")
            .output()
            .map_err(|e| format!("cc not available: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot build the CO-RE oracle: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(exe)
    });
    match r {
        Ok(p) => Some(p.clone()),
        Err(e) => {
            skip(e);
            None
        }
    }
}

/// The part of a libbpf debug line that is a CO-RE decision of relocation `relo #N`.
fn is_core_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("prog '") else {
        return false;
    };
    let Some((_, tail)) = rest.split_once("': relo #") else {
        return false;
    };
    let Some((_, what)) = tail.split_once(": ") else {
        return false;
    };
    // Map and kfunc poisoning share the prefix but are not CO-RE.
    !what.contains("that loads map") && !what.contains("kfunc")
}

/// libbpf's CO-RE lines for `obj` against `target` (`None`: the host's BTF), and whether the
/// load hit a CO-RE failure.
fn libbpf_core_log(oracle: &Path, obj: &Path, target: Option<&Path>) -> Vec<String> {
    let out = Command::new(oracle)
        .arg(obj)
        .arg(target.map_or(PathBuf::new(), Path::to_path_buf))
        .output()
        .expect("run the CO-RE oracle");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("ORACLE: open failed"),
        "libbpf cannot open {}: {text}",
        obj.display()
    );
    text.lines()
        // libbpf ends one warning with "\n " so the next line starts with a blank.
        .map(|l| {
            let l = l.trim_start();
            l.strip_prefix("libbpf: ")
                .unwrap_or(l)
                .trim_end()
                .to_string()
        })
        .filter(|l| is_core_line(l))
        .collect()
}

/// Our CO-RE lines, cut after the first hard failure (where libbpf stops).
fn our_core_log(obj: &Object) -> Vec<String> {
    let mut out = Vec::new();
    for r in obj.core_relocations() {
        for l in r.log_lines() {
            let stop = l.contains(": failed to relocate: ") || l.contains(": failed to patch insn");
            if is_core_line(&l) {
                out.push(l);
            }
            if stop {
                return out;
            }
        }
    }
    out
}

fn parse_with_target(path: &Path, target: Arc<Btf>) -> Object {
    let bytes = std::fs::read(path).expect("read object");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .map(str::to_string);
    let opts = LoadOptions {
        name,
        target_btf: Some(target),
        ..LoadOptions::default()
    };
    Object::parse_with(&bytes, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares our decisions with libbpf's for one object/target pair; returns the number of
/// relocations compared.
fn compare_pair(oracle: &Path, obj_path: &Path, target: Option<&Path>) -> usize {
    let btf = match target {
        Some(t) => load_btf_file(t).unwrap_or_else(|e| panic!("{}: {e}", t.display())),
        None => load_host_btf().expect("host BTF"),
    };
    let obj = parse_with_target(obj_path, btf);
    let ours = our_core_log(&obj);
    let theirs = libbpf_core_log(oracle, obj_path, target);
    let label = format!(
        "{} against {}",
        obj_path.display(),
        target.map_or("the host".into(), |t| t.display().to_string())
    );
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a, b,
            "{label}: line {i} differs\nours:\n{ours:#?}\nlibbpf:\n{theirs:#?}"
        );
    }
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{label}: different line counts\nours:\n{ours:#?}\nlibbpf:\n{theirs:#?}"
    );
    // libbpf fails the load exactly when we fail a program.
    let libbpf_failed = theirs
        .iter()
        .any(|l| l.contains(": failed to relocate: ") || l.contains(": failed to patch insn"));
    let we_failed = obj
        .program_errors()
        .iter()
        .any(|e| matches!(e, ProgramError::Core { .. }));
    assert_eq!(we_failed, libbpf_failed, "{label}: hard failure disagrees");
    obj.core_relocations().len()
}

/// The kernel's CO-RE selftests, extracted and compiled once per test binary.
struct Selftests {
    /// Compiled objects, by file name (`test_core_reloc_x.bpf.o`, `btf__core_reloc_y.bpf.o`).
    out: PathBuf,
    /// `prog_tests/core_reloc.c`.
    table: String,
}

fn selftests() -> Option<&'static Selftests> {
    static S: OnceLock<Result<Selftests, String>> = OnceLock::new();
    let r = S.get_or_init(build_selftests);
    match r {
        Ok(s) => Some(s),
        Err(e) => {
            skip(e);
            None
        }
    }
}

fn build_selftests() -> Result<Selftests, String> {
    let clang = ["clang-19", "clang"]
        .into_iter()
        .find(|c| have(c))
        .ok_or("clang not found")?;
    let dir = scratch("core-selftests");
    // The sources: an extracted tree named by BPFBOX_LINUX_SRC, or Debian's tarball.
    let root = match std::env::var_os("BPFBOX_LINUX_SRC") {
        Some(p) => PathBuf::from(p),
        None => {
            if !Path::new(LINUX_TARBALL).exists() {
                return Err(format!(
                    "{LINUX_TARBALL} missing (apt install linux-source-6.12) and BPFBOX_LINUX_SRC unset"
                ));
            }
            let st = Command::new("tar")
                .arg("-xJf")
                .arg(LINUX_TARBALL)
                .arg("-C")
                .arg(&dir)
                .args([
                    "--wildcards",
                    "linux-source-6.12/tools/testing/selftests/bpf/progs/*core_reloc*",
                    "linux-source-6.12/tools/testing/selftests/bpf/prog_tests/core_reloc.c",
                    "linux-source-6.12/tools/lib/bpf/*.h",
                ])
                .status()
                .map_err(|e| format!("tar: {e}"))?;
            if !st.success() {
                return Err("cannot extract the selftests from the linux-source tarball".into());
            }
            dir.join("linux-source-6.12")
        }
    };
    let sel = root.join("tools/testing/selftests/bpf");
    let table = std::fs::read_to_string(sel.join("prog_tests/core_reloc.c"))
        .map_err(|e| format!("prog_tests/core_reloc.c: {e}"))?;
    // Headers: the kernel's libbpf headers (the selftests need its newest CO-RE macros), the
    // installed helper definitions (generated, not in the source tree), and a vmlinux.h of the
    // host for the one program that includes it.
    let inc = dir.join("include");
    std::fs::create_dir_all(inc.join("bpf")).map_err(|e| e.to_string())?;
    for e in std::fs::read_dir(root.join("tools/lib/bpf")).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "h") {
            std::fs::copy(&p, inc.join("bpf").join(p.file_name().unwrap()))
                .map_err(|e| e.to_string())?;
        }
    }
    std::fs::copy(
        "/usr/include/bpf/bpf_helper_defs.h",
        inc.join("bpf/bpf_helper_defs.h"),
    )
    .map_err(|e| format!("bpf_helper_defs.h (libbpf-dev): {e}"))?;
    let vmlinux = load_host_btf().map_err(|e| format!("host BTF: {e}"))?;
    let mut h = Vec::new();
    bpfbox_btf::dump_c(&vmlinux, &mut h).map_err(|e| format!("vmlinux.h: {e}"))?;
    std::fs::write(inc.join("vmlinux.h"), h).map_err(|e| e.to_string())?;

    let out = dir.join("obj");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let progs = sel.join("progs");
    let mut srcs: Vec<PathBuf> = std::fs::read_dir(&progs)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (n.starts_with("test_core_reloc_") || n.starts_with("btf__core_reloc_"))
                && n.ends_with(".c")
        })
        .collect();
    srcs.sort();
    for src in &srcs {
        let stem = src.file_stem().unwrap().to_str().unwrap();
        let o = out.join(format!("{stem}.bpf.o"));
        let r = Command::new(clang)
            .args([
                "-g",
                "-O2",
                "--target=bpf",
                "-ffreestanding",
                "-D__TARGET_ARCH_x86",
            ])
            .arg(format!("-I{}", inc.display()))
            .arg(format!("-I{}", sel.display()))
            .arg(format!("-I{}", progs.display()))
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-c")
            .arg(src)
            .arg("-o")
            .arg(&o)
            .output()
            .map_err(|e| format!("clang: {e}"))?;
        if !r.status.success() {
            return Err(format!(
                "clang failed on {}: {}",
                src.display(),
                String::from_utf8_lossy(&r.stderr)
            ));
        }
    }
    Ok(Selftests { out, table })
}

/// One program/target pair of the selftests' table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    obj: String,
    /// `None`: the running kernel's BTF (and, for libbpf, its modules').
    btf: Option<String>,
}

/// The `#define NAME(...)` bodies of a C file, continuation lines joined.
fn macros(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = src.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.trim_start().strip_prefix("#define ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let mut body = rest[name.len()..].to_string();
        let mut cur = l;
        while cur.trim_end().ends_with('\\') {
            match lines.next() {
                Some(n) => {
                    body.push('\n');
                    body.push_str(n);
                    cur = n;
                }
                None => break,
            }
        }
        out.push((name, body));
    }
    out
}

/// String literals ending in `.bpf.o` that name a whole object (not `"btf__core_reloc_" #name`).
fn obj_literals(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("test_core_reloc") && s.ends_with(".bpf.o"))
        .map(str::to_string)
        .collect()
}

/// Expands one table entry: a macro invocation `NAME(arg, ...)`.
fn expand(defs: &[(String, String)], name: &str, arg: &str, depth: usize) -> Vec<Pair> {
    let Some((_, body)) = defs.iter().find(|(n, _)| n == name) else {
        return Vec::new();
    };
    let btf_null = body.contains(".btf_src_file = NULL");
    let btf = (!btf_null).then(|| format!("btf__core_reloc_{}.bpf.o", arg.trim_matches('"')));
    let objs = obj_literals(body);
    if !objs.is_empty() {
        return objs
            .into_iter()
            .map(|obj| Pair {
                obj,
                btf: btf.clone(),
            })
            .collect();
    }
    // The object is named in a `..._COMMON` macro the body uses.
    if depth > 4 {
        return Vec::new();
    }
    for (n, _) in defs {
        if n != name && n.ends_with("_COMMON") && body.contains(&format!("{n}(")) {
            let mut v = expand(defs, n, arg, depth + 1);
            if btf_null {
                v.iter_mut().for_each(|p| p.btf = None);
            }
            return v;
        }
    }
    Vec::new()
}

/// Every program/target pair of `test_cases[]` in `prog_tests/core_reloc.c`.
fn pairs(table_src: &str) -> Vec<Pair> {
    let defs = macros(table_src);
    let start = table_src
        .find("test_cases[] = {")
        .expect("test_cases table");
    let body = &table_src[start + "test_cases[] = {".len()..];
    // Split the table into top-level items at brace depth 0.
    let mut items = Vec::new();
    let (mut depth, mut paren, mut cur) = (0i32, 0i32, String::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '(' => paren += 1,
            ')' => paren -= 1,
            _ => {}
        }
        if depth < 0 {
            break;
        }
        if c == ',' && depth == 0 && paren == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    items.push(cur);
    let mut out = Vec::new();
    for item in items {
        let item: String = item
            .lines()
            .filter(|l| !l.trim_start().starts_with("/*") && !l.trim_start().starts_with('*'))
            .collect::<Vec<_>>()
            .join("\n");
        let t = item.trim();
        if t.is_empty() {
            continue;
        }
        let objs = obj_literals(t);
        if !objs.is_empty() && t.contains(".bpf_obj_file") {
            // A literal entry.
            let btf = t
                .split(".btf_src_file = ")
                .nth(1)
                .and_then(|s| s.split('"').nth(1).filter(|_| s.starts_with('"')))
                .map(str::to_string);
            out.push(Pair {
                obj: objs[0].clone(),
                btf,
            });
            continue;
        }
        // `NAME(arg, ...)` or `{ NAME_COMMON(arg), ... }`.
        let inner = t.trim_start_matches('{').trim_start();
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let arg = inner[name.len()..]
            .trim_start_matches('(')
            .split([',', ')'])
            .next()
            .unwrap_or("")
            .trim();
        out.extend(expand(&defs, &name, arg, 0));
    }
    out
}

#[test]
fn selftest_pairs_agree_with_libbpf() {
    let Some(oracle) = core_oracle() else { return };
    let Some(st) = selftests() else { return };
    let list = pairs(&st.table);
    let mut relocs = 0;
    let mut compared = 0;
    for p in &list {
        eprintln!("pair: {} -> {}", p.obj, p.btf.as_deref().unwrap_or("host"));
        let obj = st.out.join(&p.obj);
        let target = p.btf.as_ref().map(|b| st.out.join(b));
        relocs += compare_pair(&oracle, &obj, target.as_deref());
        compared += 1;
    }
    eprintln!(
        "CO-RE selftests: {compared} program/target pairs, {relocs} relocations agree with libbpf"
    );
    // 74 pairs with a target BTF file or the kernel's, plus the two module cases, which the
    // selftests run only with bpf_testmod loaded and which we compare against the host's BTF.
    let modules = list
        .iter()
        .filter(|p| p.obj == "test_core_reloc_module.bpf.o")
        .count();
    assert_eq!((compared - modules, modules), (74, 2), "pairs: {list:#?}");
}

#[test]
fn xdpdump_relocations_agree_with_libbpf() {
    let Some(oracle) = core_oracle() else { return };
    if !Path::new(XDPDUMP).exists() {
        skip("xdpdump_bpf.o missing (apt install xdp-tools)");
        return;
    }
    let n = compare_pair(&oracle, Path::new(XDPDUMP), None);
    assert_eq!(n, 20, "xdpdump_bpf.o has 20 CO-RE relocations");
}

/// Our own CO-RE fixtures (`tests/fixtures/src/core_*.bpf.c`, committed compiled).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/obj")
        .join(format!("{name}.o"))
}

#[test]
fn fixtures_cover_every_kind_and_agree_with_libbpf() {
    let prog = fixture("core_prog");
    // Every relocation kind appears in the program, whatever libbpf says about them.
    let target = load_btf_file(fixture("core_target_moved")).expect("fixture target");
    let obj = parse_with_target(&prog, target);
    let kinds: std::collections::BTreeSet<&str> = obj
        .core_relocations()
        .iter()
        .map(|r| r.kind.as_str())
        .collect();
    for k in bpfbox_btf::CoreRelocKind::ALL {
        assert!(
            kinds.contains(k.name()),
            "core_prog lacks a {} relocation",
            k.name()
        );
    }
    let Some(oracle) = core_oracle() else { return };
    for t in ["same", "moved", "missing", "ambiguous"] {
        let target = fixture(&format!("core_target_{t}"));
        compare_pair(&oracle, &prog, Some(&target));
    }
}

#[test]
fn fixture_outcomes_are_the_expected_kinds() {
    // Without libbpf: the structural expectations each target was written for.
    let prog = fixture("core_prog");
    let outcome = |t: &str| {
        let target = load_btf_file(fixture(&format!("core_target_{t}"))).expect("fixture target");
        parse_with_target(&prog, target)
    };
    let same = outcome("same");
    assert!(
        same.program_errors().is_empty(),
        "{:?}",
        same.program_errors()
    );
    // Only the `___old` flavour's field is missing from the compile-time layout.
    for r in same.core_relocations() {
        let ok = matches!(r.outcome, bpfbox_loader::CoreOutcome::Patched)
            || r.decision
                .as_ref()
                .is_some_and(|d| d.local_spec.contains("core_rec___old"));
        assert!(ok, "{r:?}");
    }
    let missing = outcome("missing");
    assert!(missing
        .core_relocations()
        .iter()
        .any(|r| matches!(r.outcome, bpfbox_loader::CoreOutcome::Poisoned { .. })));
    let ambiguous = outcome("ambiguous");
    assert!(ambiguous
        .program_errors()
        .iter()
        .any(|e| matches!(e, ProgramError::Core { errno: -22, .. })));
}
