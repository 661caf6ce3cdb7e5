//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally: bytes in, decoded
//! data out, no buffering of the framing, so memory stays the same whatever the chunking.
//!
//! Strict where a lenient reading could disagree with a proxy in front about where the body
//! ends (request smuggling): hex digits only in chunk-size (no sign, no `0x`, no space but
//! the grammar's whitespace before an extension's `;`); CRLF wherever the grammar says CRLF. A bare LF is refused
//! (`400`): RFC 9112 §2.2 lets a recipient accept one as a line end in the start-line and
//! header fields only, and proxies that did accept it inside chunked framing are exactly the
//! ones that were smuggled past. Chunk extensions are held to their grammar (RFC 9112
//! §7.1.1: `*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`) and
//! ignored; the trailer section is checked line by line and ignored.

use super::fields::is_tchar;
use super::status::Status;

/// Longest chunk-size line, extensions (and leading zeros) included.
const MAX_SIZE_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits.
    Size,
    /// Whitespace after the digits, which only a `;` may follow (BWS in the grammar).
    SizeSpace,
    /// A chunk extension, part by part.
    Ext(Ext),
    /// CR seen at the end of the size line; LF must follow.
    SizeLf,
    /// Inside chunk-data, `remaining` bytes to go.
    Data,
    /// The CRLF after chunk-data.
    DataCr,
    DataLf,
    /// Inside the trailer section: at the start of a line.
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// CR seen at the end of a trailer line (or of the section, if it was empty).
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Where in a chunk extension (`; name = value`) the size line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// After `;`: whitespace, then a name.
    BeforeName,
    Name,
    /// Whitespace after a name: `=` or `;` must follow.
    AfterName,
    /// After `=`: whitespace, then a token or a quoted string.
    BeforeValue,
    Token,
    Quoted,
    /// After a backslash inside a quoted string.
    Escaped,
    /// Right after a quoted string's closing quote.
    Closed,
    /// Whitespace after a value: `;` must follow.
    AfterValue,
}

impl Ext {
    /// The state after `b`, or `None` where the grammar has no place for it (a bare
    /// `;`, a name that is not a token, whitespace before the line's end).
    fn next(self, b: u8) -> Option<State> {
        let space = b == b' ' || b == b'\t';
        let ext = match self {
            Ext::BeforeName | Ext::AfterName | Ext::BeforeValue | Ext::AfterValue if space => self,
            Ext::BeforeName | Ext::Name if is_tchar(b) => Ext::Name,
            Ext::Name if space => Ext::AfterName,
            Ext::Name | Ext::AfterName if b == b'=' => Ext::BeforeValue,
            Ext::BeforeValue | Ext::Token if is_tchar(b) => Ext::Token,
            Ext::BeforeValue if b == b'"' => Ext::Quoted,
            Ext::Token if space => Ext::AfterValue,
            Ext::Quoted if b == b'"' => Ext::Closed,
            Ext::Quoted if b == b'\\' => Ext::Escaped,
            Ext::Quoted if is_qdtext(b) => Ext::Quoted,
            Ext::Escaped if b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80 => {
                Ext::Quoted
            }
            Ext::Closed if space => Ext::AfterValue,
            Ext::Name | Ext::AfterName | Ext::Token | Ext::Closed | Ext::AfterValue
                if b == b';' =>
            {
                Ext::BeforeName
            }
            Ext::Name | Ext::Token | Ext::Closed if b == b'\r' => return Some(State::SizeLf),
            _ => return None,
        };
        Some(State::Ext(ext))
    }
}

/// A chunked body being read.
#[derive(Debug, Clone)]
pub(super) struct Chunked {
    state: State,
    /// Digits of the current chunk-size, then the bytes left of its data.
    remaining: u64,
    digits: usize,
    /// Bytes of the current size line, or of the trailer section.
    line: usize,
    /// A trailer line has a colon (a field name precedes it).
    colon: bool,
    /// Decoded bytes so far, bounded by `max_body`.
    decoded: u64,
    max_body: u64,
    max_trailer: usize,
}

/// What one call decoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Decoded {
    /// Input bytes consumed.
    pub consumed: usize,
    /// The body ended (last chunk and trailer section read).
    pub done: bool,
}

impl Chunked {
    /// A decoder allowing `max_body` decoded bytes and a `max_trailer`-byte trailer.
    pub(super) fn new(max_body: u64, max_trailer: usize) -> Chunked {
        Chunked {
            state: State::Size,
            remaining: 0,
            digits: 0,
            line: 0,
            colon: false,
            decoded: 0,
            max_body,
            max_trailer,
        }
    }

