//! NetFlow v5: a 24-byte header and up to 30 fixed 48-byte records (Cisco's NetFlow v5 format).
//!
//! Owns: the header and record views. Must never: interpret times or sampling (the decoder does).

use super::{u16_at, u32_at};
use crate::error::DecodeError;

mod field {
    use core::ops::Range;
    pub const VERSION: Range<usize> = 0..2;
    pub const COUNT: Range<usize> = 2..4;
    pub const SYS_UPTIME: Range<usize> = 4..8;
    pub const UNIX_SECS: Range<usize> = 8..12;
    pub const UNIX_NSECS: Range<usize> = 12..16;
    pub const SEQUENCE: Range<usize> = 16..20;
    pub const ENGINE_TYPE: usize = 20;
    pub const ENGINE_ID: usize = 21;
    pub const SAMPLING: Range<usize> = 22..24;
    pub const HEADER_LEN: usize = 24;
    pub const RECORD_LEN: usize = 48;
}

/// Length of the v5 header.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Length of one v5 record.
pub const RECORD_LEN: usize = field::RECORD_LEN;
/// The most records a v5 datagram may carry.
pub const MAX_RECORDS: usize = 30;

/// A validated view of a NetFlow v5 datagram.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Check the header, the record count and that every counted record is present.
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Truncated("v5 header"));
        }
        let count = usize::from(u16_at(b, field::COUNT.start));
        if count == 0 || count > MAX_RECORDS {
            return Err(DecodeError::BadCount("v5 record count is 0 or over 30"));
        }
        if b.len() < HEADER_LEN + count * RECORD_LEN {
            return Err(DecodeError::Truncated("v5 records"));
        }
        Ok(Packet { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Version field (5).
    pub fn version(&self) -> u16 {
        u16_at(self.b(), field::VERSION.start)
    }
    /// Number of records.
    pub fn count(&self) -> usize {
        usize::from(u16_at(self.b(), field::COUNT.start))
    }
    /// Milliseconds since the exporter booted, at export.
    pub fn sys_uptime(&self) -> u32 {
        u32_at(self.b(), field::SYS_UPTIME.start)
    }
    /// Export time, seconds.
    pub fn unix_secs(&self) -> u32 {
        u32_at(self.b(), field::UNIX_SECS.start)
    }
    /// Export time, residual nanoseconds.
    pub fn unix_nsecs(&self) -> u32 {
        u32_at(self.b(), field::UNIX_NSECS.start)
    }
    /// Sequence number of the first record (counts records).
    pub fn sequence(&self) -> u32 {
        u32_at(self.b(), field::SEQUENCE.start)
    }
    /// Engine type.
    pub fn engine_type(&self) -> u8 {
        self.b()[field::ENGINE_TYPE]
    }
    /// Engine id.
    pub fn engine_id(&self) -> u8 {
        self.b()[field::ENGINE_ID]
    }
    /// Sampling mode (top 2 bits) and interval (low 14 bits).
    pub fn sampling(&self) -> (u8, u16) {
        let v = u16_at(self.b(), field::SAMPLING.start);
        ((v >> 14) as u8, v & 0x3fff)
    }
    /// Record `i`, or `None` when `i >= count()`.
    pub fn record(&self, i: usize) -> Option<Record<'_>> {
        self.records().nth(i)
    }

    /// The `count()` records, in order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = Record<'_>> {
        // `new_checked` saw every counted record; `get` keeps this total all the same.
        let end = HEADER_LEN + self.count() * RECORD_LEN;
        let body = self.b().get(HEADER_LEN..end).unwrap_or_default();
        body.as_chunks::<RECORD_LEN>().0.iter().map(Record)
    }
}

/// One 48-byte v5 record. Its fields sit at fixed offsets of a fixed-size array, so reading them
/// takes no bounds check.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a>(pub &'a [u8; RECORD_LEN]);

