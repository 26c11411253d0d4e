//! `__msg`-style patterns and their in-order search through a verifier log.
//!
//! A pattern is literal text, except that `{{...}}` encloses a POSIX extended regular
//! expression. Patterns must match in order, each after the end of the previous match; a
//! disassembly pattern may further be required on the line right after the previous one.

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
}

impl MatchResult {
    /// Whether every pattern matched.
    pub fn ok(&self) -> bool {
        self.failed.is_none()
    }
}

/// Checks `patterns` in order against `log`, as the selftests' loader does.
pub fn match_in_order(log: &str, patterns: &[Pattern]) -> MatchResult {
    let mut pos = 0usize;
    // Line counting runs from the previous match's start, as the selftests count it.
    let mut counted_to = 0usize;
    let mut line = 0usize;
    let mut prev_line: Option<usize> = None;
    for (i, p) in patterns.iter().enumerate() {
        let hay = &log[pos..];
        let Some((s, e)) = p.find(hay) else {
            return MatchResult {
                matched: i,
                total: patterns.len(),
                failed: Some((p.text.clone(), false)),
            };
        };
        let start = pos + s;
        line += log[counted_to..start].matches('\n').count();
        counted_to = start;
        if p.on_next_line && prev_line.is_some_and(|l| l + 1 != line) {
            return MatchResult {
                matched: i,
                total: patterns.len(),
                failed: Some((p.text.clone(), true)),
            };
        }
        prev_line = Some(line);
        pos += e;
    }
    MatchResult {
        matched: patterns.len(),
        total: patterns.len(),
        failed: None,
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
