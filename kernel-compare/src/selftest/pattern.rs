//! `__msg`-style patterns and their in-order search through a verifier log.
//!
//! A pattern is literal text, except that `{{...}}` encloses a POSIX extended regular
//! expression. Patterns must match in order, each after the end of the previous match; a
//! disassembly pattern may further be required on the line right after the previous one.
//! A negative pattern (`__not_msg`, newer selftests) must not occur between the matches of
//! the positive patterns around it (or the log's start or end).

use regex::Regex;

/// A malformed pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `{{` without `}}`.
    #[error("Regexp has open '{{{{' but no closing '}}}}': '{0}'")]
    Unclosed(String),
    /// The regular expression does not compile.
    #[error("Regexp compilation error in '{pattern}': '{msg}'")]
    Compile {
        /// The pattern.
        pattern: String,
        /// The regex crate's message.
        msg: String,
    },
}

/// One expected message.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The text as written in the test.
    pub text: String,
    /// The compiled form when the text holds `{{regex}}`.
    regex: Option<Regex>,
    /// Must match on the line after the previous pattern's match.
    pub on_next_line: bool,
    /// Must not occur (between the positive patterns around it).
    pub negative: bool,
}

impl Pattern {
    /// Builds a pattern; text without `{{` is a plain substring.
    pub fn new(text: &str, on_next_line: bool) -> Result<Pattern, PatternError> {
        let regex = if text.contains("{{") {
            Some(compile(text)?)
        } else {
            None
        };
        Ok(Pattern {
            text: text.to_string(),
            regex,
            on_next_line,
            negative: false,
        })
    }

    /// A pattern that must not occur (`__not_msg`).
    pub fn negative(text: &str) -> Result<Pattern, PatternError> {
        Ok(Pattern {
            negative: true,
            ..Pattern::new(text, false)?
        })
    }

    /// Whether the pattern holds a regular expression.
    pub fn is_regex(&self) -> bool {
        self.regex.is_some()
    }

    /// The first match in `hay`: (start, end) byte offsets.
    fn find(&self, hay: &str) -> Option<(usize, usize)> {
        match &self.regex {
            Some(re) => re.find(hay).map(|m| (m.start(), m.end())),
            None => hay
                .find(self.text.as_str())
                .map(|s| (s, s + self.text.len())),
        }
    }
}

/// Literal text escaped, `{{...}}` kept; lines anchored as POSIX `REG_NEWLINE` does.
fn compile(text: &str) -> Result<Regex, PatternError> {
    let mut out = String::from("(?m)");
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&regex::escape(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| PatternError::Unclosed(text.to_string()))?;
        out.push_str(&after[..close]);
        rest = &after[close + 2..];
    }
    out.push_str(&regex::escape(rest));
    Regex::new(&out).map_err(|e| PatternError::Compile {
        pattern: out.clone(),
        msg: e.to_string(),
    })
}

/// The outcome of checking patterns against a log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MatchResult {
    /// How many patterns matched before the first failure (all of them on success).
    pub matched: usize,
    /// The total number of patterns.
    pub total: usize,
    /// The first pattern that did not match, and whether it matched but on the wrong line.
    pub failed: Option<(String, bool)>,
    /// A negative pattern that occurred.
    pub unexpected: Option<String>,
}

impl MatchResult {
    /// Whether every pattern matched.
    pub fn ok(&self) -> bool {
        self.failed.is_none() && self.unexpected.is_none()
    }
}

