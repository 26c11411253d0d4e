//! A JSON writer that lays text out exactly as bpftool's does, pretty (4-space indents, a
//! new line before each object member, array elements run on) or compact, so that
//! `--dump-maps` prints what `bpftool map dump` prints byte for byte.

/// The writer: text so far, nesting depth, layout, and whether a separator is due.
pub struct JsonWriter {
    out: String,
    depth: usize,
    pretty: bool,
    sep: bool,
}

impl JsonWriter {
    /// A writer; `pretty` lays out as bpftool's plain BTF dump does, otherwise as `-j`.
    pub fn new(pretty: bool) -> Self {
        JsonWriter {
            out: String::new(),
            depth: 0,
            pretty,
            sep: false,
        }
    }

    /// The text written, with the final new line bpftool ends its output with.
    pub fn finish(mut self) -> String {
        self.out.push('\n');
        self.out
    }

    fn eol(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("    ");
            }
        }
    }

    /// Writes the separator a previous value left due.
    fn eor(&mut self) {
        if self.sep {
            self.out.push(',');
        }
        self.sep = true;
    }

    fn begin(&mut self, c: char) {
        self.eor();
        self.out.push(c);
        self.depth += 1;
        self.sep = false;
    }

    fn end(&mut self, c: char) {
        self.depth = self.depth.saturating_sub(1);
        if self.sep {
            self.eol();
        }
        self.out.push(c);
        self.sep = true;
    }

    /// `{`.
    pub fn start_object(&mut self) {
        self.begin('{');
    }

    /// `}`.
    pub fn end_object(&mut self) {
        self.end('}');
    }

    /// `[`.
    pub fn start_array(&mut self) {
        self.begin('[');
    }

    /// `]`.
    pub fn end_array(&mut self) {
        self.end(']');
    }

    /// An object member's name.
    pub fn name(&mut self, name: &str) {
        self.eor();
        self.eol();
        self.sep = false;
        self.quoted(name.as_bytes());
        self.out.push(':');
        if self.pretty {
            self.out.push(' ');
        }
    }

    /// A value written as given (numbers, `true`, pre-quoted text).
    pub fn raw(&mut self, text: &str) {
        self.eor();
        self.out.push_str(text);
    }

    /// A string value, escaped as bpftool escapes (the C escapes, other bytes as they are).
    pub fn string(&mut self, bytes: &[u8]) {
        self.eor();
        self.quoted(bytes);
    }

    fn quoted(&mut self, bytes: &[u8]) {
        self.out.push('"');
        let mut plain = Vec::new();
        for &b in bytes {
            let esc = match b {
                b'\t' => "\\t",
                b'\n' => "\\n",
                b'\r' => "\\r",
                0x0c => "\\f",
                0x08 => "\\b",
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => {
                    plain.push(b);
                    continue;
                }
            };
            self.out.push_str(&String::from_utf8_lossy(&plain));
            plain.clear();
            self.out.push_str(esc);
        }
        self.out.push_str(&String::from_utf8_lossy(&plain));
        self.out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::JsonWriter;

    /// The layout of `bpftool map dump` on a per-CPU array with BTF, copied from its output.
    #[test]
    fn pretty_layout_is_bpftools() {
        let mut w = JsonWriter::new(true);
        w.start_array();
        for key in 0..2 {
            w.start_object();
            w.name("key");
            w.raw(&key.to_string());
            w.name("values");
            w.start_array();
            for cpu in 0..2 {
                w.start_object();
                w.name("cpu");
                w.raw(&cpu.to_string());
                w.name("value");
                w.raw("0");
                w.end_object();
            }
            w.end_array();
            w.end_object();
        }
        w.end_array();
        let expected = "[{\n        \"key\": 0,\n        \"values\": [{\n                \"cpu\": 0,\n                \"value\": 0\n            },{\n                \"cpu\": 1,\n                \"value\": 0\n            }\n        ]\n    },{\n        \"key\": 1,\n        \"values\": [{\n                \"cpu\": 0,\n                \"value\": 0\n            },{\n                \"cpu\": 1,\n                \"value\": 0\n            }\n        ]\n    }\n]\n";
        assert_eq!(w.finish(), expected);
    }

    #[test]
    fn strings_escape_as_bpftool_does() {
        let mut w = JsonWriter::new(false);
        w.start_array();
        w.string(b"a\"b\\c\td");
        w.string(b"");
        w.end_array();
        assert_eq!(w.finish(), "[\"a\\\"b\\\\c\\td\",\"\"]\n");
    }
}
