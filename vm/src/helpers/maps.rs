//! The map table a program is bound to, and the map helpers (`bpf_map_*_elem`, queue/stack,
//! `bpf_for_each_map_elem`).
//!
//! Programs see a map as its [`Map::handle_addr`]; helpers receive that address in r1 and
//! resolve it through the [`MapTable`] in [`crate::env::Env::maps`].

use std::sync::Arc;

use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::{HelperCtx, LdImm64Binder};
use crate::isa::LdImm64Kind;
use crate::maps::{Map, MapRef, MapType};
use crate::memory::Region;

/// `EINVAL` as a helper return value.
pub(crate) const EINVAL: u64 = -22i64 as u64;
/// `EFAULT` as a helper return value.
pub(crate) const EFAULT: u64 = -14i64 as u64;
/// `E2BIG` as a helper return value.
pub(crate) const E2BIG: u64 = -7i64 as u64;

/// The maps of an object, indexed like its map list (the index `BPF_PSEUDO_MAP_IDX` names).
///
/// It binds `ld_imm64` map forms ([`LdImm64Binder`]) and resolves the handle addresses
/// helpers receive back to maps. Equality is identity of the maps.
#[derive(Clone, Debug, Default)]
pub struct MapTable {
    maps: Vec<MapRef>,
}

