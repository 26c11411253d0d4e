//! End to end on the real Linux path, under `qemu-aarch64-static`: a static aarch64 harness
//! of ours (built here with `aarch64-linux-gnu-gcc -static`) maps each image read-write,
//! makes it read-execute, flushes the instruction cache and calls it; r0, the instruction
//! count and memory must be the interpreter's. The programs are the conformance tests that
//! make no call-outs (no helpers, no faults), in both modes and with both atomic forms.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bpfbox_jit::aarch64::{A64Image, Options, N_CALLOUTS};
use bpfbox_jit::layout::*;
use bpfbox_jit::Mode;
use bpfbox_jit_a64emu::skip;
use bpfbox_vm::conformance::{prepare, test_files};
use bpfbox_vm::isa::Insn;
use bpfbox_vm::Vm;

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn build_harness(dir: &Path) -> Option<PathBuf> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/qemu/harness.c");
    let out = dir.join("harness");
    let st = Command::new("aarch64-linux-gnu-gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .ok()?;
    st.success().then_some(out)
}

#[test]
fn qemu_runs_aarch64_images_like_the_interpreter() {
    for t in ["aarch64-linux-gnu-gcc", "qemu-aarch64-static"] {
        if !tool(t) {
            return skip(&format!(
                "{t} is not installed (gcc-aarch64-linux-gnu, qemu-user-static)"
            ));
        }
    }
    let suite =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpf_conformance/tests");
    if !suite.is_dir() {
        return skip("../shared/bpf_conformance/tests is not beside the checkout");
    }
    let dir = std::env::temp_dir().join(format!("bpfbox-a64-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let harness = build_harness(&dir).expect("aarch64-linux-gnu-gcc -static built the harness");
    let ctx_bytes = (CTX_CALLOUTS as usize + 8 * N_CALLOUTS).div_ceil(16) * 16;
    let budget = 1u64 << 20;
    let mut ran = 0;
    for f in test_files(&suite).expect("list conformance tests") {
        let text = std::fs::read_to_string(&f).expect("read test");
        let Ok((file, prog)) = prepare(&text) else {
            continue;
        };
        let Ok(mut vm) = Vm::new(&prog) else { continue };
        // Only programs without call-outs: the harness has no Rust side.
        let calls = vm.decoded().insns.iter().any(|(_, i)| {
            matches!(
                i,
                Insn::Call(_) | Insn::Callx { .. } | Insn::LdAbs { .. } | Insn::LdInd { .. }
            )
        });
        if calls {
            continue;
        }
        vm.set_budget(budget);
        let vm = Arc::new(vm);
        let mut mem_i = file.mem.clone();
        let Ok(want) = vm.run_mem(&mut mem_i) else {
            continue;
        };
        for (mode, lse) in [(Mode::Checked, true), (Mode::Trusted, false)] {
            let img = A64Image::compile(Arc::clone(&vm), mode, Options { lse }).expect("compile");
            let code = dir.join("code.bin");
            let mem = dir.join("mem.bin");
            std::fs::write(&code, img.code()).expect("write code");
            std::fs::write(&mem, &file.mem).expect("write mem");
            let args: Vec<String> = [
                ctx_bytes as u64,
                CTX_LEFT as u64,
                CTX_R10 as u64,
                CTX_STACK_START as u64,
                CTX_R1_START as u64,
                CTX_R1_LIM as u64,
                CTX_ARGS as u64,
                CTX_STATUS as u64,
                budget,
                STACK_BYTES as u64,
            ]
            .iter()
            .map(|v| v.to_string())
            .collect();
            let out = Command::new("qemu-aarch64-static")
                .arg(&harness)
                .arg(&code)
                .arg(&mem)
                .args(&args)
                .output()
                .expect("run qemu-aarch64-static");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}: {mode:?}: {stdout} {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let left = budget - if mode == Mode::Checked { want.insns } else { 0 };
            let hex: String = mem_i.iter().map(|b| format!("{b:02x}")).collect();
            let expect = format!("r0={:x} status=0 left={left} mem={hex}", want.r0);
            assert_eq!(
                stdout.trim(),
                expect,
                "{} ({mode:?}, lse {lse})",
                f.display()
            );
        }
        ran += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{ran} conformance programs under qemu-aarch64-static");
    assert!(ran > 150, "only {ran} programs ran");
}
