//! Validate raw BTF files: `cargo run --example validate -- FILE...`.

fn main() {
    let mut status = 0;
    for path in std::env::args().skip(1) {
        match bpfbox_btf::Btf::from_file(&path).and_then(|b| b.validate().map(|()| b.len())) {
            Ok(n) => println!("{path}: ok ({n} types)"),
            Err(e) => {
                println!("{path}: {e}");
                status = 1;
            }
        }
    }
    std::process::exit(status);
}
