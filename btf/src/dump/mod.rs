//! Text dumps of BTF in the styles of `bpftool btf dump`.

mod c;
mod out;
mod raw;

pub use c::{dump_c, dump_c_with, CDumpOptions};
pub use raw::{dump_raw, dump_raw_type};
