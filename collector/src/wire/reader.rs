//! A borrowing cursor for length-prefixed parts of a datagram.
//!
//! Owns: bounds-checked reads. Every read returns `None` instead of panicking when the bytes are not
//! there. Trailing bytes are the caller's decision: [`Reader::remaining`] tells how many are left, and
//! set decoders treat a tail shorter than one record as padding (RFC 3954 §5.3, RFC 7011 §3.3.1).

/// A cursor over a byte slice that hands out sub-slices only after checking their length.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// True when every byte is read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Take the next `len` bytes, or `None` (consuming nothing) when fewer remain.
    #[inline]
    pub fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Some(head)
    }

    /// Take the next `len` bytes as a reader of their own.
    #[inline]
    pub fn sub(&mut self, len: usize) -> Option<Reader<'a>> {
        self.take(len).map(Reader::new)
    }

    /// Read one byte.
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.buf.split_first()?;
        self.buf = tail;
        Some(b)
    }

    /// Read a big-endian u16.
    #[inline]
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Read a big-endian u32.
    #[inline]
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Read an IPFIX variable-length field (RFC 7011 §7): a 1-byte length, or 255 followed by a
    /// 2-byte length. A length of 0 is valid and gives an empty slice.
    #[inline]
    pub fn varlen(&mut self) -> Option<&'a [u8]> {
        let save = *self;
        let len = match self.u8()? {
            255 => match self.u16() {
                Some(l) => usize::from(l),
                None => {
                    *self = save;
                    return None;
                }
            },
            l => usize::from(l),
        };
        match self.take(len) {
            Some(v) => Some(v),
            None => {
                *self = save;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_take_more_than_remains_and_consumes_nothing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.take(4).is_none());
        assert_eq!(r.remaining(), 3);
        assert_eq!(r.u16(), Some(0x0102));
        assert!(r.u16().is_none());
        assert_eq!(r.u8(), Some(3));
        assert!(r.is_empty());
    }

    #[test]
    fn reads_variable_length_fields_in_both_length_forms() {
        let mut r = Reader::new(&[2, b'a', b'b', 0, 255, 0, 3, b'x', b'y', b'z']);
        assert_eq!(r.varlen(), Some(&b"ab"[..]));
        assert_eq!(r.varlen(), Some(&b""[..]));
        assert_eq!(r.varlen(), Some(&b"xyz"[..]));
        assert!(r.is_empty());
    }

    #[test]
    fn variable_length_field_longer_than_the_data_is_rejected_without_consuming() {
        let mut r = Reader::new(&[255, 0x10, 0x00, 1, 2]);
        assert!(r.varlen().is_none());
        assert_eq!(r.remaining(), 5);
        let mut r = Reader::new(&[255, 0x10]);
        assert!(r.varlen().is_none());
        assert_eq!(r.remaining(), 2);
    }
}
