//! IPFIX message header (RFC 7011 §3.1). Sets follow it and are read with [`super::Reader`].

use super::{u16_at, u32_at};
use crate::error::DecodeError;

/// Length of the IPFIX message header.
pub const HEADER_LEN: usize = 16;

/// A validated view of an IPFIX message: the header and exactly `length` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Check the header, and that the message length field is at least the header and no more than
    /// the datagram. Bytes after `length` are ignored (counted by the caller).
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Truncated("IPFIX header"));
        }
        let len = usize::from(u16_at(b, 2));
        if len < HEADER_LEN {
            return Err(DecodeError::BadLength(
                "IPFIX message length below header length",
            ));
        }
        if len > b.len() {
            return Err(DecodeError::Truncated(
                "IPFIX message shorter than its length field",
            ));
        }
        Ok(Header { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Version (10).
    pub fn version(&self) -> u16 {
        u16_at(self.b(), 0)
    }
    /// Message length, including the header.
    pub fn length(&self) -> usize {
        usize::from(u16_at(self.b(), 2))
    }
    /// Export time, seconds since the epoch.
    pub fn export_time(&self) -> u32 {
        u32_at(self.b(), 4)
    }
    /// Sequence number: data records sent before this message, modulo 2^32.
    pub fn sequence(&self) -> u32 {
        u32_at(self.b(), 8)
    }
    /// Observation domain id.
    pub fn domain(&self) -> u32 {
        u32_at(self.b(), 12)
    }
    /// The sets: bytes from the header's end to `length`.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.length()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_length_bounds_the_payload_and_is_validated() {
        let mut d = vec![
            0, 10, 0, 18, 0x65, 0x92, 0, 0x80, 0, 0, 0, 3, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc,
        ];
        let h = Header::new_checked(&d[..]).unwrap();
        assert_eq!(
            (h.version(), h.length(), h.export_time()),
            (10, 18, 1_704_067_200)
        );
        assert_eq!((h.sequence(), h.domain()), (3, 1));
        assert_eq!(h.payload(), &[0xaa, 0xbb]);
        d[3] = 20;
        assert!(matches!(
            Header::new_checked(&d[..]),
            Err(DecodeError::Truncated(_))
        ));
        d[3] = 15;
        assert!(matches!(
            Header::new_checked(&d[..]),
            Err(DecodeError::BadLength(_))
        ));
    }
}
