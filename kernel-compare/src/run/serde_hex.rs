//! Bytes as hex strings in reports and inputs.

/// Serde helpers: bytes as hex strings.
pub mod hex_bytes {
    /// Serializes bytes as a hex string.
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        s.serialize_str(&h)
    }

    /// Parses a hex string.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// Parses hex (whitespace and a `0x` prefix allowed).
    pub fn parse(s: &str) -> Result<Vec<u8>, String> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let s = s.strip_prefix("0x").unwrap_or(&s);
        if !s.len().is_multiple_of(2) {
            return Err(format!("odd number of hex digits in `{s}`"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("`{s}`: {e}")))
            .collect()
    }
}

/// Serde helpers: optional bytes as hex strings.
pub mod opt_hex_bytes {
    /// Serializes optional bytes as a hex string or null.
    pub fn serialize<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => super::hex_bytes::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    /// Parses an optional hex string.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = serde::Deserialize::deserialize(d)?;
        s.map(|s| super::hex_bytes::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
