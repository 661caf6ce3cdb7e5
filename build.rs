//! Declares `cfg(uring)`: the io_uring backend is built on Linux, unless the crate is built
//! as a non-Linux target would be (`RUSTFLAGS="--cfg greeter_portable"`), so that path is
//! compiled and tested on Linux too; `cfg(tokio_uring)` where that backend is built (its
//! feature, on Linux). Also declares `cfg(fuzzing)`, which cargo-fuzz sets. And names
//! the commit built (`GREETER_COMMIT`, for `--version` and `greeter_build_info`): from
//! the environment if a packager sets it, else `git rev-parse`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(uring)");
    println!("cargo::rustc-check-cfg=cfg(greeter_portable)");
    // Set by cargo-fuzz: compiles the conformance checks the fuzz target uses.
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
    println!("cargo::rustc-check-cfg=cfg(tokio_uring)");
    commit();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let portable = std::env::var_os("CARGO_CFG_GREETER_PORTABLE").is_some();
    if linux && !portable {
        println!("cargo::rustc-cfg=uring");
        // The tokio-uring backend, when its feature is on (it needs Linux).
        if std::env::var_os("CARGO_FEATURE_TOKIO_URING").is_some() {
            println!("cargo::rustc-cfg=tokio_uring");
        }
    }
}

/// Sets `GREETER_COMMIT`, and reruns when the checked-out commit changes.
fn commit() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=GREETER_COMMIT");
    let commit = std::env::var("GREETER_COMMIT").ok().or_else(|| {
        for dir in ["--absolute-git-dir", "--git-common-dir"] {
            if let Some(dir) = git(&["rev-parse", dir]) {
                for watched in ["HEAD", "refs/heads", "packed-refs"] {
                    println!("cargo::rerun-if-changed={dir}/{watched}");
                }
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    let commit = commit.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=GREETER_COMMIT={commit}");
}

/// `git ARGS`'s output, trimmed, if it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
