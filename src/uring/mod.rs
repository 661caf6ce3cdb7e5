//! The io_uring driver the server and the load generator share: [`Ring`] (submissions,
//! the completion drain, and the table that owns every buffer, address and timespec handed
//! to the kernel until its completion), the provided buffer ring, the send cursor, tokens
//! that carry the user's own operation kinds, the setup ladder and the probe of what the
//! kernel supports. It knows nothing of HTTP, servers or load.
//!
//! The crate's only `unsafe` lives here, in `ring.rs`, `complete.rs` and `bufring.rs`, each
//! block with a `// SAFETY:` comment saying why the memory outlives the operation.
//!
//! The rule that keeps connections apart: no operation may run on a descriptor after its
//! owner let it go. A close is submitted only once every operation on its target that
//! the kernel resolves late (in io-wq: `SHUTDOWN`) has completed; every other operation
//! looks its target up when issued, in submission order, so a close queued after it is
//! safe. Closes and cancels are never refused: when the queue is full they wait, in
//! order, for the next turn, so a fixed-file slot is never leaked and a receive is never
//! left armed (see `order.rs`).

mod bufring;
pub(crate) mod capability;
mod complete;
mod cursor;
mod order;
mod restrict;
mod ring;
mod setup;
mod target;
mod token;

pub(crate) use bufring::Claim;
pub(crate) use complete::Completion;
pub(crate) use cursor::SendCursor;
pub(crate) use restrict::Allow;
pub(crate) use ring::{Ring, eventfd};
pub(crate) use setup::{Features, Setup};
pub(crate) use target::{Socket, Target};
pub(crate) use token::{Generation, OpKind, Token};
