//! The PROXY protocol preface (HAProxy's, version 1 text or version 2 binary) that a load
//! balancer sends before the client's bytes under `--proxy-protocol`: where it ends, and
//! the client it names. Parsing is the `ppp` crate's; what to make of the result (wait,
//! refuse, or whose address to log) is decided here.

use std::fmt;
use std::net::SocketAddr;

use ppp::{HeaderResult, v1, v2};

/// The longest preface waited for: a version 1 line is at most 107 bytes, and a version 2
/// header with the TLVs balancers add (TLS details, a connection id) a few hundred.
pub(super) const MAX_PREFACE: usize = 4096;

/// What the first bytes of a connection say.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Preface {
    /// Not all of it yet.
    Partial,
    /// A whole preface of `len` bytes; `client` is the address it names, or `None` when it
    /// names none (version 2 `LOCAL`, a balancer's own health check; version 1 `UNKNOWN`;
    /// a family other than TCP over IPv4 or IPv6), when the peer's own address stands.
    Complete {
        len: usize,
        client: Option<SocketAddr>,
    },
    /// Not a preface greeter can take.
    Refused(Refusal),
}

/// Why a connection's preface was refused (it is closed without an answer: the balancer
/// in front is misconfigured, or the client went around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The connection began with something else (`GET /` from a client that went around
    /// the balancer).
    Missing,
    /// It began as a PROXY header and broke its rules.
    Malformed,
    /// A version 2 header longer than 4096 bytes.
    TooLong,
    /// The connection ended, or its header deadline passed, before the preface was whole.
    Unfinished,
}

impl Refusal {
    /// The `reason` label of `greeter_proxy_protocol_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::TooLong => "too_long",
            Refusal::Unfinished => "unfinished",
        }
    }

    /// Every reason, in label order.
    pub const ALL: [Refusal; 4] = [
        Refusal::Missing,
        Refusal::Malformed,
        Refusal::TooLong,
        Refusal::Unfinished,
    ];
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Missing => {
                "no PROXY protocol header (the connection began with something else: a client that went around the balancer, or a balancer not set to send one)"
            }
            Refusal::Malformed => "a malformed PROXY protocol header",
            Refusal::TooLong => "a PROXY protocol header longer than 4096 bytes",
            Refusal::Unfinished => {
                "the connection ended or timed out before its PROXY protocol header was complete"
            }
        })
    }
}

/// Version 2's signature, its first 12 bytes.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's line begins so, and ends within 107 bytes with CRLF.
const V1_PREFIX: &[u8; 6] = b"PROXY ";
const V1_MAX: usize = 107;

/// Reads the preface at the start of `input` (everything received so far). Where it ends
/// is found here (a CRLF for version 1, the length field for version 2), so that a
/// preface split across receives waits for its end rather than being judged cut short.
pub(super) fn parse(input: &[u8]) -> Preface {
    let whole = match input.first() {
        Some(b'P') if begins(input, V1_PREFIX) => v1_end(input),
        Some(b'\r') if begins(input, V2_SIGNATURE) => v2_end(input),
        _ => return Preface::Refused(Refusal::Missing),
    };
    let len = match whole {
        Ok(Some(len)) => len,
        Ok(None) => return Preface::Partial,
        Err(why) => return Preface::Refused(why),
    };
    match HeaderResult::parse(&input[..len]) {
        HeaderResult::V2(Ok(header)) => Preface::Complete {
            len,
            client: v2_client(&header),
        },
        HeaderResult::V1(Ok(header)) => Preface::Complete {
            len,
            client: v1_client(&header.addresses),
        },
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => Preface::Refused(Refusal::Malformed),
    }
}

/// Whether `input` and `prefix` agree as far as both go.
fn begins(input: &[u8], prefix: &[u8]) -> bool {
    let n = input.len().min(prefix.len());
    input[..n] == prefix[..n]
}

/// The length of a version 1 line: through its CRLF, once that has arrived.
fn v1_end(input: &[u8]) -> Result<Option<usize>, Refusal> {
    let window = &input[..input.len().min(V1_MAX)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(at) => Ok(Some(at + 2)),
        None if input.len() >= V1_MAX => Err(Refusal::Malformed),
        None => Ok(None),
    }
}

/// The length of a version 2 header, from its length field, once it has all arrived.
fn v2_end(input: &[u8]) -> Result<Option<usize>, Refusal> {
    let Some(field) = input.get(14..16) else {
        return Ok(None);
    };
    let len = 16 + usize::from(u16::from_be_bytes([field[0], field[1]]));
    match len {
        _ if len > MAX_PREFACE => Err(Refusal::TooLong),
        _ if input.len() < len => Ok(None),
        _ => Ok(Some(len)),
    }
}