impl PartialEq for MapTable {
    fn eq(&self, other: &Self) -> bool {
        self.maps.len() == other.maps.len()
            && self
                .maps
                .iter()
                .zip(&other.maps)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Eq for MapTable {}

impl MapTable {
    /// A table of `maps`, index `i` being the object's map `i`.
    pub fn new(maps: Vec<MapRef>) -> Self {
        MapTable { maps }
    }

    /// Appends a map and returns its index.
    pub fn push(&mut self, map: MapRef) -> usize {
        self.maps.push(map);
        self.maps.len() - 1
    }

    /// The map at `index`.
    pub fn get(&self, index: usize) -> Option<&MapRef> {
        self.maps.get(index)
    }

    /// Number of maps.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// The maps in index order.
    pub fn iter(&self) -> impl Iterator<Item = &MapRef> {
        self.maps.iter()
    }

    /// The map whose [`Map::handle_addr`] is `addr`.
    pub fn by_handle(&self, addr: u64) -> Option<&MapRef> {
        self.maps.iter().find(|m| Map::handle_addr(m) == addr)
    }

    /// Adds `map` unless it is already present (inner maps found at run time).
    pub fn insert_if_absent(&mut self, map: MapRef) {
        if !self.maps.iter().any(|m| Arc::ptr_eq(m, &map)) {
            self.maps.push(map);
        }
    }

    /// Every map's program-visible memory, to register with a run.
    pub fn regions(&self) -> Vec<Region> {
        self.maps.iter().flat_map(|m| m.regions()).collect()
    }

    /// The address of byte `off` of value 0 of the array map at `index`.
    fn value_addr(&self, index: usize, off: u32) -> Option<u64> {
        let map = self.maps.get(index)?;
        if !matches!(map.map_type(), MapType::Array) || off >= map.value_size() {
            return None;
        }
        let p = map.lookup_ptr(&0u32.to_ne_bytes(), 0)?;
        Some(p as u64 + u64::from(off))
    }
}

impl LdImm64Binder for MapTable {
    fn bind(&self, kind: LdImm64Kind, imm: u64) -> Option<u64> {
        let index = (imm & 0xffff_ffff) as usize;
        let off = (imm >> 32) as u32;
        match kind {
            LdImm64Kind::MapIdx | LdImm64Kind::MapFd => self.maps.get(index).map(Map::handle_addr),
            LdImm64Kind::MapIdxValue | LdImm64Kind::MapValue => self.value_addr(index, off),
            _ => None,
        }
    }
}

/// Resolves the map handle in a helper argument.
pub(crate) fn map_arg(ctx: &mut HelperCtx<'_, '_>, addr: u64) -> Result<MapRef, HelperError> {
    ctx.env()
        .maps
        .by_handle(addr)
        .cloned()
        .ok_or_else(|| HelperError::Message(format!("{addr:#x} is not a map of this program")))
}

fn ret<T>(r: crate::maps::MapResult<T>) -> u64 {
    match r {
        Ok(_) => 0,
        Err(e) => e.helper_ret() as u64,
    }
}

fn lookup(ctx: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(ctx, a[0])?;
    let key = ctx.read(a[1], map.key_size() as usize)?;
    let cpu = ctx.env().cpu;
    let Some(p) = map.lookup_ptr(&key, cpu) else {
        return Ok(0);
    };
    if matches!(map.map_type(), MapType::ArrayOfMaps | MapType::HashOfMaps) {
        if let Some(inner) = map.inner_map(&key) {
            for r in inner.regions() {
                // SAFETY: the inner map's memory lives as long as the map, which the run's
                // map table holds from here on.
                unsafe { ctx.add_region(r) };
            }
            ctx.env().maps.insert_if_absent(inner);
        }
    }
    Ok(p as u64)
}

fn update(ctx: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(ctx, a[0])?;
    let key = ctx.read(a[1], map.key_size() as usize)?;
    let value = ctx.read(a[2], map.value_size() as usize)?;
    let cpu = ctx.env().cpu;
    Ok(ret(map.update_elem(&key, &value, a[3], cpu)))
}

fn delete(ctx: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(ctx, a[0])?;
    let key = ctx.read(a[1], map.key_size() as usize)?;
    Ok(ret(map.delete_elem(&key)))
}

fn push(ctx: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(ctx, a[0])?;
    let value = ctx.read(a[1], map.value_size() as usize)?;
    Ok(ret(map.push_elem(&value, a[2])))
}

fn pop_or_peek(ctx: &mut HelperCtx<'_, '_>, a: [u64; 5], peek: bool) -> Result<u64, HelperError> {
    let map = map_arg(ctx, a[0])?;
    let mut value = vec![0u8; map.value_size() as usize];
    if peek && map.map_type() == MapType::BloomFilter {
        // For bloom filters the value is the input to test.
        ctx.read_into(a[1], &mut value)?;
        return Ok(ret(map.peek_elem(&mut value)));
    }
    let r = if peek {
        map.peek_elem(&mut value)
    } else {
        map.pop_elem(&mut value)
    };
    if r.is_err() {
        value.fill(0);
    }
    ctx.write(a[1], &value)?;
    Ok(ret(r))
}

/// `bpf_for_each_map_elem(map, callback, ctx, flags)`: calls
/// `callback(map, &key, &value, ctx)` for each element until it returns 1; returns the number
/// of elements visited.
fn for_each(ctx: &mut HelperCtx<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if a[3] != 0 {
        return Ok(EINVAL);
    }
    let map = map_arg(ctx, a[0])?;
    let cpu = ctx.env().cpu;
    let mut n = 0u64;
    for key in map.keys() {
        let Some(value) = map.lookup_ptr(&key, cpu) else {
            continue;
        };
        // The key lives in the environment's scratch space while the callback runs; its
        // region is withdrawn and the key freed afterwards, so a loop of calls does not
        // accumulate memory (a callback's key pointer is not valid after it returns).
        let scratch = &mut ctx.env().scratch;
        scratch.push(key.into_boxed_slice());
        let Some(k) = scratch.last() else { break };
        // SAFETY: the key is boxed in the environment's scratch space, kept until its region
        // is withdrawn below.
        let region =
            unsafe { Region::new(k.as_ptr(), k.len(), false, crate::memory::RegionKind::User) };
        let kaddr = region.start();
        // SAFETY: as above.
        unsafe { ctx.add_region(region) };
        n += 1;
        let r = ctx.call_function(a[1], [a[0], kaddr, value as u64, a[2], 0]);
        ctx.remove_region(kaddr, crate::memory::RegionKind::User);
        ctx.env().scratch.pop();
        if r? != 0 {
            break;
        }
    }
    Ok(n)
}

/// Registers the map helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    use A::*;
    reg(
        r,
        1,
        "bpf_map_lookup_elem",
        R::PtrToMapValueOrNull,
        &[ConstMapPtr, PtrToMapKey],
        lookup,
    );
    reg(
        r,
        2,
        "bpf_map_update_elem",
        R::Integer,
        &[ConstMapPtr, PtrToMapKey, PtrToMapValue, Anything],
        update,
    );
    reg(
        r,
        3,
        "bpf_map_delete_elem",
        R::Integer,
        &[ConstMapPtr, PtrToMapKey],
        delete,
    );
    reg(
        r,
        87,
        "bpf_map_push_elem",
        R::Integer,
        &[ConstMapPtr, PtrToMapValue, Anything],
        push,
    );
    reg(
        r,
        88,
        "bpf_map_pop_elem",
        R::Integer,
        &[ConstMapPtr, PtrToUninitMem],
        |c, a| pop_or_peek(c, a, false),
    );
    reg(
        r,
        89,
        "bpf_map_peek_elem",
        R::Integer,
        &[ConstMapPtr, PtrToUninitMem],
        |c, a| pop_or_peek(c, a, true),
    );
    reg(
        r,
        164,
        "bpf_for_each_map_elem",
        R::Integer,
        &[ConstMapPtr, PtrToFunc, PtrToStackOrNull, Anything],
        for_each,
    );
}
