//! `BPF_MAP_TYPE_LPM_TRIE` (kernel/bpf/lpm_trie.c).
//!
//! Keys are `struct bpf_lpm_trie_key_u8`: a native-endian `u32` prefix length followed by
//! `key_size - 4` data bytes (network order for IP addresses). Lookups return the value of
//! the longest stored prefix matching the key; updates and deletes address exact prefixes.
//!
//! The trie has the kernel's shape (a path-compressed binary trie with intermediate nodes
//! that carry no value), so `get_next_key` returns keys in the kernel's post-order: more
//! specific prefixes before the prefixes containing them. Replacing a prefix keeps its value
//! slot (stable pointer) where the kernel allocates a new node; the stored key data is the
//! data of the latest update, as in the kernel.

use std::sync::{Mutex, MutexGuard};

use super::error::{check_len, err, Errno, MapResult};
use super::spec::{MapSpec, BPF_EXIST, BPF_F_RDONLY_PROG, BPF_NOEXIST};
use super::values::ValueStore;
use super::{MapContents, MapEntry, MapOps, MapValue};
use crate::memory::Region;

/// Builds an LPM key: `prefixlen` (native endian) followed by `data`.
pub fn lpm_key(prefixlen: u32, data: &[u8]) -> Vec<u8> {
    let mut k = prefixlen.to_ne_bytes().to_vec();
    k.extend_from_slice(data);
    k
}

#[derive(Debug)]
struct Node {
    prefixlen: u32,
    data: Box<[u8]>,
    /// Intermediate node: exists only to branch, holds no value.
    im: bool,
    child: [Option<u32>; 2],
    slot: u32,
}

#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<Option<Node>>,
    free_nodes: Vec<u32>,
    root: Option<u32>,
    n_entries: u32,
    free_slots: Vec<u32>,
    next_slot: u32,
}

/// Where a node hangs: the root pointer or a child pointer of another node.
#[derive(Clone, Copy, Debug)]
enum Link {
    Root,
    Child(u32, usize),
}

fn extract_bit(data: &[u8], index: u32) -> usize {
    data.get((index / 8) as usize)
        .map_or(0, |b| ((b >> (7 - (index % 8))) & 1) as usize)
}

impl Trie {
    fn node(&self, i: u32) -> &Node {
        // Indices come only from live links, which always name live nodes.
        self.nodes[i as usize].as_ref().expect("live trie node")
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        self.nodes[i as usize].as_mut().expect("live trie node")
    }

    fn get_link(&self, l: Link) -> Option<u32> {
        match l {
            Link::Root => self.root,
            Link::Child(n, b) => self.node(n).child[b],
        }
    }

