//! Map-in-map (`BPF_MAP_TYPE_ARRAY_OF_MAPS`, `BPF_MAP_TYPE_HASH_OF_MAPS`): a lookup returns
//! `map_ptr_or_null` to the inner map's template (the kernel's `inner_map_meta`), which
//! after a NULL check is the map argument of further helpers.
//!
//! The templates get map indices of their own: [`with_inner_templates`] appends them after
//! the object's maps, in the order of their outer maps, before the walk.

use std::borrow::Cow;

use bpfbox_vm::maps::spec::MapSpec;

use crate::Options;

/// `opts` with the inner templates of its map-in-map maps appended to its maps.
pub fn with_inner_templates(opts: &Options) -> Cow<'_, Options> {
    if opts.maps.iter().all(|m| m.inner.is_none()) {
        return Cow::Borrowed(opts);
    }
    let mut out = opts.clone();
    for m in &opts.maps {
        if let Some(inner) = &m.inner {
            let mut t = (**inner).clone();
            // `bpf_map_meta_alloc` keeps the shape, not the name; multi-level nesting is
            // refused at creation.
            t.name = String::new();
            t.inner = None;
            out.maps.push(t);
        }
    }
    Cow::Owned(out)
}

/// The index of outer map `m`'s inner template in maps extended by
/// [`with_inner_templates`], if `m` is a map-in-map.
pub fn inner_template(maps: &[MapSpec], m: usize) -> Option<usize> {
    maps.get(m)?.inner.as_ref()?;
    let outers = maps.iter().filter(|x| x.inner.is_some()).count();
    let first = maps.len().checked_sub(outers)?;
    let k = first + maps[..m].iter().filter(|x| x.inner.is_some()).count();
    (k < maps.len() && m < first).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfbox_vm::maps::spec::MapType;

    #[test]
    fn templates_follow_the_maps_in_order() {
        let inner_a = MapSpec::new("a", MapType::Array, 4, 8, 2);
        let inner_h = MapSpec::new("h", MapType::Hash, 4, 4, 8);
        let mut outer1 = MapSpec::new("o1", MapType::ArrayOfMaps, 4, 4, 3);
        outer1.inner = Some(Box::new(inner_a.clone()));
        let mut outer2 = MapSpec::new("o2", MapType::HashOfMaps, 4, 4, 4);
        outer2.inner = Some(Box::new(inner_h.clone()));
        let opts = Options {
            maps: vec![inner_a, outer1, outer2, inner_h],
            ..Options::default()
        };
        let ext = with_inner_templates(&opts);
        assert_eq!(ext.maps.len(), 6);
        assert_eq!(inner_template(&ext.maps, 0), None);
        assert_eq!(inner_template(&ext.maps, 1), Some(4));
        assert_eq!(inner_template(&ext.maps, 2), Some(5));
        assert_eq!(ext.maps[4].value_size, 8);
        assert_eq!(ext.maps[5].map_type, MapType::Hash);
        assert!(ext.maps[4].name.is_empty());
    }
}
