//! Our log against the kernel's, line for line, after masking what cannot be the same: the
//! verification time and the kernel address a map load is rewritten to (with the spaces
//! that align a state after it).

/// Where two logs first differ.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// 1-based line number (after masking and filtering).
    pub line: usize,
    /// The kernel's line (`<end>` past its end).
    pub kernel: String,
    /// Our line (`<end>` past its end).
    pub ours: String,
}

/// A kernel address a map load was rewritten to, or our `map[...]` for it.
fn is_map_operand(tok: &str) -> bool {
    tok.starts_with("map[") || (tok.len() == 18 && tok.starts_with("0xffff"))
}

/// One line with the time and map-load operands masked.
fn mask(l: &str) -> String {
    if let Some(rest) = l.strip_prefix("verification time ") {
        if rest.ends_with(" usec") {
            return "verification time N usec".to_string();
        }
    }
    if let Some((head, tail)) = l.split_once(") r").filter(|(h, _)| h.ends_with(" (18")) {
        if let Some((reg, rhs)) = tail.split_once(" = ") {
            let tok = rhs.split(' ').next().unwrap_or("");
            if is_map_operand(tok) {
                let after = rhs[tok.len()..].trim_start();
                let state = after.strip_prefix(';').map(|s| format!(" ;{s}"));
                return format!("{head}) r{reg} = MAP{}", state.unwrap_or_default());
            }
        }
    }
    l.to_string()
}

/// Lines only the kernel prints at level 2, from analyses this verifier does not log:
/// precision backtracking (`mark_precise:`, `frame N: propagating ...`) and stack liveness.
pub fn kernel_only(l: &str) -> bool {
    l.starts_with("mark_precise: ")
        || (l.starts_with("frame ") && l.contains(": propagating "))
        || (l.starts_with('(') && (l.contains(") frame ") || l.contains(") live stack update")))
}

/// The first line where the logs differ, `None` when they are the same; with
/// `skip_kernel_only`, the kernel's [`kernel_only`] lines are dropped first.
pub fn first_difference(kernel: &str, ours: &str, skip_kernel_only: bool) -> Option<Difference> {
    let k: Vec<String> = kernel
        .lines()
        .filter(|l| !(skip_kernel_only && kernel_only(l)))
        .map(mask)
        .collect();
    let o: Vec<String> = ours.lines().map(mask).collect();
    (0..k.len().max(o.len())).find_map(|i| {
        let (a, b) = (k.get(i), o.get(i));
        (a != b).then(|| Difference {
            line: i + 1,
            kernel: a.cloned().unwrap_or_else(|| "<end>".into()),
            ours: b.cloned().unwrap_or_else(|| "<end>".into()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_only_addresses_and_time() {
        let k = "3: (18) r1 = 0xffff888135874e00       ; R1=map_ptr(map=arr,ks=4,vs=16)\nverification time 12 usec";
        let o = "3: (18) r1 = map[idx:0]               ; R1=map_ptr(map=arr,ks=4,vs=16)\nverification time 3 usec";
        assert_eq!(first_difference(k, o, false), None);
        let o2 = o.replace("map=arr", "map=hash");
        assert_eq!(first_difference(k, &o2, false).map(|d| d.line), Some(1));
        assert!(first_difference(
            "4: (18) r1 = 0x100000000",
            "4: (18) r1 = 0x100000001",
            false
        )
        .is_some());
        assert!(first_difference("a\nb", "a", false).is_some_and(|d| d.ours == "<end>"));
        let k = "      4: .12....... (18) r1 = 0xffff888496ac7200";
        let o = "      4: .12....... (18) r1 = map[idx:0]";
        assert_eq!(first_difference(k, o, false), None);
    }

    #[test]
    fn kernel_only_lines() {
        assert!(kernel_only(
            "mark_precise: frame0: regs=r1 stack= before 8: (71) r1 = *(u8 *)(r0 +0)"
        ));
        assert!(kernel_only("frame 0: propagating r1,r3"));
        assert!(kernel_only("(0) frame 0 insn 10 +written -16 "));
        // The live-register table is ours too.
        assert!(!kernel_only("     12: 01........ (5c) w9 &= w1"));
        assert!(!kernel_only("Live regs before insn:"));
        assert!(!kernel_only("12: (5c) w9 &= w1"));
        assert!(!kernel_only("12: R0=1"));
    }
}
