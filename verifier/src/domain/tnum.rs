//! Tristate numbers: each bit known 0, known 1, or unknown (the kernel's `tnum`).

/// `value` holds the known bits, `mask` the unknown ones; a bit is never set in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Tnum {
    /// Known-one bits.
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether `v` is one of the values.
    pub const fn contains(self, v: u64) -> bool {
        v & !self.mask == self.value
    }
}
