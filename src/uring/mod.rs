//! The io_uring driver the server and the load generator share: [`Ring`] (submissions,
//! the completion drain, and the table that owns every buffer, address and timespec handed
//! to the kernel until its completion), the provided buffer ring, the send cursor, tokens
//! that carry the user's own operation kinds, the setup ladder and the probe of what the
//! kernel supports. It knows nothing of HTTP, servers or load.
//!
//! The crate's only `unsafe` lives here, in `ring.rs` and `bufring.rs`, each block with a
//! `// SAFETY:` comment saying why the memory outlives the operation.

mod bufring;
mod cursor;
pub mod probe;
mod ring;
mod setup;
mod token;

pub use cursor::SendCursor;
pub use ring::{Completion, Ring, Socket, Target, eventfd};
pub use setup::{Features, Setup};
pub use token::{Generation, OpKind, Token};
