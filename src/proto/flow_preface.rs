//! A flow's PROXY protocol preface (`--proxy-protocol`): kept until whole, the client
//! it names, and the connections refused for it.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Action, CloseReason, Flow, Prefaced};
use crate::proto::Greeter;
use crate::proto::preface::{self, Preface, Refusal};
use crate::proto::record::Output;

impl Flow {
    /// The client a PROXY protocol preface named, if it named one: the address to log
    /// instead of the peer's.
    pub fn client(&self) -> Option<SocketAddr> {
        self.client.as_deref().copied()
    }

    /// Why the connection's PROXY protocol preface was refused, if it was.
    pub fn refused_preface(&self) -> Option<Refusal> {
        match self.prefaced {
            Prefaced::Refused(why) => Some(why),
            _ => None,
        }
    }

    /// Input before the preface is whole: kept until it is, then the rest is read as
    /// requests; a connection without one is aborted unanswered, as the protocol says.
    pub(super) fn read_preface(
        &mut self,
        g: &Greeter,
        data: &[u8],
        out: &mut Output<'_>,
        now: Instant,
    ) -> Action {
        self.keep(data, now);
        let Some(tail) = self.tail.as_mut() else {
            return Action::Read;
        };
        match preface::parse(&tail.bytes) {
            Preface::Partial => Action::Read,
            Preface::Refused(why) => self.refuse_preface(g, why),
            Preface::Complete { len, client } => {
                self.prefaced = Prefaced::Done;
                self.client = client.map(Box::new);
                tail.bytes.drain(..len);
                if tail.bytes.is_empty() {
                    self.tail = None;
                    return Action::Read; // the first request is yet to come
                }
                self.seen_input = true;
                self.run_tail(g, out)
            }
        }
    }

    /// The connection ended or timed out awaiting its preface: with nothing sent (a
    /// balancer's TCP health check), it closes for `reason`; a preface cut short is refused.
    pub(super) fn unfinished_preface(&mut self, g: &Greeter, reason: CloseReason) -> Action {
        match self.tail.is_some() {
            true => self.refuse_preface(g, Refusal::Unfinished),
            false => self.close(false, reason),
        }
    }

    fn refuse_preface(&mut self, g: &Greeter, why: Refusal) -> Action {
        self.prefaced = Prefaced::Refused(why);
        g.tally.refused_preface(why);
        self.abort(CloseReason::Error)
    }
}
