//! The expectations a selftest program carries as BTF `DECL_TAG`s on its `FUNC`.
//!
//! The selftests' `bpf_misc.h` turns `__success`, `__failure`, `__msg("...")`, `__retval(n)`,
//! `__log_level(n)`, `__flag(F)` ... into `btf_decl_tag("comment:test_...")` attributes; this
//! module reads them back into a [`TestSpec`] with the same rules as the selftests' own
//! loader (`test_loader.c`): the defaults, which tag turns on which mode, how `_unpriv`
//! expectations inherit from the privileged ones, and how values are parsed.

use bpfbox_btf::{Btf, Kind, TypeData};

use super::pattern::{Pattern, PatternError};

const FAILURE: &str = "comment:test_expect_failure";
const SUCCESS: &str = "comment:test_expect_success";
const FAILURE_UNPRIV: &str = "comment:test_expect_failure_unpriv";
const SUCCESS_UNPRIV: &str = "comment:test_expect_success_unpriv";
const AUXILIARY: &str = "comment:test_auxiliary";
const AUXILIARY_UNPRIV: &str = "comment:test_auxiliary_unpriv";
const MSG: &str = "comment:test_expect_msg=";
const MSG_UNPRIV: &str = "comment:test_expect_msg_unpriv=";
const NOT_MSG: &str = "comment:test_expect_not_msg=";
const NOT_MSG_UNPRIV: &str = "comment:test_expect_not_msg_unpriv=";
const CAPS_UNPRIV: &str = "comment:test_caps_unpriv=";
const LOAD_MODE: &str = "comment:load_mode=";
const XLATED: &str = "comment:test_expect_xlated=";
const XLATED_UNPRIV: &str = "comment:test_expect_xlated_unpriv=";
const JITED: &str = "comment:test_jited=";
const JITED_UNPRIV: &str = "comment:test_jited_unpriv=";
const DESCRIPTION: &str = "comment:test_description=";
const RETVAL: &str = "comment:test_retval=";
const RETVAL_UNPRIV: &str = "comment:test_retval_unpriv=";
const LOG_LEVEL: &str = "comment:test_log_level=";
const PROG_FLAGS: &str = "comment:test_prog_flags=";
const BTF_PATH: &str = "comment:test_btf_path=";
const ARCH: &str = "comment:test_arch=";

/// `BPF_F_STRICT_ALIGNMENT`.
pub const BPF_F_STRICT_ALIGNMENT: u32 = 1 << 0;
/// `BPF_F_ANY_ALIGNMENT`.
pub const BPF_F_ANY_ALIGNMENT: u32 = 1 << 1;
/// `BPF_F_TEST_RND_HI32`.
pub const BPF_F_TEST_RND_HI32: u32 = 1 << 2;
/// `BPF_F_TEST_STATE_FREQ`.
pub const BPF_F_TEST_STATE_FREQ: u32 = 1 << 3;
/// `BPF_F_SLEEPABLE`.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS`.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// `BPF_F_TEST_REG_INVARIANTS`.
pub const BPF_F_TEST_REG_INVARIANTS: u32 = 1 << 7;

/// The flags every selftest program is loaded with (the selftests' `testing_prog_flags`
/// on a kernel that knows both).
pub const DEFAULT_PROG_FLAGS: u32 = BPF_F_TEST_RND_HI32 | BPF_F_TEST_REG_INVARIANTS;

/// `POINTER_VALUE` of `bpf_misc.h`: a `__retval` with this value is not checked.
pub const POINTER_VALUE: i32 = 0xcafe4a;
/// `TEST_DATA_LEN` of `bpf_misc.h`: the size of the test run's packet.
pub const TEST_DATA_LEN: i32 = 64;

/// An architecture a test is restricted to (`__arch_x86_64` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Arch {
    /// `X86_64`.
    X86_64,
    /// `ARM64`.
    Arm64,
    /// `RISCV64`.
    Riscv64,
}

impl Arch {
    /// The architecture this binary runs on, if it is one the selftests name.
    pub fn current() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Arm64)
        } else if cfg!(target_arch = "riscv64") {
            Some(Arch::Riscv64)
        } else {
            None
        }
    }
}

/// The expectations of one mode (privileged or unprivileged).
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Whether the load must fail.
    pub failure: bool,
    /// `__msg` patterns, in the order they must appear in the verifier log.
    pub msgs: Vec<Pattern>,
    /// `__xlated` patterns against the translated program's disassembly.
    pub xlated: Vec<Pattern>,
    /// `__jited` patterns for this machine's architecture.
    pub jited: Vec<Pattern>,
    /// `__retval`: the test run's expected return value (not checked when it is
    /// [`POINTER_VALUE`]).
    pub retval: Option<i32>,
}

