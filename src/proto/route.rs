//! Routing: what a request earns, decided from its head. Pure; the caller encodes the
//! reply (and, for `POST /greet`, first reads the body that holds the name).

use super::head::Method;
use super::names;
use super::response::{Body, Reply};
use super::status::{Route, Status};
use super::{Greeter, Site};

/// The methods a resource allows, for `Allow` (in `405` answers and `OPTIONS`).
const ROOT: &str = "GET, HEAD, POST, OPTIONS";
const POST: &str = "POST, OPTIONS";
const GET_HEAD: &str = "GET, HEAD, OPTIONS";
/// What the server as a whole allows (`OPTIONS *`).
const SERVER: &str = "GET, HEAD, POST, OPTIONS";

/// What a request earns.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Routed<'a> {
    /// This reply; a body that came with the request is read and discarded first.
    Reply(Reply<'a>),
    /// `POST /greet`: the name is in the body.
    GreetFromBody,
}

/// The resources greeter knows: the one table both the answer and the `route` label
/// come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource<'a> {
    Root,
    /// `/greet` (the name in a `POST` body).
    Greet,
    /// `/greet/{name}`, the name still percent-encoded.
    GreetName(&'a [u8]),
    Healthz,
    Metrics,
    Unknown,
}

impl<'a> Resource<'a> {
    fn of(path: &'a [u8]) -> Resource<'a> {
        match path {
            b"/" => Resource::Root,
            b"/greet" => Resource::Greet,
            b"/healthz" => Resource::Healthz,
            b"/metrics" => Resource::Metrics,
            _ => match path.strip_prefix(b"/greet/") {
                Some(raw) if !raw.contains(&b'/') => Resource::GreetName(raw),
                _ => Resource::Unknown,
            },
        }
    }

    /// The `route` label: a fixed set, never the path itself.
    fn route(self) -> Route {
        match self {
            Resource::Root => Route::Root,
            Resource::Greet | Resource::GreetName(_) => Route::Greet,
            Resource::Healthz => Route::Healthz,
            Resource::Metrics => Route::Metrics,
            Resource::Unknown => Route::Other,
        }
    }

    /// Whether `g`'s listener serves it (the admin listener: `/healthz`, `/metrics`).
    fn served(self, g: &Greeter) -> bool {
        match self {
            Resource::Root | Resource::Greet | Resource::GreetName(_) => {
                g.settings.site() == Site::Main
            }
            Resource::Healthz => true,
            Resource::Metrics => g.serves_metrics(),
            Resource::Unknown => false,
        }
    }

    fn allow(self) -> &'static str {
        match self {
            Resource::Root => ROOT,
            Resource::Greet => POST,
            _ => GET_HEAD,
        }
    }

    /// What `GET` (and `HEAD`, and `POST` on `/`) answers; `None` where it is refused.
    fn get(self, g: &Greeter) -> Option<Reply<'a>> {
        Some(match self {
            Resource::Root => Reply::new(Status::Ok, Body::Greeting),
            Resource::GreetName(raw) => greet(names::from_path(raw)),
            Resource::Healthz if g.is_draining() => {
                Reply::new(Status::ServiceUnavailable, Body::Text("draining"))
            }
            Resource::Healthz => Reply::new(Status::Ok, Body::Text("ok")),
            Resource::Metrics => Reply::new(Status::Ok, Body::Metrics),
            Resource::Greet | Resource::Unknown => return None,
        })
    }
}

/// The answer to `method target` on `g`'s site; draining turns `/healthz` into `503`.
/// `POST /` answers as `GET /` does, its body read and discarded whatever its media type
/// (conformance suites test body framing by posting to `/`); `OPTIONS` answers `200`
/// with the resource's `Allow` (RFC 9110 §9.3.7).
pub(super) fn route<'a>(method: Method, target: &'a [u8], g: &Greeter) -> Routed<'a> {
    let Some(path) = origin_path(target) else {
        return Routed::Reply(asterisk_or_bad(method, target));
    };
    let resource = Resource::of(path);
    let reply = match (resource, method) {
        (r, _) if !r.served(g) => Reply::error(Status::NotFound),
        (r, Method::Options) => options(r.allow()),
        (Resource::Greet, Method::Post) => return Routed::GreetFromBody,
        (r @ Resource::Root, Method::Post) | (r, Method::Get | Method::Head) => {
            r.get(g).unwrap_or_else(|| not_allowed(r.allow()))
        }
        (r, _) => not_allowed(r.allow()),
    };
    Routed::Reply(Reply {
        route: resource.route(),
        head_only: method == Method::Head,
        ..reply
    })
}

