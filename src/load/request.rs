//! The request every connection of a load run sends, encoded once: a method, an optional
//! body framed by `Content-Length` or chunked, and `Connection: close` for one request per
//! connection.

/// What to send (beyond the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestSpec {
    /// The method, `GET` by default.
    pub method: String,
    /// A body, sent with each request.
    pub body: Option<String>,
    /// The body's `Content-Type` [default: `text/plain; charset=utf-8`].
    pub content_type: Option<String>,
    /// Frame the body with the chunked transfer coding instead of `Content-Length`.
    pub chunked: bool,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: "GET".into(),
            body: None,
            content_type: None,
            chunked: false,
        }
    }
}

impl RequestSpec {
    /// Whether the method may be retried when a connection closes unanswered (RFC 9110
    /// §9.2.2).
    pub(super) fn idempotent(&self) -> bool {
        ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"].contains(&self.method.as_str())
    }

    /// The encoded request for `path` on `host`; an error names a contradiction.
    pub(super) fn encode(&self, host: &str, path: &str, close: bool) -> Result<Vec<u8>, String> {
        if self.method.is_empty()
            || !self
                .method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b))
        {
            return Err(format!(
                "--method {:?} is not an HTTP method token",
                self.method
            ));
        }
        if self.body.is_none() && (self.chunked || self.content_type.is_some()) {
            return Err("--chunked and --content-type need --body".into());
        }
        let close = if close { "Connection: close\r\n" } else { "" };
        let mut request = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n{close}", self.method);
        match &self.body {
            None => request.push_str("\r\n"),
            Some(body) => self.push_body(&mut request, body),
        }
        Ok(request.into_bytes())
    }

    fn push_body(&self, request: &mut String, body: &str) {
        let media = self
            .content_type
            .as_deref()
            .unwrap_or("text/plain; charset=utf-8");
        request.push_str(&format!("Content-Type: {media}\r\n"));
        if !self.chunked {
            request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        } else if body.is_empty() {
            request.push_str("Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        } else {
            let size = body.len();
            request.push_str(&format!(
                "Transfer-Encoding: chunked\r\n\r\n{size:x}\r\n{body}\r\n0\r\n\r\n"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(spec: RequestSpec) -> Result<String, String> {
        spec.encode("h:1", "/greet", false)
            .map(|r| String::from_utf8(r).unwrap())
    }

    #[test]
    fn get_by_default_and_bodies_framed_as_asked() {
        assert_eq!(
            encode(RequestSpec::default()).unwrap(),
            "GET /greet HTTP/1.1\r\nHost: h:1\r\n\r\n"
        );
        let post = RequestSpec {
            method: "POST".into(),
            body: Some("name=Al".into()),
            content_type: Some("application/x-www-form-urlencoded".into()),
            chunked: false,
        };
        assert_eq!(
            encode(post.clone()).unwrap(),
            "POST /greet HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nname=Al"
        );
        let chunked = RequestSpec {
            chunked: true,
            ..post
        };
        assert!(
            encode(chunked)
                .unwrap()
                .ends_with("Transfer-Encoding: chunked\r\n\r\n7\r\nname=Al\r\n0\r\n\r\n")
        );
    }

    #[test]
    fn contradictions_are_named() {
        let bad_method = RequestSpec {
            method: "GE T".into(),
            ..RequestSpec::default()
        };
        assert!(encode(bad_method).unwrap_err().contains("--method"));
        let chunked_nothing = RequestSpec {
            chunked: true,
            ..RequestSpec::default()
        };
        assert!(encode(chunked_nothing).unwrap_err().contains("--body"));
    }
}
