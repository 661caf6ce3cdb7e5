//! What a listener's protocol is set up with, fixed for its life: the limits, the
//! timeouts, the greeting (and the line the raw protocol writes), which routes it serves.

use super::{ProtoConfig, Protocol, Site, Timeouts};

/// A listener's protocol settings. Never changes once a worker starts.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    config: ProtoConfig,
    /// What the raw protocol writes: the greeting and a newline.
    raw_line: Box<[u8]>,
}

impl Settings {
    pub(super) fn new(config: ProtoConfig) -> Settings {
        let raw_line = format!("{}\n", config.greeting).into_bytes();
        Settings {
            config,
            raw_line: raw_line.into_boxed_slice(),
        }
    }

    pub(super) fn config(&self) -> &ProtoConfig {
        &self.config
    }

    /// Whether connections begin with a PROXY protocol preface.
    pub(super) fn proxy_protocol(&self) -> bool {
        self.config.proxy_protocol
    }

    pub(super) fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    pub(super) fn greeting(&self) -> &str {
        &self.config.greeting
    }

    pub(super) fn raw_line(&self) -> &[u8] {
        &self.raw_line
    }

    pub(super) fn site(&self) -> Site {
        self.config.site
    }

    pub(super) fn timeouts(&self) -> &Timeouts {
        &self.config.timeouts
    }

    /// Input a connection may hold while its reading is paused (a backend's read can
    /// still deliver bytes after it was asked to stop): an unfinished head, plus as much
    /// again as the output bound. A client that sends more before reading is cut off.
    pub(super) fn max_held_input(&self) -> usize {
        self.config.max_header_bytes + self.config.max_pending_output
    }
}
