//! The chunk decoder, rule by rule. Each rejection names its status; the session closes
//! the connection after any of them (see `proto/tests.rs`).

use super::*;

const MAX_BODY: u64 = 1000;
const MAX_TRAILER: usize = 64;

/// Decodes `input` in one call: the data, and whether the body ended.
fn decode(input: &[u8]) -> Result<(Vec<u8>, bool), Status> {
    let mut data = Vec::new();
    let mut chunked = Chunked::new(MAX_BODY, MAX_TRAILER);
    let d = chunked.decode(input, |bytes| data.extend_from_slice(bytes))?;
    assert_eq!(
        d.done,
        d.consumed == input.len() || d.done,
        "done means the end was consumed"
    );
    Ok((data, d.done))
}

fn body(input: &str) -> Result<String, Status> {
    let (data, done) = decode(input.as_bytes())?;
    assert!(done, "the body ends: {input:?}");
    Ok(String::from_utf8(data).unwrap())
}

#[test]
fn decodes_chunks_and_stops_at_the_end() {
    assert_eq!(
        body("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        Ok("hello world".into())
    );
    let mut chunked = Chunked::new(MAX_BODY, MAX_TRAILER);
    let input = b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let d = chunked.decode(input, |_| {}).unwrap();
    assert_eq!(
        d,
        Decoded {
            consumed: 12,
            done: true
        },
        "the next request is left alone"
    );
}

#[test]
fn any_split_gives_the_same_body() {
    let input = b"3;a=b\r\nabc\r\n00A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
    for cut in 0..=input.len() {
        let mut chunked = Chunked::new(MAX_BODY, MAX_TRAILER);
        let mut data = Vec::new();
        let first = chunked
            .decode(&input[..cut], |b| data.extend_from_slice(b))
            .unwrap();
        assert_eq!(first.consumed, cut, "everything before the end is consumed");
        let second = chunked
            .decode(&input[cut..], |b| data.extend_from_slice(b))
            .unwrap();
        assert!(second.done || first.done);
        assert_eq!(data, b"abc0123456789", "cut at {cut}");
    }
}

#[test]
fn hex_sizes_upper_lower_and_leading_zeros() {
    assert_eq!(body("0000a\r\n0123456789\r\n0\r\n\r\n").unwrap().len(), 10);
    assert_eq!(body("A\r\n0123456789\r\n000\r\n\r\n").unwrap().len(), 10);
}

#[test]
fn extensions_and_trailers_are_ignored() {
    assert_eq!(
        body("5;name=\"v;x\"\r\nhello\r\n0;last\r\n\r\n"),
        Ok("hello".into())
    );
    assert_eq!(
        body("5 ;ext\r\nhello\r\n0\t;x\r\n\r\n"),
        Ok("hello".into()),
        "BWS before ;"
    );
    assert_eq!(
        body("5\r\nhello\r\n0\r\nX-A: 1\r\nX-B:\t2\r\n\r\n"),
        Ok("hello".into())
    );
}

#[test]
fn size_lines_that_are_not_hex_digits_are_400() {
    for bad in [
        "+5", "-5", "0x5", " 5", "5 5", "5 ", "g", ";x", "5\t\t\r", "\r",
    ] {
        let input = format!("{bad}\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode(input.as_bytes()), Err(Status::BadRequest), "{bad:?}");
    }
}

#[test]
fn sizes_beyond_64_bits_are_400_and_beyond_the_limit_413() {
    assert_eq!(decode(b"10000000000000000\r\n"), Err(Status::BadRequest));
    assert_eq!(
        decode(b"ffffffffffffffff\r\n"),
        Err(Status::PayloadTooLarge)
    );
    assert_eq!(
        decode(b"00000000000000000000001\r\nx\r\n0\r\n\r\n").map(|r| r.1),
        Ok(true)
    );
    let over = format!("{:x}\r\n", MAX_BODY + 1);
    assert_eq!(decode(over.as_bytes()), Err(Status::PayloadTooLarge));
    let half = format!(
        "{:x}\r\n{}\r\n",
        MAX_BODY / 2 + 1,
        "x".repeat(MAX_BODY as usize / 2 + 1)
    );
    assert_eq!(
        decode(half.repeat(2).as_bytes()),
        Err(Status::PayloadTooLarge),
        "summed"
    );
}

#[test]
fn a_bare_lf_is_400_wherever_crlf_is_due() {
    for bad in [
        "5\nhello\r\n0\r\n\r\n",
        "5;x\nhello\r\n0\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5\r\nhelloX\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\n\r\n",
        "5\r\nhello\r\n0\r\n\n",
        "5\r\nhello\r\n0\r\nX: 1\n\r\n",
    ] {
        assert_eq!(decode(bad.as_bytes()), Err(Status::BadRequest), "{bad:?}");
    }
}

#[test]
fn control_bytes_and_bad_trailers_are_400() {
    for bad in [
        "5;a\0b\r\nhello\r\n0\r\n\r\n",
        "5;a\rb\r\nhello\r\n0\r\n\r\n",
        "0\r\nNoColon\r\n\r\n",
        "0\r\n folded: x\r\n\r\n",
        "0\r\nBad Name: x\r\n\r\n",
        "0\r\nX: a\0b\r\n\r\n",
    ] {
        assert_eq!(decode(bad.as_bytes()), Err(Status::BadRequest), "{bad:?}");
    }
}

#[test]
fn long_size_lines_are_400_and_long_trailers_431() {
    let long_ext = format!("5;{}\r\n", "a".repeat(MAX_SIZE_LINE));
    assert_eq!(decode(long_ext.as_bytes()), Err(Status::BadRequest));
    let zeros = format!("{}5\r\n", "0".repeat(MAX_SIZE_LINE));
    assert_eq!(
        decode(zeros.as_bytes()),
        Err(Status::BadRequest),
        "leading zeros count"
    );
    let trailer = format!("0\r\nX: {}\r\n\r\n", "a".repeat(MAX_TRAILER));
    assert_eq!(
        decode(trailer.as_bytes()),
        Err(Status::HeaderFieldsTooLarge)
    );
}

#[test]
fn chunk_extensions_follow_their_grammar() {
    // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name
    //                                   [ BWS "=" BWS chunk-ext-val ] )
    for good in [
        "5;a",
        "5;a=b",
        "5;a=\"x y\"",
        "5 ; a = b",
        "5;a;b=c",
        "5;a=\"q\\\"x\"",
        "5;a=b ;c",
        "5;a=\"\"",
        "5;!#$%&'*+-.^_`|~=v",
    ] {
        let input = format!("{good}\r\nhello\r\n0\r\n\r\n");
        assert_eq!(body(&input), Ok("hello".into()), "{good:?}");
    }
    for bad in [
        "5;",
        "5;;a",
        "5;=b",
        "5;a=",
        "5;a b",
        "5;a=b c",
        "5;(a)",
        "5;a=b\"c",
        "5;a=\"open",
        "5;a=b ",
        "5;a ",
        "5; ",
        "5;a=\"x\"y",
        "5;a=,",
    ] {
        let input = format!("{bad}\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode(input.as_bytes()), Err(Status::BadRequest), "{bad:?}");
    }
}