/// Checks `patterns` in order against `log`, as the selftests' loader does.
pub fn match_in_order(log: &str, patterns: &[Pattern]) -> MatchResult {
    let total = patterns.iter().filter(|p| !p.negative).count();
    let mut matched = 0;
    let mut pos = 0usize;
    // Line counting runs from the previous match's start, as the selftests count it.
    let mut counted_to = 0usize;
    let mut line = 0usize;
    let mut prev_line: Option<usize> = None;
    // Negative patterns waiting for the next positive match to bound their region.
    let mut pending: Vec<&Pattern> = Vec::new();
    let unexpected_in = |region: &str, pending: &[&Pattern]| {
        pending
            .iter()
            .find(|n| n.find(region).is_some())
            .map(|n| n.text.clone())
    };
    for p in patterns {
        if p.negative {
            pending.push(p);
            continue;
        }
        let hay = &log[pos..];
        let Some((s, e)) = p.find(hay) else {
            return MatchResult {
                matched,
                total,
                failed: Some((p.text.clone(), false)),
                unexpected: None,
            };
        };
        let start = pos + s;
        if let Some(u) = unexpected_in(&log[pos..start], &pending) {
            return MatchResult {
                matched,
                total,
                failed: None,
                unexpected: Some(u),
            };
        }
        pending.clear();
        line += log[counted_to..start].matches('\n').count();
        counted_to = start;
        if p.on_next_line && prev_line.is_some_and(|l| l + 1 != line) {
            return MatchResult {
                matched,
                total,
                failed: Some((p.text.clone(), true)),
                unexpected: None,
            };
        }
        prev_line = Some(line);
        pos += e;
        matched += 1;
    }
    MatchResult {
        matched,
        total,
        failed: None,
        unexpected: unexpected_in(&log[pos..], &pending),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter()
            .map(|t| Pattern::new(t, false).unwrap())
            .collect()
    }

    #[test]
    fn substrings_in_order() {
        let log = "0: R1=ctx()\n1: (b7) r0 = 0\nR0 invalid mem access 'scalar'\n";
        assert!(match_in_order(log, &pats(&["R1=ctx", "invalid mem access"])).ok());
        let r = match_in_order(log, &pats(&["invalid mem access", "R1=ctx"]));
        assert_eq!(r.matched, 1);
        assert_eq!(r.failed, Some(("R1=ctx".into(), false)));
    }

    #[test]
    fn regex_parts_and_escaping() {
        let log = "r1 = *(u64 *)(r10 -8)\nR2_w=scalar(id=3)\n";
        assert!(match_in_order(log, &pats(&["*(u64 *)(r10 -8)"])).ok());
        assert!(match_in_order(log, &pats(&["R2_w=scalar(id={{[0-9]+}})"])).ok());
        assert!(!match_in_order(log, &pats(&["R2_w=scalar(id={{[a-z]+}})"])).ok());
        assert!(Pattern::new("a{{b", false).is_err());
    }

    /// The cases of the selftests' own framework test for `__not_msg`
    /// (`prog_tests_framework.c`): log, patterns (`!` = negative), the unexpected one.
    #[test]
    fn negative_patterns_as_the_selftests_framework_test_says() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("aaabbbccc", &["aaa", "ccc"], None),
            ("aaabbbccc", &["aaa", "!foo", "!bar", "ccc"], None),
            ("aaabbbccc", &["aaa", "!foo"], None),
            ("aaabbbccc", &["!foo", "ccc"], None),
            ("aaabbbccc", &["!aaa", "bbb"], Some("aaa")),
            ("aaabbbccc", &["bbb", "!ccc"], Some("ccc")),
            ("aaabbbccc", &["aaa", "!bbb", "ccc"], Some("bbb")),
            ("aaabbb222ccc", &["aaa", "!222", "!bbb", "ccc"], Some("222")),
        ];
        for (log, pats, unexpected) in cases {
            let pats: Vec<Pattern> = pats
                .iter()
                .map(|t| match t.strip_prefix('!') {
                    Some(n) => Pattern::negative(n).unwrap(),
                    None => Pattern::new(t, false).unwrap(),
                })
                .collect();
            let r = match_in_order(log, &pats);
            assert_eq!(r.unexpected.as_deref(), *unexpected, "{log} {:?}", r);
            assert!(r.failed.is_none());
        }
        let r = match_in_order("aaabbbddd", &pats(&["aaa", "ccc"]));
        assert_eq!((r.matched, r.failed), (1, Some(("ccc".into(), false))));
    }

    #[test]
    fn next_line_chain() {
        let log = "0: r0 = 1\n1: exit\n2: r1 = 2\n";
        let ok = vec![
            Pattern::new("r0 = 1", true).unwrap(),
            Pattern::new("exit", true).unwrap(),
        ];
        assert!(match_in_order(log, &ok).ok());
        let bad = vec![
            Pattern::new("r0 = 1", true).unwrap(),
            Pattern::new("r1 = 2", true).unwrap(),
        ];
        assert_eq!(
            match_in_order(log, &bad).failed,
            Some(("r1 = 2".into(), true))
        );
    }
}
