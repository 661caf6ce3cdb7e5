//! Answers that are the same bytes for every request within one Date second: `GET /` and
//! `HEAD /` (the greeting), `GET` and `HEAD /healthz` while serving, on a keep-alive
//! HTTP/1.1 connection. Rendered once when the second changes and copied for each request,
//! so the common request costs a copy, not an encoding. Every other answer (a name, an
//! error, `Connection: close`, HTTP/1.0) takes the general path.

use super::date::DateCache;
use super::response::{self, Body, Persist, Reply, Sources};
use super::settings::Settings;
use super::status::Status;

/// The rendered answers, by [`Canned::index`].
#[derive(Debug, Clone, Default)]
pub(super) struct Canned {
    answers: [Vec<u8>; 4],
}

impl Canned {
    /// Which canned answer `reply` is, if any (a keep-alive HTTP/1.1 answer is assumed).
    fn index(reply: &Reply<'_>) -> Option<usize> {
        if reply.status != Status::Ok || reply.allow.is_some() {
            return None;
        }
        let body = match reply.body {
            Body::Greeting => 0,
            Body::Text("ok") => 2,
            _ => return None,
        };
        Some(body + usize::from(reply.head_only))
    }

    /// The bytes of `reply`, if they are canned.
    pub(super) fn get(&self, reply: &Reply<'_>) -> Option<&[u8]> {
        Self::index(reply).map(|i| self.answers[i].as_slice())
    }

    /// Renders every answer for `settings`' greeting at `date`.
    pub(super) fn render(settings: &Settings, date: &DateCache) -> Canned {
        let from = Sources {
            date: date.as_bytes(),
            greeting: settings.greeting(),
            metrics: &[],
        };
        let replies = [
            Reply::new(Status::Ok, Body::Greeting),
            Reply::new(Status::Ok, Body::Text("ok")),
        ];
        let mut canned = Canned::default();
        for reply in replies {
            for head_only in [false, true] {
                let reply = Reply {
                    head_only,
                    ..reply.clone()
                };
                let i = Self::index(&reply).expect("a canned answer");
                response::encode(&mut canned.answers[i], &reply, Persist::Default, from);
            }
        }
        canned
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::proto::ProtoConfig;
    use crate::proto::tick::Tick;

    #[test]
    fn canned_answers_are_the_encoded_bytes_and_follow_the_date() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let settings = Settings::new(ProtoConfig::default());
        let mut tick = Tick::new(&settings, t);
        let replies = [
            Reply::new(Status::Ok, Body::Greeting),
            Reply::new(Status::Ok, Body::Text("ok")),
        ];
        for reply in replies.iter().flat_map(|r| {
            [false, true].map(|h| Reply {
                head_only: h,
                ..r.clone()
            })
        }) {
            let mut fresh = Vec::new();
            let from = Sources {
                date: tick.date().as_bytes(),
                greeting: settings.greeting(),
                metrics: &[],
            };
            response::encode(&mut fresh, &reply, Persist::Default, from);
            assert_eq!(
                tick.canned().get(&reply),
                Some(fresh.as_slice()),
                "{reply:?}"
            );
        }
        tick.refresh(&settings, t + Duration::from_secs(1));
        let answer = String::from_utf8(tick.canned().get(&replies[0]).unwrap().to_vec()).unwrap();
        assert!(
            answer.contains("Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"),
            "{answer}"
        );
        let named = Reply::new(Status::Ok, Body::Text("draining"));
        assert_eq!(tick.canned().get(&named), None, "anything else is encoded");
    }
}
