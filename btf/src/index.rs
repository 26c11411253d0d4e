//! A name -> type ids index, built once on first use.
//!
//! vmlinux has over 100,000 named types; the index is one sorted vector of
//! (name hash, id) pairs, so building it allocates once and sorts, and a
//! lookup is a binary search. Hash collisions are resolved by the caller
//! comparing the actual names of the ids found.

use crate::types::{Type, TypeId};

/// FxHash-style 64-bit hash of a name (fast on short identifiers; the index
/// does not need resistance to chosen collisions, which only cost time).
fn hash(name: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = 0;
    let mut chunks = name.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ name.len() as u64).wrapping_mul(K)
}

/// Every non-empty type name's hash with the ids carrying it, sorted by
/// (hash, id).
#[derive(Debug, Default, Clone)]
pub(crate) struct NameIndex {
    entries: Vec<(u64, TypeId)>,
}

impl NameIndex {
    /// Index `types`, whose first element has id `first_id`; `name_of`
    /// resolves a string offset to the name to index under.
    pub(crate) fn build<'a>(
        types: &[Type],
        first_id: TypeId,
        name_of: impl Fn(u32) -> Option<&'a str>,
    ) -> Self {
        let mut entries = Vec::with_capacity(types.len());
        let mut id = first_id;
        for t in types {
            if t.name_off != 0 {
                if let Some(name) = name_of(t.name_off).filter(|n| !n.is_empty()) {
                    entries.push((hash(name), id));
                }
            }
            id = id.wrapping_add(1);
        }
        entries.sort_unstable();
        NameIndex { entries }
    }

    /// Ids whose indexed name may be `name` (same hash), ascending; the
    /// caller checks the names.
    pub(crate) fn candidates(&self, name: &str) -> impl Iterator<Item = TypeId> + '_ {
        let h = hash(name);
        let start = self.entries.partition_point(|&(k, _)| k < h);
        self.entries[start..]
            .iter()
            .take_while(move |&&(k, _)| k == h)
            .map(|&(_, id)| id)
    }
}
