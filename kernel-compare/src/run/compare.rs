//! Comparing the two sides of a run: outcomes (return value, data out, context out) and
//! every map's entries, each difference said in words.

use super::*;

/// Hex of a byte string, `(empty)` when empty.
pub fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn first_diff(a: &[u8], b: &[u8]) -> String {
    let at = a.iter().zip(b).position(|(x, y)| x != y);
    match at {
        Some(i) => format!(" (first difference at byte {i})"),
        None => format!(" (lengths {} and {})", a.len(), b.len()),
    }
}

pub(super) fn compare_outcomes(k: &Outcome, o: &Outcome) -> Vec<Difference> {
    let mut d = Vec::new();
    match (k, o) {
        (
            Outcome::Ran {
                retval: kr,
                data_out: kd,
                ctx_out: kc,
            },
            Outcome::Ran {
                retval: or,
                data_out: od,
                ctx_out: oc,
            },
        ) => {
            if kr != or {
                d.push(Difference {
                    what: "retval".into(),
                    kernel: format!("{kr} ({kr:#x})"),
                    bpfbox: format!("{or} ({or:#x})"),
                });
            }
            if kd != od {
                d.push(Difference {
                    what: format!("data_out{}", first_diff(kd, od)),
                    kernel: hex(kd),
                    bpfbox: hex(od),
                });
            }
            // The kernel copies back the context only when it has one for the type.
            if !kc.is_empty() && kc != oc {
                d.push(Difference {
                    what: format!("ctx_out{}", first_diff(kc, oc)),
                    kernel: hex(kc),
                    bpfbox: hex(oc),
                });
            }
        }
        (Outcome::Refused { errno: ke, .. }, Outcome::Refused { errno: oe, .. }) if ke == oe => {}
        _ => d.push(Difference {
            what: "outcome".into(),
            kernel: describe(k),
            bpfbox: describe(o),
        }),
    }
    d
}

/// One line describing an outcome.
pub fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Ran { retval, .. } => format!("ran, retval {retval}"),
        Outcome::Refused { errno, msg } => format!("refused: {} ({msg})", sys::errno_name(*errno)),
        Outcome::Failed { msg } => format!("failed: {msg}"),
    }
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The kernel map's entries (sorted by key).
pub(super) fn kernel_entries(fd: &sys::Fd, max: u32) -> Result<Entries, String> {
    // One batch call where the map type allows it, entry by entry otherwise; both size
    // their buffers from the kernel map's own info.
    if let Ok(mut all) = sys::map_lookup_batch(fd, max.min(1 << 16)) {
        all.sort();
        return Ok(all);
    }
    let keys = sys::map_keys(fd, max as usize + 1).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(v) = sys::map_lookup(fd, &k).map_err(|e| e.to_string())? {
            out.push((k, v));
        }
    }
    out.sort();
    Ok(out)
}

/// Compares the contents of every map both sides can list, except the maps `skip` lists
/// (by index: maps bpfbox could not create, whose places hold stand-ins).
pub fn compare_maps(kernel: &KernelObject, ours: &MapTable, skip: &[usize]) -> Vec<Difference> {
    let mut d = Vec::new();
    for (i, km) in kernel.maps.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let (Some(fd), Some(om)) = (km.fd.as_ref(), ours.get(i)) else {
            continue;
        };
        let t = om.map_type();
        if !comparable(t) {
            continue;
        }
        let name = om.name();
        let k = match kernel_entries(fd, om.max_entries()) {
            Ok(e) => e,
            Err(e) => {
                d.push(Difference {
                    what: format!("map {name}"),
                    kernel: format!("cannot dump: {e}"),
                    bpfbox: String::new(),
                });
                continue;
            }
        };
        let mut o = om.iter();
        o.sort();
        if k == o {
            continue;
        }
        let kk: std::collections::BTreeMap<_, _> = k.into_iter().collect();
        let ok: std::collections::BTreeMap<_, _> = o.into_iter().collect();
        let mut keys: Vec<&Vec<u8>> = kk.keys().chain(ok.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut listed = 0;
        let mut total = 0;
        for key in keys {
            let (a, b) = (kk.get(key), ok.get(key));
            if a == b {
                continue;
            }
            total += 1;
            if listed < MAX_MAP_DIFFS {
                listed += 1;
                d.push(Difference {
                    what: format!("map {name} key {}", hex(key)),
                    kernel: a.map_or_else(|| "(absent)".into(), |v| hex(v)),
                    bpfbox: b.map_or_else(|| "(absent)".into(), |v| hex(v)),
                });
            }
        }
        if total > listed {
            d.push(Difference {
                what: format!("map {name}"),
                kernel: format!("{} more differing entries", total - listed),
                bpfbox: String::new(),
            });
        }
    }
    d
}
