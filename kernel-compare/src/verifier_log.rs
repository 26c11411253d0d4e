//! Reading the verifier's log: the statistics of log level 4 and the line that says why a
//! program was refused.
//!
//! Some of the kernel's refusal messages have no trailing newline, so the statistics the
//! verifier prints next are glued to them (`...is not allowedverification time 8 usec`);
//! [`lines`] cuts them apart before anything else reads the log.

/// Whether `s` starts with `prefix`, a number, then `suffix`.
fn number_between(s: &str, prefix: &str, suffix: &str) -> bool {
    let Some(tail) = s.strip_prefix(prefix) else {
        return false;
    };
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && tail[digits..].starts_with(suffix)
}

/// Where the statistics start inside a line, if they do not start it.
fn glued_stats_at(line: &str) -> Option<usize> {
    line.char_indices().skip(1).map(|(i, _)| i).find(|&i| {
        let rest = &line[i..];
        number_between(rest, "verification time ", " usec")
            || number_between(rest, "processed ", " insns (limit")
    })
}

/// The log's lines, with statistics glued to a message without newline cut off into lines
/// of their own.
pub fn lines(log: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in log.lines() {
        match glued_stats_at(line) {
            Some(at) => {
                out.push(&line[..at]);
                out.push(&line[at..]);
            }
            None => out.push(line),
        }
    }
    out
}

/// Whether a log line is one of the statistics lines.
pub fn is_stats_line(l: &str) -> bool {
    l.starts_with("processed ")
        || l.starts_with("verification time")
        || l.starts_with("stack depth")
}

/// Whether a log line is a source line the verifier quotes from the line info
/// (`; x = y; @ file.c:12`), which it also prints after a refusal's reason.
pub fn is_source_line(l: &str) -> bool {
    l.starts_with("; ") && l.contains(" @ ")
}

/// The line that says why the verifier refused a program: the last line of the log that
/// is neither statistics nor a quoted source line, nor one of the two states the kernel
/// prints after `infinite loop detected at insn N` (`cur state:`, `old state:`).
pub fn error_line(log: &str) -> Option<String> {
    let lines = lines(log);
    let mut it = lines
        .iter()
        .rev()
        .filter(|l| !is_stats_line(l) && !is_source_line(l) && !l.trim().is_empty());
    let last = it.next()?;
    if last.starts_with("old state:") {
        let before: Vec<&&str> = it.take(2).collect();
        if let [cur, e] = before[..] {
            if cur.starts_with("cur state:") && e.starts_with("infinite loop detected at insn ") {
                return Some(e.to_string());
            }
        }
    }
    Some(last.to_string())
}

/// The statistics the verifier prints at log level 4.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifierStats {
    /// `processed N insns`.
    pub processed_insns: Option<u64>,
    /// `max_states_per_insn`.
    pub max_states_per_insn: Option<u64>,
    /// `total_states`.
    pub total_states: Option<u64>,
    /// `peak_states`.
    pub peak_states: Option<u64>,
    /// `mark_read`.
    pub mark_read: Option<u64>,
    /// `verification time N usec`.
    pub verification_time_us: Option<u64>,
    /// `stack depth ...` as printed (one number per subprogram, `+`-joined).
    pub stack_depth: Option<String>,
}