impl Record<'_> {
    /// Source IPv4 address.
    pub fn src_addr(&self) -> [u8; 4] {
        [self.0[0], self.0[1], self.0[2], self.0[3]]
    }
    /// Destination IPv4 address.
    pub fn dst_addr(&self) -> [u8; 4] {
        [self.0[4], self.0[5], self.0[6], self.0[7]]
    }
    /// Next hop.
    pub fn next_hop(&self) -> [u8; 4] {
        [self.0[8], self.0[9], self.0[10], self.0[11]]
    }
    /// Input ifIndex.
    pub fn input(&self) -> u16 {
        u16_at(self.0, 12)
    }
    /// Output ifIndex.
    pub fn output(&self) -> u16 {
        u16_at(self.0, 14)
    }
    /// Packets.
    pub fn packets(&self) -> u32 {
        u32_at(self.0, 16)
    }
    /// L3 bytes.
    pub fn octets(&self) -> u32 {
        u32_at(self.0, 20)
    }
    /// sysUptime at the first packet, ms.
    pub fn first(&self) -> u32 {
        u32_at(self.0, 24)
    }
    /// sysUptime at the last packet, ms.
    pub fn last(&self) -> u32 {
        u32_at(self.0, 28)
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16_at(self.0, 32)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.0, 34)
    }
    /// Cumulative TCP flags.
    pub fn tcp_flags(&self) -> u8 {
        self.0[37]
    }
    /// IP protocol.
    pub fn protocol(&self) -> u8 {
        self.0[38]
    }
    /// Type of service.
    pub fn tos(&self) -> u8 {
        self.0[39]
    }
    /// Source AS.
    pub fn src_as(&self) -> u16 {
        u16_at(self.0, 40)
    }
    /// Destination AS.
    pub fn dst_as(&self) -> u16 {
        u16_at(self.0, 42)
    }
    /// Source prefix mask.
    pub fn src_mask(&self) -> u8 {
        self.0[44]
    }
    /// Destination prefix mask.
    pub fn dst_mask(&self) -> u8 {
        self.0[45]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden_one_record() -> Vec<u8> {
        let mut d = vec![
            0, 5, 0, 1, // version 5, count 1
            0, 0, 0x27, 0x10, // uptime 10000 ms
            0x65, 0x92, 0x00, 0x80, // unix secs 1704067200
            0, 0, 0, 0, // nsecs
            0, 0, 0, 7, // sequence 7
            1, 2, // engine type/id
            0x40, 0x0a, // sampling mode 1, interval 10
        ];
        d.extend_from_slice(&[
            10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 254, // src, dst, nexthop
            0, 3, 0, 4, // in 3, out 4
            0, 0, 0, 5, 0, 0, 0x05, 0xdc, // 5 packets, 1500 bytes
            0, 0, 0x13, 0x88, 0, 0, 0x23, 0x28, // first 5000, last 9000
            0x30, 0x39, 0, 80, 0, 0x1b, 6,
            0, // ports 12345 -> 80, pad, flags 0x1b, tcp, tos 0
            0xfd, 0xe8, 0, 15, 24, 16, 0, 0, // src as 65000, dst as 15, masks 24/16, pad
        ]);
        d
    }

    #[test]
    fn reads_every_header_and_record_field_of_a_golden_datagram() {
        let d = golden_one_record();
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(
            (p.version(), p.count(), p.sys_uptime(), p.unix_secs()),
            (5, 1, 10000, 1_704_067_200)
        );
        assert_eq!((p.sequence(), p.engine_type(), p.engine_id()), (7, 1, 2));
        assert_eq!(p.sampling(), (1, 10));
        let r = p.record(0).unwrap();
        assert!(p.record(1).is_none());
        assert_eq!(p.records().len(), 1);
        assert_eq!(r.src_addr(), [10, 0, 0, 1]);
        assert_eq!(r.dst_addr(), [10, 0, 0, 2]);
        assert_eq!(r.next_hop(), [10, 0, 0, 254]);
        assert_eq!((r.input(), r.output()), (3, 4));
        assert_eq!((r.packets(), r.octets()), (5, 1500));
        assert_eq!((r.first(), r.last()), (5000, 9000));
        assert_eq!((r.src_port(), r.dst_port()), (12345, 80));
        assert_eq!((r.tcp_flags(), r.protocol(), r.tos()), (0x1b, 6, 0));
        assert_eq!((r.src_as(), r.dst_as()), (65000, 15));
        assert_eq!((r.src_mask(), r.dst_mask()), (24, 16));
    }

    #[test]
    fn rejects_a_count_that_the_datagram_does_not_hold() {
        let mut d = golden_one_record();
        d[3] = 2;
        assert_eq!(
            Packet::new_checked(&d[..]).unwrap_err(),
            DecodeError::Truncated("v5 records")
        );
        d[3] = 31;
        assert!(matches!(
            Packet::new_checked(&d[..]),
            Err(DecodeError::BadCount(_))
        ));
        assert!(Packet::new_checked(&d[..23]).is_err());
    }
}
