//! What a flow step puts out: the bytes to send, and (when an access log is kept) one
//! [`Answered`] record per request answered, each with its own request's start time.
//! Both go to buffers the caller owns, as in rustls' unbuffered API: nothing of it stays
//! in the connection.

use std::time::Instant;

/// One answered request, for the access log. Text fields are as received (bytes that
/// are not UTF-8 replaced); the log escapes them as it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answered {
    /// The request as it was sent.
    pub request: Requested,
    /// The status answered.
    pub status: u16,
    /// Bytes of the answer, head and body.
    pub bytes: usize,
    /// Bytes of the answer's body.
    pub body_bytes: usize,
    /// When this request's first bytes arrived on its connection.
    pub started: Instant,
}

/// What the access log keeps of a request: its line, and the headers a log reader wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Requested {
    /// The method, or `-` for a request refused before its line was read.
    pub method: String,
    /// The request target, or `-`.
    pub target: String,
    /// `HTTP/1.1`, `HTTP/1.0`, or `-`.
    pub protocol: String,
    /// `Host`.
    pub host: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Referer`.
    pub referer: Option<String>,
    /// `X-Forwarded-For` as received (several fields joined with `, `).
    pub forwarded_for: Option<String>,
}

impl Requested {
    /// A request refused before its line was read.
    fn unknown() -> Requested {
        Requested {
            method: "-".into(),
            target: "-".into(),
            protocol: "-".into(),
            ..Requested::default()
        }
    }

    /// The request whose complete, validated head is `head` (CRLF line ends).
    pub(super) fn from_head(head: &[u8]) -> Requested {
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let mut line = lines.next().unwrap_or_default().splitn(3, |&b| b == b' ');
        let mut r = Requested {
            method: text(line.next().unwrap_or(b"-")),
            target: text(line.next().unwrap_or(b"-")),
            protocol: text(line.next().unwrap_or(b"-")),
            ..Requested::default()
        };
        for field in lines.take_while(|l| !l.is_empty()) {
            let Some(colon) = field.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = super::fields::trim(&field[colon + 1..]);
            r.add(&field[..colon], value);
        }
        r
    }

    fn add(&mut self, name: &[u8], value: &[u8]) {
        let slot = match name {
            n if n.eq_ignore_ascii_case(b"host") => &mut self.host,
            n if n.eq_ignore_ascii_case(b"user-agent") => &mut self.user_agent,
            n if n.eq_ignore_ascii_case(b"referer") => &mut self.referer,
            n if n.eq_ignore_ascii_case(b"x-forwarded-for") => {
                let joined = match self.forwarded_for.take() {
                    Some(so_far) => format!("{so_far}, {}", text(value)),
                    None => text(value),
                };
                self.forwarded_for = Some(joined);
                return;
            }
            _ => return,
        };
        slot.get_or_insert_with(|| text(value));
    }
}

#[cfg(test)]
impl Requested {
    /// The request of `head` (CRLF lines), or a request refused unread if it is empty.
    pub(crate) fn for_test(head: &str) -> Requested {
        match head {
            "" => Requested::unknown(),
            head => Requested::from_head(head.as_bytes()),
        }
    }
}

#[cfg(test)]
impl Answered {
    pub(crate) fn for_test(request: Requested, status: u16, bytes: usize, body: usize) -> Self {
        Answered {
            request,
            status,
            bytes,
            body_bytes: body,
            started: Instant::now(),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where a record's request comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'a> {
    /// The complete head, still in the input.
    Head(&'a [u8]),
    /// Kept while the request's body arrived.
    Kept(&'a Requested),
    /// Refused before its line was read.
    Unknown,
}

impl Source<'_> {
    fn requested(self) -> Requested {
        match self {
            Source::Head(head) => Requested::from_head(head),
            Source::Kept(kept) => kept.clone(),
            Source::Unknown => Requested::unknown(),
        }
    }
}

/// Where a flow step's output goes.
#[derive(Debug)]
pub struct Output<'a> {
    /// Answers are appended here, to be written in order.
    pub bytes: &'a mut Vec<u8>,
    /// A record of each answered request is appended here, if an access log is kept.
    pub records: Option<&'a mut Vec<Answered>>,
    /// The step's clock reading, taken at its first timed answer and shared by the rest:
    /// one reading per batch of input, however many requests it holds.
    now: Option<Instant>,
}

impl<'a> Output<'a> {
    /// Output to `bytes`, and records to `records` if an access log is kept.
    pub fn new(bytes: &'a mut Vec<u8>, records: Option<&'a mut Vec<Answered>>) -> Output<'a> {
        Output {
            bytes,
            records,
            now: None,
        }
    }

    /// Output to `bytes` only: no access log.
    pub fn bytes(bytes: &'a mut Vec<u8>) -> Output<'a> {
        Output::new(bytes, None)
    }

    /// The time now, as this step reads it: the first call reads the clock.
    pub(super) fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    /// Records the answer in `bytes[from..]` with `status` to the request `source`, which
    /// began at `started`, if records are kept.
    pub(super) fn record(
        &mut self,
        source: Source<'_>,
        status: u16,
        from: usize,
        started: Instant,
    ) {
        let Some(records) = self.records.as_mut() else {
            return;
        };
        let answer = &self.bytes[from..];
        let head = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| i + 4);
        records.push(Answered {
            request: source.requested(),
            status,
            bytes: answer.len(),
            body_bytes: answer.len().saturating_sub(head),
            started,
        });
    }

    /// Whether records are kept (the request is worth keeping for them).
    pub(super) fn keeps_records(&self) -> bool {
        self.records.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_its_line_and_the_logged_fields() {
        let head = b"GET /a?b HTTP/1.1\r\nhost:  example.com \r\nUser-Agent: curl/8\r\n\
            X-Forwarded-For: 10.0.0.1\r\nReferer: http://r/\r\nx-forwarded-for: 10.0.0.2\r\n\r\n";
        let r = Requested::from_head(head);
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/a?b"));
        assert_eq!(r.protocol, "HTTP/1.1");
        assert_eq!(r.host.as_deref(), Some("example.com"));
        assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(r.referer.as_deref(), Some("http://r/"));
        assert_eq!(r.forwarded_for.as_deref(), Some("10.0.0.1, 10.0.0.2"));
    }

    #[test]
    fn absent_fields_are_none() {
        let r = Requested::from_head(b"HEAD / HTTP/1.0\r\n\r\n");
        assert_eq!(r.protocol, "HTTP/1.0");
        assert_eq!(
            (r.host, r.user_agent, r.referer, r.forwarded_for),
            (None, None, None, None)
        );
    }
}
