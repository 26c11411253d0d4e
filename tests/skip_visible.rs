//! A skip's reason shows in a plain `cargo test`, where the harness captures `eprintln!`.

mod common;

use std::process::Command;

/// Skips when asked to by the test below; passes silently otherwise.
#[test]
fn skips_on_request() {
    if std::env::var_os("BPFBOX_SKIP_DEMO").is_some() {
        common::skip("demonstration skip");
    }
}

#[test]
fn skip_reasons_show_with_output_captured() {
    // This test binary again, running only the test above, with the harness's default
    // capture (no --nocapture) and without BPFBOX_REQUIRE_ALL (which turns skips into
    // failures).
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["skips_on_request", "--exact", "--test-threads=1"])
        .env("BPFBOX_SKIP_DEMO", "1")
        .env_remove("BPFBOX_REQUIRE_ALL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipped: demonstration skip"),
        "the skip reason is not on stderr: {stderr}"
    );
}
