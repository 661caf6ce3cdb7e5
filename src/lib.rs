//! greeter: a greeting server on Linux io_uring completion queues, with a tokio fallback.
//!
//! [`proto`] turns bytes into responses without I/O; the backends only move bytes;
//! [`server`] is the one place that knows several backends exist. Start a server with
//! [`server::start`] and drive it through the returned [`ServerHandle`].
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(not(uring), not(feature = "tokio")))]
compile_error!(
    "greeter has no backend for this target: io_uring exists only on Linux, so enable the `tokio` feature (on by default): `cargo build --features tokio`"
);

pub mod backend;
pub mod config;
pub mod load;
mod net;
pub mod proto;
pub mod server;

pub use backend::BackendKind;
pub use config::{BackendChoice, Config};
pub use server::{ServerHandle, StartError, start};
