//! greeter: a greeting server on Linux io_uring completion queues, with a tokio fallback.
//!
//! Start a server with [`start`] and a [`Config`], and drive it through the returned
//! [`ServerHandle`] (its address, graceful shutdown, join). [`load::run`] is the load
//! generator behind `greeter load`; [`proto`] is the sans-IO protocol core every backend
//! drives.
//!
//! Inside: `proto` turns bytes into answers without I/O; the io_uring driver (`uring`)
//! holds every `unsafe` block; the backends move bytes; `server` is the one place that
//! knows several backends exist.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(all(not(uring), not(feature = "tokio")))]
compile_error!(
    "greeter has no backend for this target: io_uring exists only on Linux, so enable the `tokio` feature (on by default): `cargo build --features tokio`"
);

mod access;
pub mod activation;
mod backend;
mod capacity;
mod choice;
mod config;
mod handle;
pub mod load;
mod metrics;
mod net;
#[cfg(target_os = "linux")]
mod sandbox;
#[cfg(not(target_os = "linux"))]
mod sandbox {
    //! No seccomp here: `--sandbox` is refused, unless left off.
    use std::{io, sync::Arc};

    /// Never built: there is no filter to install.
    #[derive(Debug)]
    pub(crate) enum Filter {}

    impl Filter {
        pub(crate) fn confine(&self) -> io::Result<()> {
            match *self {}
        }
    }

    pub(crate) fn filter(mode: crate::config::Sandbox) -> io::Result<Option<Arc<Filter>>> {
        match mode {
            crate::config::Sandbox::Off => Ok(None),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "--sandbox needs Linux seccomp, which this system does not have; leave it off",
            )),
        }
    }
}
pub mod proto;
mod server;
#[cfg(uring)]
mod uring;

pub use access::Reopen;
pub use backend::StatsSnapshot;
pub use choice::{Backend, BackendChoice, Resolved, Unsupported, resolve};
pub use config::{
    AccessLogConfig, AccessLogFormat, AccessLogTarget, Config, LogFormat, Metrics, Sandbox,
    UringConfig, UringFeatures,
};
pub use handle::{Confinement, Heartbeat, ServerHandle, Shutdown};
pub use server::{StartError, start, start_inherited};
