//! bpfbox's verifier against the running kernel's on the selftest corpus: the figures the
//! verifier is measured by (same verdict, same error line, processed instructions within
//! 0.5–2x of the kernel's), overall and per object file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::runner::TestOutcome;
use crate::load::Verdict;

/// Agreement counts over a set of tests.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Tests both verifiers judged (the kernel accepted or rejected; bpfbox ran).
    pub judged: usize,
    /// ... with the same verdict.
    pub same_verdict: usize,
    /// We accept, the kernel rejects.
    pub false_accepts: usize,
    /// We reject, the kernel accepts.
    pub false_rejects: usize,
    /// ... of which only because a feature is not supported yet.
    pub unsupported: usize,
    /// Both reject.
    pub both_reject: usize,
    /// ... with the same error line.
    pub same_error: usize,
    /// Both accept.
    pub both_accept: usize,
    /// ... with processed instructions within 0.5–2x of the kernel's.
    pub insns_within: usize,
    /// ... exactly equal.
    pub insns_equal: usize,
}

impl Counts {
    fn add(&mut self, t: &TestOutcome) {
        let (Some(k), Some(b)) = (&t.kernel, &t.bpfbox) else {
            return;
        };
        if !matches!(k, Verdict::Accepted | Verdict::Rejected) {
            return;
        }
        self.judged += 1;
        match (k, b) {
            (Verdict::Accepted, Verdict::Accepted) => {
                self.same_verdict += 1;
                self.both_accept += 1;
                if let (Some(kn), Some(bn)) = (t.processed_insns, t.bpfbox_processed_insns) {
                    if 2 * bn >= kn && bn <= 2 * kn {
                        self.insns_within += 1;
                    }
                    if kn == bn {
                        self.insns_equal += 1;
                    }
                }
            }
            (Verdict::Rejected, Verdict::Rejected) => {
                self.same_verdict += 1;
                self.both_reject += 1;
                let same = match (&t.first_error, &t.bpfbox_error) {
                    (Some(k), Some(b)) => k.trim() == b.trim(),
                    _ => false,
                };
                if same {
                    self.same_error += 1;
                }
            }
            (Verdict::Rejected, _) => self.false_accepts += 1,
            _ => {
                self.false_rejects += 1;
                if t.bpfbox_unsupported {
                    self.unsupported += 1;
                }
            }
        }
    }

    /// `part` of `whole` as a percentage (100 when `whole` is 0).
    pub fn percent(part: usize, whole: usize) -> f64 {
        if whole == 0 {
            100.0
        } else {
            100.0 * part as f64 / whole as f64
        }
    }

    /// Same verdict, percent of the judged tests.
    pub fn verdict_percent(&self) -> f64 {
        Self::percent(self.same_verdict, self.judged)
    }

    /// Same error line, percent of the tests both reject.
    pub fn error_percent(&self) -> f64 {
        Self::percent(self.same_error, self.both_reject)
    }

    /// Processed instructions within 0.5–2x, percent of the tests both accept.
    pub fn insns_percent(&self) -> f64 {
        Self::percent(self.insns_within, self.both_accept)
    }

    /// One line of figures.
    pub fn line(&self) -> String {
        format!(
            "bpfbox's verifier: same verdict as the kernel on {}/{} ({:.1}%), {} accepted that the \
             kernel rejects, {} rejected that it accepts ({} not supported yet); same error line \
             on {}/{} both reject ({:.1}%); processed insns within 0.5-2x on {}/{} both accept \
             ({:.1}%, {} equal)",
            self.same_verdict,
            self.judged,
            self.verdict_percent(),
            self.false_accepts,
            self.false_rejects,
            self.unsupported,
            self.same_error,
            self.both_reject,
            self.error_percent(),
            self.insns_within,
            self.both_accept,
            self.insns_percent(),
            self.insns_equal
        )
    }
}

/// The figures overall and per object file, and the tests we accept that the kernel rejects.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Parity {
    /// Over every test.
    pub total: Counts,
    /// Per object file.
    pub per_file: BTreeMap<String, Counts>,
    /// Test ids we accept and the kernel rejects.
    pub false_accepts: Vec<String>,
}

impl Parity {
    /// The figures of `tests`.
    pub fn of(tests: &[TestOutcome]) -> Parity {
        let mut p = Parity::default();
        for t in tests {
            let before = p.total.false_accepts;
            p.total.add(t);
            p.per_file.entry(t.object.clone()).or_default().add(t);
            if p.total.false_accepts > before {
                p.false_accepts.push(t.id.clone());
            }
        }
        p
    }

    /// The per-file table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| file | judged | same verdict | false accepts | false rejects (unsupported) | same error line | insns 0.5-2x |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        let row = |out: &mut String, name: &str, c: &Counts| {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} ({}) | {}/{} | {}/{} |",
                c.judged,
                c.same_verdict,
                c.false_accepts,
                c.false_rejects,
                c.unsupported,
                c.same_error,
                c.both_reject,
                c.insns_within,
                c.both_accept
            );
        };
        for (f, c) in &self.per_file {
            row(&mut out, f.strip_suffix(".o").unwrap_or(f), c);
        }
        row(&mut out, "**total**", &self.total);
        out
    }
}