/// `Hello, {name}!`, or `400` for a name that breaks the rules.
pub(super) fn greet(name: Option<std::borrow::Cow<'_, str>>) -> Reply<'_> {
    let reply = match name {
        Some(name) => Reply::new(Status::Ok, Body::Greet(name)),
        None => Reply::error(Status::BadRequest),
    };
    Reply {
        route: Route::Greet,
        ..reply
    }
}

fn not_allowed(methods: &'static str) -> Reply<'static> {
    Reply {
        allow: Some(methods),
        ..Reply::error(Status::MethodNotAllowed)
    }
}

/// `200` with no content, saying what is allowed.
fn options(methods: &'static str) -> Reply<'static> {
    Reply {
        allow: Some(methods),
        ..Reply::new(Status::Ok, Body::Empty)
    }
}

/// `OPTIONS *` asks what the server allows; any other non-path target is malformed.
fn asterisk_or_bad(method: Method, target: &[u8]) -> Reply<'static> {
    if target == b"*" && method == Method::Options {
        options(SERVER)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn greeter(draining: bool) -> Greeter {
        let mut g = Greeter::new(Default::default(), std::time::SystemTime::now());
        if draining {
            g.start_draining();
        }
        g
    }

    fn reply(method: Method, target: &[u8], draining: bool) -> Reply<'_> {
        match route(method, target, &greeter(draining)) {
            Routed::Reply(reply) => reply,
            Routed::GreetFromBody => panic!("{method:?} wants a body"),
        }
    }

    fn status(method: Method, target: &str) -> u16 {
        reply(method, target.as_bytes(), false).status.code()
    }

    fn greeted(target: &str) -> Option<String> {
        match reply(Method::Get, target.as_bytes(), false).body {
            Body::Greet(name) => Some(name.into_owned()),
            _ => None,
        }
    }

    #[test]
    fn routes_each_path() {
        assert_eq!(reply(Method::Get, b"/", false).body, Body::Greeting);
        assert_eq!(reply(Method::Get, b"/?lang=en", false).body, Body::Greeting);
        assert_eq!(
            reply(Method::Get, b"/healthz", false).body,
            Body::Text("ok")
        );
        assert_eq!(
            reply(Method::Get, b"/healthz", true).status,
            Status::ServiceUnavailable
        );
        assert_eq!(status(Method::Get, "/nope"), 404);
        assert_eq!(status(Method::Get, "/greet/a/b"), 404);
        assert_eq!(status(Method::Get, "/greet"), 405, "POST only");
    }

    #[test]
    fn methods_a_resource_does_not_allow_get_405_with_its_allow() {
        for (target, allow) in [("/", ROOT), ("/healthz", GET_HEAD), ("/greet/Al", GET_HEAD)] {
            let refused = reply(Method::Other, target.as_bytes(), false);
            assert_eq!(
                (refused.status, refused.allow),
                (Status::MethodNotAllowed, Some(allow)),
                "{target}"
            );
        }
        assert_eq!(status(Method::Other, "/missing"), 404);
        assert!(reply(Method::Head, b"/", false).head_only);
    }

    #[test]
    fn post_to_the_root_is_answered_as_get() {
        let posted = reply(Method::Post, b"/", false);
        assert_eq!((posted.status, posted.body), (Status::Ok, Body::Greeting));
        assert!(!posted.head_only);
        assert_eq!(posted.route, Route::Root);
    }

    #[test]
    fn options_says_what_is_allowed() {
        for (target, allow) in [
            ("*", SERVER),
            ("/", ROOT),
            ("/greet", POST),
            ("/greet/Al", GET_HEAD),
            ("/healthz", GET_HEAD),
        ] {
            let answered = reply(Method::Options, target.as_bytes(), false);
            assert_eq!(
                (answered.status, answered.body, answered.allow),
                (Status::Ok, Body::Empty, Some(allow)),
                "OPTIONS {target}"
            );
        }
        assert_eq!(status(Method::Options, "/missing"), 404);
        assert_eq!(status(Method::Get, "*"), 400, "only OPTIONS takes *");
    }

    #[test]
    fn greet_takes_a_post_with_the_name_in_the_body() {
        let g = greeter(false);
        assert_eq!(route(Method::Post, b"/greet", &g), Routed::GreetFromBody);
        assert_eq!(route(Method::Post, b"/greet?x", &g), Routed::GreetFromBody);
        for method in [Method::Get, Method::Head, Method::Other] {
            let refused = reply(method, b"/greet", false);
            assert_eq!(
                (refused.status, refused.allow),
                (Status::MethodNotAllowed, Some(POST))
            );
        }
        assert_eq!(
            status(Method::Post, "/greet/Al"),
            405,
            "the path form is GET only"
        );
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
            reply(Method::Get, b"http://example.com/", false).body,
            Body::Greeting
        );
        assert_eq!(
            reply(Method::Get, b"HTTP://example.com", false).body,
            Body::Greeting
        );
        assert_eq!(greeted("http://h:8/greet/Bo?x").as_deref(), Some("Bo"));
        assert_eq!(status(Method::Get, "ftp://example.com/"), 400);
        assert_eq!(status(Method::Get, "*"), 400);
        assert_eq!(status(Method::Options, "*"), 200);
        assert_eq!(status(Method::Get, "index.html"), 400);
    }
}
