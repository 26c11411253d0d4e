//! Prints what the loader makes of each object given on the command line.
fn main() {
    for path in std::env::args().skip(1) {
        match bpfbox_loader::Object::from_file(&path) {
            Err(e) => println!("{path}: ERROR {e}"),
            Ok(o) => {
                println!(
                    "{path}: name={} license={:?} btf_error={:?}",
                    o.name(),
                    o.license(),
                    o.btf_error()
                );
                for p in o.programs() {
                    let m = o.program_meta(&p.name).unwrap();
                    println!("  prog {} sec={} type={} eat={:?} tgt={:?} flags={} insns={} entry={} fi={} li={}",
                        p.name, p.section, p.prog_type.name(), p.expected_attach_type, p.attach_target, p.prog_flags,
                        p.insns.len(), m.entry_insns, p.func_info.len(), p.line_info.len());
                }
                for e in o.program_errors() {
                    println!("  progerr {e}");
                }
                for (i, m) in o.maps().iter().enumerate() {
                    let info = o.map_info(i).unwrap();
                    println!("  map {} ({}) type={} k={} v={} max={} flags={:#x} btf={:?}/{:?} inner={} slots={:?} data={:?}",
                        info.name, m.name, m.map_type.name(), m.key_size, m.value_size, m.max_entries, m.map_flags,
                        m.btf_key_type_id, m.btf_value_type_id, m.inner.is_some(), info.slots, info.data.as_ref().map(|d| d.len()));
                }
                for r in o.relocations().iter().take(4) {
                    println!("  reloc {r:?}");
                }
            }
        }
    }
}
