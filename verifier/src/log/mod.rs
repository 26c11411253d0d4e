//! The verifier log in the 6.18 format.
//!
//! Level 1 (`BPF_LOG_LEVEL1`) prints each instruction walked with the registers and stack
//! slots it touched, and keeps only the path that failed: when a pending branch is taken up,
//! the log goes back to where that branch was pushed. Level 2 (`BPF_LOG_LEVEL2`) keeps every
//! path and prints the full state where each resumes (`from X to Y:`). `BPF_LOG_STATS` adds
//! the closing `verification time` and `stack depth` lines.
//!
//! The log is a buffer with the kernel's positions so that its quirks come out the same:
//! a state printed after an instruction goes on the instruction's line, aligned with
//! spaces; going back to a branch's position cuts whatever followed it, including the end
//! of a line the state was appended to.

pub mod compare;
pub mod linfo;
pub mod live_table;
pub mod scratch;
pub mod state;

use std::fmt::Write;

use bpfbox_vm::disasm::{insn_text, DisasmOptions, Syntax};
use bpfbox_vm::isa::{Insn, RawInsn};
use bpfbox_vm::maps::spec::MapSpec;
use bpfbox_vm::program::LineInfo;

use crate::options::Stats;
use crate::state::{Frame, Refs, State};
use state::Scratched;

/// `BPF_LOG_LEVEL1`: instructions, states at branch points, errors.
pub const LEVEL1: u32 = 1;
/// `BPF_LOG_LEVEL2`: every path, the state after every instruction.
pub const LEVEL2: u32 = 2;
/// `BPF_LOG_STATS`: verification time and stack depth.
pub const STATS: u32 = 4;

/// The column the state after an instruction is aligned to, at least.
const ALIGN: usize = 40;
/// The alignment step beyond it.
const MIN_ALIGN: usize = 8;

/// The log being written.
#[derive(Clone, Debug, Default)]
pub struct Log {
    level: u32,
    buf: String,
    /// Where the last instruction's text ended (0 before the first).
    prev_log_pos: usize,
    /// Length of the last instruction's text, newline included.
    prev_insn_len: usize,
    /// The line-info record printed last.
    prev_linfo: Option<usize>,
    scratched: Scratched,
    /// A path resumed: print where it came from.
    resumed: bool,
    /// The instruction walked before the current one.
    prev_insn: Option<usize>,
    /// The error is already in the log (an infinite loop prints states after it).
    error_written: bool,
    /// The path being walked is one only a mispredicting CPU takes.
    speculative: bool,
}

impl Log {
    /// A log at `level` (the kernel's bits: [`LEVEL1`], [`LEVEL2`], [`STATS`]).
    pub fn new(level: u32) -> Log {
        Log {
            level,
            scratched: Scratched::ALL,
            ..Log::default()
        }
    }

    /// Whether instructions and states are logged.
    pub fn on(&self) -> bool {
        self.level & (LEVEL1 | LEVEL2) != 0
    }

    /// Whether every path and every state is kept.
    pub fn verbose(&self) -> bool {
        self.level & LEVEL2 != 0
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.buf
    }

    /// The position a pending branch returns to at level 1.
    pub fn pos(&self) -> usize {
        self.buf.len()
    }

    /// Appends a line (a message without its newline).
    pub fn line(&mut self, s: &str) {
        self.buf.push_str(s);
        self.buf.push('\n');
    }