fn v2_client(header: &v2::Header<'_>) -> Option<SocketAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match header.addresses {
        v2::Addresses::IPv4(a) => Some((a.source_address, a.source_port).into()),
        v2::Addresses::IPv6(a) => Some((a.source_address, a.source_port).into()),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

fn v1_client(addresses: &v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        v1::Addresses::Tcp4(a) => Some((a.source_address, a.source_port).into()),
        v1::Addresses::Tcp6(a) => Some((a.source_address, a.source_port).into()),
        v1::Addresses::Unknown => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 2 header from `ppp`'s builder: `PROXY` over TCP/IPv4 (or `LOCAL`).
    fn v2(command: v2::Command, tlv_bytes: usize) -> Vec<u8> {
        let addresses = v2::IPv4::new([192, 0, 2, 7], [10, 0, 0, 1], 41234, 8888);
        let builder = v2::Builder::with_addresses(
            v2::Version::Two | command,
            v2::Protocol::Stream,
            addresses,
        );
        let builder = match tlv_bytes {
            0 => builder,
            n => builder.write_tlv(0xE0, &vec![b'x'; n]).unwrap(),
        };
        builder.build().unwrap()
    }

    #[test]
    fn version_1_names_the_client_and_ends_at_its_line() {
        let input = b"PROXY TCP4 192.0.2.7 10.0.0.1 41234 8888\r\nGET / HTTP/1.1\r\n";
        let len = input.len() - b"GET / HTTP/1.1\r\n".len();
        assert_eq!(
            parse(input),
            Preface::Complete {
                len,
                client: Some("192.0.2.7:41234".parse().unwrap())
            }
        );
        let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 41234 8888\r\n";
        let client = Some("[2001:db8::7]:41234".parse().unwrap());
        assert_eq!(
            parse(v6),
            Preface::Complete {
                len: v6.len(),
                client
            }
        );
        let unknown = b"PROXY UNKNOWN\r\n";
        assert_eq!(
            parse(unknown),
            Preface::Complete {
                len: 15,
                client: None
            }
        );
    }

    #[test]
    fn version_2_names_the_client_unless_local() {
        let mut input = v2(v2::Command::Proxy, 0);
        let len = input.len();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let client = Some("192.0.2.7:41234".parse().unwrap());
        assert_eq!(parse(&input), Preface::Complete { len, client });
        let local = v2(v2::Command::Local, 0);
        let len = local.len();
        assert_eq!(parse(&local), Preface::Complete { len, client: None });
        let with_tlvs = v2(v2::Command::Proxy, 300);
        assert!(
            matches!(parse(&with_tlvs), Preface::Complete { len, .. } if len == with_tlvs.len())
        );
    }

    #[test]
    fn every_prefix_of_a_preface_waits_for_more() {
        let v1 = b"PROXY TCP4 192.0.2.7 10.0.0.1 41234 8888\r\n".to_vec();
        for whole in [v1, v2(v2::Command::Proxy, 40)] {
            for cut in 1..whole.len() {
                assert_eq!(
                    parse(&whole[..cut]),
                    Preface::Partial,
                    "{:?}",
                    &whole[..cut]
                );
            }
        }
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        let missing: [&[u8]; 3] = [b"GET / HTTP/1.1\r\n", b"\r\n\r\nGET", b"proxy TCP4"];
        for input in missing {
            assert_eq!(
                parse(input),
                Preface::Refused(Refusal::Missing),
                "{input:?}"
            );
        }
        let malformed: [&[u8]; 3] = [
            b"PROXY TCP4 300.0.2.7 10.0.0.1 41234 8888\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 41234 88888\r\n",
            b"PROXY SCTP 192.0.2.7 10.0.0.1 1 2\r\n",
        ];
        for input in malformed {
            assert_eq!(
                parse(input),
                Preface::Refused(Refusal::Malformed),
                "{input:?}"
            );
        }
        let mut bad_version = v2(v2::Command::Proxy, 0);
        bad_version[12] = 0x31; // version 3
        assert_eq!(parse(&bad_version), Preface::Refused(Refusal::Malformed));
    }

    #[test]
    fn a_preface_longer_than_the_bound_is_refused() {
        let long = v2(v2::Command::Proxy, 8000);
        assert_eq!(
            parse(&long[..16]),
            Preface::Refused(Refusal::TooLong),
            "told by its length"
        );
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert_eq!(
            parse(&endless),
            Preface::Refused(Refusal::Malformed),
            "a v1 line ends within 107 bytes"
        );
    }
}
