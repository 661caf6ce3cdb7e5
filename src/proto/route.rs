//! Routing: which reply a request target earns. Pure; the caller encodes the reply.

use std::borrow::Cow;

use super::head::Method;
use super::response::{Body, Reply, Status};

/// Longest name `/greet/{name}` accepts, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The reply to `method target`; `draining` turns `/healthz` into `503`.
pub fn route(method: Method, target: &[u8], draining: bool) -> Reply<'_> {
    let Some(path) = origin_path(target) else {
        return asterisk_or_bad(method, target);
    };
    let reply = match path {
        b"/" => Reply::new(Status::Ok, Body::Greeting),
        b"/healthz" if draining => Reply::new(Status::ServiceUnavailable, Body::Text("draining")),
        b"/healthz" => Reply::new(Status::Ok, Body::Text("ok")),
        _ => match path.strip_prefix(b"/greet/") {
            Some(raw) if !raw.contains(&b'/') => match decode_name(raw) {
                Some(name) => Reply::new(Status::Ok, Body::Greet(name)),
                None => Reply::error(Status::BadRequest),
            },
            _ => Reply::error(Status::NotFound),
        },
    };
    with_method(reply, method)
}

/// Applies the method to a found resource: HEAD strips the body, others get `405`.
fn with_method(reply: Reply<'_>, method: Method) -> Reply<'_> {
    match method {
        Method::Get => reply,
        Method::Head => Reply {
            head_only: true,
            ..reply
        },
        _ if reply.status == Status::NotFound => reply,
        _ => Reply {
            allow: true,
            ..Reply::error(Status::MethodNotAllowed)
        },
    }
}

/// `OPTIONS *` asks what the server allows; any other non-path target is malformed.
fn asterisk_or_bad(method: Method, target: &[u8]) -> Reply<'static> {
    if target == b"*" && method == Method::Options {
        Reply {
            allow: true,
            ..Reply::error(Status::MethodNotAllowed)
        }
    } else {
        Reply::error(Status::BadRequest)
    }
}

/// The path of an origin-form (`/p?q`) or absolute-form (`http://host/p?q`) target,
/// without its query. RFC 9112 §3.2.2: a server must accept the absolute form.
fn origin_path(target: &[u8]) -> Option<&[u8]> {
    let path = match target.first() {
        Some(b'/') => target,
        _ => absolute_path(target)?,
    };
    let end = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
    Some(&path[..end])
}

fn absolute_path(target: &[u8]) -> Option<&[u8]> {
    let scheme_end = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..scheme_end];
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let authority_end = rest.iter().position(|&b| b == b'/' || b == b'?');
    match authority_end {
        Some(i) if rest[i] == b'/' => Some(&rest[i..]),
        _ => Some(b"/"),
    }
}

/// Percent-decodes a name; valid UTF-8, 1–64 characters, no control characters.
fn decode_name(raw: &[u8]) -> Option<Cow<'_, str>> {
    let bytes = if raw.contains(&b'%') {
        Cow::Owned(percent_decode(raw)?)
    } else {
        Cow::Borrowed(raw)
    };
    let name = match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).ok()?),
        Cow::Owned(v) => Cow::Owned(String::from_utf8(v).ok()?),
    };
    let chars = name.chars().count();
    let clean = !name.chars().any(char::is_control);
    ((1..=MAX_NAME_CHARS).contains(&chars) && clean).then_some(name)
}

fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(hex_value(hex[0])? << 4 | hex_value(hex[1])?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: Method, target: &str) -> u16 {
        route(method, target.as_bytes(), false).status.code()
    }

    fn greeted(target: &str) -> Option<String> {
        match route(Method::Get, target.as_bytes(), false).body {
            Body::Greet(name) => Some(name.into_owned()),
            _ => None,
        }
    }

    #[test]
    fn routes_each_path() {
        assert_eq!(route(Method::Get, b"/", false).body, Body::Greeting);
        assert_eq!(route(Method::Get, b"/?lang=en", false).body, Body::Greeting);
        assert_eq!(
            route(Method::Get, b"/healthz", false).body,
            Body::Text("ok")
        );
        assert_eq!(
            route(Method::Get, b"/healthz", true).status,
            Status::ServiceUnavailable
        );
        assert_eq!(status(Method::Get, "/nope"), 404);
        assert_eq!(status(Method::Get, "/greet/a/b"), 404);
        assert_eq!(status(Method::Get, "/greet"), 404);
    }

    #[test]
    fn methods_other_than_get_and_head_get_405_with_allow() {
        let reply = route(Method::Other, b"/", false);
        assert_eq!(
            (reply.status, reply.allow),
            (Status::MethodNotAllowed, true)
        );
        assert_eq!(status(Method::Other, "/missing"), 404);
        assert!(route(Method::Head, b"/", false).head_only);
    }

    #[test]
    fn names_are_percent_decoded_and_checked() {
        assert_eq!(greeted("/greet/Alice").as_deref(), Some("Alice"));
        assert_eq!(greeted("/greet/Ren%C3%A9e").as_deref(), Some("Renée"));
        assert_eq!(greeted("/greet/a%20b?x=1").as_deref(), Some("a b"));
        assert_eq!(greeted("/greet/%2F").as_deref(), Some("/"));
        assert_eq!(
            greeted(&format!("/greet/{}", "é".repeat(64))).map(|n| n.chars().count()),
            Some(64)
        );
        for bad in [
            "/greet/",
            "/greet/%zz",
            "/greet/%4",
            "/greet/%FF",
            "/greet/a%00b",
            "/greet/%7F",
        ] {
            assert_eq!(status(Method::Get, bad), 400, "{bad}");
        }
        assert_eq!(
            status(Method::Get, &format!("/greet/{}", "a".repeat(65))),
            400
        );
    }

    #[test]
    fn absolute_and_asterisk_forms() {
        assert_eq!(
            route(Method::Get, b"http://example.com/", false).body,
            Body::Greeting
        );
        assert_eq!(
            route(Method::Get, b"HTTP://example.com", false).body,
            Body::Greeting
        );
        assert_eq!(greeted("http://h:8/greet/Bo?x").as_deref(), Some("Bo"));
        assert_eq!(status(Method::Get, "ftp://example.com/"), 400);
        assert_eq!(status(Method::Get, "*"), 400);
        assert_eq!(status(Method::Options, "*"), 405);
        assert_eq!(status(Method::Get, "index.html"), 400);
    }
}