    /// Appends text made of whole lines.
    pub fn text_block(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// Goes back to `pos`, forgetting what followed.
    fn reset(&mut self, pos: usize) {
        if pos < self.buf.len() && self.buf.is_char_boundary(pos) {
            self.buf.truncate(pos);
        }
    }

    /// The state after an instruction: on the instruction's line when nothing came after
    /// it, else on a line of its own prefixed by `pc:` (`print_insn_state`).
    fn insn_state(&mut self, st: &State, pc: usize, maps: &[MapSpec]) {
        if self.prev_log_pos != 0 && self.prev_log_pos == self.buf.len() {
            self.reset(self.prev_log_pos - 1);
            let p = self.prev_insn_len;
            let width = (p + MIN_ALIGN / 2).max(ALIGN).div_ceil(MIN_ALIGN) * MIN_ALIGN - p - 1;
            let _ = write!(self.buf, "{:width$};", "");
        } else {
            let _ = write!(self.buf, "{pc}:");
        }
        let fr = st.cur();
        let text = state::frame_text(fr, &st.refs, false, &self.scratched, maps);
        self.buf.push_str(&text);
        self.scratched = Scratched::default();
    }

    /// Output the kernel prints at level 2 between an instruction and the state after it
    /// (precision backtracking's `mark_precise:` lines, which this log leaves out): the
    /// state then goes on a line of its own, as in the kernel's log.
    pub fn detach(&mut self) {
        if self.verbose() {
            self.prev_log_pos = 0;
        }
    }

    /// Instruction `pc` was found equivalent to a state already verified.
    pub fn safe(&mut self, pc: usize) {
        if !self.on() {
            return;
        }
        if self.resumed {
            let prev = self.prev_insn.map_or(-1, |p| p as i64);
            let spec = self.spec_suffix();
            let _ = writeln!(self.buf, "\nfrom {prev} to {pc}{spec}: safe");
        } else {
            let _ = writeln!(self.buf, "{pc}: safe");
        }
    }

    /// Instruction `pc` is about to be checked in state `st`: the state the previous one
    /// left, the source line, the instruction.
    pub fn insn(
        &mut self,
        st: &State,
        pc: usize,
        insn: &Insn,
        raw: RawInsn,
        line_info: &[LineInfo],
        maps: &[MapSpec],
    ) {
        if !self.on() {
            self.prev_insn = Some(pc);
            return;
        }
        if self.verbose() && self.resumed {
            let prev = self.prev_insn.map_or(-1, |p| p as i64);
            let spec = self.spec_suffix();
            let _ = write!(self.buf, "\nfrom {prev} to {pc}{spec}:");
            let text = state::frame_text(st.cur(), &st.refs, true, &self.scratched, maps);
            self.buf.push_str(&text);
            self.resumed = false;
        }
        if self.scratched.any() {
            self.insn_state(st, pc, maps);
        }
        if let Some(l) = linfo::line(line_info, pc, &mut self.prev_linfo) {
            self.buf.push_str("; ");
            self.buf.push_str(&l);
        }
        let start = self.buf.len();
        let text = match *insn {
            // The kernel's log has no name for a function's address: the raw immediate.
            Insn::LdImm64 {
                dst,
                kind: bpfbox_vm::isa::LdImm64Kind::Func,
                imm,
            } => format!("r{dst} = 0x{imm:x}"),
            _ => insn_text(insn, pc, Syntax::Kernel, &DisasmOptions::default()),
        };
        let _ = writeln!(self.buf, "{pc}: ({:02x}) {text}", raw.code);
        self.prev_insn_len = self.buf.len() - start;
        self.prev_log_pos = self.buf.len();
        self.prev_insn = Some(pc);
        let s = scratch::of_insn(insn, st);
        self.scratched.regs |= s.regs;
        self.scratched.slots |= s.slots;
    }

    /// A conditional jump at `pc` was checked: the state of the side walked on, printed
    /// after the other side (if any) was pushed.
    pub fn jump(&mut self, st: &State, pc: usize, maps: &[MapSpec]) {
        if self.on() {
            self.insn_state(st, pc, maps);
        }
    }

    /// The path ended (a valid exit, or pruned).
    pub fn path_end(&mut self) {
        self.scratched = Scratched::ALL;
    }

    /// A pending branch pushed at log position `pos` from instruction `from` resumes
    /// (`speculative`: a path only a mispredicting CPU takes).
    pub fn resume(&mut self, pos: usize, from: usize, speculative: bool) {
        if !self.verbose() {
            self.reset(pos);
        }
        self.resumed = true;
        self.prev_insn = Some(from);
        self.speculative = speculative;
    }

    /// What the kernel adds to `from X to Y` on a speculative path.
    fn spec_suffix(&self) -> &'static str {
        if self.speculative {
            " (speculative execution)"
        } else {
            ""
        }
    }

    /// A BPF-to-BPF call entered `callee` (`caller:` / `callee:` with both full frames).
    pub fn call(&mut self, caller: &Frame, callee: &Frame, refs: &Refs, maps: &[MapSpec]) {
        if !self.on() {
            return;
        }
        // Entering the callee sets up its frame pointer, which its first state shows.
        self.scratched.regs |= 1 << 10;
        let all = Scratched::ALL;
        self.buf.push_str("caller:\n");
        self.buf
            .push_str(&state::frame_text(caller, refs, true, &all, maps));
        self.buf.push_str("callee:\n");
        self.buf
            .push_str(&state::frame_text(callee, refs, true, &all, maps));
    }

    /// A subprogram returned from instruction `exit_pc` to the caller at `to`
    /// (`returning from callee:` / `to caller at N:`); the walk then resumes as after a
    /// pop (`from exit_pc to N:` at level 2).
    pub fn returned(
        &mut self,
        callee: &Frame,
        caller: &Frame,
        refs: &Refs,
        exit_pc: usize,
        to: usize,
        maps: &[MapSpec],
    ) {
        if self.on() {
            let all = Scratched::ALL;
            self.buf.push_str("returning from callee:\n");
            self.buf
                .push_str(&state::frame_text(callee, refs, true, &all, maps));
            let _ = writeln!(self.buf, "to caller at {to}:");
            self.buf
                .push_str(&state::frame_text(caller, refs, true, &all, maps));
        }
        self.resumed = true;
        self.prev_insn = Some(exit_pc);
    }

