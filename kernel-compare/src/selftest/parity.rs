//! bpfbox's verifier against the running kernel's on the selftest corpus: the figures the
//! verifier is measured by (same verdict, same error line, processed instructions within
//! 0.5–2x of the kernel's), overall and per object file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::runner::{Expected, Oracle, TestOutcome};
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
    /// The state statistics of the tests both accept.
    pub states_accept: StateAgreement,
    /// The state statistics of the tests both reject.
    pub states_reject: StateAgreement,
}

/// How many tests have each state statistic exactly equal to the kernel's.
#[derive(Debug, Default, Clone, Serialize)]
pub struct StateAgreement {
    /// Tests where the kernel printed its statistics line.
    pub judged: usize,
    /// ... with the same `max_states_per_insn`.
    pub max_states_per_insn: usize,
    /// ... with the same `total_states`.
    pub total_states: usize,
    /// ... with the same `peak_states`.
    pub peak_states: usize,
    /// ... with the same `mark_read`.
    pub mark_read: usize,
}

impl StateAgreement {
    fn add(&mut self, t: &TestOutcome) {
        let (Some(k), Some(b)) = (t.states, t.bpfbox_states) else {
            return;
        };
        self.judged += 1;
        self.max_states_per_insn += usize::from(k.max_states_per_insn == b.max_states_per_insn);
        self.total_states += usize::from(k.total_states == b.total_states);
        self.peak_states += usize::from(k.peak_states == b.peak_states);
        self.mark_read += usize::from(k.mark_read == b.mark_read);
    }

    fn text(&self) -> String {
        format!(
            "max_states_per_insn {n}/{j}, total_states {t}/{j}, peak_states {p}/{j}, \
             mark_read {m}/{j}",
            n = self.max_states_per_insn,
            t = self.total_states,
            p = self.peak_states,
            m = self.mark_read,
            j = self.judged
        )
    }
}

impl Counts {
    fn add(&mut self, t: &TestOutcome) {
        if t.oracle != Oracle::Kernel {
            return;
        }
        let (Some(k), Some(b)) = (&t.kernel, &t.bpfbox) else {
            return;
        };
        let same_error = match (&t.first_error, &t.bpfbox_error) {
            (Some(k), Some(b)) => k.trim() == b.trim(),
            _ => false,
        };
        self.add_verdicts(t, k, b, same_error);
    }

    /// A test the kernel cannot judge here, against its annotation: the expected verdict
    /// stands for the kernel's, and the error counts as the same when bpfbox's log has every
    /// expected message (or the annotation names none).
    fn add_annotation(&mut self, t: &TestOutcome) {
        if t.oracle != Oracle::Annotation {
            return;
        }
        let Some(b) = &t.bpfbox else {
            return;
        };
        let k = match t.expected {
            Expected::Success => Verdict::Accepted,
            Expected::Failure => Verdict::Rejected,
        };
        let same_error = t.msgs.as_ref().is_none_or(|m| m.ok());
        self.add_verdicts(t, &k, b, same_error);
    }

    fn add_verdicts(&mut self, t: &TestOutcome, k: &Verdict, b: &Verdict, same_error: bool) {
        if !matches!(k, Verdict::Accepted | Verdict::Rejected) {
            return;
        }
        self.judged += 1;
        match (k, b) {
            (Verdict::Accepted, Verdict::Accepted) => {
                self.same_verdict += 1;
                self.both_accept += 1;
                if t.oracle == Oracle::Kernel {
                    self.states_accept.add(t);
                }
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
                if t.oracle == Oracle::Kernel {
                    self.states_reject.add(t);
                }
                if same_error {
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

    /// One line of the state statistics equal to the kernel's.
    pub fn states_line(&self) -> String {
        format!(
            "bpfbox's verifier: state statistics equal to the kernel's on the tests both accept: \
             {}; both reject: {}",
            self.states_accept.text(),
            self.states_reject.text()
        )
    }

    /// One line of figures against the annotations (tests the kernel cannot judge here).
    pub fn annotation_line(&self) -> String {
        format!(
            "bpfbox's verifier (unprivileged, kernel cannot say here; expected by the selftests' \
             annotations): same verdict on {}/{} ({:.1}%), {} accepted that the annotation \
             rejects, {} rejected that it accepts ({} not supported yet); expected messages in \
             the log on {}/{} both reject ({:.1}%)",
            self.same_verdict,
            self.judged,
            self.verdict_percent(),
            self.false_accepts,
            self.false_rejects,
            self.unsupported,
            self.same_error,
            self.both_reject,
            self.error_percent(),
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
    /// The tests judged against their annotations (the `@unpriv` ones while the kernel
    /// refuses unprivileged loads).
    pub annotation: Counts,
    /// Test ids we accept and the annotation rejects.
    pub annotation_false_accepts: Vec<String>,
    /// ... of which this kernel accepts when loaded with CAP_BPF alone (the annotation
    /// predates a change of the kernel, such as 6.17's nospec instead of a rejection on a
    /// speculative path).
    pub annotation_false_accepts_kernel_accepts: Vec<String>,
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
            let before = p.annotation.false_accepts;
            p.annotation.add_annotation(t);
            if p.annotation.false_accepts > before {
                p.annotation_false_accepts.push(t.id.clone());
                if t.kernel_bpf_only == Some(Verdict::Accepted) {
                    p.annotation_false_accepts_kernel_accepts.push(t.id.clone());
                }
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
