//! The `Host` field's grammar (RFC 9110 §7.2: `uri-host [ ":" port ]`, with `uri-host`
//! from RFC 3986 §3.2.2): an IP-literal in brackets, or a reg-name (which covers IPv4
//! addresses), then an optional port of digits. RFC 9112 §3.2 says a server MUST answer
//! `400` to a Host field with an invalid value. One deliberate narrowing: a comma, which
//! reg-name's sub-delims would allow, is refused, since `a, b` is a list of hosts to
//! every intermediary that splits field values on commas.

use std::net::Ipv6Addr;

/// Whether `value` (already trimmed of surrounding whitespace) is a valid Host value.
/// An empty value is valid syntax; whether it is acceptable depends on the target.
pub(super) fn is_valid(value: &[u8]) -> bool {
    // The common case in one pass: reg-name bytes (no `%`), then perhaps `:` and digits.
    match value.iter().position(|&b| !REG_NAME[usize::from(b)]) {
        None => return true,
        Some(colon)
            if value[colon] == b':' && value[colon + 1..].iter().all(u8::is_ascii_digit) =>
        {
            return true;
        }
        Some(_) => {}
    }
    let Some((host, port)) = split_port(value) else {
        return false;
    };
    let port_ok = port.is_none_or(|p| p.iter().all(u8::is_ascii_digit));
    port_ok
        && match host.first() {
            Some(b'[') => is_ip_literal(host),
            _ => is_reg_name(host),
        }
}

/// The host and the port after its colon, if any; `None` if a colon is misplaced.
fn split_port(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let host_end = match value.first() {
        Some(b'[') => value.iter().position(|&b| b == b']')? + 1,
        _ => value.iter().position(|&b| b == b':').unwrap_or(value.len()),
    };
    let (host, rest) = value.split_at(host_end);
    match rest.split_first() {
        None => Some((host, None)),
        Some((b':', port)) => Some((host, Some(port))),
        Some(_) => None, // a second colon, or bytes after `]`
    }
}

/// `[` IPv6address `]`, or `[v` HEXDIG+ `.` ... `]` (IPvFuture).
fn is_ip_literal(host: &[u8]) -> bool {
    let Some(inner) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) else {
        return false;
    };
    match inner.first() {
        Some(b'v' | b'V') => is_ipv_future(&inner[1..]),
        _ => std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok()),
    }
}

fn is_ipv_future(rest: &[u8]) -> bool {
    let Some(dot) = rest.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
    !version.is_empty()
        && version.iter().all(u8::is_ascii_hexdigit)
        && !tail.is_empty()
        && tail
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
}

/// reg-name = *( unreserved / pct-encoded / sub-delims ), the comma aside. Checked once
/// per request: a table answers each byte, and a `%` (rare) is looked at further.
fn is_reg_name(host: &[u8]) -> bool {
    let plain = host
        .iter()
        .fold(true, |ok, &b| ok & REG_NAME[usize::from(b)]);
    plain || (!host.contains(&b',') && is_pct_encoded_reg_name(host))
}

/// reg-name bytes but `%`: unreserved and sub-delims, the comma aside.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~')
            || matches!(
                c,
                b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b';' | b'='
            );
        b += 1;
    }
    table
};

/// A reg-name with `%` escapes: each `%` followed by two hex digits.
fn is_pct_encoded_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        match host[i] {
            b'%' if host
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
            {
                i += 3;
                continue;
            }
            b if REG_NAME[usize::from(b)] => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_the_grammar() {
        for good in [
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]",
            "[v1.fe80::a+en1]",
            "xn--bcher-kva.example",
            "a%2Db",
            "host:",
            "",
        ] {
            assert!(is_valid(good.as_bytes()), "{good:?} is valid");
        }
        for bad in [
            "user@example.com",
            "user:pw@example.com",
            "example.com/path",
            "example.com?q",
            "example.com#f",
            "a, b",
            "a,b",
            "a b",
            "example.com:80:80",
            "example.com:8o",
            "[::1",
            "[::1]x",
            "[not-ipv6]",
            "[v.x]",
            "a%zz",
            "a%2",
            "é.example",
            "a\tb",
        ] {
            assert!(!is_valid(bad.as_bytes()), "{bad:?} is invalid");
        }
    }
}