    /// `infinite loop detected at insn pc`, with both states.
    pub fn infinite_loop(
        &mut self,
        pc: usize,
        cur: &State,
        old: &State,
        line_info: &[LineInfo],
        maps: &[MapSpec],
    ) {
        if let Some(l) = linfo::line(line_info, pc, &mut self.prev_linfo) {
            self.buf.push_str("; ");
            self.buf.push_str(&l);
        }
        let _ = writeln!(self.buf, "infinite loop detected at insn {pc}");
        let all = Scratched::ALL;
        let frame = cur.frames.len() - 1;
        self.buf.push_str("cur state:");
        self.buf.push_str(&state::frame_text(
            &cur.frames[frame],
            &cur.refs,
            true,
            &all,
            maps,
        ));
        self.buf.push_str("old state:");
        if let Some(f) = old.frames.get(frame) {
            self.buf
                .push_str(&state::frame_text(f, &old.refs, true, &all, maps));
        } else {
            self.buf.push('\n');
        }
        self.error_written = true;
    }

    /// The log as the kernel leaves it: on success at level 1 only the statistics remain;
    /// on failure the error (unless already written) follows the failing path.
    pub fn finish(mut self, error: Option<&str>, stats: &Stats, usec: u128) -> String {
        match error {
            None if !self.verbose() => self.reset(0),
            None => {}
            Some(e) if !self.error_written => self.line(e),
            Some(_) => {}
        }
        if self.level & STATS != 0 {
            let _ = writeln!(self.buf, "verification time {usec} usec");
            let mut depths: Vec<String> = stats.stack_depth.iter().map(u32::to_string).collect();
            if depths.is_empty() {
                // Refused before the walk: the main program, with no stack used.
                depths.push("0".into());
            }
            let _ = writeln!(self.buf, "stack depth {}", depths.join("+"));
        }
        let _ = writeln!(
            self.buf,
            "processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read {}",
            stats.processed_insns,
            crate::explore::INSN_LIMIT,
            stats.max_states_per_insn,
            stats.total_states,
            stats.peak_states,
            stats.mark_read
        );
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Reg, RegType};

    fn two_frames() -> State {
        let mut st = State::entry();
        let mut callee = st.cur().clone();
        callee.frameno = 1;
        callee.callsite = 3;
        callee.regs[10].frameno = 1;
        st.frames[0].regs[0] = Reg::not_init();
        st.frames.push(callee);
        st
    }

    /// As the 6.18 log shows a call from insn 3 (verifier_cfg's loop in a subprogram).
    #[test]
    fn call_and_return_print_both_frames() {
        let mut st = two_frames();
        let mut log = Log::new(LEVEL1);
        log.call(&st.frames[0], &st.frames[1], &st.refs, &[]);
        assert_eq!(
            log.text(),
            "caller:\n R1=ctx() R10=fp0\ncallee:\n frame1: R1=ctx() R10=fp0\n"
        );
        let mut log = Log::new(LEVEL1);
        log.returned(&st.frames[1], &st.frames[0], &st.refs, 7, 4, &[]);
        assert_eq!(
            log.text(),
            "returning from callee:\n frame1: R1=ctx() R10=fp0\nto caller at 4:\n R1=ctx() R10=fp0\n"
        );
        // A pointer into the caller's stack, seen from the callee.
        st.frames[1].regs[2] = st.frames[0].regs[10].clone();
        st.frames[1].regs[2].off = -8;
        let text = state::frame_text(&st.frames[1], &st.refs, true, &Scratched::ALL, &[]);
        assert_eq!(text, " frame1: R1=ctx() R2=fp[0]-8 R10=fp0\n");
    }

    /// The state after an instruction goes on its line, aligned as the kernel aligns it;
    /// after other output it goes on a line of its own.
    #[test]
    fn state_after_an_instruction() {
        let mut st = State::entry();
        let insn = bpfbox_vm::isa::Insn::Alu {
            width: bpfbox_vm::isa::Width::W64,
            op: bpfbox_vm::isa::AluOp::Mov,
            dst: 0,
            src: bpfbox_vm::isa::Src::Imm(0),
        };
        let raw = RawInsn::new(0xb7, 0, 0, 0, 0);
        let mut log = Log::new(LEVEL1);
        log.insn(&st, 0, &insn, raw, &[], &[]);
        *st.reg_mut(0) = Reg::constant(0);
        log.insn(&st, 1, &insn, raw, &[], &[]);
        assert_eq!(
            log.text(),
            "0: R1=ctx() R10=fp0\n0: (b7) r0 = 0                        ; R0=0\n1: (b7) r0 = 0\n"
        );
        log.line("mark_precise: ...");
        *st.reg_mut(2) = Reg::pointer(RegType::Stack);
        log.jump(&st, 1, &[]);
        assert!(log.text().ends_with("mark_precise: ...\n1: R0=0\n"));
    }
}
