//! Property tests: maps against small reference models of the kernel's semantics.

use std::collections::{BTreeMap, VecDeque};

use bpfbox_vm::maps::*;
use proptest::prelude::*;

fn create(spec: MapSpec) -> MapRef {
    Map::create(&spec, &MapConfig { ncpus: 1 }).unwrap()
}

#[derive(Clone, Debug)]
enum HashOp {
    Update(u8, u32, u64),
    Delete(u8),
    Lookup(u8),
}

fn hash_op() -> impl Strategy<Value = HashOp> {
    prop_oneof![
        (0u8..12, any::<u32>(), 0u64..4).prop_map(|(k, v, f)| HashOp::Update(k, v, f)),
        (0u8..12).prop_map(HashOp::Delete),
        (0u8..12).prop_map(HashOp::Lookup),
    ]
}

proptest! {
    /// Hash maps follow check_flags()/E2BIG/ENOENT exactly as a model map does, and
    /// get_next_key visits exactly the model's keys.
    #[test]
    fn hash_matches_model(ops in proptest::collection::vec(hash_op(), 1..200)) {
        let m = create(MapSpec::new("h", MapType::Hash, 1, 4, 6));
        let mut model: BTreeMap<u8, u32> = BTreeMap::new();
        for op in ops {
            match op {
                HashOp::Update(k, v, f) => {
                    let exists = model.contains_key(&k);
                    let want = match f {
                        3 => Err(Errno::EINVAL),
                        BPF_NOEXIST if exists => Err(Errno::EEXIST),
                        BPF_EXIST if !exists => Err(Errno::ENOENT),
                        _ if !exists && model.len() == 6 => Err(Errno::E2BIG),
                        _ => Ok(()),
                    };
                    let got = m.update(&[k], &v.to_ne_bytes(), f).map_err(|e| e.errno);
                    prop_assert_eq!(got, want);
                    if want.is_ok() {
                        model.insert(k, v);
                    }
                }
                HashOp::Delete(k) => {
                    let want = if model.remove(&k).is_some() { Ok(()) } else { Err(Errno::ENOENT) };
                    prop_assert_eq!(m.delete(&[k]).map_err(|e| e.errno), want);
                }
                HashOp::Lookup(k) => {
                    let want = model.get(&k).map(|v| v.to_ne_bytes().to_vec());
                    prop_assert_eq!(m.get(&[k]), want);
                }
            }
        }
        let mut keys: Vec<u8> = m.keys().into_iter().map(|k| k[0]).collect();
        keys.sort();
        prop_assert_eq!(keys, model.keys().copied().collect::<Vec<_>>());
    }

    /// LPM lookups return the longest stored prefix (brute force over the model), and
    /// get_next_key lists every prefix once, more specific before containing prefixes.
    #[test]
    fn lpm_matches_model(
        ops in proptest::collection::vec((any::<bool>(), 0u32..=16, any::<u16>()), 1..120),
        probes in proptest::collection::vec((0u32..=16, any::<u16>()), 1..40),
    ) {
        let m = create(MapSpec::new("t", MapType::LpmTrie, 6, 4, 1000).with_flags(BPF_F_NO_PREALLOC));
        let mask = |len: u32, a: u16| if len == 0 { 0 } else { a & (u16::MAX << (16 - len)) };
        let mut model: BTreeMap<(u32, u16), u32> = BTreeMap::new();
        for (i, (insert, len, addr)) in ops.into_iter().enumerate() {
            let key = lpm_key(len, &addr.to_be_bytes());
            let id = (len, mask(len, addr));
            if insert {
                m.update(&key, &(i as u32).to_ne_bytes(), BPF_ANY).unwrap();
                model.insert(id, i as u32);
            } else {
                let want = if model.remove(&id).is_some() { Ok(()) } else { Err(Errno::ENOENT) };
                prop_assert_eq!(m.delete(&key).map_err(|e| e.errno), want);
            }
        }
        for (len, addr) in probes {
            let want = model
                .iter()
                .filter(|((plen, pfx), _)| *plen <= len && mask(*plen, addr) == *pfx)
                .max_by_key(|((plen, _), _)| *plen)
                .map(|(_, v)| v.to_ne_bytes().to_vec());
            prop_assert_eq!(m.get(&lpm_key(len, &addr.to_be_bytes())), want);
        }
        let keys: Vec<(u32, u16)> = m
            .keys()
            .iter()
            .map(|k| {
                let len = u32::from_ne_bytes(k[..4].try_into().unwrap());
                (len, mask(len, u16::from_be_bytes([k[4], k[5]])))
            })
            .collect();
        prop_assert_eq!(keys.len(), model.len());
        for (i, a) in keys.iter().enumerate() {
            prop_assert!(model.contains_key(a));
            // Nothing listed earlier contains a later prefix... i.e. prefixes come after the
            // more specific prefixes they contain.
            for b in &keys[i + 1..] {
                let b_inside_a = b.0 > a.0 && mask(a.0, b.1) == a.1;
                prop_assert!(!b_inside_a, "{:?} listed before {:?}", a, b);
            }
        }
    }

    /// Queues and stacks behave like a bounded deque.
    #[test]
    fn queue_stack_match_model(stack in any::<bool>(), ops in proptest::collection::vec((0u8..3, any::<u32>(), any::<bool>()), 1..100)) {
        let ty = if stack { MapType::Stack } else { MapType::Queue };
        let m = create(MapSpec::new("q", ty, 0, 4, 5));
        let mut model: VecDeque<u32> = VecDeque::new();
        for (op, v, exist) in ops {
            match op {
                0 => {
                    let flags = if exist { BPF_EXIST } else { BPF_ANY };
                    let want = if model.len() == 5 && !exist { Err(Errno::E2BIG) } else { Ok(()) };
                    prop_assert_eq!(m.push_elem(&v.to_ne_bytes(), flags).map_err(|e| e.errno), want);
                    if want.is_ok() {
                        if model.len() == 5 { model.pop_front(); }
                        model.push_back(v);
                    }
                }
                1 => {
                    let want = if stack { model.pop_back() } else { model.pop_front() };
                    let mut out = [0u8; 4];
                    let got = m.pop_elem(&mut out).ok().map(|_| u32::from_ne_bytes(out));
                    prop_assert_eq!(got, want);
                }
                _ => {
                    let want = if stack { model.back() } else { model.front() }.copied();
                    prop_assert_eq!(m.peek().ok().map(|v| u32::from_ne_bytes(v[..].try_into().unwrap())), want);
                }
            }
        }
    }

    /// Everything a ring buffer accepts comes out once, in order, byte for byte, across
    /// wrap-arounds; it refuses records only when unconsumed data would exceed size - 8.
    #[test]
    fn ringbuf_roundtrip(ops in proptest::collection::vec((any::<bool>(), 0usize..1500, any::<u8>()), 1..200)) {
        let m = create(MapSpec::new("rb", MapType::Ringbuf, 0, 0, 4096));
        let mut pending: VecDeque<Vec<u8>> = VecDeque::new();
        for (produce, len, byte) in ops {
            if produce {
                let data = vec![byte; len];
                let rec = ((len + 8 + 7) & !7) as u64;
                let used = m.query(BPF_RB_AVAIL_DATA);
                let fits = used + rec <= 4095;
                prop_assert_eq!(m.output(&data, 0).is_ok(), fits);
                if fits {
                    pending.push_back(data);
                }
            } else {
                prop_assert_eq!(m.ringbuf_consume(), pending.pop_front());
            }
        }
        while let Some(want) = pending.pop_front() {
            prop_assert_eq!(m.ringbuf_consume(), Some(want));
        }
        prop_assert_eq!(m.ringbuf_consume(), None);
    }
}
