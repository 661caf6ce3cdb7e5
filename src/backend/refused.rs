//! Connections refused for their PROXY protocol preface, said in the log: at WARN, naming
//! the peer and why, at most once a second for the whole process (with how many went
//! unsaid), so a misconfigured balancer is named without a flood of lines. Every refusal
//! is counted in `greeter_proxy_protocol_refused_total` whether said or not.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::Flow;

/// The second the last line was said in (since the epoch).
static SAID_AT: AtomicU64 = AtomicU64::new(0);
/// Refusals since the last line that were not said.
static UNSAID: AtomicU64 = AtomicU64::new(0);

/// If `flow`'s connection (from `peer`) was refused for its preface, says so, unless a
/// line was said this second already.
pub(crate) fn note(flow: &Flow, peer: Option<SocketAddr>) {
    let Some(why) = flow.refused_preface() else {
        return;
    };
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if SAID_AT.swap(second, Ordering::Relaxed) == second {
        UNSAID.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let unsaid = UNSAID.swap(0, Ordering::Relaxed);
    let peer = peer.map_or_else(|| "an unknown peer".to_owned(), |p| p.to_string());
    let more = match unsaid {
        0 => String::new(),
        n => format!(" ({n} more refused since the last such line)"),
    };
    tracing::warn!(
        peer,
        reason = why.label(),
        "closed a connection from {peer} unanswered: {why}; --proxy-protocol expects every connection to begin with one{more}"
    );
}
