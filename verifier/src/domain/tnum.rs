//! Tristate numbers: each bit known 0, known 1, or unknown (the kernel's `tnum`).
//!
//! The operations are the kernel's, imprecision included: the verifier's results depend on
//! exactly which bits each one loses.

/// `value` holds the known bits, `mask` the unknown ones; a bit is never set in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Tnum {
    /// Known-one bits.
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

// The kernel's names (`tnum_add`, `tnum_mul`, ...) read better here than operator traits.
#[allow(clippy::should_implement_trait)]
impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// A tnum from its parts.
    pub const fn new(value: u64, mask: u64) -> Tnum {
        Tnum { value, mask }
    }

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether no bit is known.
    pub const fn is_unknown(self) -> bool {
        self.mask == u64::MAX
    }

    /// Whether `v` is one of the values.
    pub const fn contains(self, v: u64) -> bool {
        v & !self.mask == self.value
    }

    /// The smallest tnum holding every value of `[min, max]` (the bits above the highest
    /// differing bit are known).
    pub const fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum::new(min & !delta, delta)
    }

    /// Shift left (the count is below 64).
    pub const fn lshift(self, shift: u32) -> Tnum {
        Tnum::new(self.value << shift, self.mask << shift)
    }

    /// Logical shift right (the count is below 64).
    pub const fn rshift(self, shift: u32) -> Tnum {
        Tnum::new(self.value >> shift, self.mask >> shift)
    }

    /// Arithmetic shift right by `shift` at `bits` (32 or 64) bits; the 32-bit form
    /// zero-extends.
    pub const fn arshift(self, shift: u32, bits: u32) -> Tnum {
        if bits == 32 {
            Tnum::new(
                ((self.value as u32 as i32) >> shift) as u32 as u64,
                ((self.mask as u32 as i32) >> shift) as u32 as u64,
            )
        } else {
            Tnum::new(
                ((self.value as i64) >> shift) as u64,
                ((self.mask as i64) >> shift) as u64,
            )
        }
    }

    /// Sum.
    pub const fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum::new(sv & !mu, mu)
    }

    /// Difference.
    pub const fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum::new(dv & !mu, mu)
    }

    /// Bitwise and.
    pub const fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum::new(v, alpha & beta & !v)
    }

    /// Bitwise or.
    pub const fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum::new(v, mu & !v)
    }

    /// Bitwise exclusive or.
    pub const fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum::new(v & !mu, mu)
    }

    /// Every value of either operand (and possibly more).
    pub const fn union(self, b: Tnum) -> Tnum {
        let v = self.value & b.value;
        let mu = (self.value ^ b.value) | self.mask | b.mask;
        Tnum::new(v & !mu, mu)
    }

    /// Product, by shift-and-add over the bits of `self`: a known-one bit adds the shifted
    /// `b`, an unknown bit adds either nothing or the shifted `b` (their union).
    pub fn mul(self, b: Tnum) -> Tnum {
        let (mut a, mut b) = (self, b);
        let mut acc = Tnum::constant(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc = acc.add(b);
            } else if a.mask & 1 != 0 {
                acc = acc.union(acc.add(b));
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        acc
    }

    /// Whether some value is in both.
    pub const fn overlap(self, b: Tnum) -> bool {
        let mu = !self.mask & !b.mask;
        self.value & mu == b.value & mu
    }

    /// The values in both (both must overlap for the result to be meaningful).
    pub const fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum::new(v & !mu, mu)
    }

    /// Keep the low `size` bytes (`size` below 8).
    pub const fn cast(self, size: u32) -> Tnum {
        let m = (1u64 << (size * 8)) - 1;
        Tnum::new(self.value & m, self.mask & m)
    }

    /// Whether every value is a multiple of `size` (a power of two; 0 means yes).
    pub const fn is_aligned(self, size: u64) -> bool {
        size == 0 || (self.value | self.mask) & (size - 1) == 0
    }

    /// Whether every value of `b` is a value of `self` (the kernel's `tnum_in(self, b)`).
    pub const fn includes(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        self.value == b.value & !self.mask
    }

    /// The low 32 bits, zero-extended.
    pub const fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// The high 32 bits, the low ones known zero.
    pub const fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// The high 32 bits of `self` with the low 32 bits of `sub`.
    pub const fn with_subreg(self, sub: Tnum) -> Tnum {
        self.clear_subreg().or(sub.subreg())
    }

    /// The high 32 bits of `self` with the low 32 bits exactly `v`.
    pub const fn const_subreg(self, v: u32) -> Tnum {
        self.with_subreg(Tnum::constant(v as u64))
    }

    /// Whether the low 32 bits are all known.
    pub const fn subreg_is_const(self) -> bool {
        self.mask as u32 == 0
    }
}

impl Tnum {
    /// The bytes of the low 16 bits swapped, the rest known zero.
    pub const fn bswap16(self) -> Tnum {
        Tnum::new(
            (self.value as u16).swap_bytes() as u64,
            (self.mask as u16).swap_bytes() as u64,
        )
    }

    /// The bytes of the low 32 bits swapped, the rest known zero.
    pub const fn bswap32(self) -> Tnum {
        Tnum::new(
            (self.value as u32).swap_bytes() as u64,
            (self.mask as u32).swap_bytes() as u64,
        )
    }

    /// The eight bytes swapped.
    pub const fn bswap64(self) -> Tnum {
        Tnum::new(self.value.swap_bytes(), self.mask.swap_bytes())
    }
}

impl Tnum {
    /// The smallest value of `self` strictly above `z`, if any.
    pub fn next_above(self, z: u64) -> Option<u64> {
        let r = z.checked_add(1)?;
        self.next_at_least(r)
    }

    /// The smallest value of `self` at least `r`, if any: follow `r` bit by bit from the
    /// top; where `r` has a 0 at an unknown bit, setting that bit instead is a way above.
    pub fn next_at_least(self, r: u64) -> Option<u64> {
        let mut bump: Option<u32> = None;
        for i in (0..64).rev() {
            let bit = 1u64 << i;
            let rb = r & bit != 0;
            if self.mask & bit != 0 {
                if !rb {
                    bump = Some(i);
                }
                continue;
            }
            let fb = self.value & bit != 0;
            if fb == rb {
                continue;
            }
            let low = bit - 1;
            if fb {
                // Above `r` from here: the rest as small as the tnum allows.
                return Some((r & !low & !bit) | bit | (self.value & low));
            }
            // Below `r`: go back to the last unknown bit where `r` has a 0.
            let p = bump?;
            let pb = 1u64 << p;
            let below = pb - 1;
            return Some((r & !below & !pb) | pb | (self.value & below));
        }
        Some(r)
    }
}
