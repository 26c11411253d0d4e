//! The id map of one state comparison (`struct bpf_idmap`): ids are names local to a path,
//! so an old state and a current one may use different numbers for the same relation. The
//! map pairs them, and two old ids may never share a current one.

/// Pairs of (old id, current id) seen so far in one comparison.
#[derive(Debug, Default)]
pub struct IdMap {
    pairs: Vec<(u32, u32)>,
    /// Source of fresh ids for current registers without one (`tmp_id_gen`).
    tmp_id_gen: u32,
}

impl IdMap {
    /// An empty map whose temporary ids start above every id the walk handed out.
    pub fn new(id_gen: u32) -> IdMap {
        IdMap {
            pairs: Vec::new(),
            tmp_id_gen: id_gen,
        }
    }

    /// `check_ids`: both ids set or both zero, and the pairing consistent with earlier ones.
    pub fn check(&mut self, old: u32, cur: u32) -> bool {
        if (old == 0) != (cur == 0) {
            return false;
        }
        if old == 0 {
            return true;
        }
        for &(o, c) in &self.pairs {
            if o == old {
                return c == cur;
            }
            if c == cur {
                return false;
            }
        }
        self.pairs.push((old, cur));
        true
    }

    /// `check_scalar_ids` on ids with their `BPF_ADD_CONST` bits: an old scalar without an
    /// id accepts any current one; a current scalar without an id gets a fresh one, so two
    /// unlinked current registers cannot both stand for one old link; an old link with a
    /// constant pairs the base ids too, so that it cannot follow another base.
    pub fn check_scalar(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 {
            return true;
        }
        let cur = if cur != 0 {
            cur
        } else {
            self.tmp_id_gen += 1;
            self.tmp_id_gen
        };
        if !self.check(old, cur) {
            return false;
        }
        let bits = crate::state::link::ADD_CONST;
        old & bits == 0 || self.check(old & !bits, cur & !bits)
    }
}

#[cfg(test)]
mod tests {
    use super::IdMap;

    #[test]
    fn pairs_are_one_to_one() {
        let mut m = IdMap::new(10);
        assert!(m.check(1, 5));
        assert!(m.check(1, 5));
        assert!(!m.check(1, 6));
        assert!(!m.check(2, 5));
        assert!(m.check(2, 6));
        assert!(!m.check(0, 6));
        assert!(m.check(0, 0));
    }

    #[test]
    fn unlinked_current_scalars_cannot_share_an_old_link() {
        let mut m = IdMap::new(10);
        assert!(m.check_scalar(3, 0));
        assert!(!m.check_scalar(3, 0));
        assert!(m.check_scalar(0, 7));
    }
}
