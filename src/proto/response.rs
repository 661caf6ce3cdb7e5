//! Response encoding: status lines, the fixed header set and bodies, appended to a
//! caller-owned buffer.

use std::borrow::Cow;

use super::Greeter;
use super::tally::Route;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    ExpectationFailed,
    HeaderFieldsTooLarge,
    ServiceUnavailable,
    VersionNotSupported,
}

impl Status {
    /// Every status, in declaration order (a `Status as usize` indexes it).
    pub const ALL: [Status; 12] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::PayloadTooLarge,
        Status::UriTooLong,
        Status::UnsupportedMediaType,
        Status::ExpectationFailed,
        Status::HeaderFieldsTooLarge,
        Status::ServiceUnavailable,
        Status::VersionNotSupported,
    ];

    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::PayloadTooLarge => 413,
            Status::UriTooLong => 414,
            Status::UnsupportedMediaType => 415,
            Status::ExpectationFailed => 417,
            Status::HeaderFieldsTooLarge => 431,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::PayloadTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            Status::ExpectationFailed => "Expectation Failed",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// A 2xx status: the request succeeded.
    pub fn is_success(self) -> bool {
        self == Status::Ok
    }

    /// The whole status line, CRLF included; a match keeps it free of formatting.
    fn line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"HTTP/1.1 200 OK\r\n",
            Status::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Status::NotFound => b"HTTP/1.1 404 Not Found\r\n",
            Status::MethodNotAllowed => b"HTTP/1.1 405 Method Not Allowed\r\n",
            Status::RequestTimeout => b"HTTP/1.1 408 Request Timeout\r\n",
            Status::PayloadTooLarge => b"HTTP/1.1 413 Content Too Large\r\n",
            Status::UriTooLong => b"HTTP/1.1 414 URI Too Long\r\n",
            Status::UnsupportedMediaType => b"HTTP/1.1 415 Unsupported Media Type\r\n",
            Status::ExpectationFailed => b"HTTP/1.1 417 Expectation Failed\r\n",
            Status::HeaderFieldsTooLarge => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            Status::ServiceUnavailable => b"HTTP/1.1 503 Service Unavailable\r\n",
            Status::VersionNotSupported => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        }
    }
}

/// What the body of a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// The configured greeting (`Hello, world!` by default).
    Greeting,
    /// `Hello, {name}!`
    Greet(Cow<'a, str>),
    Text(&'static str),
    /// The Prometheus exposition of the server's metrics, rendered when encoded.
    Metrics,
}

/// A response before encoding: small, and owned when it must wait for a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
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
    pub fn new(status: Status, body: Body<'a>) -> Self {
        Reply {
            status,
            body,
            allow: None,
            head_only: false,
            route: Route::Other,
        }
    }

    /// An error answer whose body is its reason phrase.
    pub fn error(status: Status) -> Reply<'static> {
        Reply::new(status, Body::Text(status.reason()))
    }

    pub fn into_owned(self) -> Reply<'static> {
        let body = match self.body {
            Body::Greeting => Body::Greeting,
            Body::Greet(name) => Body::Greet(Cow::Owned(name.into_owned())),
            Body::Text(text) => Body::Text(text),
            Body::Metrics => Body::Metrics,
        };
        Reply { body, ..self }
    }
}

/// The interim answer to `Expect: 100-continue`: send the body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The `Connection` header a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
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

/// Appends one encoded response to `out`.
pub fn encode(out: &mut Vec<u8>, reply: &Reply<'_>, persist: Persist, g: &Greeter) {
    let rendered = match reply.body {
        Body::Metrics => g.render_metrics(),
        _ => Vec::new(),
    };
    let mut length = itoa::Buffer::new();
    let (media, body_len) = match &reply.body {
        Body::Greeting => (TEXT, g.config.greeting.len()),
        Body::Greet(name) => (TEXT, b"Hello, ".len() + name.len() + b"!".len()),
        Body::Text(text) => (TEXT, text.len()),
        Body::Metrics => (EXPOSITION, rendered.len()),
    };
    out.extend_from_slice(reply.status.line());
    out.extend_from_slice(b"Server: greeter\r\nDate: ");
    out.extend_from_slice(g.date.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(media);
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
        write_body(out, &reply.body, &g.config.greeting, &rendered);
    }
}

fn write_body(out: &mut Vec<u8>, body: &Body<'_>, greeting: &str, rendered: &[u8]) {
    match body {
        Body::Greeting => out.extend_from_slice(greeting.as_bytes()),
        Body::Greet(name) => {
            out.extend_from_slice(b"Hello, ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"!");
        }
        Body::Text(text) => out.extend_from_slice(text.as_bytes()),
        Body::Metrics => out.extend_from_slice(rendered),
    }
}
