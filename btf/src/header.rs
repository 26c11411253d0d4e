//! The fixed header at the start of every `.BTF` blob.

use crate::bytes::{Endian, Reader};
use crate::error::BtfError;

/// `0xeB9F`, the BTF magic number.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// The only BTF version in existence.
pub const BTF_VERSION: u8 = 1;
/// Size in bytes of the header as defined today.
pub const BTF_HEADER_LEN: u32 = 24;

/// The decoded `struct btf_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BtfHeader {
    /// Always [`BTF_MAGIC`] once decoded in the right byte order.
    pub magic: u16,
    /// Format version, 1.
    pub version: u8,
    /// Flags, must be 0.
    pub flags: u8,
    /// Length of the header in bytes; the sections start after it.
    pub hdr_len: u32,
    /// Offset of the type section, relative to the end of the header.
    pub type_off: u32,
    /// Length of the type section in bytes.
    pub type_len: u32,
    /// Offset of the string section, relative to the end of the header.
    pub str_off: u32,
    /// Length of the string section in bytes.
    pub str_len: u32,
}

impl BtfHeader {
    /// Decode the header of `data`, detecting the byte order from the magic.
    ///
    /// Only fails on what makes the rest unreadable: a missing or short
    /// header, a wrong magic or an unknown version. Finer checks (flags,
    /// section gaps) are left to [`crate::Btf::validate`].
    pub fn parse(data: &[u8]) -> Result<(BtfHeader, Endian), BtfError> {
        if data.len() < 8 {
            return Err(BtfError::Header {
                msg: "hdr_len not found",
            });
        }
        let endian = match (data.first(), data.get(1)) {
            (Some(0x9f), Some(0xeb)) => Endian::Little,
            (Some(0xeb), Some(0x9f)) => Endian::Big,
            _ => {
                return Err(BtfError::Header {
                    msg: "Invalid magic",
                })
            }
        };
        let mut r = Reader::new(data, 0, endian);
        let mb = r.bytes(2, "BTF magic")?;
        let magic = endian.u16([mb[0], mb[1]]);
        let vf = r.bytes(2, "BTF version")?;
        let (version, flags) = (vf[0], vf[1]);
        let hdr_len = r.u32("BTF hdr_len")?;
        if version != BTF_VERSION {
            return Err(BtfError::Header {
                msg: "Unsupported version",
            });
        }
        if (data.len() as u64) < u64::from(hdr_len) || hdr_len < BTF_HEADER_LEN {
            return Err(BtfError::Header {
                msg: "btf_header not found",
            });
        }
        let type_off = r.u32("BTF type_off")?;
        let type_len = r.u32("BTF type_len")?;
        let str_off = r.u32("BTF str_off")?;
        let str_len = r.u32("BTF str_len")?;
        Ok((
            BtfHeader {
                magic,
                version,
                flags,
                hdr_len,
                type_off,
                type_len,
                str_off,
                str_len,
            },
            endian,
        ))
    }

    /// Byte range of the type section within the whole blob.
    pub fn type_range(&self) -> std::ops::Range<u64> {
        let start = u64::from(self.hdr_len) + u64::from(self.type_off);
        start..start + u64::from(self.type_len)
    }

    /// Byte range of the string section within the whole blob.
    pub fn str_range(&self) -> std::ops::Range<u64> {
        let start = u64::from(self.hdr_len) + u64::from(self.str_off);
        start..start + u64::from(self.str_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(magic: [u8; 2], version: u8, hdr_len: u32) -> Vec<u8> {
        let mut v = vec![magic[0], magic[1], version, 0];
        v.extend_from_slice(&hdr_len.to_le_bytes());
        v.extend_from_slice(&[0; 16]);
        v
    }

    #[test]
    fn detects_byte_order_and_rejects_garbage() {
        let (h, e) = BtfHeader::parse(&hdr([0x9f, 0xeb], 1, 24)).unwrap();
        assert_eq!((h.magic, e), (BTF_MAGIC, Endian::Little));
        let mut be = vec![0xeb, 0x9f, 1, 0];
        be.extend_from_slice(&24u32.to_be_bytes());
        be.extend_from_slice(&[0; 16]);
        let (h, e) = BtfHeader::parse(&be).unwrap();
        assert_eq!((h.magic, h.hdr_len, e), (BTF_MAGIC, 24, Endian::Big));
        let msg = |r: Result<(BtfHeader, Endian), BtfError>| {
            r.unwrap_err().kernel_message().map(str::to_owned)
        };
        assert_eq!(
            msg(BtfHeader::parse(&hdr([1, 2], 1, 24))).as_deref(),
            Some("Invalid magic")
        );
        assert_eq!(
            msg(BtfHeader::parse(&hdr([0x9f, 0xeb], 9, 24))).as_deref(),
            Some("Unsupported version")
        );
        assert_eq!(
            msg(BtfHeader::parse(&hdr([0x9f, 0xeb], 1, 999))).as_deref(),
            Some("btf_header not found")
        );
        assert_eq!(
            msg(BtfHeader::parse(&[0x9f])).as_deref(),
            Some("hdr_len not found")
        );
    }
}
