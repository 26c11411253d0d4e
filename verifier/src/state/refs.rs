//! Acquired references (`struct bpf_reference_state`): what a path holds that it must give
//! back before it exits (sockets from `sk_lookup_*`, ring-buffer records), and the pointers
//! that hold them (`ref_obj_id`).

use super::{Reg, State};

/// One acquired reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    /// Its id (the `ref_obj_id` of the pointers that hold it).
    pub id: u32,
    /// The instruction that acquired it.
    pub insn: usize,
}

/// The references a path holds, in acquisition order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refs {
    /// The references.
    pub list: Vec<Ref>,
}

impl Refs {
    /// Records reference `id` acquired at `insn`.
    pub fn acquire(&mut self, id: u32, insn: usize) {
        self.list.push(Ref { id, insn });
    }

    /// Forgets reference `id`; `false` when it was not held.
    pub fn release(&mut self, id: u32) -> bool {
        match self.list.iter().position(|r| r.id == id) {
            Some(i) => {
                self.list.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether reference `id` is held.
    pub fn holds(&self, id: u32) -> bool {
        self.list.iter().any(|r| r.id == id)
    }
}

/// Every register and spilled register of every frame.
fn for_each_reg(st: &mut State, mut f: impl FnMut(&mut Reg)) {
    for fr in &mut st.frames {
        for r in fr.regs.iter_mut() {
            f(r);
        }
        for s in fr.stack.slots.iter_mut() {
            if s.is_spill() {
                f(&mut s.spilled);
            }
        }
    }
}

/// `release_reference`: drops reference `id` and invalidates every pointer holding it (an
/// unknown scalar for a privileged load, as `mark_reg_invalid` leaves it). `false` when the
/// path did not hold it.
pub fn release(st: &mut State, id: u32, privileged: bool) -> bool {
    if !st.refs.release(id) {
        return false;
    }
    for_each_reg(st, |r| {
        if r.ref_obj_id == id {
            *r = if privileged {
                Reg::unknown()
            } else {
                Reg::not_init()
            };
        }
    });
    true
}

/// `check_reference_leak` at the exit of the main program or before a tail call: every
/// reference still held is reported; `what` names the instruction ("BPF_EXIT instruction in
/// main prog", "tail_call").
pub fn check_leak(st: &State, what: &str) -> Result<(), String> {
    if st.refs.list.is_empty() {
        return Ok(());
    }
    let mut msg = String::new();
    for r in &st.refs.list {
        msg.push_str(&format!(
            "Unreleased reference id={} alloc_insn={}\n",
            r.id, r.insn
        ));
    }
    msg.push_str(&format!("{what} would lead to reference leak"));
    Err(msg)
}
