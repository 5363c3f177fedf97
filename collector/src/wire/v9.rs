//! NetFlow v9 packet header (RFC 3954 §5.1). FlowSets follow it and are read with [`super::Reader`].

use super::{u16_at, u32_at};
use crate::error::DecodeError;

/// Length of the v9 header.
pub const HEADER_LEN: usize = 20;

/// A validated view of a NetFlow v9 header.
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Check that the 20-byte header is present.
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(DecodeError::Truncated("v9 header"));
        }
        Ok(Header { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Version (9).
    pub fn version(&self) -> u16 {
        u16_at(self.b(), 0)
    }
    /// Total number of records (template and data) in the packet.
    pub fn count(&self) -> u16 {
        u16_at(self.b(), 2)
    }
    /// Milliseconds since the exporter booted.
    pub fn sys_uptime(&self) -> u32 {
        u32_at(self.b(), 4)
    }
    /// Export time, seconds since the epoch.
    pub fn unix_secs(&self) -> u32 {
        u32_at(self.b(), 8)
    }
    /// Packet sequence number.
    pub fn sequence(&self) -> u32 {
        u32_at(self.b(), 12)
    }
    /// Source id: the exporter's observation domain.
    pub fn source_id(&self) -> u32 {
        u32_at(self.b(), 16)
    }
    /// The FlowSets after the header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_fields_and_refuses_a_short_header() {
        let d = [
            0, 9, 0, 2, 0, 0, 1, 0, 0x65, 0x92, 0, 0x80, 0, 0, 0, 9, 0, 0, 1, 0, 0xaa,
        ];
        let h = Header::new_checked(&d[..]).unwrap();
        assert_eq!((h.version(), h.count(), h.sys_uptime()), (9, 2, 256));
        assert_eq!(
            (h.unix_secs(), h.sequence(), h.source_id()),
            (1_704_067_200, 9, 256)
        );
        assert_eq!(h.payload(), &[0xaa]);
        assert!(Header::new_checked(&d[..19]).is_err());
    }
}
