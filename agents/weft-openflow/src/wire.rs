//! Big-endian reading and writing, and the codec's errors.

/// Why bytes are not a message this codec understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{what}: length {len} is invalid")]
    BadLength { what: &'static str, len: usize },
    #[error("OpenFlow version 0x{0:02x} is not supported (only 1.3, 0x04)")]
    UnsupportedVersion(u8),
    #[error("{what}: unknown value {value}")]
    BadValue { what: &'static str, value: u64 },
    #[error("bundle add: inner message xid {inner} differs from outer xid {outer}")]
    BundleXidMismatch { outer: u32, inner: u32 },
}

/// Why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} would be {len} bytes, more than its 16-bit length field allows")]
    TooLong { what: &'static str, len: usize },
}

/// A cursor over a byte slice; every read checks the length.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                need: n,
                have: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.bytes(n, what).map(|_| ())
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Splits off a sub-reader of `n` bytes.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        self.bytes(n, what).map(Reader::new)
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_zeros(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, 0);
}

/// Pads `out` with zeros so that the bytes written since `start` are a
/// multiple of 8 long (OpenFlow's alignment for matches, actions and
/// instructions).
pub(crate) fn pad_to_8(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    put_zeros(out, len.next_multiple_of(8) - len);
}

/// Writes a 16-bit length at `at`: the number of bytes from `start` to the
/// end of `out`.
pub(crate) fn patch_len(
    out: &mut [u8],
    at: usize,
    start: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let len = out.len() - start;
    let v = u16::try_from(len).map_err(|_| EncodeError::TooLong { what, len })?;
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Lowercase hex, for opaque values and fixtures.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses hex, ignoring ASCII whitespace and `#` comments to the end of a
/// line (the fixture format). `None` on an odd digit count or a non-hex
/// character.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.bytes())
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_with_what_was_read() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert_eq!(
            r.u32("b"),
            Err(DecodeError::Truncated {
                what: "b",
                need: 4,
                have: 1
            })
        );
    }

    #[test]
    fn hex_round_trips_and_skips_comments() {
        assert_eq!(from_hex("04 00 # hello\n0010"), Some(vec![4, 0, 0, 0x10]));
        assert_eq!(to_hex(&[0xab, 0x01]), "ab01");
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn pad_and_patch() {
        let mut v = vec![0, 0, 9];
        pad_to_8(&mut v, 0);
        assert_eq!(v.len(), 8);
        patch_len(&mut v, 0, 0, "x").unwrap();
        assert_eq!(&v[..2], &[0, 8]);
        let mut big = vec![0u8; 70_000];
        assert!(patch_len(&mut big, 0, 0, "x").is_err());
    }
}