/// Everything the tags of one program say.
#[derive(Debug, Clone)]
pub struct TestSpec {
    /// The program (its BTF `FUNC` name).
    pub program: String,
    /// `__description`, else the program name.
    pub description: String,
    /// Privileged expectations.
    pub privileged: Expect,
    /// Unprivileged expectations (inherited from the privileged ones where not given).
    pub unprivileged: Expect,
    /// Whether the test runs privileged.
    pub run_privileged: bool,
    /// Whether the test runs unprivileged.
    pub run_unprivileged: bool,
    /// `__auxiliary`: loaded beside every test of the same mode, not a test itself.
    pub auxiliary: bool,
    /// `__log_level`.
    pub log_level: u32,
    /// The program flags the test adds to the program's own ([`DEFAULT_PROG_FLAGS`] with
    /// `__flag` set or cleared).
    pub prog_flags: u32,
    /// `__arch_*`: empty means every architecture.
    pub arch: Vec<Arch>,
    /// `__btf_path`: the BTF CO-RE relocates against.
    pub btf_path: Option<String>,
    /// `__caps_unpriv` (newer selftests): capabilities kept in unprivileged mode, as written.
    pub caps_unprivileged: Option<String>,
    /// `__load_if_JITed` / `__load_if_no_JITed` (newer selftests).
    pub load_mode: Option<LoadMode>,
    /// `comment:` tags this parser does not know (reported, not fatal).
    pub unknown_tags: Vec<String>,
}

/// When a test loads at all (`__load_if_JITed`, `__load_if_no_JITed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LoadMode {
    /// Only with the JIT on.
    Jited,
    /// Only with the JIT off.
    NoJited,
}

impl TestSpec {
    /// The name a test goes by in the selftests' output for `mode`.
    pub fn name(&self, unprivileged: bool) -> String {
        if unprivileged {
            format!("{} @unpriv", self.description)
        } else {
            self.description.clone()
        }
    }

    /// The expectations of one mode.
    pub fn expect(&self, unprivileged: bool) -> &Expect {
        if unprivileged {
            &self.unprivileged
        } else {
            &self.privileged
        }
    }

    /// Whether the test applies to the architecture this binary runs on.
    pub fn runs_on_this_arch(&self) -> bool {
        self.arch.is_empty() || Arch::current().is_some_and(|a| self.arch.contains(&a))
    }
}

/// A tag whose value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    /// The object has no BTF to hold annotations.
    #[error("the object has no BTF")]
    NoBtf,
    /// The program has no BTF `FUNC`.
    #[error("program `{0}`: no FUNC in the object's BTF")]
    NoFunc(String),
    /// A number (log level, flags, return value) does not parse.
    #[error("program `{program}`: cannot parse {what} from '{value}'")]
    BadNumber {
        /// The program.
        program: String,
        /// Which annotation.
        what: &'static str,
        /// Its text.
        value: String,
    },
    /// `__arch` names an unknown architecture.
    #[error("program `{program}`: bad arch spec: '{value}'")]
    BadArch {
        /// The program.
        program: String,
        /// Its text.
        value: String,
    },
    /// `__jited` comes before any `__arch_*`.
    #[error("program `{0}`: __jited used before __arch_*")]
    JitedBeforeArch(String),
    /// A `{{regex}}` pattern is malformed.
    #[error("program `{program}`: {source}")]
    Pattern {
        /// The program.
        program: String,
        /// The cause.
        source: PatternError,
    },
}

/// `strtol` as the selftests use it: `0x` hexadecimal or decimal with an optional sign,
/// the whole string, then truncated to `int`.
fn parse_int(s: &str) -> Option<i32> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(hex) = s.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: i64 = digits.parse().ok()?;
        if neg {
            -v
        } else {
            v
        }
    };
    Some(v as i32)
}

fn parse_retval(s: &str) -> Option<i32> {
    match s {
        "INT_MIN" => Some(i32::MIN),
        "POINTER_VALUE" => Some(POINTER_VALUE),
        "TEST_DATA_LEN" => Some(TEST_DATA_LEN),
        _ => parse_int(s),
    }
}

fn flag_by_name(s: &str) -> Option<u32> {
    Some(match s {
        "BPF_F_STRICT_ALIGNMENT" => BPF_F_STRICT_ALIGNMENT,
        "BPF_F_ANY_ALIGNMENT" => BPF_F_ANY_ALIGNMENT,
        "BPF_F_TEST_RND_HI32" => BPF_F_TEST_RND_HI32,
        "BPF_F_TEST_STATE_FREQ" => BPF_F_TEST_STATE_FREQ,
        "BPF_F_SLEEPABLE" => BPF_F_SLEEPABLE,
        "BPF_F_XDP_HAS_FRAGS" => BPF_F_XDP_HAS_FRAGS,
        "BPF_F_TEST_REG_INVARIANTS" => BPF_F_TEST_REG_INVARIANTS,
        _ => return None,
    })
}

