//! A request body being read: framed by `Content-Length` or chunked, discarded or (for
//! `POST /greet`) collected up to `--max-body-bytes`, and the answer it leads to.

use super::chunked::Chunked;
use super::head::BodyFraming;
use super::names::{self, Media};
use super::response::Reply;
use super::route;
use super::status::Status;

/// What the answer will be once the body is read.
#[derive(Debug)]
pub(super) enum Answer {
    /// Known from the head; the body is discarded.
    Reply(Reply<'static>),
    /// `POST /greet`: the name is in the body, as `Media` says.
    Greet(Media),
}

/// A body in progress.
#[derive(Debug)]
pub(super) struct Body {
    reader: Reader,
    /// The bytes so far, when the answer needs them.
    collected: Option<Vec<u8>>,
    answer: Answer,
}

#[derive(Debug)]
enum Reader {
    /// Bytes left.
    Length(u64),
    Chunked(Chunked),
}

impl Body {
    /// The body `framing` announces (`None` if there is none), leading to `answer`.
    pub(super) fn new(
        framing: BodyFraming,
        answer: Answer,
        max_body: u64,
        max_trailer: usize,
    ) -> Option<Body> {
        let reader = match framing {
            BodyFraming::None => return None,
            BodyFraming::Length(n) => Reader::Length(n),
            BodyFraming::Chunked => Reader::Chunked(Chunked::new(max_body, max_trailer)),
        };
        let collected = matches!(answer, Answer::Greet(_)).then(Vec::new);
        Some(Body {
            reader,
            collected,
            answer,
        })
    }

    /// Reads body bytes from the front of `input`: how many it took, and whether the
    /// body ended. An error is the status to answer; the framing is then lost.
    pub(super) fn read(&mut self, input: &[u8]) -> Result<(usize, bool), Status> {
        let Body {
            reader, collected, ..
        } = self;
        let mut keep = |data: &[u8]| {
            if let Some(c) = collected.as_mut() {
                c.extend_from_slice(data);
            }
        };
        match reader {
            Reader::Length(left) => {
                let take = (*left).min(input.len() as u64) as usize;
                keep(&input[..take]);
                *left -= take as u64;
                Ok((take, *left == 0))
            }
            Reader::Chunked(chunked) => chunked.decode(input, keep).map(|d| (d.consumed, d.done)),
        }
    }

    /// Bytes held for the answer.
    pub(super) fn buffered(&self) -> usize {
        self.collected.as_ref().map_or(0, Vec::len)
    }

    /// The answer, now that the whole body is read.
    pub(super) fn into_reply(self) -> Reply<'static> {
        match self.answer {
            Answer::Reply(reply) => reply,
            Answer::Greet(media) => {
                let body = self.collected.unwrap_or_default();
                route::greet(names::from_body(media, &body)).into_owned()
            }
        }
    }
}
