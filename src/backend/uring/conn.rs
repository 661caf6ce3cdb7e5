//! One io_uring connection: its descriptor, flow, pending output and which of its
//! operations are in flight. The slot may outlive the descriptor until they complete.

use crate::proto::Flow;
use crate::uring::{Generation, Socket, Target};

/// The connection's multishot receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recv {
    Off,
    Armed,
    /// A cancel was submitted; the final completion is still to come.
    Cancelling,
}

#[derive(Debug)]
pub(super) struct Conn {
    /// `None` once closed; the slot stays until `recv` is off and no send is in flight.
    pub fd: Option<Socket>,
    pub generation: Generation,
    pub flow: Flow,
    /// Output not yet handed to the kernel. Unallocated on an idle connection.
    pub out: Vec<u8>,
    /// A send is in flight (its buffer is owned by the ring).
    pub sending: bool,
    pub recv: Recv,
    /// `SHUT_WR` was sent; waiting for the peer's end of stream.
    pub lingering: bool,
}

impl Conn {
    pub(super) fn new(fd: Socket, generation: Generation, flow: Flow) -> Conn {
        Conn {
            fd: Some(fd),
            generation,
            flow,
            out: Vec::new(),
            sending: false,
            recv: Recv::Off,
            lingering: false,
        }
    }

    /// What its operations run on, while open.
    pub(super) fn target(&self) -> Option<Target> {
        self.fd.as_ref().map(Socket::target)
    }

    /// Closed, and the kernel holds nothing of it any more: the slot can be reused.
    pub(super) fn is_settled(&self) -> bool {
        self.fd.is_none() && self.recv == Recv::Off && !self.sending
    }

    /// Open and idle between requests: the first to close at the connection limit.
    pub(super) fn is_reusable(&self) -> bool {
        self.fd.is_some() && self.flow.is_idle()
    }
}
