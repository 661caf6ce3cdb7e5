//! An access log line, in nginx's `combined` format or as a JSON object. Every field a
//! client controls is escaped, so that no byte it sends (a `"`, a newline, a control
//! character) can end a field or a line early or forge another.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Entry;
use crate::config::AccessLogFormat;

/// Appends `e` as one line in `format`.
pub(super) fn line(out: &mut Vec<u8>, e: &Entry, format: AccessLogFormat) {
    match format {
        AccessLogFormat::Combined => combined(out, e),
        AccessLogFormat::Json => json(out, e),
    }
}

/// nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
/// $body_bytes_sent "$http_referer" "$http_user_agent"`, with nginx's escaping.
fn combined(out: &mut Vec<u8>, e: &Entry) {
    let a = &e.answered;
    let r = &a.request;
    let _ = write!(out, "{} - - [{}] \"", peer_ip(e.peer), time_local(e.time));
    match r.method.as_str() {
        "-" => out.push(b'-'),
        _ => {
            escaped(out, &r.method);
            out.push(b' ');
            escaped(out, &r.target);
            out.push(b' ');
            escaped(out, &r.protocol);
        }
    }
    let _ = write!(out, "\" {} {} \"", a.status, a.body_bytes);
    escaped(out, r.referer.as_deref().unwrap_or("-"));
    out.extend_from_slice(b"\" \"");
    escaped(out, r.user_agent.as_deref().unwrap_or("-"));
    out.extend_from_slice(b"\"\n");
}

/// nginx's escaping of a logged variable: `"`, `\`, and every byte below 0x20 or from
/// 0x7F as `\xHH`.
fn escaped(out: &mut Vec<u8>, field: &str) {
    for &b in field.as_bytes() {
        match b {
            b'"' | b'\\' | 0..0x20 | 0x7f.. => {
                let _ = write!(out, "\\x{b:02X}");
            }
            _ => out.push(b),
        }
    }
}

/// One JSON object: every field, strings escaped as JSON requires.
fn json(out: &mut Vec<u8>, e: &Entry) {
    let a = &e.answered;
    let r = &a.request;
    let line = serde_json::json!({
        "time": humantime::format_rfc3339_micros(e.time).to_string(),
        "remote_addr": e.peer.map(|p| p.ip().to_canonical().to_string()),
        "remote_port": e.peer.map(|p| p.port()),
        "method": r.method, "target": r.target, "protocol": r.protocol,
        "status": a.status, "bytes": a.bytes, "body_bytes": a.body_bytes,
        "duration_us": e.micros as u64,
        "host": r.host, "user_agent": r.user_agent, "referer": r.referer,
        "forwarded_for": r.forwarded_for,
    });
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

/// The client's address (an IPv4 client of a dual-stack listener as IPv4), or `-`.
fn peer_ip(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "-".into(), |p| p.ip().to_canonical().to_string())
}

