//! One io_uring connection: its descriptor, flow, pending output and which of its
//! operations are in flight. The slot may outlive the descriptor until they complete.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::backend::flow::{Flow, Phase};

/// The connection's multishot receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv {
    Off,
    Armed,
    /// A cancel was submitted; the final completion is still to come.
    Cancelling,
}

#[derive(Debug)]
pub struct Conn {
    /// `None` once closed; the slot stays until `recv` is off and no send is in flight.
    pub fd: Option<OwnedFd>,
    pub generation: u32,
    pub flow: Flow,
    /// Output not yet handed to the kernel. Unallocated on an idle connection.
    pub out: Vec<u8>,
    /// A send is in flight (its buffer is owned by the ring).
    pub sending: bool,
    pub recv: Recv,
    /// `SHUT_WR` was sent; waiting for the peer's end of stream.
    pub lingering: bool,
    pub phase: Phase,
    /// Worker-clock milliseconds at which `phase` times out.
    pub deadline: u64,
}

impl Conn {
    pub fn new(fd: OwnedFd, generation: u32, deadline: u64) -> Conn {
        Conn {
            fd: Some(fd),
            generation,
            flow: Flow::default(),
            out: Vec::new(),
            sending: false,
            recv: Recv::Off,
            lingering: false,
            phase: Phase::Head,
            deadline,
        }
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Output is pending, in flight or queued.
    pub fn writing(&self) -> bool {
        self.sending || !self.out.is_empty()
    }

    /// Closed, and the kernel holds nothing of it any more: the slot can be reused.
    pub fn is_settled(&self) -> bool {
        self.fd.is_none() && self.recv == Recv::Off && !self.sending
    }

    /// Idle keep-alive: a request was served and nothing is pending (nginx's "reusable").
    pub fn is_reusable(&self) -> bool {
        self.fd.is_some() && !self.writing() && self.phase == Phase::Idle && self.flow.is_idle()
    }
}
