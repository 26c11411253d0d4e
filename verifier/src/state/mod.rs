//! The abstract machine state: registers and stack per frame, and the frames of a path.

pub mod link;
pub mod refs;
pub mod reg;
pub mod stack;

pub use link::Delta;
pub use refs::Refs;
pub use reg::{Reg, RegType};
pub use stack::{Byte, Stack};

/// One function's frame (`struct bpf_func_state`).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// r0..r10.
    pub regs: [Reg; 11],
    /// The stack.
    pub stack: Stack,
    /// Call instruction that created the frame (0 for the main program).
    pub callsite: usize,
    /// Index of the frame.
    pub frameno: u32,
    /// The subprogram it runs.
    pub subprog: usize,
    /// The frame runs a callback a helper calls (`in_callback_fn`).
    pub in_callback: bool,
    /// The range a callback's R0 must lie in (`callback_ret_range`).
    pub callback_ret: (i32, i32),
    /// Callbacks this frame's helper call has scheduled on the path (`callback_depth`).
    pub callback_depth: u32,
}

impl Frame {
    /// The entry frame: r1 the context, r10 the frame pointer.
    pub fn entry() -> Frame {
        let mut f = Frame::new(0, 0, 0);
        f.regs[1] = Reg::pointer(RegType::Ctx);
        f
    }

    /// A fresh frame number `frameno` running `subprog`, entered from `callsite`: every
    /// register but r10 uninitialised, an empty stack (`init_func_state`).
    pub fn new(callsite: usize, frameno: u32, subprog: usize) -> Frame {
        let mut regs: [Reg; 11] = std::array::from_fn(|_| Reg::not_init());
        regs[10] = Reg::pointer(RegType::Stack);
        regs[10].frameno = frameno;
        Frame {
            regs,
            stack: Stack::default(),
            callsite,
            frameno,
            subprog,
            in_callback: false,
            callback_ret: (0, 0),
            callback_depth: 0,
        }
    }
}

/// A path's state (`struct bpf_verifier_state`).
#[derive(Clone, Debug)]
pub struct State {
    /// The call chain, innermost last.
    pub frames: Vec<Frame>,
    /// Acquired references the path holds.
    pub refs: Refs,
    /// `may_goto` fall-throughs taken on this path (`may_goto_depth`).
    pub may_goto_depth: u32,
    /// Callback frames entered on this path (`callback_unroll_depth`).
    pub callback_unroll_depth: u32,
}

/// States compare by their frames and references: the kernel's `states_equal` ignores the
/// `may_goto` depth, which only the loop checks at a `may_goto` consult.
impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.frames == other.frames && self.refs == other.refs
    }
}

impl State {
    /// The state at program entry.
    pub fn entry() -> State {
        State {
            frames: vec![Frame::entry()],
            refs: Refs::default(),
            may_goto_depth: 0,
            callback_unroll_depth: 0,
        }
    }

    /// The frame a stack pointer `reg` points into.
    pub fn frame_of(&self, reg: &Reg) -> Option<&Frame> {
        self.frames.get(reg.frameno as usize)
    }

    /// The innermost frame.
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("a state has a frame")
    }

    /// The innermost frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state has a frame")
    }

    /// Register `r` of the innermost frame.
    pub fn reg(&self, r: u8) -> &Reg {
        &self.cur().regs[r as usize]
    }

    /// Register `r` of the innermost frame, mutably.
    pub fn reg_mut(&mut self, r: u8) -> &mut Reg {
        &mut self.cur_mut().regs[r as usize]
    }
}
