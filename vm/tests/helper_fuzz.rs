//! The helper-call fuzzer as a proptest (issue 11's audit, kept; the `helper_calls` fuzz
//! target runs the same cases from libFuzzer): random helper calls and context stores
//! patched into a carrier program of every program type, run in checked mode in a process
//! limited to 2 GiB of address space. Each run must end in a result or a typed error with
//! its output inside the bounds; a panic, an abort or a hang fails. `PROPTEST_CASES` raises
//! the case count (1,000,000 for the campaign figure in docs/HARDENING.md).

use bpfbox_vm::fuzzing::{run, run_bytes, Case, Outcome};
use bpfbox_vm::ProgType;
use proptest::prelude::*;

fn limit_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read or fill the struct passed; nothing is shared.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut lim), 0, "getrlimit");
            // Within whatever limit the process already has (the hard limit stays).
            lim.rlim_cur = lim.rlim_max.min(2 << 30);
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &lim), 0, "setrlimit");
        }
    });
}

/// Every program type's bare carrier assembles, and the packet and tracing types run it to
/// the end (the carrier itself is sound, so the cases test the patched steps).
#[test]
fn every_carrier_runs() {
    limit_memory();
    let mut ran = 0;
    for t in ProgType::ALL {
        let case = Case {
            prog_type: t,
            attach: None,
            steps: Vec::new(),
        };
        match run(&case).unwrap() {
            Outcome::Ran => ran += 1,
            Outcome::Refused(e) => {
                // Types the test run does not build a context for are refused as input.
                assert!(
                    matches!(e, bpfbox_vm::testrun::TestRunError::Invalid { .. }),
                    "{t:?}: {e}"
                );
            }
        }
    }
    assert!(ran >= 20, "only {ran} carriers ran");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn helper_calls_and_ctx_stores_keep_checked_mode(data in proptest::collection::vec(any::<u8>(), 0..240)) {
        limit_memory();
        let r = run_bytes(&data);
        prop_assert!(r.is_ok(), "{:?}: {:?}", Case::from_bytes(&data), r);
    }
}
