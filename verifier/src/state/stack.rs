//! A frame's stack: 512 bytes tracked byte by byte, 8-byte slots that may hold a spilled
//! register with its full state.

use super::reg::Reg;

/// The frame size (`MAX_BPF_STACK`).
pub const MAX_STACK: i32 = 512;

/// What one stack byte holds (`STACK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Byte {
    /// Never written.
    Invalid,
    /// Part of a spilled register.
    Spill,
    /// Some data.
    Misc,
    /// Known zero.
    Zero,
}

impl Byte {
    /// The log's letter for the byte.
    pub fn letter(self) -> char {
        match self {
            Byte::Invalid => '?',
            Byte::Spill => 'r',
            Byte::Misc => 'm',
            Byte::Zero => '0',
        }
    }
}

/// One 8-byte slot. `bytes[7]` is the lowest address, as the kernel indexes `slot_type`.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// Per-byte kinds.
    pub bytes: [Byte; 8],
    /// The spilled register (meaningful when `bytes[7]` is `Spill`).
    pub spilled: Reg,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            bytes: [Byte::Invalid; 8],
            spilled: Reg::not_init(),
        }
    }

    /// Whether the slot holds a spilled register (its lowest byte is a spill).
    pub fn is_spill(&self) -> bool {
        self.bytes[7] == Byte::Spill
    }
}

/// A frame's stack: `slots[i]` covers `fp-8*(i+1) .. fp-8*i`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stack {
    /// The allocated slots, growing downwards.
    pub slots: Vec<Slot>,
}

impl Stack {
    /// Bytes allocated (the kernel's `allocated_stack`).
    pub fn allocated(&self) -> i32 {
        self.slots.len() as i32 * 8
    }

    /// Makes sure `size` bytes below the frame pointer exist.
    pub fn grow(&mut self, size: i32) {
        let need = ((size + 7) / 8) as usize;
        while self.slots.len() < need {
            self.slots.push(Slot::new());
        }
    }

    /// Slot index and byte index of the byte at `fp + off` (`off < 0`).
    pub fn locate(off: i32) -> (usize, usize) {
        let k = (-off - 1) as usize;
        (k / 8, k % 8)
    }

    /// The kind of the byte at `fp + off`, `Invalid` if never allocated.
    pub fn byte(&self, off: i32) -> Byte {
        let (s, b) = Self::locate(off);
        self.slots.get(s).map_or(Byte::Invalid, |x| x.bytes[b])
    }
}
