//! The header fields that decide how a request is framed and answered, gathered in one
//! pass over httparse's headers: `Content-Length`, `Transfer-Encoding` (every line of it,
//! as one list), `Host`, `Connection`, `Content-Type`, `Expect`. Strict where two parsers
//! could disagree about where a message ends.

/// Longest `Content-Length` read: 19 digits always fit in a `u64`.
const MAX_LENGTH_DIGITS: usize = 19;

/// What the fields say.
#[derive(Debug, Default)]
pub(super) struct Fields<'a> {
    pub content_length: Option<u64>,
    pub codings: Codings,
    pub hosts: u32,
    /// The `Host` value (the last one, if there are several: those are refused anyway).
    pub host: Option<&'a [u8]>,
    pub close: bool,
    pub keep_alive: bool,
    pub content_type: Option<&'a [u8]>,
    pub expect: Expect,
    /// A field broke a framing rule: `400`.
    pub invalid: bool,
    /// A field name that reads as `Content-Length` or `Transfer-Encoding` once its `-`
    /// and `_` are dropped (`Transfer_Encoding`, `Content--Length`): a front end that
    /// normalizes names would frame this message differently.
    pub framing_lookalike: bool,
    /// Every field line ends in CRLF (as far as one byte after each value shows: a
    /// field whose value is empty, or followed by whitespace, is left to
    /// [`Fields::lines_end_in_crlf`]).
    pub crlf: bool,
    /// A field line this pass could not judge by one byte.
    pub unsure: bool,
}

/// The `Transfer-Encoding` list, over all its field lines (RFC 9110 §5.3).
#[derive(Debug, Default)]
pub(super) struct Codings {
    /// Codings named, `chunked` included.
    pub count: usize,
    pub chunked: usize,
    /// The last one named is `chunked`.
    pub ends_chunked: bool,
    /// An empty element or one that is not a plain token.
    pub malformed: bool,
}

impl Codings {
    /// Whether any `Transfer-Encoding` line was sent.
    pub(super) fn present(&self) -> bool {
        self.count > 0 || self.malformed
    }

    /// The body is framed as chunked: the list ends in `chunked`, named once.
    pub(super) fn frames_chunked(&self) -> bool {
        !self.malformed && self.ends_chunked && self.chunked == 1
    }

    /// Codings other than `chunked` were applied (`gzip, chunked`).
    pub(super) fn coded(&self) -> bool {
        self.count > 1
    }

    fn add(&mut self, value: &[u8]) {
        for coding in value.split(|&b| b == b',').map(trim) {
            self.malformed |= coding.is_empty() || !coding.iter().all(|&b| is_tchar(b));
            self.ends_chunked = coding.eq_ignore_ascii_case(b"chunked");
            self.chunked += usize::from(self.ends_chunked);
            self.count += 1;
        }
    }
}

/// What `Expect` asks for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    #[default]
    Nothing,
    /// `100-continue`: the client waits for `100 Continue` before sending the body.
    Continue,
    /// An expectation greeter cannot meet: `417`.
    Other,
}

impl<'a> Fields<'a> {
    /// What `headers`, parsed out of `head`, say.
    pub(super) fn read(headers: &[httparse::Header<'a>], head: &[u8]) -> Fields<'a> {
        let mut f = Fields {
            crlf: true,
            ..Fields::default()
        };
        let base = head.as_ptr() as usize;
        for h in headers {
            f.add(h.name.as_bytes(), h.value);
            // httparse refuses a CR that ends no line: a CR right after the value means
            // the line ends in CRLF. One byte looked at, in the pass made anyway.
            let end = (h.value.as_ptr() as usize + h.value.len()).wrapping_sub(base);
            match (h.value.is_empty(), head.get(end)) {
                (false, Some(b'\r')) => {}
                (false, Some(b'\n')) => f.crlf = false,
                _ => f.unsure = true,
            }
        }
        f
    }

    fn add(&mut self, name: &[u8], value: &'a [u8]) {
        let is = |field: &str| name.eq_ignore_ascii_case(field.as_bytes());
        if is("content-length") {
            self.invalid |= self.content_length.is_some();
            self.content_length = parse_length(value);
            self.invalid |= self.content_length.is_none();
        } else if is("transfer-encoding") {
            self.codings.add(value);
        } else if is("host") {
            self.hosts += 1;
            self.host = Some(trim(value));
        } else if is("connection") {
            for token in list(value) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if is("content-type") {
            self.invalid |= self.content_type.is_some();
            self.content_type = Some(trim(value));
        } else if is("expect") {
            self.expect = list(value).fold(self.expect, expectation);
        } else {
            self.framing_lookalike |= reads_as_framing(name);
        }
    }
}

fn expectation(so_far: Expect, value: &[u8]) -> Expect {
    match (so_far, value.eq_ignore_ascii_case(b"100-continue")) {
        (Expect::Other, _) | (_, false) => Expect::Other,
        (_, true) => Expect::Continue,
    }
}

/// Whether `name`, without its `-` and `_` and ignoring case, is `Content-Length` or
/// `Transfer-Encoding` (only called for names that are neither exactly). Almost every
/// name is settled here by its length or its first byte (`| 0x20` folds the case; `_`
/// becomes `0x7f`); the rest are compared out of line. About 15 instructions a field
/// (callgrind, `examples/proto_count`).
#[inline]
fn reads_as_framing(name: &[u8]) -> bool {
    name.len() >= FRAMING[0].len()
        && matches!(name[0] | 0x20, b'c' | b't' | b'-' | 0x7f)
        && squashes_to_framing(name)
}

/// The framing field names, lowercase, without their `-`.
const FRAMING: [&[u8]; 2] = [b"contentlength", b"transferencoding"];

#[cold]
#[inline(never)]
fn squashes_to_framing(name: &[u8]) -> bool {
    let letters = name
        .iter()
        .filter(|&&b| b != b'-' && b != b'_')
        .map(u8::to_ascii_lowercase);
    FRAMING
        .iter()
        .any(|target| letters.clone().eq(target.iter().copied()))
}

/// Strict `Content-Length`: ASCII digits only. No sign, no hex, no list, no inner space.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = trim(value);
    if digits.is_empty() || digits.len() > MAX_LENGTH_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// The elements of a comma-separated field value, trimmed, empty ones skipped.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|v| !v.is_empty())
}

/// A byte of an RFC 9110 token.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Without leading and trailing spaces and tabs.
pub(super) fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}
