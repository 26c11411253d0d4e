//! A frame's state as the 6.18 log prints it (`print_verifier_state`, `print_reg_state`):
//! ` R1=ctx() R2=pkt(r=14) R10=fp0 fp-8=mmmmmmmm fp-16=map_value(map=m,ks=4,vs=8)`.

use std::fmt::Write;

use bpfbox_vm::maps::spec::MapSpec;

use crate::domain::{print, Bounds, ScalarDomain};
use crate::state::{Byte, Frame, Refs, Reg, RegType};

/// Longest object name the kernel keeps (`BPF_OBJ_NAME_LEN` less the NUL).
const OBJ_NAME_MAX: usize = 15;

/// Which registers and stack slots an instruction touched since the last print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scratched {
    /// Bit `r` for register `r`.
    pub regs: u16,
    /// Bit `i` for the slot `fp-8*(i+1)`.
    pub slots: u64,
}

impl Scratched {
    /// Everything (after a path ends, and at the start).
    pub const ALL: Scratched = Scratched {
        regs: u16::MAX,
        slots: u64::MAX,
    };

    /// Whether anything is marked.
    pub fn any(&self) -> bool {
        self.regs != 0 || self.slots != 0
    }

    /// Marks register `r`.
    pub fn reg(&mut self, r: u8) {
        if r < 16 {
            self.regs |= 1 << r;
        }
    }

    /// Marks the slot `spi` (0 is `fp-8`).
    pub fn slot(&mut self, spi: usize) {
        if spi < 64 {
            self.slots |= 1 << spi;
        }
    }

    fn has_reg(&self, r: usize) -> bool {
        self.regs & (1 << r) != 0
    }

    fn has_slot(&self, spi: usize) -> bool {
        spi < 64 && self.slots & (1 << spi) != 0
    }
}

/// The name of a map as the kernel holds it: the characters it accepts, at most 15.
fn map_name(spec: &MapSpec) -> String {
    spec.name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .take(OBJ_NAME_MAX)
        .collect()
}

/// The text of register `reg` seen from frame `frameno` (`print_reg_state`).
pub fn reg_text(reg: &Reg, frameno: u32, maps: &[MapSpec]) -> String {
    let b: Bounds = reg.val.bounds();
    if reg.ty == RegType::Scalar {
        // A scalar some check relied on prints with the kernel's `P`.
        let mark = if reg.precise { "P" } else { "" };
        return format!(
            "{mark}{}",
            reg.val.log_text(false, reg.id, reg.delta.add_const())
        );
    }
    let mut out = reg.type_name();
    if reg.ty == RegType::Stack {
        if reg.frameno != frameno {
            let _ = write!(out, "[{}]", reg.frameno);
        }
        if b.var_off.is_const() {
            print::snum(
                &mut out,
                (b.var_off.value as i64).wrapping_add(reg.off as i64),
            );
            return out;
        }
    }
    out.push('(');
    let mut sep = "";
    let mut item = |out: &mut String, text: &str| {
        out.push_str(sep);
        out.push_str(text);
        sep = ",";
    };
    if reg.id != 0 {
        item(&mut out, &format!("id={}", reg.id));
    }
    if reg.ref_obj_id != 0 {
        item(&mut out, &format!("ref_obj_id={}", reg.ref_obj_id));
    }
    if matches!(
        reg.ty,
        RegType::MapPtr | RegType::MapKey | RegType::MapValue
    ) {
        if let Some(m) = maps.get(reg.map) {
            let name = map_name(m);
            if !name.is_empty() {
                item(&mut out, &format!("map={name}"));
            }
            item(&mut out, &format!("ks={},vs={}", m.key_size, m.value_size));
        }
    }
    if reg.ty == RegType::ConstDynptr {
        // The only dynptr a callback is given: `bpf_user_ringbuf_drain`'s local one.
        item(&mut out, "type=local");
    }
    if reg.off != 0 {
        let mut t = String::from("off=");
        print::snum(&mut t, reg.off as i64);
        item(&mut out, &t);
    }
    if reg.ty.is_packet() {
        let mut t = String::from("r=");
        print::unum(&mut t, reg.range as i64 as u64);
        item(&mut out, &t);
    }
    if matches!(reg.ty, RegType::Mem | RegType::RdonlyMem) {
        let mut t = String::from("sz=");
        print::unum(&mut t, reg.mem_size as u64);
        item(&mut out, &t);
    }
    if b.var_off.is_const() {
        if b.var_off.value != 0 {
            let mut t = String::from("imm=");
            print::snum(&mut t, b.var_off.value as i64);
            item(&mut out, &t);
        }
    } else {
        let mut s: &'static str = if sep.is_empty() { "" } else { "," };
        print::scalar_ranges(&mut out, &b, &mut s);
        if !b.var_off.is_unknown() {
            out.push_str(s);
            out.push_str("var_off=");
            print::tnum(&mut out, b.var_off);
        }
    }
    out.push(')');
    out
}

/// One frame's state: every live register and stack slot when `all`, else only those in
/// `scratched`; ends with a newline (`print_verifier_state`).
pub fn frame_text(
    fr: &Frame,
    refs: &Refs,
    all: bool,
    scratched: &Scratched,
    maps: &[MapSpec],
) -> String {
    let mut out = String::new();
    if fr.frameno != 0 {
        let _ = write!(out, " frame{}:", fr.frameno);
    }
    for (i, r) in fr.regs.iter().enumerate() {
        if r.ty == RegType::NotInit || !(all || scratched.has_reg(i)) {
            continue;
        }
        let _ = write!(out, " R{i}={}", reg_text(r, fr.frameno, maps));
    }
    for (i, slot) in fr.stack.slots.iter().enumerate() {
        if !(all || scratched.has_slot(i)) {
            continue;
        }
        if slot.bytes.iter().all(|b| *b == Byte::Invalid) {
            continue;
        }
        let letters: String = slot.bytes.iter().map(|b| b.letter()).collect();
        let off = -8 * (i as i64 + 1);
        if slot.is_spill() {
            // The bytes above a narrow spill, then the spilled register.
            let first = slot
                .bytes
                .iter()
                .position(|b| *b == Byte::Spill)
                .unwrap_or(8);
            let _ = write!(
                out,
                " fp{off}={}{}",
                &letters[..first],
                reg_text(&slot.spilled, fr.frameno, maps)
            );
        } else {
            let _ = write!(out, " fp{off}={letters}");
        }
    }
    // The references the path holds, whatever was scratched.
    for (i, r) in refs.list.iter().enumerate() {
        let _ = write!(out, "{}{}", if i == 0 { " refs=" } else { "," }, r.id);
    }
    if fr.in_callback {
        out.push_str(" cb");
    }
    out.push('\n');
    out
}
