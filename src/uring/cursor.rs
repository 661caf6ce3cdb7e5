//! Progress through an output buffer across short sends. Pure and tested, so no byte is
//! sent twice or dropped when the kernel takes less than was offered.

/// An owned output buffer and how much of it the kernel has taken.
#[derive(Debug)]
pub(crate) struct SendCursor<B> {
    buf: B,
    /// INVARIANT: `sent <= buf.as_ref().len()`.
    sent: usize,
}

impl<B: AsRef<[u8]>> SendCursor<B> {
    pub(crate) fn new(buf: B) -> Self {
        SendCursor { buf, sent: 0 }
    }

    /// The bytes still to send.
    pub(crate) fn remaining(&self) -> &[u8] {
        &self.buf.as_ref()[self.sent..]
    }

    /// Records that the kernel took `n` more bytes; returns whether all are sent.
    pub(crate) fn advance(&mut self, n: usize) -> bool {
        self.sent = (self.sent + n).min(self.buf.as_ref().len());
        self.sent == self.buf.as_ref().len()
    }

    pub(crate) fn into_inner(self) -> B {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sends_continue_from_the_offset() {
        let mut cursor = SendCursor::new(b"abcdefgh".to_vec());
        assert!(!cursor.advance(3));
        assert_eq!(cursor.remaining(), b"defgh");
        assert!(!cursor.advance(2));
        assert_eq!(cursor.remaining(), b"fgh");
        assert!(cursor.advance(3));
        assert_eq!(cursor.remaining(), b"");
    }

    #[test]
    fn never_passes_the_end() {
        let mut cursor = SendCursor::new(vec![0u8; 4]);
        assert!(cursor.advance(10));
        assert!(cursor.remaining().is_empty());
        assert_eq!(cursor.into_inner().len(), 4);
    }
}