impl VerifierStats {
    /// Parses the statistics lines of a verifier log.
    pub fn parse(log: &str) -> VerifierStats {
        let mut s = VerifierStats::default();
        for line in lines(log) {
            if let Some(rest) = line.strip_prefix("verification time ") {
                s.verification_time_us =
                    rest.split_whitespace().next().and_then(|n| n.parse().ok());
            } else if let Some(rest) = line.strip_prefix("stack depth ") {
                s.stack_depth = Some(rest.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("processed ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                s.processed_insns = words.first().and_then(|n| n.parse().ok());
                let after = |key: &str| {
                    words
                        .iter()
                        .position(|w| *w == key)
                        .and_then(|i| words.get(i + 1))
                        .and_then(|n| n.parse().ok())
                };
                s.max_states_per_insn = after("max_states_per_insn");
                s.total_states = after("total_states");
                s.peak_states = after("peak_states");
                s.mark_read = after("mark_read");
            }
        }
        s
    }
}

/// The four state statistics of the `processed N insns ...` line, as both verifiers print
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StateStats {
    /// `max_states_per_insn`.
    pub max_states_per_insn: u64,
    /// `total_states`.
    pub total_states: u64,
    /// `peak_states`.
    pub peak_states: u64,
    /// `mark_read`.
    pub mark_read: u64,
}

impl StateStats {
    /// The four numbers of a parsed log, when its statistics line has them all.
    pub fn of(s: &VerifierStats) -> Option<StateStats> {
        Some(StateStats {
            max_states_per_insn: s.max_states_per_insn?,
            total_states: s.total_states?,
            peak_states: s.peak_states?,
            mark_read: s.mark_read?,
        })
    }

    /// The numbers of bpfbox's verdict.
    pub fn of_verdict(s: &bpfbox_verifier::Stats) -> StateStats {
        StateStats {
            max_states_per_insn: s.max_states_per_insn,
            total_states: s.total_states,
            peak_states: s.peak_states,
            mark_read: s.mark_read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines() {
        let log = "func#0 @0\nverification time 12 usec\nstack depth 8+0\n\
                   processed 27 insns (limit 1000000) max_states_per_insn 1 total_states 3 peak_states 3 mark_read 2\n";
        let s = VerifierStats::parse(log);
        assert_eq!(s.processed_insns, Some(27));
        assert_eq!(s.total_states, Some(3));
        assert_eq!(s.peak_states, Some(3));
        assert_eq!(s.max_states_per_insn, Some(1));
        assert_eq!(s.mark_read, Some(2));
        assert_eq!(s.verification_time_us, Some(12));
        assert_eq!(s.stack_depth.as_deref(), Some("8+0"));
    }

    #[test]
    fn message_without_newline() {
        // A level-4 log of a refusal whose message has no trailing newline.
        let log = "R1 type=scalar expected=fp\ncalling kernel functions is not allowed\
                   verification time 5 usec\nstack depth 0\n\
                   processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        assert_eq!(
            error_line(log).as_deref(),
            Some("calling kernel functions is not allowed")
        );
        let s = VerifierStats::parse(log);
        assert_eq!(s.verification_time_us, Some(5));
        assert_eq!(s.processed_insns, Some(3));
        // Level 1 alone: the `processed` line is the one glued on.
        let log = "0: (b7) r0 = 0\nunknown opcodeprocessed 1 insns (limit 1000000) \
                   max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        assert_eq!(error_line(log).as_deref(), Some("unknown opcode"));
        assert_eq!(VerifierStats::parse(log).processed_insns, Some(1));
        // The states printed after an infinite loop are not the reason.
        let log =
            "3: (05) goto pc-1\ninfinite loop detected at insn 3\ncur state: R1=ctx() R10=fp0\n\
                   old state: R1=ctx() R10=fp0\nverification time 5 usec\n";
        assert_eq!(
            error_line(log).as_deref(),
            Some("infinite loop detected at insn 3")
        );
    }

    #[test]
    fn source_lines_are_not_the_reason() {
        // Level 4: the kernel quotes the failing source line after the reason.
        let log = "invalid bpf_context access off=76 size=4\n; asm volatile ( @ verifier_ldsx.c:194\n\
                   verification time 30 usec\nstack depth 0\n\
                   processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        assert_eq!(
            error_line(log).as_deref(),
            Some("invalid bpf_context access off=76 size=4")
        );
    }

    #[test]
    fn ordinary_lines_are_not_cut() {
        let log = "R0 processed value\nthe verification time is unknown\n";
        assert_eq!(
            lines(log),
            vec!["R0 processed value", "the verification time is unknown"]
        );
        assert_eq!(
            error_line(log).as_deref(),
            Some("the verification time is unknown")
        );
    }
}
