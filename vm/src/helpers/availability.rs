//! Which program types may call each helper, derived from the [`super::catalogue`]'s
//! `get_func_proto` tables for a privileged load with the default attach type.

use std::sync::OnceLock;

use super::catalogue::{for_prog, Caller};
use crate::helper_names::{helper_id, HELPER_NAMES};
use crate::program::ProgType;

/// Who may call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Every program type whose helpers the catalogue models.
    Base,
    /// These program types.
    Types(&'static [ProgType]),
}

/// Program types whose helper sets the catalogue models.
fn modelled() -> impl Iterator<Item = ProgType> {
    ProgType::ALL.into_iter().filter(|t| {
        !matches!(
            t,
            ProgType::Unspec | ProgType::LircMode2 | ProgType::StructOps | ProgType::Ext
        )
    })
}

/// The program types that may call the helper `name` (with its `bpf_` prefix) when loaded
/// with CAP_BPF and CAP_PERFMON and no particular attach type.
pub fn program_types(name: &str) -> Availability {
    static TABLE: OnceLock<Vec<Availability>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..HELPER_NAMES.len() as u32)
            .map(|id| {
                let types: Vec<ProgType> = modelled()
                    .filter(|&t| {
                        let c = Caller {
                            prog_type: t,
                            attach: 0,
                            privileged: true,
                            sleepable: false,
                        };
                        for_prog(id, &c).is_some()
                    })
                    .collect();
                if types.len() == modelled().count() {
                    Availability::Base
                } else {
                    // Built once per process: the slices live as long as the table.
                    Availability::Types(Box::leak(types.into_boxed_slice()))
                }
            })
            .collect()
    });
    helper_id(name)
        .and_then(|id| table.get(id as usize).copied())
        .unwrap_or(Availability::Types(&[]))
}
