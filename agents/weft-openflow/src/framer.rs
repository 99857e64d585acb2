//! Splitting a byte stream into OpenFlow messages.

use crate::message::{HEADER_LEN, Header};

/// Why the stream cannot be framed. After one, the stream is out of step
/// and the connection must be dropped: the framer keeps returning it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message length {0} is shorter than the 8-byte header")]
    TooShort(usize),
    #[error("message length {len} exceeds the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
}

/// The largest message length the header can state (64 KiB − 1). A
/// [`Framer`] may be given a lower limit.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Feed it bytes as they arrive (in any split); take complete messages out.
///
/// ```
/// use weft_openflow::Framer;
/// let mut f = Framer::new();
/// f.feed(&[4, 20, 0, 8, 0]);
/// assert_eq!(f.next_frame(), Ok(None));
/// f.feed(&[0, 0, 1, 4, 21]);
/// assert_eq!(f.next_frame(), Ok(Some(vec![4, 20, 0, 8, 0, 0, 0, 1])));
/// assert_eq!(f.next_frame(), Ok(None));
/// assert_eq!(f.buffered(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    max: usize,
    failed: Option<FrameError>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    pub fn new() -> Self {
        Framer::with_max_len(MAX_MESSAGE_LEN)
    }

    /// A framer that refuses messages longer than `max` bytes.
    pub fn with_max_len(max: usize) -> Self {
        Framer {
            buf: Vec::with_capacity(4096),
            start: 0,
            max: max.clamp(HEADER_LEN, MAX_MESSAGE_LEN),
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Reclaim the consumed prefix before growing.
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message, `None` until enough bytes arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let pending = &self.buf[self.start..];
        if pending.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = match Header::parse(pending) {
            Ok(h) => usize::from(h.length),
            Err(_) => return Ok(None),
        };
        let err = if len < HEADER_LEN {
            Some(FrameError::TooShort(len))
        } else if len > self.max {
            Some(FrameError::TooLong { len, max: self.max })
        } else {
            None
        };
        if let Some(e) = err {
            self.failed = Some(e);
            return Err(e);
        }
        if pending.len() < len {
            return Ok(None);
        }
        let frame = pending[..len].to_vec();
        self.start += len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: u16, fill: u8) -> Vec<u8> {
        let mut m = vec![4, 2];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 9]);
        m.resize(usize::from(len), fill);
        m
    }

    #[test]
    fn any_split_of_a_stream_gives_the_same_messages() {
        let stream: Vec<u8> = [msg(8, 0), msg(20, 7), msg(1000, 3), msg(9, 1)].concat();
        for chunk in [1, 2, 3, 7, 8, 100, 5000] {
            let mut f = Framer::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                f.feed(piece);
                while let Some(m) = f.next_frame().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, vec![msg(8, 0), msg(20, 7), msg(1000, 3), msg(9, 1)]);
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn short_length_poisons_the_stream() {
        let mut f = Framer::new();
        f.feed(&[4, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(f.next_frame(), Err(FrameError::TooShort(4)));
        f.feed(&msg(8, 0));
        assert_eq!(f.next_frame(), Err(FrameError::TooShort(4)));
    }

    #[test]
    fn over_limit_is_refused_before_the_body_arrives() {
        let mut f = Framer::with_max_len(100);
        f.feed(&msg(200, 0)[..8]);
        assert_eq!(
            f.next_frame(),
            Err(FrameError::TooLong { len: 200, max: 100 })
        );
        // The default accepts the largest length a header can state.
        let mut f = Framer::new();
        f.feed(&msg(u16::MAX, 0));
        assert_eq!(f.next_frame().unwrap().map(|m| m.len()), Some(65535));
    }
}
