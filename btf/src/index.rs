//! A name -> type ids index, built once on first use.

use std::collections::HashMap;

use crate::types::{Type, TypeId};

/// Maps every non-empty type name to the ids carrying it, in id order.
#[derive(Debug, Default, Clone)]
pub(crate) struct NameIndex {
    map: HashMap<Box<str>, Vec<TypeId>>,
}

impl NameIndex {
    /// Index `types`, whose first element has id `first_id`; `name_of`
    /// resolves a string offset.
    pub(crate) fn build<'a>(
        types: &[Type],
        first_id: TypeId,
        name_of: impl Fn(u32) -> Option<&'a str>,
    ) -> Self {
        let mut map: HashMap<Box<str>, Vec<TypeId>> = HashMap::with_capacity(types.len());
        let mut id = first_id;
        for t in types {
            if t.name_off != 0 {
                if let Some(name) = name_of(t.name_off).filter(|n| !n.is_empty()) {
                    match map.get_mut(name) {
                        Some(v) => v.push(id),
                        None => {
                            map.insert(name.into(), vec![id]);
                        }
                    }
                }
            }
            id = id.wrapping_add(1);
        }
        NameIndex { map }
    }

    /// Ids named `name`, in ascending order.
    pub(crate) fn get(&self, name: &str) -> &[TypeId] {
        self.map.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}
