//! Constant keys of array maps (`get_constant_map_key`): a lookup in an array or per-CPU
//! array with a key known on the stack to lie below `max_entries` cannot fail, so 6.18
//! returns a map value that is not `_or_null`. The key is known when the bytes it starts
//! at are zeros, or when they are a spilled constant of exactly the key's size; the
//! spilled slot must then keep its value (precision).

use bpfbox_vm::maps::spec::{MapSpec, MapType};

use crate::domain::ScalarDomain;
use crate::state::{Byte, Reg, RegType, Stack, State};

/// Whether lookups in maps of type `t` may return a value that is not `_or_null`
/// (`can_elide_value_nullness`).
pub fn elides_nullness(t: MapType) -> bool {
    matches!(t, MapType::Array | MapType::PercpuArray)
}

/// The constant `key` points to, `key_size` bytes, and the stack slot (frame, slot index)
/// that holds it as a spilled constant (`None` when the bytes are zeros).
pub fn constant(st: &State, key: &Reg, key_size: u32) -> Option<(u64, Option<(usize, usize)>)> {
    if key.ty != RegType::Stack {
        return None;
    }
    let var = key.val.as_const()?;
    let off = (key.off as i64).wrapping_add(var as i64);
    let off = i32::try_from(off).ok().filter(|o| (-512..0).contains(o))?;
    let frame = key.frameno as usize;
    let (spi, byte) = Stack::locate(off);
    let slot = st.frames.get(frame)?.stack.slots.get(spi)?;
    let run = |kind: Byte| {
        (0..=byte)
            .rev()
            .take_while(|&i| slot.bytes[i] == kind)
            .count() as u32
    };
    if run(Byte::Zero) >= key_size {
        return Some((0, None));
    }
    if !slot.is_spill() || slot.spilled.ty != RegType::Scalar || run(Byte::Spill) != key_size {
        return None;
    }
    Some((slot.spilled.val.as_const()?, Some((frame, spi))))
}

/// The constant key of a call's map-key argument `key` on map `m`, when `m` is an array
/// that elides nullness.
pub fn of_array(
    maps: &[MapSpec],
    m: usize,
    st: &State,
    key: &Reg,
) -> Option<(u64, Option<(usize, usize)>)> {
    let spec = maps.get(m)?;
    if !elides_nullness(spec.map_type) {
        return None;
    }
    constant(st, key, spec.key_size)
}
