//! `cargo run --example without_io_uring -- COMMAND...`: runs COMMAND with io_uring blocked
//! as Docker's default seccomp profile blocks it (EPERM). CI runs `cargo test` this way to
//! show the suite passes, with io_uring cases skipped, where io_uring is unavailable.

#[cfg(target_os = "linux")]
#[path = "../tests/support/seccomp.rs"]
mod seccomp;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: without_io_uring COMMAND [ARGS...]");
        return std::process::ExitCode::from(2);
    };
    let mut command = std::process::Command::new(program);
    command.args(args);
    match seccomp::spawn_without_io_uring(command).and_then(|mut child| child.wait()) {
        Ok(status) => std::process::ExitCode::from(status.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("without_io_uring: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("seccomp exists only on Linux");
}
