//! Response encoding: status lines, the fixed header set and bodies, appended to a
//! caller-owned buffer.

use std::borrow::Cow;

use super::status::{Route, Status};

/// What the body of a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Body<'a> {
    /// The configured greeting (`Hello, world!` by default).
    Greeting,
    /// `Hello, {name}!`
    Greet(Cow<'a, str>),
    Text(&'static str),
    /// No content at all (`Content-Length: 0`, no `Content-Type`), as `OPTIONS` answers.
    Empty,
    /// The Prometheus exposition of the server's metrics, this tick's render.
    Metrics,
}

/// A response before encoding: small, and owned when it must wait for a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply<'a> {
    pub status: Status,
    pub body: Body<'a>,
    /// The methods the resource allows, for a `405` (`GET, HEAD`, or `POST`).
    pub allow: Option<&'static str>,
    /// HEAD: every header of the GET answer, no body.
    pub head_only: bool,
    /// The route it answers, for the request count.
    pub route: Route,
}

impl<'a> Reply<'a> {
    pub(super) fn new(status: Status, body: Body<'a>) -> Self {
        Reply {
            status,
            body,
            allow: None,
            head_only: false,
            route: Route::Other,
        }
    }

    /// An error answer whose body is its reason phrase.
    pub(super) fn error(status: Status) -> Reply<'static> {
        Reply::new(status, Body::Text(status.reason()))
    }

    pub(super) fn into_owned(self) -> Reply<'static> {
        let body = match self.body {
            Body::Greeting => Body::Greeting,
            Body::Greet(name) => Body::Greet(Cow::Owned(name.into_owned())),
            Body::Text(text) => Body::Text(text),
            Body::Empty => Body::Empty,
            Body::Metrics => Body::Metrics,
        };
        Reply { body, ..self }
    }
}

/// The interim answer to `Expect: 100-continue`: send the body.
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The `Connection` header a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persist {
    /// HTTP/1.1 keep-alive: no header needed.
    Default,
    /// HTTP/1.0 with `Connection: keep-alive`: must be confirmed.
    KeepAlive,
    /// The server closes after this response.
    Close,
}

/// The media type of every body but the metrics.
const TEXT: &[u8] = b"text/plain; charset=utf-8";
/// The Prometheus text exposition format.
const EXPOSITION: &[u8] = b"text/plain; version=0.0.4; charset=utf-8";

/// What encoding takes besides the reply: the `Date` value, the greeting, and the
/// `/metrics` body (empty unless the reply is the metrics).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sources<'a> {
    pub date: &'a [u8],
    pub greeting: &'a str,
    pub metrics: &'a [u8],
}

/// Appends one encoded response to `out`.
pub(super) fn encode(out: &mut Vec<u8>, reply: &Reply<'_>, persist: Persist, from: Sources<'_>) {
    let mut length = itoa::Buffer::new();
    let (media, body_len) = match &reply.body {
        Body::Greeting => (Some(TEXT), from.greeting.len()),
        Body::Greet(name) => (Some(TEXT), b"Hello, ".len() + name.len() + b"!".len()),
        Body::Text(text) => (Some(TEXT), text.len()),
        Body::Empty => (None, 0),
        Body::Metrics => (Some(EXPOSITION), from.metrics.len()),
    };
    out.extend_from_slice(reply.status.line());
    out.extend_from_slice(b"Server: greeter\r\nDate: ");
    out.extend_from_slice(from.date);
    if let Some(media) = media {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(media);
    }
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(length.format(body_len).as_bytes());
    out.extend_from_slice(match persist {
        Persist::Default => b"\r\n".as_slice(),
        Persist::KeepAlive => b"\r\nConnection: keep-alive\r\n",
        Persist::Close => b"\r\nConnection: close\r\n",
    });
    if let Some(methods) = reply.allow {
        out.extend_from_slice(b"Allow: ");
        out.extend_from_slice(methods.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !reply.head_only {
        write_body(out, &reply.body, from);
    }
}

fn write_body(out: &mut Vec<u8>, body: &Body<'_>, from: Sources<'_>) {
    match body {
        Body::Greeting => out.extend_from_slice(from.greeting.as_bytes()),
        Body::Greet(name) => {
            out.extend_from_slice(b"Hello, ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"!");
        }
        Body::Text(text) => out.extend_from_slice(text.as_bytes()),
        Body::Empty => {}
        Body::Metrics => out.extend_from_slice(from.metrics),
    }
}