    /// Decodes what `input` holds, handing chunk data to `data`. An error is the status
    /// to answer; the framing is then unknown and the connection must close.
    pub(super) fn decode(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<Decoded, Status> {
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = self.remaining.min((input.len() - at) as u64) as usize;
                data(&input[at..at + take]);
                self.remaining -= take as u64;
                at += take;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[at])?;
            at += 1;
        }
        Ok(Decoded {
            consumed: at,
            done: self.state == State::Done,
        })
    }

    /// One byte of framing.
    fn step(&mut self, b: u8) -> Result<(), Status> {
        self.state = match self.state {
            State::Size => self.size_digit(b)?,
            State::SizeSpace => self.size_space(b)?,
            State::Ext(at) => self.extension(at, b)?,
            State::SizeLf => self.expect_lf(b, |c| c.chunk_start())?,
            State::DataCr => expect(b, b'\r', State::DataLf)?,
            State::DataLf => expect(b, b'\n', State::Size)?,
            State::TrailerStart => self.trailer_start(b)?,
            State::TrailerLine => self.trailer_byte(b)?,
            State::TrailerLf { empty } => self.expect_lf(b, |c| c.trailer_end(empty))?,
            State::Data | State::Done => unreachable!("handled by decode"),
        };
        Ok(())
    }

    fn size_digit(&mut self, b: u8) -> Result<State, Status> {
        self.count_line()?;
        let Some(digit) = (b as char).to_digit(16) else {
            return match (self.digits, b) {
                (0, _) => Err(Status::BadRequest), // no digits: sign, `0x`, space, nothing
                (_, b';') => Ok(State::Ext(Ext::BeforeName)),
                (_, b' ' | b'\t') => Ok(State::SizeSpace),
                (_, b'\r') => Ok(State::SizeLf),
                _ => Err(Status::BadRequest), // a bare LF, anything else
            };
        };
        self.digits += 1;
        if self.remaining >> 60 != 0 {
            return Err(Status::BadRequest); // a 17th significant digit: overflow
        }
        self.remaining = self.remaining << 4 | u64::from(digit);
        Ok(State::Size)
    }

    fn size_space(&mut self, b: u8) -> Result<State, Status> {
        self.count_line()?;
        match b {
            b' ' | b'\t' => Ok(State::SizeSpace),
            b';' => Ok(State::Ext(Ext::BeforeName)),
            _ => Err(Status::BadRequest), // `5 5`, `5 \r\n`
        }
    }

    /// One byte of a chunk extension, held to the grammar; the extension is ignored.
    fn extension(&mut self, at: Ext, b: u8) -> Result<State, Status> {
        self.count_line()?;
        at.next(b).ok_or(Status::BadRequest)
    }

    fn count_line(&mut self) -> Result<(), Status> {
        self.line += 1;
        match self.line > MAX_SIZE_LINE {
            true => Err(Status::BadRequest),
            false => Ok(()),
        }
    }

    fn expect_lf(
        &mut self,
        b: u8,
        next: impl FnOnce(&mut Self) -> Result<State, Status>,
    ) -> Result<State, Status> {
        match b {
            b'\n' => next(self),
            _ => Err(Status::BadRequest),
        }
    }

    /// A size line ended: data follows, or the last chunk's trailer section.
    fn chunk_start(&mut self) -> Result<State, Status> {
        let size = std::mem::take(&mut self.remaining);
        (self.digits, self.line) = (0, 0);
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        self.decoded = self.decoded.saturating_add(size);
        if self.decoded > self.max_body {
            return Err(Status::PayloadTooLarge);
        }
        self.remaining = size;
        Ok(State::Data)
    }

    fn trailer_start(&mut self, b: u8) -> Result<State, Status> {
        self.colon = false;
        match b {
            b'\r' => self
                .count_trailer()
                .map(|()| State::TrailerLf { empty: true }),
            b' ' | b'\t' => Err(Status::BadRequest), // obs-fold
            _ => self.trailer_byte(b),
        }
    }

    /// A field line, checked loosely (a token name before a colon, no control bytes)
    /// and ignored.
    fn trailer_byte(&mut self, b: u8) -> Result<State, Status> {
        self.count_trailer()?;
        match b {
            b'\r' if self.colon => Ok(State::TrailerLf { empty: false }),
            b':' if !self.colon => {
                self.colon = true;
                Ok(State::TrailerLine)
            }
            b'\t' if self.colon => Ok(State::TrailerLine),
            b if b.is_ascii_control() => Err(Status::BadRequest),
            b if !self.colon && !is_tchar(b) => Err(Status::BadRequest),
            _ => Ok(State::TrailerLine),
        }
    }

    fn count_trailer(&mut self) -> Result<(), Status> {
        self.line += 1;
        match self.line > self.max_trailer {
            true => Err(Status::HeaderFieldsTooLarge),
            false => Ok(()),
        }
    }

    fn trailer_end(&mut self, empty: bool) -> Result<State, Status> {
        Ok(if empty {
            State::Done
        } else {
            State::TrailerStart
        })
    }
}

/// A byte a quoted string may hold as it is (RFC 9110 §5.6.4).
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

fn expect(b: u8, want: u8, next: State) -> Result<State, Status> {
    match b == want {
        true => Ok(next),
        false => Err(Status::BadRequest),
    }
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