/// The value after `<prefix><counter>=`: the selftests make repeated tags unique with a
/// counter between the prefix and the value.
fn after_counter<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(prefix)?;
    let eq = rest.find('=')?;
    Some(&rest[eq + 1..])
}

/// The `comment:` tags on the `FUNC` named `program`, in BTF id order (the order the
/// compiler emitted them, which is the order `__msg` patterns must match in).
pub fn function_tags<'a>(btf: &'a Btf, program: &str) -> Option<Vec<&'a str>> {
    let func = btf.find_by_name_kind(program, Kind::Func)?;
    let tags = btf
        .types()
        .filter(|(_, t)| {
            t.size_or_type == func && matches!(t.data, TypeData::DeclTag { component_idx: -1 })
        })
        .map(|(_, t)| btf.type_name(t))
        .collect();
    Some(tags)
}

/// Disassembly patterns: `...` breaks the "on the next line" chain.
fn push_disasm(
    list: &mut Vec<Pattern>,
    text: &str,
    next_line: &mut bool,
) -> Result<(), PatternError> {
    if text == "..." {
        *next_line = false;
        return Ok(());
    }
    list.push(Pattern::new(text, *next_line)?);
    *next_line = true;
    Ok(())
}

/// Parses the spec of `program` from the object's BTF.
pub fn parse_spec(btf: &Btf, program: &str) -> Result<TestSpec, AnnotationError> {
    let tags =
        function_tags(btf, program).ok_or_else(|| AnnotationError::NoFunc(program.into()))?;
    let pat_err = |source| AnnotationError::Pattern {
        program: program.to_string(),
        source,
    };
    let bad = |what, value: &str| AnnotationError::BadNumber {
        program: program.to_string(),
        what,
        value: value.to_string(),
    };
    let mut spec = TestSpec {
        program: program.to_string(),
        description: program.to_string(),
        privileged: Expect::default(),
        unprivileged: Expect::default(),
        run_privileged: false,
        run_unprivileged: false,
        auxiliary: false,
        log_level: 0,
        prog_flags: DEFAULT_PROG_FLAGS,
        arch: Vec::new(),
        btf_path: None,
        caps_unprivileged: None,
        load_mode: None,
        unknown_tags: Vec::new(),
    };
    let (mut unpriv_result, mut unpriv_retval) = (false, false);
    let (mut xlated_next, mut unpriv_xlated_next) = (true, true);
    let (mut jit_next, mut unpriv_jit_next) = (true, true);
    let mut collect_jit = false;
    for s in tags {
        if !s.starts_with("comment:") {
            continue;
        }
        if let Some(d) = s.strip_prefix(DESCRIPTION) {
            spec.description = d.to_string();
        } else if s == FAILURE {
            spec.privileged.failure = true;
            spec.run_privileged = true;
        } else if s == SUCCESS {
            spec.privileged.failure = false;
            spec.run_privileged = true;
        } else if s == FAILURE_UNPRIV {
            spec.unprivileged.failure = true;
            spec.run_unprivileged = true;
            unpriv_result = true;
        } else if s == SUCCESS_UNPRIV {
            spec.unprivileged.failure = false;
            spec.run_unprivileged = true;
            unpriv_result = true;
        } else if s == AUXILIARY {
            spec.auxiliary = true;
            spec.run_privileged = true;
        } else if s == AUXILIARY_UNPRIV {
            spec.auxiliary = true;
            spec.run_unprivileged = true;
        } else if let Some(m) = after_counter(s, MSG) {
            spec.privileged
                .msgs
                .push(Pattern::new(m, false).map_err(pat_err)?);
            spec.run_privileged = true;
        } else if let Some(m) = after_counter(s, MSG_UNPRIV) {
            spec.unprivileged
                .msgs
                .push(Pattern::new(m, false).map_err(pat_err)?);
            spec.run_unprivileged = true;
        } else if let Some(m) = after_counter(s, NOT_MSG) {
            spec.privileged
                .msgs
                .push(Pattern::negative(m).map_err(pat_err)?);
            spec.run_privileged = true;
        } else if let Some(m) = after_counter(s, NOT_MSG_UNPRIV) {
            spec.unprivileged
                .msgs
                .push(Pattern::negative(m).map_err(pat_err)?);
            spec.run_unprivileged = true;
        } else if let Some(v) = s.strip_prefix(CAPS_UNPRIV) {
            spec.caps_unprivileged = Some(v.to_string());
        } else if let Some(v) = s.strip_prefix(LOAD_MODE) {
            spec.load_mode = match v {
                "jited" => Some(LoadMode::Jited),
                "no_jited" => Some(LoadMode::NoJited),
                _ => {
                    return Err(AnnotationError::BadNumber {
                        program: program.into(),
                        what: "load mode",
                        value: v.into(),
                    })
                }
            };
        } else if let Some(m) = after_counter(s, JITED) {
            if spec.arch.is_empty() {
                return Err(AnnotationError::JitedBeforeArch(program.into()));
            }
            if collect_jit {
                push_disasm(&mut spec.privileged.jited, m, &mut jit_next).map_err(pat_err)?;
                spec.run_privileged = true;
            }
        } else if let Some(m) = after_counter(s, JITED_UNPRIV) {
            if spec.arch.is_empty() {
                return Err(AnnotationError::JitedBeforeArch(program.into()));
            }
            if collect_jit {
                push_disasm(&mut spec.unprivileged.jited, m, &mut unpriv_jit_next)
                    .map_err(pat_err)?;
                spec.run_unprivileged = true;
            }
        } else if let Some(m) = after_counter(s, XLATED) {
            push_disasm(&mut spec.privileged.xlated, m, &mut xlated_next).map_err(pat_err)?;
            spec.run_privileged = true;
        } else if let Some(m) = after_counter(s, XLATED_UNPRIV) {
            push_disasm(&mut spec.unprivileged.xlated, m, &mut unpriv_xlated_next)
                .map_err(pat_err)?;
            spec.run_unprivileged = true;
        } else if let Some(v) = s.strip_prefix(RETVAL) {
            spec.privileged.retval = Some(parse_retval(v).ok_or_else(|| bad("__retval", v))?);
            spec.run_privileged = true;
        } else if let Some(v) = s.strip_prefix(RETVAL_UNPRIV) {
            spec.unprivileged.retval =
                Some(parse_retval(v).ok_or_else(|| bad("__retval_unpriv", v))?);
            spec.run_unprivileged = true;
            unpriv_retval = true;
        } else if let Some(v) = s.strip_prefix(LOG_LEVEL) {
            spec.log_level = parse_int(v).ok_or_else(|| bad("test log level", v))? as u32;
        } else if let Some(v) = s.strip_prefix(PROG_FLAGS) {
            let (clear, name) = match v.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, v),
            };
            let flag = match flag_by_name(name) {
                Some(f) => f,
                None => parse_int(name).ok_or_else(|| bad("test prog flags", v))? as u32,
            };
            if clear {
                spec.prog_flags &= !flag;
            } else {
                spec.prog_flags |= flag;
            }
        } else if let Some(v) = s.strip_prefix(ARCH) {
            let arch = match v {
                "X86_64" => Arch::X86_64,
                "ARM64" => Arch::Arm64,
                "RISCV64" => Arch::Riscv64,
                _ => {
                    return Err(AnnotationError::BadArch {
                        program: program.into(),
                        value: v.into(),
                    })
                }
            };
            spec.arch.push(arch);
            collect_jit = Arch::current() == Some(arch);
            jit_next = true;
            unpriv_jit_next = true;
        } else if let Some(v) = s.strip_prefix(BTF_PATH) {
            spec.btf_path = Some(v.to_string());
        } else {
            spec.unknown_tags.push(s.to_string());
        }
    }
    if !spec.run_privileged && !spec.run_unprivileged {
        spec.run_privileged = true;
    }
    // What the unprivileged mode does not say, it inherits.
    if !unpriv_result {
        spec.unprivileged.failure = spec.privileged.failure;
    }
    if !unpriv_retval {
        spec.unprivileged.retval = spec.privileged.retval;
    }
    if spec.unprivileged.msgs.is_empty() {
        spec.unprivileged.msgs = spec.privileged.msgs.clone();
    }
    if spec.unprivileged.xlated.is_empty() {
        spec.unprivileged.xlated = spec.privileged.xlated.clone();
    }
    if spec.unprivileged.jited.is_empty() {
        spec.unprivileged.jited = spec.privileged.jited.clone();
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_strtol_reads_them() {
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("0xffffffff"), Some(-1));
        assert_eq!(parse_int("4294967295"), Some(-1));
        assert_eq!(parse_int("12a"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_retval("INT_MIN"), Some(i32::MIN));
        assert_eq!(parse_retval("POINTER_VALUE"), Some(0xcafe4a));
        assert_eq!(parse_retval("TEST_DATA_LEN"), Some(64));
    }

    #[test]
    fn counter_prefix() {
        assert_eq!(
            after_counter("comment:test_expect_msg=12=R1 type=ctx", MSG),
            Some("R1 type=ctx")
        );
        assert_eq!(after_counter("comment:test_expect_msg=", MSG), None);
    }
}
