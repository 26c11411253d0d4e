//! Checksum helpers: `bpf_csum_diff`, `bpf_l3_csum_replace`, `bpf_l4_csum_replace`.
//!
//! Ones'-complement arithmetic is done on the values as they sit in memory (network order
//! loaded natively), as the kernel's `__wsum`/`__sum16` code does. `bpf_csum_diff` returns the
//! x86-64 `csum_partial` value (32-bit end-around-carry sum of native words plus the seed)
//! folded to 16 bits, as Linux 6.18 returns it.

use super::maps::{EFAULT, EINVAL};
use super::packet::{skb_bounds, skb_ptr_checked};
use super::{reg, ArgKind as A, HelperRegistry, RetKind as R};

/// Folds a 32-bit partial checksum to 16 bits and complements it (`csum_fold`).
pub fn csum_fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// Folds a 32-bit partial checksum to 16 bits with end-around carry, uncomplemented: what
/// `bpf_csum_diff` returns on the kernels we compare against (6.18 folds on every
/// architecture; 6.12 returned x86-64's unfolded 32-bit sum).
pub fn csum_from32to16(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Ones'-complement 32-bit addition (`csum_add`).
pub fn csum_add(a: u32, b: u32) -> u32 {
    let (s, c) = a.overflowing_add(b);
    s.wrapping_add(u32::from(c))
}

/// x86-64 `csum_partial`: the ones'-complement sum of `data` (native-endian 32-bit words,
/// a trailing partial word zero-padded) added to `seed`.
pub fn csum_partial(data: &[u8], seed: u32) -> u32 {
    let mut sum = u64::from(seed);
    for w in data.chunks(4) {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        sum += u64::from(u32::from_ne_bytes(b));
    }
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    ((s & 0xffff_ffff) + (s >> 32)) as u32
}

/// `csum_replace4`/`csum_replace_by_diff` on a stored 16-bit checksum.
fn replace(sum: u16, from: u32, to: u32) -> u16 {
    let unfolded = u32::from(!sum);
    csum_fold(csum_add(csum_add(unfolded, !from), to))
}

/// `csum_replace2` on 16-bit values.
fn replace2(sum: u16, from: u16, to: u16) -> u16 {
    let add16 = |a: u16, b: u16| {
        let (s, c) = a.overflowing_add(b);
        s.wrapping_add(u16::from(c))
    };
    !add16(add16(!sum, !from), to)
}

/// BPF_F_MARK_MANGLED_0.
const MARK_MANGLED_0: u64 = 1 << 5;

fn csum_replace(
    c: &mut crate::interp::HelperCtx<'_, '_>,
    a: [u64; 5],
    l4: bool,
) -> Result<u64, super::HelperError> {
    let allowed = if l4 {
        0xf | 1 << 4 | MARK_MANGLED_0 | 1 << 6
    } else {
        0xf
    };
    if a[4] & !allowed != 0 {
        return Ok(EINVAL);
    }
    let off = a[1] & 0xffff_ffff;
    if off > 0xffff || (!l4 && off & 1 != 0) {
        return Ok(EFAULT);
    }
    let (data, end) = skb_bounds(c, a[0])?;
    let Some(p) = skb_ptr_checked(data, end, off, 2) else {
        return Ok(EFAULT);
    };
    let mut b = [0u8; 2];
    c.read_into(p, &mut b)?;
    let sum = u16::from_ne_bytes(b);
    let mmzero = l4 && a[4] & MARK_MANGLED_0 != 0;
    if mmzero && sum == 0 {
        return Ok(0);
    }
    let mut new = match a[4] & 0xf {
        0 => csum_fold(csum_add(a[3] as u32, u32::from(!sum))),
        2 => replace2(sum, a[2] as u16, a[3] as u16),
        4 => replace(sum, a[2] as u32, a[3] as u32),
        _ => return Ok(EINVAL),
    };
    if mmzero && new == 0 {
        new = 0xffff;
    }
    c.write(p, &new.to_ne_bytes())?;
    Ok(0)
}

/// Registers the checksum helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    reg(
        r,
        28,
        "bpf_csum_diff",
        R::Integer,
        &[
            A::PtrToMem,
            A::ConstSizeOrZero,
            A::PtrToMem,
            A::ConstSizeOrZero,
            A::Anything,
        ],
        |c, a| {
            let (fs, ts) = (a[1] & 0xffff_ffff, a[3] & 0xffff_ffff);
            if (fs | ts) & 3 != 0 || fs + ts > 512 {
                return Ok(EINVAL);
            }
            let from = c.read(a[0], fs as usize)?;
            let to = c.read(a[2], ts as usize)?;
            let mut diff: Vec<u8> = from.iter().map(|b| !b).collect();
            diff.extend_from_slice(&to);
            Ok(u64::from(csum_from32to16(csum_partial(&diff, a[4] as u32))))
        },
    );
    let args = &[
        A::PtrToCtx,
        A::Anything,
        A::Anything,
        A::Anything,
        A::Anything,
    ];
    reg(r, 10, "bpf_l3_csum_replace", R::Integer, args, |c, a| {
        csum_replace(c, a, false)
    });
    reg(r, 11, "bpf_l4_csum_replace", R::Integer, args, |c, a| {
        csum_replace(c, a, true)
    });
}
