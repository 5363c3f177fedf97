//! Zero-copy views over the bytes of flow-export datagrams.
//!
//! Owns: the fixed headers of NetFlow v5, NetFlow v9 and IPFIX, the sFlow v5 framing ([`sflow`])
//! and the sampled-packet header reader ([`packet`]), as `Packet<T: AsRef<[u8]>>`-style
//! views, and the borrowing [`Reader`] used for every length-prefixed part (sets, template records,
//! variable-length fields).
//!
//! The contract, for every type here:
//! - `new_checked` validates the length once; after it succeeds no accessor can panic.
//! - A length that came from the wire is checked against the bytes that are really there before it
//!   is used to slice ([`Reader::sub`] is the only way to take a length-prefixed part).
//! - Nothing here allocates, reads the clock, or touches the network.

pub mod ipfix;
pub mod packet;
pub mod reader;
pub mod sflow;
pub mod v5;
pub mod v9;

pub use reader::Reader;

/// Read a big-endian unsigned integer of 1 to 8 bytes (reduced-size encoding, RFC 7011 §6.2).
/// Longer inputs keep their last 8 bytes; an empty slice reads as 0.
#[inline(always)]
pub fn be_uint(bytes: &[u8]) -> u64 {
    // The common widths compile to one load and a byte swap; the rest right-align into 8 bytes.
    match *bytes {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            let n = bytes.len().min(8);
            let mut buf = [0u8; 8];
            buf[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
            u64::from_be_bytes(buf)
        }
    }
}

/// Read a big-endian u16 at `at`; callers have checked that `at + 2 <= buf.len()`.
#[inline(always)]
pub(crate) fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Read a big-endian u32 at `at`; callers have checked that `at + 4 <= buf.len()`.
#[inline(always)]
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reduced_size_unsigned_integers() {
        assert_eq!(be_uint(&[]), 0);
        assert_eq!(be_uint(&[0x12]), 0x12);
        assert_eq!(be_uint(&[0x12, 0x34, 0x56]), 0x123456);
        assert_eq!(be_uint(&[0xff; 8]), u64::MAX);
        assert_eq!(be_uint(&[1, 2]), 0x0102);
        assert_eq!(be_uint(&[1, 2, 3, 4]), 0x0102_0304);
        assert_eq!(be_uint(&[1, 2, 3, 4, 5]), 0x01_0203_0405);
        assert_eq!(be_uint(&[9, 1, 2, 3, 4, 5, 6, 7, 8]), 0x0102_0304_0506_0708);
    }
}