/// `$time_local` in UTC: `30/Nov/2026:03:04:44 +0000`, from the HTTP date's parts.
fn time_local(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // `Sun, 06 Nov 1994 08:49:37 GMT`
    let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    let (day, month, year, clock) = (&http[5..7], &http[8..11], &http[12..16], &http[17..25]);
    format!("{day}/{month}/{year}:{clock} +0000")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Answered, Requested};

    fn entry(request: Requested) -> Entry {
        Entry {
            time: UNIX_EPOCH + Duration::from_secs(784_111_777),
            peer: Some("[::ffff:10.1.2.3]:5000".parse().unwrap()),
            answered: Answered::for_test(request, 200, 150, 13),
            micros: 42,
        }
    }

    fn request(line: &str, headers: &str) -> Requested {
        Requested::for_test(&format!("{line}\r\n{headers}\r\n"))
    }

    fn text(format: AccessLogFormat, e: &Entry) -> String {
        let mut out = Vec::new();
        line(&mut out, e, format);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn combined_is_nginx_s() {
        let r = request(
            "GET /greet/Ann HTTP/1.1",
            "Host: h\r\nUser-Agent: curl/8.5\r\nReferer: http://r/\r\n",
        );
        assert_eq!(
            text(AccessLogFormat::Combined, &entry(r)),
            "10.1.2.3 - - [06/Nov/1994:08:49:37 +0000] \"GET /greet/Ann HTTP/1.1\" 200 13 \
             \"http://r/\" \"curl/8.5\"\n"
        );
        let unknown = entry(Requested::for_test(""));
        assert!(text(AccessLogFormat::Combined, &unknown).contains("] \"-\" 200 13 \"-\" \"-\"\n"));
    }

    #[test]
    fn json_has_every_field() {
        let r = request(
            "POST /greet HTTP/1.0",
            "Host: example.com\r\nX-Forwarded-For: 203.0.113.7\r\n",
        );
        let v: serde_json::Value =
            serde_json::from_str(&text(AccessLogFormat::Json, &entry(r))).unwrap();
        assert_eq!(v["remote_addr"], "10.1.2.3");
        assert_eq!(v["remote_port"], 5000);
        assert_eq!(
            (v["method"].as_str(), v["target"].as_str()),
            (Some("POST"), Some("/greet"))
        );
        assert_eq!(v["protocol"], "HTTP/1.0");
        assert_eq!(
            (v["status"].as_u64(), v["bytes"].as_u64()),
            (Some(200), Some(150))
        );
        assert_eq!(
            (v["body_bytes"].as_u64(), v["duration_us"].as_u64()),
            (Some(13), Some(42))
        );
        assert_eq!(v["host"], "example.com");
        assert_eq!(v["forwarded_for"], "203.0.113.7");
        assert!(v["user_agent"].is_null() && v["referer"].is_null());
        assert_eq!(v["time"], "1994-11-06T08:49:37.000000Z");
    }

    #[test]
    fn hostile_fields_cannot_break_or_forge_a_line() {
        // What a client can put in the fields the log writes: quotes, backslashes, control
        // bytes, a whole forged line after a newline-like byte, bytes past ASCII.
        let forged = "x\" 200 0 \"-\" \"-\"\n1.2.3.4 - - [x] \"GET /admin HTTP/1.1\" 200";
        let hostile = Requested {
            method: "GET".into(),
            target: "/a\"b\\c\x01\x7f".into(),
            protocol: "HTTP/1.1".into(),
            host: Some("h\"\r\n".into()),
            user_agent: Some(forged.into()),
            referer: Some("\u{e9}\u{2028}\t".into()),
            forwarded_for: Some("\"1.1.1.1\n".into()),
        };
        let e = entry(hostile.clone());
        let combined = text(AccessLogFormat::Combined, &e);
        assert_eq!(combined.matches('\n').count(), 1, "{combined}");
        assert!(combined.ends_with("\"\n"));
        // The line splits into exactly its fields: 6 quotes delimit request, referer and
        // user agent, and none is inside a field.
        assert_eq!(combined.matches('"').count(), 6, "{combined}");
        assert!(
            combined.contains("\"GET /a\\x22b\\x5Cc\\x01\\x7F HTTP/1.1\""),
            "{combined}"
        );
        assert!(
            combined.contains("\"\\xC3\\xA9\\xE2\\x80\\xA8\\x09\""),
            "{combined}"
        );
        assert!(
            combined.contains("x\\x22 200 0 \\x22-\\x22 \\x22-\\x22\\x0A1.2.3.4"),
            "{combined}"
        );
        let json = text(AccessLogFormat::Json, &e);
        assert_eq!(json.matches('\n').count(), 1, "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["target"], hostile.target.as_str(), "read back exactly");
        assert_eq!(v["user_agent"], forged);
        assert_eq!(v["host"], "h\"\r\n");
        assert_eq!(v["forwarded_for"], "\"1.1.1.1\n");
    }
}
