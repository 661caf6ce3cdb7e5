//! Declares `cfg(uring)`: the io_uring backend is built on Linux, unless the crate is built
//! as a non-Linux target would be (`RUSTFLAGS="--cfg greeter_portable"`), so that path is
//! compiled and tested on Linux too; `cfg(tokio_uring)` where that backend is built (its
//! feature, on Linux). Also declares `cfg(fuzzing)`, which cargo-fuzz sets.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(uring)");
    println!("cargo::rustc-check-cfg=cfg(greeter_portable)");
    // Set by cargo-fuzz: compiles the conformance checks the fuzz target uses.
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
    println!("cargo::rustc-check-cfg=cfg(tokio_uring)");
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
