//! Arbitrary bytes as raw BTF followed by `.BTF.ext` (the first two bytes say where the BTF
//! ends): parsing, validation, both dump formats, lookups and the extension records never
//! panic.
#![no_main]

use bpfbox_btf::{Btf, BtfExt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = (u16::from_le_bytes(*len) as usize).min(rest.len());
    let (btf_bytes, ext_bytes) = rest.split_at(split);
    let Ok(btf) = Btf::parse(btf_bytes) else {
        return;
    };
    let _ = btf.validate();
    let mut out = Vec::new();
    let _ = bpfbox_btf::dump_raw(&btf, &mut out);
    out.clear();
    let _ = bpfbox_btf::dump_c(&btf, &mut out);
    for (id, t) in btf.types().take(64) {
        let name = btf.type_name(t).to_string();
        let _ = btf.ids_by_name(&name).count();
        let _ = btf.resolve_size(id);
        let _ = btf.skip_mods_and_typedefs(id);
    }
    let _ = BtfExt::parse(ext_bytes, &btf);
});
