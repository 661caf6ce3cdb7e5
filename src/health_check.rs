//! `greeter probe URL`: one `GET`, for health checks where there is no curl (a distroless
//! image, a Kubernetes exec probe): success on a `2xx`, otherwise one line saying why.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use greeter::load::parse_target;

/// Longest answer read; a health check's is a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;

/// Sends `GET` to `url` and waits up to `timeout` for the whole answer. `Ok` names the
/// status (`200 OK`); `Err` says why the probe failed.
pub fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let target = parse_target(url)?;
    if target.raw {
        return Err(format!(
            "`{url}`: probe speaks HTTP (http://host:port/path)"
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout)
        .map_err(|e| failed(&e, "connect to", target.addr, timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: greeter-probe\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| failed(&e, "send to", target.addr, timeout))?;
    let answer = read_answer(&mut stream, deadline)
        .map_err(|e| failed(&e, "read the answer from", target.addr, timeout))?;
    judge(&answer)
}

fn failed(
    e: &std::io::Error,
    doing: &str,
    addr: std::net::SocketAddr,
    timeout: Duration,
) -> String {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            format!(
                "timed out after {} trying to {doing} {addr}",
                humantime::format_duration(timeout)
            )
        }
        ErrorKind::ConnectionRefused => format!("connection refused by {addr}"),
        _ => format!("cannot {doing} {addr}: {e}"),
    }
}

/// Everything until the server closes (the request said `Connection: close`), within
/// `deadline` and [`MAX_ANSWER`].
fn read_answer(stream: &mut TcpStream, deadline: Instant) -> std::io::Result<Vec<u8>> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(answer),
            Ok(n) if answer.len() + n > MAX_ANSWER => {
                return Err(std::io::Error::other(format!(
                    "answer over {MAX_ANSWER} bytes"
                )));
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The status of a complete answer: `Ok` on `2xx`.
fn judge(answer: &[u8]) -> Result<String, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(answer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if answer.is_empty() => {
            return Err("malformed answer: the server closed without answering".to_owned());
        }
        Ok(httparse::Status::Partial) => {
            return Err("malformed answer: the status line and headers end early".to_owned());
        }
        Err(e) => return Err(format!("malformed answer: {e}")),
    };
    let code = response.code.unwrap_or(0);
    let status = format!("{code} {}", response.reason.unwrap_or(""));
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
    match length {
        Some(None) => return Err("malformed answer: an invalid Content-Length".to_owned()),
        Some(Some(want)) if answer.len() - head != want => {
            let got = answer.len() - head;
            return Err(format!(
                "malformed answer: a body of {got} bytes where Content-Length says {want}"
            ));
        }
        _ => {}
    }
    match (200..300).contains(&code) {
        true => Ok(status),
        false => Err(format!("status {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn a_2xx_with_its_whole_body_passes() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(judge(ok), Ok("200 OK".to_owned()));
        let no_length = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(judge(no_length), Ok("204 No Content".to_owned()));
    }

    #[test]
    fn everything_else_says_why() {
        let draining = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\ndraining";
        assert_eq!(
            judge(draining),
            Err("status 503 Service Unavailable".to_owned())
        );
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok";
        let want = "malformed answer: a body of 2 bytes where Content-Length says 5";
        assert_eq!(judge(cut), Err(want.to_owned()));
        assert_eq!(
            judge(b""),
            Err("malformed answer: the server closed without answering".to_owned())
        );
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\nContent-Le"),
            Err("malformed answer: the status line and headers end early".to_owned())
        );
        assert_eq!(
            judge(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err("malformed answer: invalid HTTP version".to_owned())
        );
    }
}