    fn set_link(&mut self, l: Link, v: Option<u32>) {
        match l {
            Link::Root => self.root = v,
            Link::Child(n, b) => self.node_mut(n).child[b] = v,
        }
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free_nodes.pop() {
            Some(i) => {
                self.nodes[i as usize] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn free(&mut self, i: u32) {
        self.nodes[i as usize] = None;
        self.free_nodes.push(i);
    }

    fn alloc_slot(&mut self) -> u32 {
        self.free_slots.pop().unwrap_or_else(|| {
            self.next_slot += 1;
            self.next_slot - 1
        })
    }

    /// Number of leading bits `node` and the key share, capped at both prefix lengths.
    fn match_len(&self, node: u32, prefixlen: u32, data: &[u8]) -> u32 {
        let n = self.node(node);
        let limit = n.prefixlen.min(prefixlen);
        let mut bits = 0;
        for (a, b) in n.data.iter().zip(data) {
            if bits >= limit {
                break;
            }
            let diff = a ^ b;
            if diff != 0 {
                bits += diff.leading_zeros();
                break;
            }
            bits += 8;
        }
        bits.min(limit)
    }
}

/// An LPM trie map.
#[derive(Debug)]
pub(crate) struct LpmTrie {
    key_size: usize,
    max_prefixlen: u32,
    max_entries: u32,
    writable: bool,
    store: ValueStore,
    trie: Mutex<Trie>,
}

impl LpmTrie {
    pub(crate) fn new(spec: &MapSpec) -> MapResult<LpmTrie> {
        let store = ValueStore::new(u64::from(spec.max_entries), spec.value_size, 1, None)?;
        Ok(LpmTrie {
            key_size: spec.key_size as usize,
            max_prefixlen: (spec.key_size - 4) * 8,
            max_entries: spec.max_entries,
            writable: spec.map_flags & BPF_F_RDONLY_PROG == 0,
            store,
            trie: Mutex::new(Trie::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Trie> {
        self.trie.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn split<'k>(&self, key: &'k [u8]) -> MapResult<(u32, &'k [u8])> {
        check_len("key", key.len(), self.key_size)?;
        let p = u32::from_ne_bytes([key[0], key[1], key[2], key[3]]);
        Ok((p, &key[4..]))
    }

    /// `trie_lookup_elem`: the slot of the longest matching prefix.
    fn find(&self, t: &Trie, prefixlen: u32, data: &[u8]) -> Option<u32> {
        if prefixlen > self.max_prefixlen {
            return None;
        }
        let mut found = None;
        let mut cur = t.root;
        while let Some(n) = cur {
            let m = t.match_len(n, prefixlen, data);
            let node = t.node(n);
            if m == self.max_prefixlen {
                found = Some(n);
                break;
            }
            if m < node.prefixlen {
                break;
            }
            if !node.im {
                found = Some(n);
            }
            cur = node.child[extract_bit(data, node.prefixlen)];
        }
        found.map(|n| t.node(n).slot)
    }

    /// `trie_check_add_elem`.
    fn check_add(&self, t: &mut Trie, flags: u64) -> MapResult<()> {
        if flags == BPF_EXIST {
            return err(
                Errno::ENOENT,
                "prefix does not exist and BPF_EXIST was given",
            );
        }
        if t.n_entries == self.max_entries {
            return err(Errno::ENOSPC, "LPM trie is full");
        }
        t.n_entries += 1;
        Ok(())
    }

    fn key_of(t: &Trie, n: u32) -> Vec<u8> {
        let node = t.node(n);
        lpm_key(node.prefixlen, &node.data)
    }

    /// Post-order walk of the value-holding nodes (the `get_next_key` order).
    fn post_order(t: &Trie) -> Vec<u32> {
        fn walk(t: &Trie, n: Option<u32>, out: &mut Vec<u32>) {
            if let Some(n) = n {
                let node = t.node(n);
                walk(t, node.child[0], out);
                walk(t, node.child[1], out);
                if !node.im {
                    out.push(n);
                }
            }
        }
        let mut out = vec![];
        walk(t, t.root, &mut out);
        out
    }
}

impl MapOps for LpmTrie {
    fn lookup_ptr(&self, key: &[u8], _cpu: u32) -> Option<*mut u8> {
        let (p, data) = self.split(key).ok()?;
        let t = self.lock();
        let slot = self.find(&t, p, data)?;
        self.store.ptr(slot as usize, 0)
    }

    fn update_elem(&self, key: &[u8], value: &[u8], flags: u64, _cpu: u32) -> MapResult<()> {
        let (prefixlen, data) = self.split(key)?;
        check_len("value", value.len(), self.store.value_size())?;
        if flags > BPF_EXIST {
            return err(Errno::EINVAL, format!("unknown update flags {flags:#x}"));
        }
        if prefixlen > self.max_prefixlen {
            return err(Errno::EINVAL, "prefixlen larger than the key data");
        }
        let mut t = self.lock();
        let t = &mut *t;
        let mut link = Link::Root;
        let mut matchlen = 0;
        let mut cur = t.root;
        while let Some(n) = cur {
            matchlen = t.match_len(n, prefixlen, data);
            let node = t.node(n);
            if node.prefixlen != matchlen
                || node.prefixlen == prefixlen
                || node.prefixlen == self.max_prefixlen
            {
                break;
            }
            link = Link::Child(n, extract_bit(data, node.prefixlen));
            cur = t.get_link(link);
        }
        let new_node = |slot| Node {
            prefixlen,
            data: data.into(),
            im: false,
            child: [None, None],
            slot,
        };
        let Some(n) = cur else {
            // An empty slot: hang the new leaf there.
            self.check_add(t, flags)?;
            let slot = t.alloc_slot();
            let i = t.alloc(new_node(slot));
            t.set_link(link, Some(i));
            return self.store.write_cpu(slot as usize, 0, value);
        };
        if t.node(n).prefixlen == matchlen {
            // The exact prefix exists (possibly as an intermediate node): replace it.
            if !t.node(n).im {
                if flags == BPF_NOEXIST {
                    return err(Errno::EEXIST, "prefix exists and BPF_NOEXIST was given");
                }
            } else {
                self.check_add(t, flags)?;
                let slot = t.alloc_slot();
                t.node_mut(n).slot = slot;
            }
            let node = t.node_mut(n);
            node.im = false;
            node.data = data.into();
            let slot = node.slot;
            return self.store.write_cpu(slot as usize, 0, value);
        }
        self.check_add(t, flags)?;
        let slot = t.alloc_slot();
        let new = t.alloc(new_node(slot));
        if matchlen == prefixlen {
            // The new prefix contains the existing node: insert it as its parent.
            let bit = extract_bit(&t.node(n).data, matchlen);
            t.node_mut(new).child[bit] = Some(n);
            t.set_link(link, Some(new));
        } else {
            // They diverge after `matchlen` bits: branch through an intermediate node.
            let im = Node {
                prefixlen: matchlen,
                data: t.node(n).data.clone(),
                im: true,
                child: if extract_bit(data, matchlen) == 1 {
                    [Some(n), Some(new)]
                } else {
                    [Some(new), Some(n)]
                },
                slot: 0,
            };
            let im = t.alloc(im);
            t.set_link(link, Some(im));
        }
        self.store.write_cpu(slot as usize, 0, value)
    }

    fn delete_elem(&self, key: &[u8]) -> MapResult<()> {
        let (prefixlen, data) = self.split(key)?;
        if prefixlen > self.max_prefixlen {
            return err(Errno::EINVAL, "prefixlen larger than the key data");
        }
        let mut t = self.lock();
        let t = &mut *t;
        let mut trim = Link::Root;
        let mut trim2 = trim;
        let mut parent: Option<u32> = None;
        let mut matchlen = 0;
        let mut cur = t.root;
        while let Some(n) = cur {
            matchlen = t.match_len(n, prefixlen, data);
            let node = t.node(n);
            if node.prefixlen != matchlen || node.prefixlen == prefixlen {
                break;
            }
            parent = Some(n);
            trim2 = trim;
            trim = Link::Child(n, extract_bit(data, node.prefixlen));
            cur = t.get_link(trim);
        }
        let Some(n) = cur else {
            return err(Errno::ENOENT, "no such prefix");
        };
        {
            let node = t.node(n);
            if node.prefixlen != prefixlen || node.prefixlen != matchlen || node.im {
                return err(Errno::ENOENT, "no such prefix");
            }
        }
        t.n_entries -= 1;
        let slot = t.node(n).slot;
        t.free_slots.push(slot);
        let [c0, c1] = t.node(n).child;
        if c0.is_some() && c1.is_some() {
            // Two children: the node stays as an intermediate branch point.
            t.node_mut(n).im = true;
            return Ok(());
        }
        if let Some(p) = parent {
            if t.node(p).im && c0.is_none() && c1.is_none() {
                // A leaf under an intermediate node: the intermediate node goes too and its
                // other child moves up.
                let [p0, p1] = t.node(p).child;
                let other = if p0 == Some(n) { p1 } else { p0 };
                t.set_link(trim2, other);
                t.free(p);
                t.free(n);
                return Ok(());
            }
        }
        t.set_link(trim, c0.or(c1));
        t.free(n);
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        let (p, data) = self.split(key)?;
        let t = self.lock();
        match self.find(&t, p, data) {
            Some(slot) => Ok(self.store.read_user(slot as usize)),
            None => err(Errno::ENOENT, "no matching prefix"),
        }
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        self.update_elem(key, value, flags, 0)
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        let t = self.lock();
        let order = Self::post_order(&t);
        if order.is_empty() {
            return err(Errno::ENOENT, "empty trie");
        }
        // The kernel restarts from the leftmost node for a missing, invalid or unknown key;
        // otherwise it returns the node after the exact match in post-order.
        let start = match key {
            Some(k) => {
                let (p, data) = self.split(k)?;
                if p > self.max_prefixlen {
                    None
                } else {
                    order.iter().position(|&n| {
                        let node = t.node(n);
                        node.prefixlen == p && t.match_len(n, p, data) == p
                    })
                }
            }
            None => None,
        };
        let next = match start {
            None => order.first(),
            Some(i) => order.get(i + 1),
        };
        match next {
            Some(&n) => Ok(Self::key_of(&t, n)),
            None => err(Errno::ENOENT, "no more keys"),
        }
    }

    fn regions(&self) -> Vec<Region> {
        vec![self.store.region(self.writable)]
    }

    fn len(&self) -> usize {
        self.lock().n_entries as usize
    }

    fn contents(&self) -> MapContents {
        let t = self.lock();
        let entries = Self::post_order(&t)
            .into_iter()
            .map(|n| MapEntry {
                key: Self::key_of(&t, n),
                value: MapValue::Bytes(self.store.read_user(t.node(n).slot as usize)),
            })
            .collect();
        MapContents::Entries(entries)
    }
}
