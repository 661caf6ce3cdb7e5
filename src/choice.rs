//! Which I/O runs: the user's [`BackendChoice`] (the same for the server's `--backend` and
//! the load generator's `--engine`), what this build compiled in, and what the kernel
//! allows, resolved into a [`Backend`] whose variants are only the compiled ones.

use std::fmt;

/// The I/O a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendChoice {
    /// io_uring where the kernel allows it, else tokio, with one log line saying why.
    #[default]
    Auto,
    /// io_uring, or an error saying why it cannot run.
    Uring,
    /// tokio: epoll on Linux, kqueue on macOS.
    Tokio,
    /// tokio-uring (the cargo feature `tokio-uring`, Linux): owned-buffer io_uring
    /// operations driven from tokio. Never chosen by `auto`.
    #[value(name = "tokio-uring")]
    TokioUring,
}

/// The I/O that runs. Only compiled backends exist, so every `match` on it is checked
/// by the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// greeter's own io_uring driver.
    #[cfg(uring)]
    Uring,
    /// tokio's current-thread runtime.
    #[cfg(feature = "tokio")]
    Tokio,
    /// tokio-uring's runtime.
    #[cfg(tokio_uring)]
    TokioUring,
}

impl Backend {
    /// Whether this is greeter's own io_uring driver.
    pub fn is_uring(self) -> bool {
        #[cfg(uring)]
        return matches!(self, Backend::Uring);
        #[cfg(not(uring))]
        false
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            #[cfg(uring)]
            Backend::Uring => "io_uring",
            #[cfg(feature = "tokio")]
            Backend::Tokio => "tokio",
            #[cfg(tokio_uring)]
            Backend::TokioUring => "tokio-uring",
        })
    }
}

/// Why the requested backend cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// What went wrong.
    pub reason: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// io_uring is unavailable here (a reason to fall back), not a real failure.
    pub unavailable: bool,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        match &self.hint {
            Some(hint) => write!(f, "; hint: {hint}"),
            None => Ok(()),
        }
    }
}

/// What resolving a choice gave: the backend, and why `auto` fell back, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The backend to run.
    pub backend: Backend,
    /// Set when `auto` fell back from io_uring.
    pub fallback: Option<Unsupported>,
}

/// Resolves `choice`; `flag` is the command-line flag that makes the choice (for hints).
pub fn resolve(choice: BackendChoice, flag: &str) -> Result<Resolved, Unsupported> {
    let plain = |backend| Resolved {
        backend,
        fallback: None,
    };
    match choice {
        BackendChoice::Uring => uring(flag).map(plain),
        BackendChoice::Tokio => tokio().map(plain),
        BackendChoice::TokioUring => tokio_uring(flag).map(plain),
        BackendChoice::Auto => match uring(flag) {
            Ok(backend) => Ok(plain(backend)),
            Err(why) if why.unavailable => tokio().map(|backend| Resolved {
                backend,
                fallback: Some(why),
            }),
            Err(e) => Err(e),
        },
    }
}

#[cfg(uring)]
fn uring(flag: &str) -> Result<Backend, Unsupported> {
    use crate::uring::capability::{CheckError, check};
    match check() {
        Ok(()) => Ok(Backend::Uring),
        Err(CheckError::Unavailable(u)) => {
            let without = cfg!(feature = "tokio")
                .then(|| format!("; or use {flag} tokio"))
                .unwrap_or_default();
            Err(Unsupported {
                reason: format!("io_uring is unavailable: {u}"),
                hint: Some(format!("{}{without}", u.hint())),
                unavailable: true,
            })
        }
        Err(CheckError::Failed(e)) => Err(Unsupported {
            reason: format!("io_uring setup failed: {e}"),
            hint: None,
            unavailable: false,
        }),
    }
}

#[cfg(not(uring))]
fn uring(_flag: &str) -> Result<Backend, Unsupported> {
    Err(Unsupported {
        reason:
            "io_uring is unavailable: this build has no io_uring backend (it exists only on Linux)"
                .into(),
        hint: None,
        unavailable: true,
    })
}

#[cfg(feature = "tokio")]
fn tokio() -> Result<Backend, Unsupported> {
    Ok(Backend::Tokio)
}

#[cfg(not(feature = "tokio"))]
fn tokio() -> Result<Backend, Unsupported> {
    Err(Unsupported {
        reason: "the tokio backend is not built in".into(),
        hint: Some(
            "build with the cargo feature `tokio` (on by default): `cargo build --features tokio`"
                .into(),
        ),
        unavailable: false,
    })
}

/// tokio-uring needs what greeter's own driver needs: a kernel that lets io_uring run.
#[cfg(tokio_uring)]
fn tokio_uring(flag: &str) -> Result<Backend, Unsupported> {
    uring(flag)
        .map(|_| Backend::TokioUring)
        .map_err(|why| Unsupported {
            reason: why.reason.replacen("io_uring", "tokio-uring (io_uring)", 1),
            hint: why.hint,
            unavailable: false,
        })
}

#[cfg(not(tokio_uring))]
fn tokio_uring(_flag: &str) -> Result<Backend, Unsupported> {
    Err(Unsupported {
        reason: "the tokio-uring backend is not built in".into(),
        hint: Some(
            "build with the cargo feature `tokio-uring` (Linux only): `cargo build --features tokio-uring`"
                .into(),
        ),
        unavailable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forcing_tokio_never_probes_io_uring() {
        let resolved = resolve(BackendChoice::Tokio, "--backend");
        #[cfg(feature = "tokio")]
        assert_eq!(resolved.map(|r| r.backend), Ok(Backend::Tokio));
        #[cfg(not(feature = "tokio"))]
        assert!(
            resolved
                .unwrap_err()
                .to_string()
                .contains("cargo feature `tokio`"),
            "names the feature"
        );
    }

    #[test]
    fn the_hint_follows_the_reason() {
        let why = Unsupported {
            reason: "io_uring is unavailable: x".into(),
            hint: Some("do y".into()),
            unavailable: true,
        };
        assert_eq!(why.to_string(), "io_uring is unavailable: x; hint: do y");
    }
}
