//! Names to greet, from a path segment (`/greet/{name}`, percent-decoded) or from a
//! `POST /greet` body (a form's `name` field, or plain text), all held to the same rules:
//! valid UTF-8, 1–64 characters, no control characters. Also which body media types
//! `POST /greet` reads.

use std::borrow::Cow;

use super::fields::trim;

/// Longest name accepted, in characters.
pub(super) const MAX_NAME_CHARS: usize = 64;

/// How a `POST /greet` body carries the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    /// `text/plain` (UTF-8): the body is the name, less a final line ending.
    Text,
    /// `application/x-www-form-urlencoded`: the `name` field.
    Form,
}

/// The media type of a `Content-Type` value, if `POST /greet` reads it (else `415`).
pub(super) fn media(content_type: Option<&[u8]>) -> Option<Media> {
    let mut parts = content_type?.split(|&b| b == b';').map(trim);
    let essence = parts.next()?;
    if essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        return Some(Media::Form);
    }
    let text = essence.eq_ignore_ascii_case(b"text/plain");
    (text && parts.all(utf8_compatible)).then_some(Media::Text)
}

/// A `text/plain` parameter that keeps the body readable as UTF-8.
fn utf8_compatible(param: &[u8]) -> bool {
    let Some((name, value)) = split_once(param, b'=') else {
        return false;
    };
    let value = trim(value);
    let value = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    !trim(name).eq_ignore_ascii_case(b"charset")
        || value.eq_ignore_ascii_case(b"utf-8")
        || value.eq_ignore_ascii_case(b"us-ascii")
}

/// A name from a path segment: percent-decoded and checked.
pub(super) fn from_path(raw: &[u8]) -> Option<Cow<'_, str>> {
    let bytes = match raw.contains(&b'%') {
        true => Cow::Owned(percent_decode(raw, false)?),
        false => Cow::Borrowed(raw),
    };
    check(bytes)
}

/// A name from a `POST /greet` body of `media`.
pub(super) fn from_body(media: Media, body: &[u8]) -> Option<Cow<'_, str>> {
    match media {
        Media::Text => {
            let body = body.strip_suffix(b"\n").unwrap_or(body);
            check(Cow::Borrowed(body.strip_suffix(b"\r").unwrap_or(body)))
        }
        Media::Form => check(Cow::Owned(form_field(body, b"name")?)),
    }
}

/// The first value of `key` in a form, decoded (`+` is a space).
fn form_field(body: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = split_once(pair, b'=').unwrap_or((pair, b""));
        (percent_decode(k, true)? == key).then(|| percent_decode(v, true))?
    })
}

fn split_once(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// Valid UTF-8, 1–64 characters, no control characters.
fn check(bytes: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    let name = match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).ok()?),
        Cow::Owned(v) => Cow::Owned(String::from_utf8(v).ok()?),
    };
    let chars = name.chars().count();
    let clean = !name.chars().any(char::is_control);
    ((1..=MAX_NAME_CHARS).contains(&chars) && clean).then_some(name)
}

fn percent_decode(raw: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(hex_value(hex[0])? << 4 | hex_value(hex[1])?);
                i += 3;
                continue;
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(media: Media, raw: &str) -> Option<String> {
        from_body(media, raw.as_bytes()).map(Cow::into_owned)
    }

    #[test]
    fn media_types_post_greet_reads() {
        assert_eq!(media(Some(b"text/plain")), Some(Media::Text));
        assert_eq!(media(Some(b"Text/Plain; charset=UTF-8")), Some(Media::Text));
        assert_eq!(
            media(Some(b"text/plain;charset=\"us-ascii\"")),
            Some(Media::Text)
        );
        assert_eq!(
            media(Some(b"application/x-www-form-urlencoded")),
            Some(Media::Form)
        );
        assert_eq!(
            media(Some(b"application/x-www-form-urlencoded; charset=utf-8")),
            Some(Media::Form)
        );
        for other in [
            &b"text/plain; charset=latin1"[..],
            b"application/json",
            b"text/html",
            b"",
        ] {
            assert_eq!(
                media(Some(other)),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        assert_eq!(media(None), None, "no Content-Type");
    }

    #[test]
    fn form_bodies_name_the_field_and_decode_it() {
        assert_eq!(body(Media::Form, "name=Alice").as_deref(), Some("Alice"));
        assert_eq!(
            body(Media::Form, "x=1&name=Ren%C3%A9e+B&name=Zed").as_deref(),
            Some("Renée B")
        );
        assert_eq!(
            body(Media::Form, "n%61me=Bo").as_deref(),
            Some("Bo"),
            "keys decode too"
        );
        for bad in [
            "",
            "nom=Alice",
            "name=",
            "name=%zz",
            "name=a%00b",
            "name=%FF",
        ] {
            assert_eq!(body(Media::Form, bad), None, "{bad:?}");
        }
        let long = format!("name={}", "é".repeat(MAX_NAME_CHARS + 1));
        assert_eq!(body(Media::Form, &long), None);
    }

    #[test]
    fn text_bodies_are_the_name_less_a_final_line_ending() {
        assert_eq!(body(Media::Text, "Alice").as_deref(), Some("Alice"));
        assert_eq!(body(Media::Text, "Alice\n").as_deref(), Some("Alice"));
        assert_eq!(body(Media::Text, "Alice\r\n").as_deref(), Some("Alice"));
        assert_eq!(
            body(Media::Text, "a+b%41").as_deref(),
            Some("a+b%41"),
            "not decoded"
        );
        for bad in ["", "\n", "Al\nice", "Alice\n\n", "a\tb"] {
            assert_eq!(body(Media::Text, bad), None, "{bad:?}");
        }
    }
}
